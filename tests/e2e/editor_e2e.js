// Drives the Node-RED editor (with the Edgewire palette) as a person would, in Debian's headless
// Chromium through playwright-core: drags gpio in, change, gpio out and debug from the palette,
// picks boards and lines from the lists the palette loads live from the conductor, puts the
// debug node on a board from the Edgewire sidebar, wires the nodes, deploys, and waits for a
// board's debug message in the debug sidebar and the status dots. Each step is one JSON line on
// stdout for test_editor.py, which plays the GPIO edges on the simulated boards.
// Usage: node editor_e2e.js EDITOR_URL BOARD_A BOARD_B ARTEFACT_DIR
'use strict';
const fs = require('fs');
const path = require('path');
const { chromium } = require('playwright-core');

const [editorUrl, boardA, boardB, artefacts] = process.argv.slice(2);
const CHROMIUM = process.env.EW_CHROMIUM || '/usr/bin/chromium';
const say = (obj) => fs.writeSync(1, JSON.stringify(obj) + '\n');
const shot = (name) => path.join(artefacts, name);

let browser;
let page;

async function main() {
  fs.mkdirSync(artefacts, { recursive: true });
  browser = await chromium.launch({ executablePath: CHROMIUM, args: ['--headless', '--no-sandbox', '--disable-gpu'] });
  page = await browser.newPage({ viewport: { width: 1600, height: 1000 } });
  page.on('pageerror', (e) => say({ step: 'page-error', error: String(e) }));
  await page.goto(editorUrl);
  await page.waitForSelector('.red-ui-palette-node[data-palette-type="edgewire-gpio-in"]', { timeout: 60000 });
  await page.waitForFunction(() => window.RED && RED.nodes && RED.nodes.getType('change') && RED.view, null, { timeout: 30000 });
  say({ step: 'editor', placementDeclared: await page.evaluate(() => !!RED.nodes.getType('debug').defaults.board) });

  const gpioIn = await drag('edgewire-gpio-in', 200, 200);
  const change = await drag('change', 450, 200);
  const gpioOut = await drag('edgewire-gpio-out', 700, 200);
  const debug = await drag('debug', 450, 350);
  say({ step: 'dragged', nodes: { gpioIn, change, gpioOut, debug } });

  const listed = await configureGpio(gpioIn, boardA, 'GPIO4');
  await configureGpio(gpioOut, boardB, 'GPIO17');
  const invalid = await page.evaluate((ids) => ids.map((id) => RED.nodes.node(id))
    .filter((n) => !n.valid).map((n) => ({ id: n.id, type: n.type, errors: n.validationErrors })), [gpioIn, gpioOut]);
  say({ step: 'configured-gpio', boardsListed: listed.boards, linesListed: listed.lines, invalid });
  await configureChange(change);
  await placeOnBoard(debug, boardA);
  say({ step: 'placed', debugBoard: await page.evaluate((id) => RED.nodes.node(id).board, debug) });

  await wire(gpioIn, change);
  await wire(change, gpioOut);
  await wire(gpioIn, debug);
  const wires = await page.evaluate(() => {
    const out = [];
    RED.nodes.eachLink((l) => out.push([l.source.id, l.target.id]));
    return out;
  });
  say({ step: 'wired', wires });

  const deploysBefore = (await deployState()).deploys;
  await page.click('#red-ui-header-button-deploy');
  const state = await waitForDeploy(deploysBefore);
  if (state.state !== 'deployed') {
    await page.waitForTimeout(1500);  // the notifications slide in
    await page.screenshot({ path: shot('editor-deploy-failed.png') });
    say({ step: 'deploy-failed', state, screenshot: shot('editor-deploy-failed.png') });
    return 1;
  }
  const exported = await page.evaluate(() => RED.nodes.createCompleteNodeSet(false));
  say({ step: 'deployed', flow: state.flow, exported });
  // A board that could not take its partition will show nothing: stop here, with its dots.
  const failed = (state.flow.partitions || []).filter((p) => p.board && p.state === 'failed');
  if (failed.length) {
    await page.waitForTimeout(1500);
    await page.screenshot({ path: shot('editor-partition-failed.png') });
    say({ step: 'partition-failed', partitions: failed, screenshot: shot('editor-partition-failed.png') });
    return 1;
  }

  await page.evaluate(() => RED.sidebar.show('debug'));
  // test_editor.py now plays edges on board A's GPIO4 until the sidebar shows one.
  const debugMsg = page.locator('.red-ui-debug-msg').filter({ hasText: 'gpio/GPIO4' }).first();
  await debugMsg.waitFor({ timeout: 60000 });
  say({ step: 'debug-seen', text: (await debugMsg.innerText()).replace(/\s+/g, ' ').trim() });

  const dot = page.locator(`[id="${gpioIn}"] .red-ui-flow-node-status-dot-green, [id="${gpioIn}"] .red-ui-flow-node-status-ring-green`);
  await dot.first().waitFor({ state: 'attached', timeout: 30000 });
  const statusText = await page.evaluate((id) => {
    const n = RED.nodes.node(id);
    return n && n.status ? n.status : null;
  }, gpioIn);
  await page.waitForTimeout(500);
  await page.screenshot({ path: shot('editor-flow-deployed.png') });
  say({ step: 'done', status: statusText, screenshot: shot('editor-flow-deployed.png') });
  return 0;
}

