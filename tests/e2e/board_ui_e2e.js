// Opens a board's own web UI through the conductor's proxy (/v1/boards/{id}/proxy/{port}/) in
// Debian's headless Chromium through playwright-core, as a person would: the login link
// (POST /v1/boards/{id}/proxy-logins) is typed into the address bar, the conductor sets its
// session cookie and redirects, the page's relative stylesheet, script and WebSocket load
// through the proxy. Then what the cookie must not do: authorize the API or another board or
// port (even when the browser is made to send it there), or work once expired. One JSON line
// on stdout per step for test_board_ui.py.
// Usage: node board_ui_e2e.js CONDUCTOR_URL LOGIN_PATH BOARD PORT OTHER_BOARD TTL_SECONDS ARTEFACT_DIR
'use strict';
const fs = require('fs');
const path = require('path');
const { chromium } = require('playwright-core');

const [conductor, loginPath, board, port, otherBoard, ttlSeconds, artefacts] = process.argv.slice(2);
const CHROMIUM = process.env.EW_CHROMIUM || '/usr/bin/chromium';
const say = (obj) => fs.writeSync(1, JSON.stringify(obj) + '\n');
const base = `/v1/boards/${board}/proxy/${port}/`;

async function status(page, url) {
  const response = await page.goto(conductor + url);
  return { url, status: response.status(), body: (await response.text()).slice(0, 300) };
}

async function main() {
  fs.mkdirSync(artefacts, { recursive: true });
  const browser = await chromium.launch({ executablePath: CHROMIUM, args: ['--headless', '--no-sandbox', '--disable-gpu'] });
  try {
    const context = await browser.newContext();
    const page = await context.newPage();
    const requests = [];
    page.on('request', (r) => requests.push(r.url().replace(conductor, '')));
    page.on('pageerror', (e) => say({ step: 'page-error', error: String(e) }));

    // The login link, then the board's page at the clean URL.
    await page.goto(conductor + loginPath);
    await page.waitForFunction(() => document.getElementById('ws') &&
      document.getElementById('ws').textContent.startsWith('echo:'), null, { timeout: 30000 });
    await page.screenshot({ path: path.join(artefacts, 'board-ui-through-proxy.png') });
    const cookies = await context.cookies(conductor + base);  // the cookie is for the proxy prefix only
    const session = cookies.find((c) => c.name === 'ew_proxy_session');
    say({
      step: 'page',
      url: page.url().replace(conductor, ''),
      script: await page.textContent('#script'),
      ws: await page.textContent('#ws'),
      boardSawCookies: await page.textContent('#cookies'),
      background: await page.evaluate(() => getComputedStyle(document.body).backgroundColor),
      documentCookie: await page.evaluate(() => document.cookie),
      cookie: session && { path: session.path, httpOnly: session.httpOnly, sameSite: session.sameSite,
        secure: session.secure, expiresIn: Math.round(session.expires - Date.now() / 1000) },
      requests,
    });
    // A reload: the cookie carries the browser on; the board sees its own cookie, not ours.
    await page.reload();
    await page.waitForFunction(() => document.getElementById('ws').textContent.startsWith('echo:'), null, { timeout: 30000 });
    say({ step: 'reload', boardSawCookies: await page.textContent('#cookies') });

    // Where the cookie must not reach. First as the browser sends it (its Path keeps it to
    // this board and port), then forced onto every path of the conductor.
    const elsewhere = ['/v1/boards', `/v1/boards/${board}`, `/v1/boards/${board}/proxy/${Number(port) + 1}/`,
      `/v1/boards/${otherBoard}/proxy/${port}/`];
    const scoped = [];
    for (const url of elsewhere) scoped.push(await status(page, url));
    await context.addCookies([{ name: 'ew_proxy_session', value: session.value, url: conductor + '/' }]);
    const forced = [];
    for (const url of elsewhere) forced.push(await status(page, url));
    // A script of the board's page cannot call the API with it either (CSRF): fetch from the page.
    await page.goto(conductor + base);
    const fetched = await page.evaluate(async () => (await fetch('/v1/boards', { credentials: 'include' })).status);
    say({ step: 'elsewhere', scoped, forced, fetched });

    // A board's page registering a service worker for the conductor's whole origin (its script
    // served with Service-Worker-Allowed: /): the conductor refuses the script's fetch (review 3, H1).
    const serviceWorker = await page.evaluate(async () => {
      try {
        const registration = await navigator.serviceWorker.register('sw.js', { scope: '/' });
        return 'registered for ' + registration.scope;
      } catch (e) {
        return 'refused: ' + String(e);
      }
    });
    say({ step: 'service-worker', result: serviceWorker });

    // Expired: past the session's life the conductor refuses it, even when the browser is made
    // to send it (the browser itself drops it at Max-Age).
    // The cookie forced onto '/' above goes; the one the conductor set stays until its Max-Age.
    await context.clearCookies({ name: 'ew_proxy_session', path: '/' });
    const kept = (await context.cookies(conductor + base)).some((c) => c.name === 'ew_proxy_session');
    await new Promise((r) => setTimeout(r, (Number(ttlSeconds) + 1) * 1000));
    const keptAfter = (await context.cookies(conductor + base)).some((c) => c.name === 'ew_proxy_session');
    const dropped = await status(page, base);
    await context.addCookies([{ name: 'ew_proxy_session', value: session.value, url: conductor + base }]);
    const expired = await status(page, base);
    await page.screenshot({ path: path.join(artefacts, 'board-ui-expired.png') });
    say({ step: 'expired', kept, keptAfter, dropped, expired });
  } finally {
    await browser.close();
  }
}

main().then(() => say({ step: 'done' }), (e) => { say({ step: 'error', error: String(e && e.stack || e) }); process.exit(1); });
