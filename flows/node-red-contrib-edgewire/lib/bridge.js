// Joins this Node-RED to the boards of a distributed flow (flows-contract). On every deploy of
// the editor ("flows:started") the whole flow goes to the conductor (POST /v1/flows, cloud:
// "external"): the conductor deploys the board partitions, and the cloud partition keeps running
// here. Message hooks then cut the flow where the partitioner cuts it:
//   - messages sent by board-placed nodes are dropped (their board runs them);
//   - a message from a cloud node to a board node becomes one WAMP publish on
//     ew.flow.<flow>.wire.<node>.<port> (per-wire seq from 1 per version), not a local delivery;
//   - a publish from a board on a wire into the cloud is delivered to the cloud targets here,
//     in seq order, duplicates dropped;
//   - ew.flow.<flow>.debug goes to the editor's debug sidebar, ew.flow.<flow>.status and
//     ew.board.<board>.status to the status dots of the local instances of board nodes.
'use strict';

const crypto = require('crypto');
const autobahn = require('autobahn');
const { ConductorClient } = require('./conductor-client');
const { computePlacement, wireTopic } = require('./placement');

// The publisher name of this Node-RED process on wires: "cloud:<run>", new on every start, as the
// conductor's own cloud runner does. Boards order and deduplicate per publisher; with a fixed
// name, a restarted Node-RED numbering from 1 again would have its messages dropped as repeats.
const PUBLISHER = `cloud:${crypto.randomBytes(4).toString('hex')}`;

// Messages from cloud nodes to boards that arrive before the flow's id is known (the deploy
// answer is on its way) wait here; past this many the oldest are dropped and counted.
const MAX_PENDING_PUBLISHES = 1000;
const DEBUG_MAX_LENGTH = 1000;  // as Node-RED's debugMaxLength default
const DEFAULT_FLOW_NAME = 'node-red';
// A conductor that is unreachable or answers 5xx (Node-RED started first, a conductor restart)
// is asked again, from this delay doubling up to the maximum, until it answers or the editor
// deploys again.
let retryInitialMs = 2000;
const RETRY_MAX_MS = 30000;

let RED = null;
// Opens the WAMP connection: autobahn's, or a test's fake with the same shape
// (onopen(session) / onclose(reason, details) / open() / close()).
let connect = (options) => new autobahn.Connection(options);
let current = null;  // the active Deployment, or null when no conductor config is deployed
// deploys counts editor deploys, so a reader can tell this deploy's answer from the last one's.
const lastState = { state: 'idle', error: null, flow: null, deploys: 0 };

class Deployment {
  constructor(configNode, flows) {
    this.configId = configNode.id;
    this.flowName = configNode.flowName || DEFAULT_FLOW_NAME;
    this.client = new ConductorClient({ url: configNode.url, token: configNode.credentials.token,
                                        caFile: configNode.caFile });
    this.flows = flows;
    this.placement = computePlacement(flows);
    this.flowId = null;
    this.version = 0;
    this.pending = [];
    this.dropped = 0;
    this.seq = new Map();           // topic -> last seq published
    this.lastSeen = new Map();      // "topic|from|version" -> last seq delivered
    this.nodeStatus = new Map();    // node id -> last status a board reported
    this.boardState = new Map();    // board id -> "online" | "offline" | ...
    this.boardNames = new Map();
    this.partitionState = new Map();  // board id -> {state, error}
    this.session = null;
    this.connection = null;
    this.subscriptions = [];
    this.closed = false;
    this.retryMs = retryInitialMs;
    this.retryTimer = null;
  }

  log(level, text) {
    RED.log[level](`[edgewire] ${text}`);
  }

  // The board a running node instance is placed on ('' = here), also for the copies of a
  // subflow's nodes (their ids are made at run time: the instance's placement counts).
  placeOf(id, node) {
    let b = this.placement.boardOf(id);
    if (b !== undefined) return b;
    if (node && node._alias) b = this.placement.boardOf(node._alias);
    if (b !== undefined) return b;
    if (node && node.z) b = this.placement.boardOf(node.z);
    return b === undefined ? '' : b;
  }

