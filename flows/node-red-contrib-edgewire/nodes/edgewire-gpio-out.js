// Edgewire GPIO out: sets a board's line. It runs on its board; a message that reaches the
// instance in Node-RED means the node was left in the cloud, where there is no GPIO.
'use strict';

const bridge = require('../lib/bridge');

module.exports = function (RED) {
  bridge.init(RED);
  function EdgewireGpioOutNode(config) {
    RED.nodes.createNode(this, config);
    this.board = config.board || '';
    this.line = config.line;
    this.status({ fill: 'grey', shape: 'ring', text: 'runs on its board' });
    this.on('input', (msg, send, done) => {
      done(new Error('edgewire-gpio-out has no board: set its board (or its group or tab EDGEWIRE_BOARD)'));
    });
  }
  RED.nodes.registerType('edgewire-gpio-out', EdgewireGpioOutNode);
};
