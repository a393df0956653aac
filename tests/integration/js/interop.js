// Interop client for the integration tests: npm autobahn (an independent WAMP implementation)
// joins the conductor with ticket auth over wamp.2.json, calls a board procedure, subscribes to
// the board's status topic and reports each step as one JSON line on stdout.
// Usage: node interop.js WS_URL TOKEN BOARD_ID
const fs = require('fs');
const autobahn = require('autobahn');

const [url, token, boardId] = process.argv.slice(2);
// writeSync: each step must reach the test at once, whatever kind of stream stdout is.
const say = (obj) => fs.writeSync(1, JSON.stringify(obj) + '\n');

const connection = new autobahn.Connection({
  url,
  realm: 'edgewire',
  authmethods: ['ticket'],
  authid: 'interop-js',
  onchallenge: (session, method) => {
    if (method !== 'ticket') throw new Error('unexpected challenge ' + method);
    return token;
  },
  max_retries: 0,
});

const timer = setTimeout(() => { say({ step: 'timeout' }); process.exit(2); }, 20000);

connection.onopen = async (session) => {
  try {
    const pong = await session.call(`ew.board.${boardId}.sys.ping`, ['polo']);
    say({ step: 'called', kwargs: pong.kwargs || pong });
    await session.subscribe(`ew.board.${boardId}.status`, (args, kwargs) => {
      say({ step: 'event', status: kwargs.status });
      if (kwargs.status === 'online') {
        clearTimeout(timer);
        connection.close();
        process.exit(0);
      }
    });
    say({ step: 'subscribed' });
  } catch (err) {
    say({ step: 'error', error: err.error || String(err), args: err.args });
    process.exit(1);
  }
};
connection.onclose = (reason, details) => {
  if (reason !== 'closed') { say({ step: 'closed', reason, details }); process.exit(1); }
};
connection.open();
