#!/usr/bin/python3
"""REST paths, two builds side by side (docs/BENCHMARKS.md, issue 15): for each build a real
conductor and one real agent on 127.0.0.1, then sequential calls over one keep-alive HTTP
connection, the same client for both:

  invoke   POST /v1/functions/{id}/invocations of a warm-mode sh function on the board
           (REST → conductor → WAMP → agent → warm instance → back);
  call     POST /v1/boards/{id}/calls/sys.ping (REST → conductor → WAMP → agent → back);
  get      GET /v1/functions/{id} (REST → conductor → store → back).

Each round starts each build afresh and measures every path on it; the order of the builds
alternates from round to round (base first in odd rounds, new first in even ones), so that
neither always runs right after the other. Prints, per path, the median over the rounds of each
build's p50 and p99, the median of the rounds' new ÷ base p50 ratios, and the conductor's and
the agent's CPU per call: from /proc/PID/stat, in clock ticks (10 ms: ± 10 ms ÷ --calls, ±33 µs
at 300 calls), the two daemons only (not the warm instance's sh).

  EW_BIN_DIR=build BASE_BIN_DIR=/tmp/build-before /usr/bin/python3 tests/bench/run_rest_ab.py \\
      [--rounds 6] [--calls 300] [--warmup 30]

Without BASE_BIN_DIR only the build in EW_BIN_DIR is measured. Each build is named by the
commit of the source tree it was configured from (CMakeCache.txt), "+dirty" when that tree has
changes. Everything it starts binds 127.0.0.1 and is stopped when it ends, fails or is
interrupted (SIGINT, SIGTERM).
"""

import argparse
import os
import signal
import statistics
import subprocess
import sys
import tempfile

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "integration"))
import harness  # noqa: E402
import run_functions_bench as fb  # noqa: E402

PATHS = ("invoke", "call", "get")


class Failed(Exception):
    pass


def check(condition, what):
    if not condition:
        raise Failed(what)


def binaries(bin_dir):
    conductor = os.path.join(bin_dir, "cloud-conductor", "edgewire-conductor")
    agent = os.path.join(bin_dir, "device-agent", "edgewire-agent")
    for binary in (conductor, agent):
        if not os.access(binary, os.X_OK):
            sys.exit(f"missing {binary}: build edgewire-conductor and edgewire-agent in {bin_dir}")
    return conductor, agent


def build_commit(bin_dir):
    """The commit of the source tree `bin_dir` was configured from ("?" when unknown)."""
    source = None
    try:
        with open(os.path.join(bin_dir, "CMakeCache.txt")) as f:
            for line in f:
                if line.startswith("CMAKE_HOME_DIRECTORY:"):
                    source = line.split("=", 1)[1].strip()
    except OSError:
        return "?"
    if not source:
        return "?"
    head = subprocess.run(["git", "-C", source, "rev-parse", "--short", "HEAD"], capture_output=True, text=True)
    if head.returncode != 0:
        return "?"
    dirty = subprocess.run(["git", "-C", source, "status", "--porcelain", "--untracked-files=no"],
                           capture_output=True, text=True).stdout.strip()
    return head.stdout.strip() + ("+dirty" if dirty else "")


