// The Node-RED side of the flows benchmark (docs/BENCHMARKS.md, "Flows"), run by
// tests/bench/run_flows_bench.py with Debian's node. It embeds the real Node-RED 4.1 runtime
// installed by `npm ci` in deploy/node-red (no editor, no admin or node HTTP endpoints, telemetry,
// diagnostics and tours off, user dir in a temp dir) and runs the SAME flow as
// tests/bench/flows_bench.cpp: link in → 10 change nodes (the same two rules each) → an end node
// (a function node that counts; the C++ side ends in a debug node whose host counts).
//
//   node node_red_bench.js chain <messages>   messages/s, fed in batches of 1,000 like the C++ side
//   node node_red_bench.js flood <messages>   all messages offered at once; peak RSS (VmHWM)
//
// Prints one JSON object. Messages are fed straight into the link in node (node.receive), so no
// inject node or HTTP path is in the measured path; time runs from the first send to the last
// receipt at the end node. One process per mode so that VmHWM is the flood's own peak.
"use strict";

const fs = require("fs");
const http = require("http");
const os = require("os");
const path = require("path");

const ROOT = path.resolve(__dirname, "..", "..");
const RED = require(path.join(process.env.EW_NODE_RED_DIR || path.join(ROOT, "deploy", "node-red"), "node_modules", "node-red"));

const mode = process.argv[2] || "chain";
const messages = parseInt(process.argv[3] || "200000", 10);
const changes = parseInt(process.argv[4] || "10", 10);
const BATCH = 1000;        // the C++ runtime's per-node input queue, and its feeding batch
const WARMUP = 20000;      // chain mode only: lets V8 compile the hot paths before timing

function status(field) {
  const line = fs.readFileSync("/proc/self/status", "utf8").split("\n").find((l) => l.startsWith(field + ":"));
  return line ? parseInt(line.split(/\s+/)[1], 10) : -1;
}

function flow() {
  const nodes = [{ id: "t1", type: "tab", label: "bench" },
                 { id: "b0000000000000a1", type: "link in", z: "t1", name: "bench input", links: [], wires: [[changes > 0 ? "c0" : "out"]] }];
  for (let i = 0; i < changes; ++i) {
    nodes.push({ id: "c" + i, type: "change", z: "t1",
                 rules: [{ t: "set", p: "payload.step", pt: "msg", to: String(i), tot: "num" },
                         { t: "set", p: "topic", pt: "msg", to: "bench", tot: "str" }],
                 wires: [[i + 1 < changes ? "c" + (i + 1) : "out"]] });
  }
  nodes.push({ id: "out", type: "function", z: "t1", name: "count", outputs: 0,
               func: "global.get('ewTick')(); return null;", libs: [], wires: [] });
  return nodes;
}

let received = 0;
let onReceived = () => {};

async function main() {
  const userDir = fs.mkdtempSync(path.join(os.tmpdir(), "ew-nr-bench-"));
  fs.writeFileSync(path.join(userDir, "flows.json"), JSON.stringify(flow()));
  const settings = {
    userDir, flowFile: "flows.json", credentialSecret: false,
    uiHost: "127.0.0.1", uiPort: 0, httpAdminRoot: false, httpNodeRoot: false, disableEditor: true,
    diagnostics: { enabled: false }, telemetry: { enabled: false }, editorTheme: { tours: false },
    logging: { console: { level: "warn", metrics: false, audit: false } },
    functionGlobalContext: { ewTick: () => { ++received; onReceived(); } },
  };
  const server = http.createServer();
  RED.init(server, settings);
  const started = new Promise((resolve) => RED.events.on("flows:started", resolve));
  await RED.start();
  await started;
  await new Promise((resolve) => server.listen(0, "127.0.0.1", resolve));
  const input = RED.nodes.getNode("b0000000000000a1");
  if (!input) throw new Error("link in node not started");

  const drained = (target) => new Promise((resolve) => {
    if (received >= target) return resolve();
    onReceived = () => { if (received >= target) { onReceived = () => {}; resolve(); } };
  });
  const feed = async (count, offset, batch) => {
    for (let sent = 0; sent < count;) {
      const end = Math.min(count, sent + batch);
      for (; sent < end; ++sent) input.receive({ payload: { n: offset + sent } });
      await drained(offset + sent);
    }
  };

  const result = { node_red: RED.version(), node: process.version, mode, messages, changes };
  if (mode === "chain") {
    await feed(WARMUP, 0, BATCH);
    const base = received;
    const start = process.hrtime.bigint();
    await feed(messages, base, BATCH);
    const seconds = Number(process.hrtime.bigint() - start) / 1e9;
    Object.assign(result, { warmup: WARMUP, delivered: received - base, seconds, msgs_per_s: messages / seconds });
  } else {
    const before = status("VmRSS");
    const start = process.hrtime.bigint();
    for (let i = 0; i < messages; ++i) input.receive({ payload: { n: i, text: "a flood of messages" } });
    const queued = status("VmRSS");
    await drained(messages);
    const seconds = Number(process.hrtime.bigint() - start) / 1e9;
    Object.assign(result, { offered: messages, delivered: received, dropped: messages - received, seconds,
                            rss_kb_before: before, rss_kb_all_queued: queued, rss_kb_hwm: status("VmHWM"),
                            rss_kb_after: status("VmRSS") });
  }
  await RED.stop();
  server.close();
  fs.rmSync(userDir, { recursive: true, force: true });
  process.stdout.write(JSON.stringify(result) + "\n");
  process.exit(0);
}

main().catch((err) => { console.error(err && err.stack || err); process.exit(1); });