  async start() {
    lastState.state = 'deploying';
    lastState.error = null;
    lastState.flow = null;
    this.markGpioWithoutBoard();
    this.showPartitionStatus();
    let answer;
    try {
      answer = await this.client.request('POST', '/v1/flows',
        { name: this.flowName, nodes: this.flows, cloud: 'external' });
    } catch (e) {
      if (this.closed) return;
      const details = (e.details || []).map((d) => `${d.node} (${d.type}, tab ${d.tab}): ${d.message}`).join('; ');
      const text = e.status === 404 && e.code === 'not_found' && /route|\/v1\/flows/.test(e.message + '')
        ? `conductor ${this.client.base} has no /v1/flows: ${e.message}` : e.message;
      lastState.state = 'failed';
      lastState.error = { status: e.status, code: e.code, message: text, details: e.details || [] };
      const retry = !e.status || e.status >= 500;
      this.log('error', `deploy to the conductor failed: ${text}${details ? ' — ' + details : ''}` +
        (retry ? `; trying again in ${this.retryMs / 1000} s` : ''));
      notify(`Edgewire: the boards did not get this deploy: ${text}${details ? ' — ' + details : ''}` +
        (retry ? ' (trying again)' : ''), 'error');
      this.failAll(e.status ? `conductor said ${e.status} ${e.code}` : e.code);
      if (retry) {
        this.retryTimer = setTimeout(() => {
          this.retryTimer = null;
          if (!this.closed) this.start().catch((err) => this.log('error', `deploy: ${err.stack || err}`));
        }, this.retryMs);
        this.retryMs = Math.min(this.retryMs * 2, RETRY_MAX_MS);
      }
      return;
    }
    if (this.closed) return;
    const flow = answer.body || {};
    this.flowId = flow.id;
    this.version = Number(flow.version) || 0;
    for (const p of flow.partitions || []) this.partitionState.set(p.board, { state: p.state, error: p.error });
    lastState.state = 'deployed';
    lastState.flow = flow;
    const boards = (flow.partitions || []).filter((p) => p.board);
    this.log('info', `flow ${flow.name} (${flow.id}) version ${flow.version}: ` +
      (boards.map((p) => `${p.board} ${p.state}${p.error ? ' (' + p.error + ')' : ''}`).join(', ') || 'no board'));
    await this.loadBoards();
    if (this.closed) return;
    const failed = boards.filter((p) => p.state === 'failed');
    notify(`Edgewire: flow ${flow.name} v${flow.version} — ` +
      (boards.map((p) => `${this.boardNames.get(p.board) || p.board}: ${p.state}`).join(', ') || 'no board partitions'),
      failed.length ? 'warning' : 'success');
    this.showPartitionStatus();
    this.connect();
  }

  async loadBoards() {
    try {
      for (const b of await this.client.listAll('/v1/boards', 'boards')) {
        this.boardNames.set(b.id, b.name);
        this.boardState.set(b.id, b.status);
      }
    } catch (e) {
      this.log('warn', `board list: ${e.message}`);
    }
  }

  // ---- WAMP ----

  connect() {
    if (this.connection || this.closed) return;
    const options = {
      url: this.client.wsUrl,
      realm: 'edgewire',
      authmethods: ['ticket'],
      authid: 'node-red',
      onchallenge: (session, method) => {
        if (method !== 'ticket') throw new Error('unexpected challenge ' + method);
        return this.client.token;
      },
      max_retries: -1,
      initial_retry_delay: 1,
      max_retry_delay: 10,
    };
    if (this.client.agent) options.agent = this.client.agent;
    this.connection = connect(options);
    this.connection.onopen = (session) => {
      this.session = session;
      this.log('info', `joined ${this.client.wsUrl} for flow ${this.flowId}`);
      this.subscribeAll().then(() => this.flushPending());
    };
    this.connection.onclose = (reason, details) => {
      this.session = null;
      this.subscriptions = [];
      if (!this.closed) {
        this.log('warn', `WAMP session closed (${reason}${details && details.reason ? ': ' + details.reason : ''}); retrying`);
        this.forBoardNodes((id, board, node) => node.status({ fill: 'yellow', shape: 'ring', text: 'conductor unreachable' }));
      }
      return this.closed;  // true stops autobahn's retries
    };
    this.connection.open();
  }

  async subscribeAll() {
    const s = this.session;
    if (!s || !this.flowId) return;
    const subscribe = async (topic, handler) => {
      try {
        this.subscriptions.push(await s.subscribe(topic, handler));
      } catch (e) {
        const why = (e && (e.error || e.message)) || String(e);
        this.log('error', `subscribe ${topic}: ${why} ${(e && e.args) || ''}`);
        notify(`Edgewire: cannot subscribe to ${topic}: ${why}`, 'error');
      }
    };
    const jobs = [];
    for (const wire of this.placement.inbound.values()) {
      const topic = wireTopic(this.flowId, wire.node, wire.port);
      jobs.push(subscribe(topic, (args, kwargs) => this.onWire(topic, wire, args, kwargs)));
    }
    jobs.push(subscribe(`ew.flow.${this.flowId}.debug`, (args, kwargs) => this.onDebug(kwargs || {})));
    jobs.push(subscribe(`ew.flow.${this.flowId}.status`, (args, kwargs) => this.onStatus(kwargs || {})));
    for (const board of this.placement.boards) {
      jobs.push(subscribe(`ew.board.${board}.status`, (args, kwargs) => this.onBoardState(board, kwargs || {})));
    }
    await Promise.all(jobs);
  }