def measure(bin_dir, calls, warmup, work):
    """One build: conductor, agent, warm function; p50/p99 and CPU per call of each path."""
    harness.CONDUCTOR, harness.AGENT = binaries(bin_dir)
    conductor = harness.Conductor(work, log_level="warn")
    conductor.extra_config = "[functions]\nruntime = \"none\"\n"
    board = None
    try:
        conductor.start()
        token = conductor.login()
        rest = fb.Rest(conductor.port, token)
        board = fb.Board(conductor, token, work, "ab", {}, None)
        spec = {"name": "echo-warm", "version": "1", "runtime": "sh", "entrypoint": "main.sh",
                "warm": {"enabled": True, "maxInstances": 2}}
        function = fb.deploy_package(rest, spec, {"main.sh": fb.WARM_SH}, [board])

        def invoke(i, measured):
            rec = fb.invoke(rest, function["id"], board.board_id, {"n": i})
            check(rec["output"] == {"echo": {"n": i}}, f"wrong output: {rec}")
            # Warm-up calls may be cold: the first one starts the instance.
            check(not measured or not rec["cold"], f"a measured call was cold: {rec}")

        def call(_, measured):
            status, body = rest.call("POST", f"/v1/boards/{board.board_id}/calls/sys.ping", {})
            check(status == 200, f"sys.ping: {status} {body}")

        def get(_, measured):
            status, body = rest.call("GET", f"/v1/functions/{function['id']}")
            check(status == 200, f"GET function: {status} {body}")

        out = {}
        for name, one in (("invoke", invoke), ("call", call), ("get", get)):
            for i in range(warmup):
                one(i, False)
            c0, a0 = fb.proc_cpu(conductor.proc.pid)[0], fb.proc_cpu(board.agent.proc.pid)[0]
            lat = []
            for i in range(calls):
                t, _ = fb.timed(lambda: one(i, True))
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
    ap.add_argument("--rounds", type=int, default=6)
    ap.add_argument("--calls", type=int, default=300, help="measured calls of each path per build per round")
    ap.add_argument("--warmup", type=int, default=30, help="calls of each path before the measured ones")
    args = ap.parse_args()
    # SIGTERM unwinds like Ctrl-C: every `finally` stops what it started.
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(1))
    builds = [("new", harness.BIN)]
    if os.environ.get("BASE_BIN_DIR"):
        builds.insert(0, ("base", os.environ["BASE_BIN_DIR"]))
    for _, bin_dir in builds:
        binaries(bin_dir)  # both builds are there before the first round
    commits = {label: build_commit(bin_dir) for label, bin_dir in builds}
    results = {label: [] for label, _ in builds}
    load_before = os.getloadavg()[0]
    for r in range(args.rounds):
        for label, bin_dir in (builds if r % 2 == 0 else builds[::-1]):
            with tempfile.TemporaryDirectory(prefix="ew-rest-ab-") as work:
                results[label].append(measure(bin_dir, args.calls, args.warmup, work))
            got = results[label][-1]
            print(f"round {r + 1} {label}: " + ", ".join(f"{p} {got[p]['p50_ms']:.3f} ms" for p in PATHS),
                  file=sys.stderr)

    def med(label, path, key):
        return statistics.median(x[path][key] for x in results[label])

    print("\n" + "; ".join(f"{label} = {bin_dir} ({commits[label]})" for label, bin_dir in builds))
    print(f"{args.rounds} rounds of {args.calls} calls per path and build (after {args.warmup} warm-up calls), "
          f"builds alternating first; load average before/after: {load_before:.2f} / {os.getloadavg()[0]:.2f}\n")
    paired = len(builds) == 2
    cols = " | ".join(f"{label} p50 ms | {label} p99 ms" for label, _ in builds)
    print(f"| path | {cols} |" + (" new ÷ base p50 (median of rounds) |" if paired else "") +
          " conductor CPU µs/call | agent CPU µs/call |")
    print("|---|" + "---|" * (2 * len(builds) + (1 if paired else 0) + 2))
    for path in PATHS:
        cells = " | ".join(f"{med(label, path, 'p50_ms'):.3f} | {med(label, path, 'p99_ms'):.2f}" for label, _ in builds)
        ratio = ""
        if paired:
            ratios = [n[path]["p50_ms"] / b[path]["p50_ms"] for b, n in zip(results["base"], results["new"])]
            ratio = f" {statistics.median(ratios):.2f} ({min(ratios):.2f}–{max(ratios):.2f}) |"
        cpu = " | ".join(" → ".join(f"{med(label, path, key):.0f}" for label, _ in builds)
                         for key in ("conductor_us", "agent_us"))
        print(f"| {path} | {cells} |{ratio} {cpu} |")
    print("\nRound p50s (ms): " + "; ".join(
        f"{label} {path} " + ", ".join(f"{x[path]['p50_ms']:.2f}" for x in results[label])
        for path in PATHS for label, _ in builds))


if __name__ == "__main__":
    try:
        main()
    except Failed as e:
        sys.exit(f"run_rest_ab.py: {e}")
