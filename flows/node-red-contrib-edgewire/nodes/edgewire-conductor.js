// Config node: which conductor this Node-RED works with (URL, API token as a credential, an
// optional CA file for https). Its module also serves the editor's live lists: admin endpoints
// that call the conductor's REST with the token, so that the token never reaches the browser.
'use strict';

const bridge = require('../lib/bridge');
const { ConductorClient } = require('../lib/conductor-client');

module.exports = function (RED) {
  bridge.init(RED);

  function EdgewireConductorNode(config) {
    RED.nodes.createNode(this, config);
    this.url = config.url;
    this.flowName = config.flowName || 'node-red';
    this.caFile = config.caFile || '';
  }
  RED.nodes.registerType('edgewire-conductor', EdgewireConductorNode, {
    credentials: { token: { type: 'password' } },
  });

  // The deployed config node `id` as a REST client, or an error for the editor.
  function clientOf(id) {
    const node = RED.nodes.getNode(id);
    if (!node || node.type !== 'edgewire-conductor')
      return { error: 'deploy the edgewire-conductor config node first, then open this dialog again', status: 404 };
    if (!node.credentials || !node.credentials.token)
      return { error: 'the edgewire-conductor config node has no API token', status: 400 };
    try {
      return { client: new ConductorClient({ url: node.url, token: node.credentials.token, caFile: node.caFile }) };
    } catch (e) {
      return { error: e.message, status: 400 };
    }
  }

  function serve(path, answer) {
    RED.httpAdmin.get(path, RED.auth.needsPermission('edgewire.read'), async (req, res) => {
      const { client, error, status } = clientOf(req.params.config);
      if (!client) return res.status(status).json({ error });
      try {
        res.json(await answer(client, req.params));
      } catch (e) {
        res.status(e.status && e.status >= 400 ? e.status : 502).json({ error: e.message, code: e.code });
      }
    });
  }

  serve('/edgewire/:config/boards', async (client) =>
    (await client.listAll('/v1/boards', 'boards')).map((b) => ({ id: b.id, name: b.name, status: b.status })));

  serve('/edgewire/:config/boards/:board/gpio', async (client, params) => {
    const answer = await client.request('GET', `/v1/boards/${encodeURIComponent(params.board)}/gpio`);
    const lines = [];
    for (const chip of (answer.body && answer.body.chips) || []) {
      for (const l of chip.lines || []) {
        lines.push({ chip: chip.name, offset: l.offset, name: l.name || '', used: !!l.used, consumer: l.consumer || '' });
      }
    }
    return lines;
  });

  serve('/edgewire/:config/functions', async (client) =>
    (await client.listAll('/v1/functions', 'functions')).map((f) => ({ id: f.id, name: f.name, version: f.version })));

  // What the last deploy did (for the editor and the end-to-end test).
  RED.httpAdmin.get('/edgewire/state', RED.auth.needsPermission('edgewire.read'), (req, res) => res.json(bridge.state()));
};
