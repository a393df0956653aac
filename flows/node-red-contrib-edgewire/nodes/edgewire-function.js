// Edgewire function: calls an Edgewire function with msg.payload as the event and sends its
// result as msg.payload. On a board the agent's runtime calls it (ew.conductor.fn.invoke); when
// the node is in the cloud partition this instance calls the conductor's REST invocation
// route. Failures go to catch nodes (done(err)).
'use strict';

const bridge = require('../lib/bridge');
const { ConductorClient } = require('../lib/conductor-client');

module.exports = function (RED) {
  bridge.init(RED);
  function EdgewireFunctionNode(config) {
    RED.nodes.createNode(this, config);
    const node = this;
    node.fn = config.function || '';
    node.placement = config.placement || 'auto';
    node.timeout = Number(config.timeout) || 0;
    node.conductor = RED.nodes.getNode(config.conductor);
    let functionId = null;

    async function resolve(client) {
      if (functionId) return functionId;
      const all = await client.listAll('/v1/functions', 'functions');
      const found = all.find((f) => f.id === node.fn) || all.find((f) => f.name === node.fn);
      if (!found) throw new Error(`no function "${node.fn}" in this project`);
      functionId = found.id;
      return functionId;
    }

    node.on('input', async (msg, send, done) => {
      if (!node.conductor || !node.conductor.credentials || !node.conductor.credentials.token)
        return done(new Error('edgewire-function needs an edgewire-conductor with an API token'));
      try {
        const client = new ConductorClient({ url: node.conductor.url, token: node.conductor.credentials.token,
                                             caFile: node.conductor.caFile });
        const id = await resolve(client);
        const body = { event: msg.payload === undefined ? null : msg.payload };
        // The REST route has no automatic placement: "auto" in the cloud partition runs in the cloud.
        if (node.placement.startsWith('board:')) body.boardId = node.placement.slice('board:'.length);
        else body.target = 'cloud';
        if (node.timeout > 0) body.timeoutMs = Math.round(node.timeout * 1000);
        node.status({ fill: 'blue', shape: 'ring', text: 'invoking' });
        const answer = await client.request('POST', `/v1/functions/${encodeURIComponent(id)}/invocations`, body,
          { timeoutMs: (node.timeout > 0 ? node.timeout * 1000 : 900000) + 30000 });
        node.status({});
        msg.payload = answer.body ? answer.body.output : null;
        send(msg);
        done();
      } catch (e) {
        node.status({ fill: 'red', shape: 'dot', text: String(e.message).slice(0, 60) });
        done(e);
      }
    });
  }
  RED.nodes.registerType('edgewire-function', EdgewireFunctionNode);
};
