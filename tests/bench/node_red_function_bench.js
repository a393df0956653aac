// The Node-RED side of the function-node benchmark (docs/BENCHMARKS.md, "Flows": function node),
// run by tests/bench/run_function_bench.py with Debian's node. Embeds the real Node-RED 4.1 runtime
// installed by `npm ci` in deploy/node-red exactly as node_red_bench.js does, and runs the SAME flows
// as tests/bench/function_bench.cpp:
//
//   node node_red_function_bench.js throughput <messages>
//       link in → function `msg.payload = msg.payload * 2; return msg;` → debug (inactive);
//       messages/s, fed in batches of 1,000 like the C++ side, after a warm-up. Arrivals at the
//       debug node are counted with a postDeliver message hook (the C++ side counts in its host).
//   node node_red_function_bench.js rss <nodes>
//       RSS (VmRSS) of the started runtime with <nodes> unwired function nodes holding that code,
//       minus the same runtime with none: the cost of one function node.
//
// Prints one JSON object.
"use strict";

const fs = require("fs");
const http = require("http");
const os = require("os");
const path = require("path");

const ROOT = path.resolve(__dirname, "..", "..");
const RED = require(path.join(process.env.EW_NODE_RED_DIR || path.join(ROOT, "deploy", "node-red"), "node_modules", "node-red"));

const mode = process.argv[2] || "throughput";
const count = parseInt(process.argv[3] || "200000", 10);
const BATCH = 1000;
const WARMUP = 20000;
const CODE = "msg.payload = msg.payload * 2; return msg;";

function status(field) {
  const line = fs.readFileSync("/proc/self/status", "utf8").split("\n").find((l) => l.startsWith(field + ":"));
  return line ? parseInt(line.split(/\s+/)[1], 10) : -1;
}

function flow(functions) {
  const nodes = [{ id: "t1", type: "tab", label: "bench" }];
  if (mode === "throughput") {
    nodes.push({ id: "b0000000000000a1", type: "link in", z: "t1", name: "bench input", links: [], wires: [["fn"]] },
               { id: "fn", type: "function", z: "t1", name: "double", func: CODE, outputs: 1, timeout: 0, noerr: 0,
                 initialize: "", finalize: "", libs: [], wires: [["out"]] },
               { id: "out", type: "debug", z: "t1", active: false, complete: "payload", wires: [] });
  } else {
    for (let i = 0; i < functions; ++i) {
      nodes.push({ id: "fn" + i, type: "function", z: "t1", name: "double", func: CODE, outputs: 1, timeout: 0,
                   noerr: 0, initialize: "", finalize: "", libs: [], wires: [[]] });
    }
  }
  return nodes;
}

async function start(functions) {
  const userDir = fs.mkdtempSync(path.join(os.tmpdir(), "ew-nr-fnbench-"));
  fs.writeFileSync(path.join(userDir, "flows.json"), JSON.stringify(flow(functions)));
  const settings = {
    userDir, flowFile: "flows.json", credentialSecret: false,
    uiHost: "127.0.0.1", uiPort: 0, httpAdminRoot: false, httpNodeRoot: false, disableEditor: true,
    diagnostics: { enabled: false }, telemetry: { enabled: false }, editorTheme: { tours: false },
    logging: { console: { level: "warn", metrics: false, audit: false } },
  };
  const server = http.createServer();
  RED.init(server, settings);
  const started = new Promise((resolve) => RED.events.on("flows:started", resolve));
  await RED.start();
  await started;
  await new Promise((resolve) => server.listen(0, "127.0.0.1", resolve));
  return { server, userDir };
}

async function main() {
  const result = { node_red: RED.version(), node: process.version, mode };
  if (mode === "throughput") {
    let received = 0;
    let onReceived = () => {};
    let last = null;
    const { server, userDir } = await start(0);
    RED.hooks.add("postDeliver", (event) => {
      if (event.destination.id === "out") { ++received; last = event.msg; onReceived(); }
    });
    const input = RED.nodes.getNode("b0000000000000a1");
    const drained = (target) => new Promise((resolve) => {
      if (received >= target) return resolve();
      onReceived = () => { if (received >= target) { onReceived = () => {}; resolve(); } };
    });
    const feed = async (n, offset) => {
      for (let sent = 0; sent < n;) {
        const end = Math.min(n, sent + BATCH);
        for (; sent < end; ++sent) input.receive({ payload: offset + sent });
        await drained(offset + sent);
      }
    };
    await feed(WARMUP, 0);
    const base = received;
    const t0 = process.hrtime.bigint();
    const cpu0 = process.cpuUsage();
    await feed(count, base);
    const cpu = process.cpuUsage(cpu0);
    const cpuSeconds = (cpu.user + cpu.system) / 1e6;  // all of node's threads (GC helpers too)
    const seconds = Number(process.hrtime.bigint() - t0) / 1e9;
    Object.assign(result, { warmup: WARMUP, messages: count, delivered: received - base, seconds,
                            cpu_seconds: cpuSeconds, msgs_per_s: count / seconds, msgs_per_cpu_s: count / cpuSeconds,
                            last_payload: last && last.payload });
    await RED.stop();
    server.close();
    fs.rmSync(userDir, { recursive: true, force: true });
  } else {
    // Two runtimes in one process would share state: the empty one's RSS comes from a separate
    // process (count 0), the caller subtracts.
    const { server, userDir } = await start(count);
    if (global.gc) global.gc();
    await new Promise((resolve) => setTimeout(resolve, 500));
    Object.assign(result, { functions: count, rss_kb: status("VmRSS") });
    await RED.stop();
    server.close();
    fs.rmSync(userDir, { recursive: true, force: true });
  }
  process.stdout.write(JSON.stringify(result) + "\n");
  process.exit(0);
}

main().catch((err) => { console.error(err && err.stack || err); process.exit(1); });
