// Edgewire GPIO in: edges of a board's line. It runs on its board (the agent's flow runtime);
// the instance in Node-RED only shows the board's status. Without a board it cannot run.
'use strict';

const bridge = require('../lib/bridge');

module.exports = function (RED) {
  bridge.init(RED);
  function EdgewireGpioInNode(config) {
    RED.nodes.createNode(this, config);
    this.board = config.board || '';
    this.line = config.line;
    this.status({ fill: 'grey', shape: 'ring', text: 'runs on its board' });
    // Placement is known once the flows have started (bridge.onFlowsStarted sets the dots).
  }
  RED.nodes.registerType('edgewire-gpio-in', EdgewireGpioInNode);
};
