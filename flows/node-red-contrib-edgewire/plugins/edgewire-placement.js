// Runtime half of the placement plugin: nothing to run here (the editor half adds the board
// setting to tabs and to the core nodes a board runs; lib/bridge.js reads it at deploy).
'use strict';

module.exports = function (RED) {
  RED.plugins.registerPlugin('edgewire-placement', { type: 'edgewire-placement' });
};
