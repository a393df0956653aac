#!/usr/bin/python3
"""Flows benchmark (docs/BENCHMARKS.md, "Flows"): runs build/tests/bench/ew_bench_flows (the C++
flow runtime: messages/s through a chain of 10 change nodes, and RSS while 200,000 messages are
offered at once to bounded queues) a few times and prints the median of each figure as JSON.
With --agent-rss it also starts a real conductor and agent (tests/integration/harness.py) and
reads the agent's RSS idle and then running a 50-node flow (an inject every 100 ms through 48
change nodes into a debug node). The Node-RED side of the comparison is not run here (Node-RED
is started by the palette's scripts, deploy/scripts/node-red.sh)."""

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
    runs = []
    for _ in range(rounds):
        out = subprocess.run([BIN, "--messages", "200000", "--changes", "10"], capture_output=True, text=True, check=True)
        runs.append(json.loads(out.stdout))
    median = lambda f: statistics.median(f(r) for r in runs)
    print(json.dumps({
        "rounds": rounds,
        "chain_10_change_msgs_per_s": round(median(lambda r: r["chain"]["msgs_per_s"])),
        "chain_dropped": median(lambda r: r["chain"]["dropped"]),
        "flood_offered": runs[0]["flood"]["offered"],
        "flood_dropped": median(lambda r: r["flood"]["dropped"]),
        "flood_rss_kb_before": median(lambda r: r["flood"]["rss_kb_before"]),
        "flood_rss_kb_peak": median(lambda r: r["flood"]["rss_kb_peak"]),
        "flood_rss_kb_after": median(lambda r: r["flood"]["rss_kb_after"]),
        **(agent_rss() if "--agent-rss" in sys.argv else {}),
    }, indent=2))


if __name__ == "__main__":
    main()
