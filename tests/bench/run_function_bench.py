#!/usr/bin/python3
"""Function-node benchmark (docs/BENCHMARKS.md, "Flows": function node), side by side in one run.
Each round runs
  - build/tests/bench/ew_bench_function: the C++ flow runtime with the Node-RED function node in
    Duktape: messages/s through link in → function (msg.payload * 2) → debug, with messages
    pushed into the heap directly and through JSON text; and the cost of one function node (RSS
    and malloc'ed bytes of a partition of --nodes of them, divided by the count);
  - tests/bench/node_red_function_bench.js (Debian's node), each mode in a fresh process: the SAME
    flow in the real Node-RED 4.1 runtime from deploy/node-red (`npm ci` there first): messages/s,
    and RSS with --nodes function nodes minus RSS with none;
and prints the median of each figure over the rounds as JSON, with the C++/Node-RED ratios."""

import argparse
import json
import os
import statistics
import subprocess
import sys

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
BIN = os.path.join(os.environ.get("EW_BIN_DIR", os.path.join(ROOT, "build")), "tests", "bench", "ew_bench_function")
NODE_RED_BENCH = os.path.join(ROOT, "tests", "bench", "node_red_function_bench.js")
NODE_RED_DIR = os.environ.get("EW_NODE_RED_DIR", os.path.join(ROOT, "deploy", "node-red"))


def node_red(mode, count):
    out = subprocess.run(["/usr/bin/node", NODE_RED_BENCH, mode, str(count)], capture_output=True, text=True,
                         timeout=600, env={**os.environ, "EW_NODE_RED_DIR": NODE_RED_DIR})
    if out.returncode != 0:
        sys.exit(f"node_red_function_bench.js {mode} failed ({out.returncode}): {out.stderr.strip()}")
    return json.loads(out.stdout.strip().splitlines()[-1])


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--messages", type=int, default=200_000)
    parser.add_argument("--nodes", type=int, default=100)
    parser.add_argument("--no-node-red", action="store_true")
    args = parser.parse_args()
    cpp, nr_rate, nr_rss = [], [], []
    for _ in range(args.rounds):
        out = subprocess.run([BIN, "--messages", str(args.messages), "--nodes", str(args.nodes)],
                             capture_output=True, text=True, check=True, timeout=600)
        cpp.append(json.loads(out.stdout.strip().splitlines()[-1]))
        if not args.no_node_red:
            nr_rate.append(node_red("throughput", args.messages))
            empty, full = node_red("rss", 0), node_red("rss", args.nodes)
            nr_rss.append((full["rss_kb"] - empty["rss_kb"]) / args.nodes)
    med = statistics.median
    result = {
        "rounds": args.rounds, "messages": args.messages, "nodes": args.nodes,
        "cpp_msgs_per_s": med(r["throughput"]["msgs_per_s"] for r in cpp),
        "cpp_msgs_per_s_json_text": med(r["throughput_text"]["msgs_per_s"] for r in cpp),
        "cpp_msgs_per_cpu_s": med(r["throughput"]["msgs_per_cpu_s"] for r in cpp),
        "cpp_msgs_per_cpu_s_json_text": med(r["throughput_text"]["msgs_per_cpu_s"] for r in cpp),
        "cpp_rss_kb_per_node": med(r["per_node"]["rss_kb_per_node"] for r in cpp),
        "cpp_malloc_kb_per_node": med(r["per_node"]["malloc_kb_per_node"] for r in cpp),
        "cpp_delivered": cpp[-1]["throughput"]["delivered"],
        "cpp_last_payload": cpp[-1]["throughput"]["last_payload"],
    }
    if nr_rate:
        result.update({
            "node_red": nr_rate[-1]["node_red"], "node": nr_rate[-1]["node"],
            "node_red_msgs_per_s": med(r["msgs_per_s"] for r in nr_rate),
            "node_red_msgs_per_cpu_s": med(r["msgs_per_cpu_s"] for r in nr_rate),
            "node_red_rss_kb_per_node": med(nr_rss),
            "node_red_last_payload": nr_rate[-1]["last_payload"],
        })
        result["speedup"] = result["cpp_msgs_per_s"] / result["node_red_msgs_per_s"]
        result["speedup_per_cpu_s"] = result["cpp_msgs_per_cpu_s"] / result["node_red_msgs_per_cpu_s"]
        result["rss_per_node_ratio"] = result["node_red_rss_kb_per_node"] / result["cpp_rss_kb_per_node"]
    print(json.dumps(result, indent=1))


if __name__ == "__main__":
    main()