  // ---- cloud -> board ----

  publish(topic, msg) {
    if (!this.session || !this.flowId) {
      if (this.pending.length >= MAX_PENDING_PUBLISHES) {
        this.pending.shift();
        this.dropped++;
      }
      this.pending.push({ node: topic.node, port: topic.port, msg });
      return;
    }
    const name = wireTopic(this.flowId, topic.node, topic.port);
    const seq = (this.seq.get(name) || 0) + 1;
    this.seq.set(name, seq);
    this.session.publish(name, [msg], { seq, from: PUBLISHER, version: this.version }, { acknowledge: true })
      .catch((e) => this.log('warn', `publish ${name}: ${(e && (e.error || e.message)) || e} ${(e && e.args) || ''}`));
  }

  flushPending() {
    const pending = this.pending;
    this.pending = [];
    for (const p of pending) this.publish({ node: p.node, port: p.port }, p.msg);
    if (this.dropped) this.log('warn', `${this.dropped} messages to boards dropped while the flow was being deployed`);
  }

  // ---- board -> cloud ----

  onWire(topic, wire, args, kwargs) {
    const msg = args && args[0];
    if (!msg || typeof msg !== 'object' || Array.isArray(msg)) return;
    const k = kwargs || {};
    const seq = Number(k.seq);
    const key = `${topic}|${k.from || ''}|${k.version || 0}`;
    if (Number.isFinite(seq)) {
      if (seq <= (this.lastSeen.get(key) || 0)) return;  // a duplicate or an old one
      this.lastSeen.set(key, seq);
    }
    if (!msg._msgid) msg._msgid = RED.util.generateId();
    wire.targets.forEach((id, i) => {
      const node = RED.nodes.getNode(id);
      if (!node) return;
      node.receive(i === 0 ? msg : RED.util.cloneMessage(msg));
    });
  }

  onDebug(k) {
    const def = this.placement.nodeById(k.node) || {};
    const local = k.node && RED.nodes.getNode(k.node);
    if (local && (local.active === false || local.tosidebar === false)) return;
    const message = {
      id: k.node,
      z: def.z,
      path: def.z,
      name: k.name || def.name || '',
      topic: k.topic,
      property: k.property,
      msg: k.msg,
    };
    // A debug node that shows the complete message has no property (Node-RED's sidebar then
    // says "msg : Object"); its `complete` is "true".
    if (!k.property || k.property === 'msg' || k.property === 'true') delete message.property;
    RED.comms.publish('debug', RED.util.encodeObject(message, { maxLength: DEBUG_MAX_LENGTH }));
  }

  onStatus(k) {
    if (!k.node || !k.status || typeof k.status !== 'object') return;
    this.nodeStatus.set(k.node, k.status);
    if (this.boardState.get(k.board) === 'offline') return;
    const node = RED.nodes.getNode(k.node);
    if (node) node.status(k.status);
  }

  onBoardState(board, k) {
    if (!k.status) return;
    this.boardState.set(board, k.status);
    this.showPartitionStatus(board);
  }

  // ---- status dots ----

  forBoardNodes(fn, onlyBoard) {
    for (const n of this.flows) {
      const board = this.placement.boardOf(n.id);
      if (!board || (onlyBoard && board !== onlyBoard)) continue;
      const node = RED.nodes.getNode(n.id);
      if (node) fn(n.id, board, node);
    }
  }

  // The dot of each board node: the board offline or the partition failed wins; else what the
  // node last reported from the board; else where it runs.
  showPartitionStatus(onlyBoard) {
    this.forBoardNodes((id, board, node) => {
      const name = this.boardNames.get(board) || board;
      const part = this.partitionState.get(board);
      const online = this.boardState.get(board);
      if (part && part.state === 'failed') {
        node.status({ fill: 'red', shape: 'dot', text: `${name}: ${part.error || 'deploy failed'}` });
      } else if (online === 'offline' || (part && part.state === 'offline')) {
        node.status({ fill: 'red', shape: 'ring', text: `${name} offline` });
      } else if (!part) {
        node.status({ fill: 'yellow', shape: 'ring', text: `deploying to ${name}` });
      } else if (this.nodeStatus.has(id)) {
        node.status(this.nodeStatus.get(id));
      } else if (part.state === 'pending') {
        node.status({ fill: 'yellow', shape: 'ring', text: `deploying to ${name}` });
      } else {
        node.status({ fill: 'green', shape: 'dot', text: `on ${name}` });
      }
    }, onlyBoard);
  }