// Drags a palette entry onto the workspace at (x, y) of the chart; returns the new node's id.
async function drag(type, x, y) {
  const before = await page.evaluate((t) => RED.nodes.filterNodes({ type: t }).map((n) => n.id), type);
  const entry = page.locator(`.red-ui-palette-node[data-palette-type="${type}"]`);
  await entry.scrollIntoViewIfNeeded();
  const from = await entry.boundingBox();
  const chart = await page.locator('#red-ui-workspace-chart').boundingBox();
  await page.mouse.move(from.x + from.width / 2, from.y + from.height / 2);
  await page.mouse.down();
  await page.mouse.move(chart.x + x, chart.y + y, { steps: 15 });
  await page.mouse.up();
  const id = await page.waitForFunction(([t, known]) => {
    const added = RED.nodes.filterNodes({ type: t }).map((n) => n.id).filter((i) => !known.includes(i));
    return added.length ? added[0] : null;
  }, [type, before], { timeout: 10000 });
  return id.jsonValue();
}

async function openEditor(id) {
  await page.locator(`[id="${id}"] .red-ui-flow-node`).first().dblclick();
  await page.waitForSelector('#node-dialog-ok', { state: 'visible', timeout: 10000 });
}

async function closeEditor() {
  await page.click('#node-dialog-ok');
  await page.waitForSelector('#node-dialog-ok', { state: 'detached', timeout: 10000 });
}

// Picks the board and the line in the node's dialog, from the lists the palette loaded.
async function configureGpio(id, board, line) {
  await openEditor(id);
  await page.waitForSelector(`#node-input-board option[value="${board}"]`, { state: 'attached', timeout: 20000 });
  const boards = await page.$$eval('#node-input-board option', (os) => os.map((o) => o.value).filter((v) => v));
  // A refill of the board list asked for before the pick and answered after it (Node-RED may
  // announce the conductor select's value late) must not take the pick back: ask for one, then
  // pick while it is surely in flight (the same task, so its answer cannot come in between).
  await page.evaluate((b) => {
    $('#node-input-conductor').trigger('change');
    $('#node-input-board').val(b).trigger('change');
  }, board);
  await page.waitForSelector(`#node-input-line option[value="${line}"]`, { state: 'attached', timeout: 20000 });
  const lines = await page.$$eval('#node-input-line option', (os) => os.length);
  await page.selectOption('#node-input-line', line);
  // Whether the refill landed before or after the line list, the picks are still there.
  const kept = await page.evaluate(() => [$('#node-input-board').val(), $('#node-input-line').val()]);
  if (kept[0] !== board || kept[1] !== line) throw new Error(`the dialog lost the picks: ${JSON.stringify(kept)}`);
  await closeEditor();
  return { boards, lines };
}

// The change node passes msg.payload on unchanged (rule: set msg.payload to msg.payload), so
// board B's line follows board A's.
async function configureChange(id) {
  await openEditor(id);
  await page.waitForSelector('.node-input-rule-property-value', { state: 'attached' });
  await page.evaluate(() => {
    const v = $('.node-input-rule-property-value').first();
    v.typedInput('type', 'msg');
    v.typedInput('value', 'payload');
  });
  await closeEditor();
}

// Selects the node and sets its board in the Edgewire sidebar.
async function placeOnBoard(id, board) {
  await page.locator(`[id="${id}"] .red-ui-flow-node`).first().click();
  await page.evaluate(() => RED.sidebar.show('edgewire-placement'));
  await page.waitForSelector(`#edgewire-placement-board option[value="${board}"]`, { state: 'attached', timeout: 20000 });
  await page.selectOption('#edgewire-placement-board', board);
}

async function portCenter(id, kind) {
  const box = await page.locator(`[id="${id}"] .red-ui-flow-port-${kind} .red-ui-flow-port`).first().boundingBox();
  return { x: box.x + box.width / 2, y: box.y + box.height / 2 };
}

async function wire(from, to) {
  const a = await portCenter(from, 'output');
  const b = await portCenter(to, 'input');
  await page.mouse.move(a.x, a.y);
  await page.mouse.down();
  await page.mouse.move(b.x, b.y, { steps: 15 });
  await page.mouse.up();
}

// The palette's own record of the deploy to the conductor (GET /edgewire/state).
async function deployState() {
  const answer = await page.request.get(new URL('edgewire/state', editorUrl).toString());
  return answer.json();
}

// The answer to the deploy after `before`. Node-RED's "not properly configured" confirmation
// means a node the test configured is invalid: that is a failure, not something to confirm.
async function waitForDeploy(before) {
  const deadline = Date.now() + 60000;
  let state = null;
  while (Date.now() < deadline) {
    if (await page.locator('#red-ui-notification-confirm-deploy, .red-ui-notification:has-text("not properly configured")').count()) {
      return { state: 'failed', error: { message: 'the editor says nodes are not properly configured' } };
    }
    state = await deployState();
    if (state.deploys > before && (state.state === 'deployed' || state.state === 'failed')) return state;
    await page.waitForTimeout(200);
  }
  return state || { state: 'timeout' };
}

main().then(async (code) => {
  await browser.close();
  process.exit(code);
}).catch(async (e) => {
  say({ step: 'error', error: String(e && e.stack ? e.stack : e) });
  try {
    // What the open dialog's live lists said (an error from the conductor shows in its hints).
    const hints = await page.evaluate(() => ({
      board: $('#edgewire-board-hint').text(), line: $('#edgewire-line-hint').text(),
      lines: $('#node-input-line option').map((i, o) => o.value).get().slice(0, 40),
    }));
    say({ step: 'error-context', hints });
  } catch (ignored) { /* no dialog */ }
  try {
    await page.screenshot({ path: shot('editor-error.png') });
  } catch (ignored) { /* no page */ }
  if (browser) await browser.close();
  process.exit(1);
});
