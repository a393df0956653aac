#!/usr/bin/python3
"""Flows benchmark (docs/BENCHMARKS.md, "Flows"), side by side in one run. Each round runs
  - build/tests/bench/ew_bench_flows: the C++ flow runtime, messages/s through link in → 10 change
    nodes → debug, and RSS while 200,000 messages are offered at once to its bounded queues;
  - tests/bench/node_red_bench.js (Debian's node) twice, each in a fresh process: the SAME flow in
    the real Node-RED 4.1 runtime installed by `npm ci` in deploy/node-red (chain: messages/s, fed
    in the same batches of 1,000; flood: the same 200,000 messages at once, peak RSS = VmHWM);
and prints the median of each figure over the rounds as JSON, with the C++/Node-RED ratio.
With --agent-rss it also starts a real conductor and agent (tests/integration/harness.py) and
reads the agent's RSS idle and then running a 50-node flow (an inject every 100 ms through 48
change nodes into a debug node). --no-node-red skips the Node-RED side (e.g. before npm ci)."""

import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
BIN = os.path.join(os.environ.get("EW_BIN_DIR", os.path.join(ROOT, "build")), "tests", "bench", "ew_bench_flows")
NODE_RED_BENCH = os.path.join(ROOT, "tests", "bench", "node_red_bench.js")
NODE_RED_DIR = os.environ.get("EW_NODE_RED_DIR", os.path.join(ROOT, "deploy", "node-red"))
MESSAGES = 200_000
CHANGES = 10


def node_red(mode):
    """One fresh Node-RED process per mode, so that its VmHWM is that mode's own peak."""
    out = subprocess.run(["/usr/bin/node", NODE_RED_BENCH, mode, str(MESSAGES), str(CHANGES)],
                         capture_output=True, text=True, timeout=600, env={**os.environ, "EW_NODE_RED_DIR": NODE_RED_DIR})
    if out.returncode != 0:
        sys.exit(f"node_red_bench.js {mode} failed ({out.returncode}): {out.stderr.strip()}")
    return json.loads(out.stdout.strip().splitlines()[-1])


def rss_kb(pid):
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    return -1


def agent_rss():
    sys.path.insert(0, os.path.join(ROOT, "tests", "integration"))
    os.environ.setdefault("EW_BIN_DIR", os.path.join(ROOT, "build"))
    from harness import Agent, Conductor, wait_until
    workdir = tempfile.mkdtemp(prefix="ew-flows-bench-")
    conductor = Conductor(workdir, log_level="info").start()
    agent = None
    try:
        token = conductor.login()
        board_id, code = conductor.create_board(token, "pi")
        agent = Agent(workdir, "pi", log_level="info")
        agent.enrol(conductor.url, code)
        agent.start()
        wait_until(lambda: conductor.status_of(token, board_id) == "online", what="agent online")
        time.sleep(2)
        idle = rss_kb(agent.proc.pid)
        nodes = [{"id": "t1", "type": "tab", "label": "bench", "board": board_id},
                 {"id": "inj", "type": "inject", "z": "t1", "repeat": "0.1", "payloadType": "date", "payload": "",
                  "wires": [["c0"]]}]
        for i in range(48):
            nodes.append({"id": f"c{i}", "type": "change", "z": "t1",
                          "rules": [{"t": "set", "p": "payload", "pt": "msg", "to": str(i), "tot": "num"}],
                          "wires": [[f"c{i + 1}" if i < 47 else "dbg"]]})
        nodes.append({"id": "dbg", "type": "debug", "z": "t1", "active": True, "complete": "payload", "wires": []})
        status, body = conductor.rest("POST", "/v1/flows", {"name": "bench", "nodes": nodes, "cloud": "external"}, token)
        assert status in (200, 201), body
        assert [p["state"] for p in body["partitions"] if p["board"] == board_id] == ["deployed"], body
        time.sleep(5)
        return {"agent_rss_kb_idle": idle, "agent_rss_kb_50_node_flow": rss_kb(agent.proc.pid), "flow_nodes": len(nodes) - 1}
    finally:
        if agent:
            agent.stop()
        conductor.stop()
        shutil.rmtree(workdir, ignore_errors=True)


def main():
    args = [a for a in sys.argv[1:] if not a.startswith("--")]
    rounds = int(args[0]) if args else 5
    with_node_red = "--no-node-red" not in sys.argv
    if with_node_red and not os.path.isdir(os.path.join(NODE_RED_DIR, "node_modules", "node-red")):
        sys.exit(f"Node-RED is not installed: run `npm ci` in {NODE_RED_DIR} (or pass --no-node-red)")
    runs, nr_chain, nr_flood = [], [], []
    for _ in range(rounds):
        # Interleaved so that a busy neighbour on the shared machine hits both sides alike.
        out = subprocess.run([BIN, "--messages", str(MESSAGES), "--changes", str(CHANGES)], capture_output=True, text=True, check=True)
        runs.append(json.loads(out.stdout))
        if with_node_red:
            nr_chain.append(node_red("chain"))
            nr_flood.append(node_red("flood"))
    median = lambda rs, f: statistics.median(f(r) for r in rs)
    result = {
        "rounds": rounds,
        "chain_10_change_msgs_per_s": round(median(runs, lambda r: r["chain"]["msgs_per_s"])),
        "chain_dropped": median(runs, lambda r: r["chain"]["dropped"]),
        "flood_offered": runs[0]["flood"]["offered"],
        "flood_dropped": median(runs, lambda r: r["flood"]["dropped"]),
        "flood_rss_kb_before": median(runs, lambda r: r["flood"]["rss_kb_before"]),
        "flood_rss_kb_peak": median(runs, lambda r: r["flood"]["rss_kb_peak"]),
        "flood_rss_kb_after": median(runs, lambda r: r["flood"]["rss_kb_after"]),
    }
    if with_node_red:
        cpp_each = [r["chain"]["msgs_per_s"] for r in runs]
        nr_each = [r["msgs_per_s"] for r in nr_chain]
        result.update({
            "node_red_version": nr_chain[0]["node_red"],
            "node_version": nr_chain[0]["node"],
            "node_red_chain_10_change_msgs_per_s": round(statistics.median(nr_each)),
            "node_red_chain_delivered": median(nr_chain, lambda r: r["delivered"]),
            "chain_ratio_cpp_over_node_red": round(result["chain_10_change_msgs_per_s"] / statistics.median(nr_each), 2),
            "chain_ratio_per_round": [round(c / n, 2) for c, n in zip(cpp_each, nr_each)],
            "node_red_flood_offered": nr_flood[0]["offered"],
            "node_red_flood_delivered": median(nr_flood, lambda r: r["delivered"]),
            "node_red_flood_rss_kb_before": median(nr_flood, lambda r: r["rss_kb_before"]),
            "node_red_flood_rss_kb_all_queued": median(nr_flood, lambda r: r["rss_kb_all_queued"]),
            "node_red_flood_rss_kb_peak_vmhwm": median(nr_flood, lambda r: r["rss_kb_hwm"]),
            "node_red_flood_rss_kb_after": median(nr_flood, lambda r: r["rss_kb_after"]),
            "node_red_flood_seconds": round(median(nr_flood, lambda r: r["seconds"]), 2),
        })
    if "--agent-rss" in sys.argv:
        result.update(agent_rss())
    print(json.dumps(result, indent=2))


if __name__ == "__main__":
    main()
