#!/usr/bin/python3
"""Flows benchmark (docs/BENCHMARKS.md, "Flows"): runs build/tests/bench/ew_bench_flows (the C++
flow runtime: messages/s through a chain of 10 change nodes, and RSS while 200,000 messages are
offered at once to bounded queues) a few times and prints the median of each figure as JSON.
The Node-RED side of the comparison is not run here (Node-RED is started by the palette's
scripts, deploy/scripts/node-red.sh)."""

import json
import os
import statistics
import subprocess
import sys

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
BIN = os.path.join(os.environ.get("EW_BIN_DIR", os.path.join(ROOT, "build")), "tests", "bench", "ew_bench_flows")


def main():
    rounds = int(sys.argv[1]) if len(sys.argv) > 1 else 5
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
    }, indent=2))


if __name__ == "__main__":
    main()
