// Where each node of a Node-RED flow runs, and which wires cross from this Node-RED (the cloud
// partition) to boards and back. Same rules as the conductor's partitioner (flows-contract:
// "Placement of a node"), so that Node-RED and the conductor agree on the cut without asking.
// Pure functions over a flow export: tested without Node-RED (test/placement.test.js).
'use strict';

const BOARD_ENV = 'EDGEWIRE_BOARD';
// Definitions that never run as nodes (flows-contract: "not runtime nodes").
const NOT_RUNTIME = new Set(['tab', 'subflow', 'group', 'comment']);

// The value of env entry `name` in an env list of a tab or group, when it is a plain string.
function envValue(env, name) {
  if (!Array.isArray(env)) return '';
  const entry = env.find((e) => e && e.name === name);
  if (!entry || (entry.type && entry.type !== 'str')) return '';
  return typeof entry.value === 'string' ? entry.value.trim() : '';
}

// "<node>" of a wire topic: lower-case [0-9a-z_] kept, any other byte hex-escaped as _xx.
function uriSafe(id) {
  let out = '';
  for (const byte of Buffer.from(String(id), 'utf8')) {
    const c = String.fromCharCode(byte);
    if (/[0-9a-z_]/.test(c)) out += c;
    else out += '_' + byte.toString(16).padStart(2, '0');
  }
  return out;
}

function wireTopic(flow, node, port) {
  return `ew.flow.${flow}.wire.${uriSafe(node)}.${port}`;
}

// Builds the placement of a flow export (array of Node-RED objects).
// Returns {boardOf(id) -> board id or '' (cloud) or undefined (unknown id), isJunction(id),
//          boards: Set of boards in use, outbound: Map "src:port" -> {node, port, boards:Set},
//          inbound: Map "src:port" -> {node, port, board, targets:[cloud node ids]}}.
// A junction is placed nowhere: wires through junctions are followed to their real ends.
function computePlacement(flowNodes) {
  const byId = new Map();
  for (const n of flowNodes || []) if (n && typeof n.id === 'string') byId.set(n.id, n);
  const tabs = new Map();
  const groups = new Map();
  const subflowDefs = new Set();
  for (const n of byId.values()) {
    if (n.type === 'tab') tabs.set(n.id, n);
    else if (n.type === 'group') groups.set(n.id, n);
    else if (n.type === 'subflow') subflowDefs.add(n.id);
  }

  const placed = new Map();  // id -> board ('' = cloud)
  const groupBoard = (gid, seen = new Set()) => {
    const g = groups.get(gid);
    if (!g || seen.has(gid)) return '';
    seen.add(gid);
    return envValue(g.env, BOARD_ENV) || groupBoard(g.g, seen);
  };
  const tabBoard = (tid) => {
    const t = tabs.get(tid);
    if (!t) return '';
    return (typeof t.board === 'string' && t.board.trim()) || envValue(t.env, BOARD_ENV);
  };
  for (const n of byId.values()) {
    if (NOT_RUNTIME.has(n.type) || n.type === 'junction') continue;
    if (!n.z || subflowDefs.has(n.z)) continue;  // config nodes and subflow templates
    const own = typeof n.board === 'string' ? n.board.trim() : '';
    placed.set(n.id, own || (n.g && groupBoard(n.g)) || tabBoard(n.z) || '');
  }

  const isJunction = (id) => (byId.get(id) || {}).type === 'junction';
  // The real nodes that `ids` reach, through any chain of junctions.
  const ends = (ids, seen = new Set()) => {
    const out = [];
    for (const id of ids || []) {
      if (seen.has(id)) continue;
      seen.add(id);
      const n = byId.get(id);
      if (!n || n.d === true) continue;
      if (n.type === 'junction') out.push(...ends((n.wires || [])[0], seen));
      else if (placed.has(id)) out.push(id);
    }
    return out;
  };

  const outbound = new Map();
  const inbound = new Map();
  const boards = new Set();
  for (const [id, board] of placed) {
    const n = byId.get(id);
    if (board) boards.add(board);
    if (n.d === true || !Array.isArray(n.wires)) continue;
    n.wires.forEach((targets, port) => {
      const reached = ends(targets);
      if (board === '') {
        const boardsReached = new Set(reached.map((t) => placed.get(t)).filter((b) => b));
        if (boardsReached.size) outbound.set(`${id}:${port}`, { node: id, port, boards: boardsReached });
      } else {
        const cloudTargets = reached.filter((t) => placed.get(t) === '');
        if (cloudTargets.length) inbound.set(`${id}:${port}`, { node: id, port, board, targets: cloudTargets });
      }
    });
  }

  // Whether junction `id` leads to at least one node in the cloud.
  const junctionReachesCloud = (id) => ends([id]).some((t) => placed.get(t) === '');

  return {
    boardOf: (id) => placed.get(id),
    isJunction,
    junctionReachesCloud,
    boards,
    outbound,
    inbound,
    nodeById: (id) => byId.get(id),
  };
}

module.exports = { computePlacement, uriSafe, wireTopic, envValue, BOARD_ENV };
