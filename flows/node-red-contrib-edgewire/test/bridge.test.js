// The deploy hook and the cut inside a real Node-RED 4.1 runtime (node-red-node-test-helper, with
// the Node-RED that deploy/node-red pins): the flow goes to a conductor's POST /v1/flows (a small
// HTTP server here plays the conductor's REST side), and a fake WAMP connection records what the
// palette publishes and lets the test play what boards publish.
'use strict';
const test = require('node:test');
const assert = require('node:assert');
const http = require('http');
const path = require('path');

const NODE_RED = path.join(__dirname, '..', '..', '..', 'deploy', 'node-red', 'node_modules', 'node-red');
const helper = require('node-red-node-test-helper');
helper.init(require.resolve(NODE_RED));
const hooks = require(require.resolve('@node-red/util', { paths: [NODE_RED] })).hooks;

const bridge = require('../lib/bridge');
const conductorNode = require('../nodes/edgewire-conductor.js');
const gpioIn = require('../nodes/edgewire-gpio-in.js');
const gpioOut = require('../nodes/edgewire-gpio-out.js');

// A cloud node that records what it gets and sends it on.
const received = [];
function probeModule(RED) {
  function Probe(config) {
    RED.nodes.createNode(this, config);
    this.on('input', (msg, send, done) => {
      received.push({ node: this.id, msg });
      send(msg);
      done();
    });
  }
  RED.nodes.registerType('test-probe', Probe);
}

// Answers 503 to the first `unavailable` deploys, as a conductor that is still starting.
function fakeConductor(unavailable = 0) {
  const posted = [];
  let refused = 0;
  const server = http.createServer((req, res) => {
    let body = '';
    req.on('data', (c) => { body += c; });
    req.on('end', () => {
      res.setHeader('Content-Type', 'application/json');
      if (req.headers['x-auth-token'] !== 'tkn') {
        res.statusCode = 401;
        return res.end(JSON.stringify({ error: { code: 'unauthenticated', message: 'bad token' } }));
      }
      if (req.method === 'POST' && req.url === '/v1/flows' && refused < unavailable) {
        refused++;
        res.statusCode = 503;
        return res.end(JSON.stringify({ error: { code: 'unavailable', message: 'starting' } }));
      }
      if (req.method === 'POST' && req.url === '/v1/flows') {
        posted.push(JSON.parse(body));
        res.statusCode = 201;
        return res.end(JSON.stringify({ id: 'flw1', name: 'unit', version: 3, partitions: [
          { board: 'A', nodes: 2, state: 'deployed' }, { board: 'B', nodes: 1, state: 'offline' },
          { board: '', nodes: 2, state: 'external' }] }));
      }
      if (req.method === 'GET' && req.url.startsWith('/v1/boards')) {
        return res.end(JSON.stringify({ boards: [{ id: 'A', name: 'pi-a', status: 'online' },
                                                 { id: 'B', name: 'pi-b', status: 'offline' }] }));
      }
      res.statusCode = 404;
      res.end(JSON.stringify({ error: { code: 'not_found', message: 'no such resource: ' + req.url } }));
    });
  });
  return new Promise((resolve) => server.listen(0, '127.0.0.1', () => resolve({ server, posted })));
}

function fakeWamp() {
  const wamp = { options: null, subscriptions: new Map(), published: [], opened: null };
  wamp.opened = new Promise((resolve) => {
    bridge.setConnectorForTest((options) => {
      wamp.options = options;
      const connection = {
        open() {
          const session = {
            subscribe: async (topic, handler) => { wamp.subscriptions.set(topic, handler); return { topic }; },
            publish: async (topic, args, kwargs, opts) => { wamp.published.push({ topic, args, kwargs, opts }); },
          };
          setImmediate(() => { connection.onopen(session); setTimeout(resolve, 50); });
        },
        close() {},
      };
      return connection;
    });
  });
  return wamp;
}

const until = async (what, fn, ms = 5000) => {
  const end = Date.now() + ms;
  while (Date.now() < end) {
    if (fn()) return;
    await new Promise((r) => setTimeout(r, 20));
  }
  assert.fail('timed out waiting for ' + what);
};