  // GPIO lives on boards: a GPIO node the placement left here cannot run.
  markGpioWithoutBoard() {
    for (const n of this.flows) {
      if (!/^edgewire-gpio-/.test(n.type) || this.placement.boardOf(n.id) !== '') continue;
      const node = RED.nodes.getNode(n.id);
      if (node) node.status({ fill: 'red', shape: 'dot', text: 'no board: set its board, or its group or tab board' });
    }
  }

  failAll(text) {
    this.forBoardNodes((id, board, node) => node.status({ fill: 'red', shape: 'dot', text: `not deployed: ${text}`.slice(0, 60) }));
  }

  close() {
    this.closed = true;
    if (this.retryTimer) clearTimeout(this.retryTimer);
    if (this.connection) {
      try {
        this.connection.close();
      } catch (e) { /* already closed */ }
    }
    this.connection = null;
  }
}

// Shown by the palette's editor plugin (RED.notify). Not Node-RED's notification/# topic: the
// editor runs those texts through i18n, which eats the colons of URLs.
function notify(text, type) {
  RED.comms.publish('edgewire/notify', { text, type, timeout: type === 'error' ? 15000 : 5000 }, false);
}

// ---- hooks: where Node-RED's router meets the cut ----

function onSend(events) {
  const d = current;
  if (!d) return;
  const done = new Set();
  for (const e of events) {
    const src = e.source || {};
    if (!src.id || d.placement.isJunction(src.id)) continue;
    if (d.placeOf(src.id, src.node) !== '') continue;  // a board node: preRoute drops it
    const key = `${src.id}:${src.port || 0}`;
    if (done.has(key)) continue;
    done.add(key);
    const wire = d.placement.outbound.get(key);
    if (!wire) continue;
    let copy;
    try {
      copy = JSON.parse(JSON.stringify(e.msg));
    } catch (err) {
      d.log('warn', `node ${src.id}: a message to a board must be JSON: ${err.message}`);
      continue;
    }
    d.publish(wire, copy);
  }
}

function preRoute(e) {
  const d = current;
  if (!d) return;
  const src = e.source || {};
  if (src.id && !d.placement.isJunction(src.id) && d.placeOf(src.id, src.node) !== '') return false;
  const dest = (e.destination || {}).id;
  if (!dest) return;
  if (d.placement.isJunction(dest)) return d.placement.junctionReachesCloud(dest) ? undefined : false;
  if (d.placement.boardOf(dest)) return false;  // published in onSend
}

function onFlowsStarted(event) {
  const flows = ((event && event.config && event.config.flows) || []).map((n) => {
    const copy = Object.assign({}, n);
    delete copy.credentials;
    return copy;
  });
  const configs = flows.filter((n) => n.type === 'edgewire-conductor' && n.d !== true).sort((a, b) => (a.id < b.id ? -1 : 1));
  if (current) current.close();
  current = null;
  lastState.deploys++;
  lastState.flow = null;
  lastState.error = null;
  if (!configs.length) {
    lastState.state = 'idle';
    return;
  }
  if (configs.length > 1)
    RED.log.warn(`[edgewire] ${configs.length} edgewire-conductor config nodes: flows deploy to ${configs[0].id} only`);
  const configNode = RED.nodes.getNode(configs[0].id);
  if (!configNode || !configNode.credentials || !configNode.credentials.token) {
    lastState.state = 'failed';
    lastState.error = { message: 'the edgewire-conductor config node has no API token' };
    notify('Edgewire: the conductor config node has no API token; boards not deployed', 'error');
    return;
  }
  try {
    current = new Deployment(configNode, flows);
  } catch (e) {
    lastState.state = 'failed';
    lastState.error = { message: e.message };
    notify(`Edgewire: ${e.message}`, 'error');
    return;
  }
  current.start().catch((e) => RED.log.error(`[edgewire] deploy: ${e.stack || e}`));
}

function init(red) {
  if (RED) return;
  RED = red;
  RED.hooks.add('onSend.edgewire', onSend);
  RED.hooks.add('preRoute.edgewire', preRoute);
  RED.events.on('flows:started', onFlowsStarted);
}

module.exports = {
  init,
  state: () => lastState,
  // The board a node is placed on in the running deployment ('' here, undefined: no deployment).
  placeOf: (id) => (current ? current.placement.boardOf(id) : undefined),
  hasDeployment: () => !!current,
  // Tests only: replaces the WAMP connection factory.
  setConnectorForTest: (fn) => { connect = fn; },
  setRetryForTest: (ms) => { retryInitialMs = ms; },
};
