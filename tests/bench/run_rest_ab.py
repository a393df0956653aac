#!/usr/bin/python3
"""REST paths, two builds side by side (docs/BENCHMARKS.md, issue 15): for each build a real
conductor and one real agent on 127.0.0.1, then sequential calls over one keep-alive HTTP
connection, the same client for both:

  invoke   POST /v1/functions/{id}/invocations of a warm-mode sh function on the board
           (REST → conductor → WAMP → agent → warm instance → back);
  call     POST /v1/boards/{id}/calls/sys.ping (REST → conductor → WAMP → agent → back);
  get      GET /v1/functions/{id} (REST → conductor → store → back).

Each round starts both builds afresh, base first then new, and measures each path on both: the
builds see the same machine. Prints per path the median over rounds of each build's p50 (and
p99), their ratio, and the conductor's and agent's CPU per call.

  EW_BIN_DIR=build BASE_BIN_DIR=/tmp/build-before /usr/bin/python3 tests/bench/run_rest_ab.py \\
      [--rounds 5] [--calls 300]

Without BASE_BIN_DIR only the build in EW_BIN_DIR is measured. Everything it starts binds
127.0.0.1 and stops on exit.
"""

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "integration"))
import harness  # noqa: E402
import run_functions_bench as fb  # noqa: E402

PATHS = ("invoke", "call", "get")


def measure(bin_dir, calls, work):
    """One build: conductor, agent, warm function; p50/p99 and CPU per call of each path."""
    harness.CONDUCTOR = os.path.join(bin_dir, "cloud-conductor", "edgewire-conductor")
    harness.AGENT = os.path.join(bin_dir, "device-agent", "edgewire-agent")
    for binary in (harness.CONDUCTOR, harness.AGENT):
        if not os.access(binary, os.X_OK):
            sys.exit(f"missing {binary}: build edgewire-conductor and edgewire-agent there")
    conductor = harness.Conductor(work, log_level="warn")
    conductor.extra_config = "[functions]\nruntime = \"none\"\n"
    conductor.start()
    board = None
    try:
        token = conductor.login()
        rest = fb.Rest(conductor.port, token)
        board = fb.Board(conductor, token, work, "ab", {}, None)
        spec = {"name": "echo-warm", "version": "1", "runtime": "sh", "entrypoint": "main.sh",
                "warm": {"enabled": True, "maxInstances": 2}}
        status, fn = rest.call("POST", "/v1/functions", raw=fb.package(spec, {"main.sh": fb.WARM_SH}),
                               content_type="application/gzip")
        assert status == 201, (status, fn)
        status, body = rest.call("POST", f"/v1/functions/{fn['id']}/deployments", {"boardIds": [board.board_id]})
        assert status == 202, (status, body)
        harness.wait_until(lambda: rest.call("GET", f"/v1/functions/{fn['id']}/deployments")[1]["deployments"][0]
                           ["state"] == "deployed", timeout=60, what="deployed")

        def invoke(i):
            rec = fb.invoke(rest, fn["id"], board.board_id, {"n": i})
            assert rec["output"] == {"echo": {"n": i}}, rec
            assert i < 0 or not rec["cold"], rec  # the warm-up's first call starts the instance

        def call(_):
            status, body = rest.call("POST", f"/v1/boards/{board.board_id}/calls/sys.ping", {})
            assert status == 200, (status, body)

        def get(_):
            status, body = rest.call("GET", f"/v1/functions/{fn['id']}")
            assert status == 200, (status, body)

        out = {}
        for name, fn_call in (("invoke", invoke), ("call", call), ("get", get)):
            for i in range(30):
                fn_call(-1 - i)
            c0, a0 = fb.proc_cpu(conductor.proc.pid)[0], fb.proc_cpu(board.agent.proc.pid)[0]
            lat = []
            for i in range(calls):
                t, _ = fb.timed(lambda: fn_call(i))
                lat.append(t)
            c1, a1 = fb.proc_cpu(conductor.proc.pid)[0], fb.proc_cpu(board.agent.proc.pid)[0]
            out[name] = {"p50_ms": fb.ms(fb.pct(lat, 50)), "p99_ms": fb.ms(fb.pct(lat, 99)),
                         "conductor_us": (c1 - c0) / calls * 1e6, "agent_us": (a1 - a0) / calls * 1e6}
        return out
    finally:
        if board:
            board.agent.stop()
        conductor.stop()


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--rounds", type=int, default=5)
    ap.add_argument("--calls", type=int, default=300, help="calls of each path per build per round")
    args = ap.parse_args()
    builds = [("new", harness.BIN)]
    if os.environ.get("BASE_BIN_DIR"):
        builds.insert(0, ("base", os.environ["BASE_BIN_DIR"]))
    head = subprocess.run(["git", "-C", os.path.dirname(os.path.abspath(__file__)), "rev-parse", "--short", "HEAD"],
                          capture_output=True, text=True).stdout.strip()
    results = {label: [] for label, _ in builds}
    load_before = os.getloadavg()[0]
    for r in range(args.rounds):
        for label, bin_dir in builds:
            with tempfile.TemporaryDirectory(prefix="ew-rest-ab-") as work:
                results[label].append(measure(bin_dir, args.calls, work))
            got = results[label][-1]
            print(f"round {r + 1} {label}: " + ", ".join(f"{p} {got[p]['p50_ms']:.3f} ms" for p in PATHS),
                  file=sys.stderr)

    def med(label, path, key):
        return statistics.median(x[path][key] for x in results[label])

    print(f"\ncommit {head}; {args.rounds} rounds of {args.calls} calls per path and build, builds interleaved; "
          f"load average before/after: {load_before:.2f} / {os.getloadavg()[0]:.2f}\n")
    cols = " | ".join(f"{label} p50 ms | {label} p99 ms" for label, _ in builds)
    print(f"| path | {cols} |" + (" new ÷ base (p50) |" if len(builds) == 2 else "") +
          " conductor CPU µs/call | agent CPU µs/call |")
    print("|---|" + "---|" * (2 * len(builds) + (1 if len(builds) == 2 else 0) + 2))
    for path in PATHS:
        cells = " | ".join(f"{med(label, path, 'p50_ms'):.3f} | {med(label, path, 'p99_ms'):.2f}" for label, _ in builds)
        ratio = ""
        if len(builds) == 2:
            ratio = f" {med('new', path, 'p50_ms') / med('base', path, 'p50_ms'):.2f} |"
        cpu = " | ".join(" → ".join(f"{med(label, path, key):.0f}" for label, _ in builds)
                         for key in ("conductor_us", "agent_us"))
        print(f"| {path} | {cells} |{ratio} {cpu} |")
    print("\nRound p50s (ms): " + "; ".join(
        f"{label} {path} " + ", ".join(f"{x[path]['p50_ms']:.2f}" for x in results[label])
        for path in PATHS for label, _ in builds))


if __name__ == "__main__":
    main()