test('deploy posts the flow, cuts it at the boards and joins the board partitions', { timeout: 30000 }, async (t) => {
  bridge.setRetryForTest(50);
  const { server, posted } = await fakeConductor(2);  // the deploy gets through on the third try
  t.after(() => server.close());
  const wamp = fakeWamp();
  const comms = [];
  const url = `http://127.0.0.1:${server.address().port}`;
  const flow = [
    { id: 't', type: 'tab', label: 'Flow', env: [] },
    { id: 'c', type: 'edgewire-conductor', url, flowName: 'unit' },
    { id: 'gin', type: 'edgewire-gpio-in', z: 't', board: 'A', conductor: 'c', line: 'GPIO4', wires: [['p1', 'pA']] },
    { id: 'p1', type: 'test-probe', z: 't', wires: [['gout', 'p2']] },
    { id: 'p2', type: 'test-probe', z: 't', wires: [] },
    { id: 'pA', type: 'test-probe', z: 't', board: 'A', wires: [['p2']] },
    { id: 'gout', type: 'edgewire-gpio-out', z: 't', board: 'B', conductor: 'c', line: 'GPIO17', wires: [] },
  ];
  const withHooks = (mod) => (red) => { red.hooks = hooks; return mod(red); };
  await helper.load([withHooks(conductorNode), withHooks(gpioIn), withHooks(gpioOut), probeModule], flow,
    { c: { token: 'tkn' } });
  t.after(() => helper.unload());
  helper._events.on('comms', (m) => comms.push(m));
  const statuses = {};
  for (const id of ['gin', 'pA', 'gout']) {
    const node = helper.getNode(id);
    const original = node.status.bind(node);
    statuses[id] = [];
    node.status = (s) => { statuses[id].push(s); return original(s); };
  }
  await wamp.opened;

  // The whole flow went to the conductor, without credentials, for an external cloud partition.
  assert.strictEqual(posted.length, 1);
  assert.strictEqual(posted[0].cloud, 'external');
  assert.strictEqual(posted[0].name, 'unit');
  assert.deepStrictEqual(posted[0].nodes.map((n) => n.id).sort(), ['c', 'gin', 'gout', 'p1', 'p2', 'pA', 't']);
  assert.ok(posted[0].nodes.every((n) => !('credentials' in n)));
  assert.strictEqual(wamp.options.url, url.replace('http', 'ws') + '/ws');
  assert.deepStrictEqual(wamp.options.authmethods, ['ticket']);
  assert.strictEqual(wamp.options.onchallenge(null, 'ticket'), 'tkn');
  assert.deepStrictEqual([...wamp.subscriptions.keys()].sort(), [
    'ew.board.A.status', 'ew.board.B.status', 'ew.flow.flw1.debug', 'ew.flow.flw1.status', 'ew.flow.flw1.wire.gin.0',
    'ew.flow.flw1.wire.p_41.0']);  // pA → p2: "A" escaped as _41
  assert.deepStrictEqual(bridge.state().flow.id, 'flw1');

  // Board A's gpio in → p1 (cloud) → publish to gout's board, and p2 here.
  const fromA = wamp.subscriptions.get('ew.flow.flw1.wire.gin.0');
  fromA([{ payload: 1, topic: 'gpio/GPIO4' }], { seq: 1, from: 'A', version: 3 });
  await until('p2 to get the message', () => received.some((r) => r.node === 'p2'));
  assert.deepStrictEqual(received.map((r) => r.node), ['p1', 'p2']);
  assert.strictEqual(received[0].msg.payload, 1);
  assert.ok(received[0].msg._msgid);
  await until('a publish', () => wamp.published.length === 1);
  const pub = wamp.published[0];
  assert.strictEqual(pub.topic, 'ew.flow.flw1.wire.p1.0');
  assert.strictEqual(pub.args[0].payload, 1);
  assert.match(pub.kwargs.from, /^cloud:[0-9a-f]{8}$/);  // new per Node-RED start
  assert.deepStrictEqual(pub.kwargs, { seq: 1, from: pub.kwargs.from, version: 3 });
  // ... and not to gout's instance here (it would report "has no board").
  const goutErrors = () => helper.getNode('gout').error.getCalls().filter((c) => c.thisValue.id === 'gout');
  assert.deepStrictEqual(goutErrors().map((c) => c.args[0] && c.args[0].message), []);

  // Duplicates and old sequence numbers are dropped; the next one goes through.
  fromA([{ payload: 0 }], { seq: 1, from: 'A', version: 3 });
  fromA([{ payload: 0 }], { seq: 2, from: 'A', version: 3 });
  await until('the second message', () => wamp.published.length === 2);
  await new Promise((r) => setTimeout(r, 100));
  assert.strictEqual(received.filter((r) => r.node === 'p1').length, 2);
  assert.deepStrictEqual(wamp.published[1].kwargs, { seq: 2, from: pub.kwargs.from, version: 3 });

  // A board-placed node's instance here sends nothing anywhere.
  const before = received.length;
  helper.getNode('pA').receive({ payload: 'on the board' });
  await new Promise((r) => setTimeout(r, 100));
  assert.deepStrictEqual(received.slice(before).map((r) => r.node), ['pA']);
  assert.strictEqual(wamp.published.length, 2);

  // Board debug output → the editor's debug sidebar, as Node-RED's debug node sends it.
  wamp.subscriptions.get('ew.flow.flw1.debug')([], { board: 'A', node: 'pA', name: 'probe', msg: 42,
    topic: 'gpio/GPIO4', property: 'payload' });
  const debug = comms.find((m) => m.topic === 'debug');
  assert.ok(debug, 'no debug message published to the editor');
  assert.strictEqual(debug.data.id, 'pA');
  assert.strictEqual(debug.data.z, 't');
  assert.strictEqual(debug.data.topic, 'gpio/GPIO4');
  assert.strictEqual(debug.data.msg, '42');
  assert.strictEqual(debug.data.format, 'number');

  // Status dots: where the node runs, what the board reports, and the board going offline.
  assert.deepStrictEqual(statuses.gout.slice(-1)[0], { fill: 'red', shape: 'ring', text: 'pi-b offline' });
  wamp.subscriptions.get('ew.flow.flw1.status')([], { board: 'A', node: 'gin', status: { fill: 'blue', shape: 'dot', text: 'GPIO4 = 1' } });
  assert.deepStrictEqual(statuses.gin.slice(-1)[0], { fill: 'blue', shape: 'dot', text: 'GPIO4 = 1' });
  wamp.subscriptions.get('ew.board.A.status')([], { status: 'offline' });
  assert.deepStrictEqual(statuses.gin.slice(-1)[0], { fill: 'red', shape: 'ring', text: 'pi-a offline' });
  wamp.subscriptions.get('ew.board.A.status')([], { status: 'online' });
  assert.deepStrictEqual(statuses.gin.slice(-1)[0], { fill: 'blue', shape: 'dot', text: 'GPIO4 = 1' });
  assert.deepStrictEqual(statuses.pA.slice(-1)[0], { fill: 'green', shape: 'dot', text: 'on pi-a' });
});
