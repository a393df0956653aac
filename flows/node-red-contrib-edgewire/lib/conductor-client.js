// The conductor's REST API as the palette's runtime uses it (docs/REST.md): JSON over http(s)
// with the config node's token in X-Auth-Token. The token stays in this process: admin
// endpoints proxy through here and never hand it to the browser.
'use strict';

const fs = require('fs');
const http = require('http');
const https = require('https');

// A conductor answer larger than this is refused (a live list, a flow deploy answer).
const MAX_ANSWER_BYTES = 8 * 1024 * 1024;
const DEFAULT_TIMEOUT_MS = 30000;

class ConductorError extends Error {
  constructor(status, code, message, details) {
    super(message);
    this.status = status;  // HTTP status, 0 when the conductor was not reached
    this.code = code;      // conductor error code ("not_found", ...) or "unreachable"
    this.details = details;
  }
}

class ConductorClient {
  // url: "http(s)://host:port" (a trailing slash or /ws is ignored); caFile: optional PEM path.
  constructor({ url, token, caFile }) {
    const base = String(url || '').trim().replace(/\/+$/, '').replace(/\/ws$/, '');
    let parsed;
    try {
      parsed = new URL(base);
    } catch (e) {
      throw new Error(`conductor URL "${url}" is not a URL`);
    }
    if (parsed.protocol !== 'http:' && parsed.protocol !== 'https:')
      throw new Error(`conductor URL "${url}" must start with http:// or https://`);
    this.base = base;
    this.token = token || '';
    this.agent = undefined;
    if (parsed.protocol === 'https:' && caFile) this.agent = new https.Agent({ ca: fs.readFileSync(caFile) });
  }

  // ws(s)://host:port/ws for WAMP.
  get wsUrl() {
    return this.base.replace(/^http/, 'ws') + '/ws';
  }

  request(method, path, body, { timeoutMs = DEFAULT_TIMEOUT_MS } = {}) {
    const url = new URL(this.base + path);
    const lib = url.protocol === 'https:' ? https : http;
    const payload = body === undefined ? undefined : Buffer.from(JSON.stringify(body));
    const headers = { Accept: 'application/json' };
    if (this.token) headers['X-Auth-Token'] = this.token;
    if (payload) {
      headers['Content-Type'] = 'application/json';
      headers['Content-Length'] = payload.length;
    }
    return new Promise((resolve, reject) => {
      const req = lib.request(url, { method, headers, agent: this.agent, timeout: timeoutMs }, (res) => {
        const chunks = [];
        let size = 0;
        res.on('data', (c) => {
          size += c.length;
          if (size > MAX_ANSWER_BYTES) {
            req.destroy(new ConductorError(0, 'too_large', `conductor answer over ${MAX_ANSWER_BYTES} bytes`));
            return;
          }
          chunks.push(c);
        });
        res.on('end', () => {
          const text = Buffer.concat(chunks).toString('utf8');
          let parsed = null;
          try {
            parsed = text ? JSON.parse(text) : null;
          } catch (e) {
            parsed = null;
          }
          if (res.statusCode >= 200 && res.statusCode < 300) return resolve({ status: res.statusCode, body: parsed });
          const err = (parsed && parsed.error) || {};
          reject(new ConductorError(res.statusCode, err.code || `http_${res.statusCode}`,
            err.message || `${method} ${path}: HTTP ${res.statusCode}`, err.details));
        });
      });
      req.on('timeout', () => req.destroy(new ConductorError(0, 'deadline_exceeded', `${method} ${path}: no answer in ${timeoutMs} ms`)));
      req.on('error', (e) => reject(e instanceof ConductorError ? e
        : new ConductorError(0, 'unreachable', `conductor ${this.base} unreachable: ${e.message}`)));
      if (payload) req.write(payload);
      req.end();
    });
  }

  // Every page of a paged list (docs/REST.md, Paging), up to `max` records.
  async listAll(path, key, max = 5000) {
    const out = [];
    let cursor = '';
    for (;;) {
      const sep = path.includes('?') ? '&' : '?';
      const page = await this.request('GET', `${path}${sep}limit=1000${cursor ? '&cursor=' + encodeURIComponent(cursor) : ''}`);
      out.push(...((page.body && page.body[key]) || []));
      cursor = page.body && page.body.nextCursor;
      if (!cursor || out.length >= max) return out.slice(0, max);
    }
  }
}

module.exports = { ConductorClient, ConductorError };
