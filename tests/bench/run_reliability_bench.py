#!/usr/bin/python3
"""Reliability benchmark (issue 14; docs/BENCHMARKS.md, "Reliability"): how long until every board
is back after the conductor is killed with kill -9, for outages of 0, 5, 15 and 60 s.

Boards: --agents real edgewire-agent processes (functions off, simulated GPIO, shipped reconnect
defaults) plus --sims simulated board sessions from ew_bench_session_load --reconnect (one
process, one thread: the real WAMP-CRA handshake, and the agent's reconnect rule: a connection
attempt every 750 ms +-1/3 while the conductor is away). Everything on 127.0.0.1, the conductor
with its shipped defaults except the per-address connection cap (every board comes from
127.0.0.1).

"Back" is read from the conductor: its ew_boards_online gauge (boards with a joined session),
polled every 20 ms, against the moment the restarted conductor printed "listening on". The
simulated sessions also report when all of them had joined again (their own clock).

  /usr/bin/python3 tests/bench/run_reliability_bench.py [--build build] [--agents 200] [--sims 5000]
        [--outages 0,5,15,60] [--cut-seconds 60] [--json results.json]

--cut-seconds N (root, ip netns) then runs tests/integration/test_netcut.py with a cut of N s: one
agent in a network namespace behind a veth pair, its link dropped silently while GPIO edges come
at 10/s on a watched line; prints how many edges (numbered by the agent) were lost. --agents 0
--sims 0 --outages "" runs only that.

Needs a build with EW_BUILD_BENCH (ew_bench_session_load) and root-free loopback only. Never
part of ctest.
"""

import argparse
import http.client
import json
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time

from bench_fleet import ROOT, Conductor, commit, enrol_agent, free_port, log, raise_nofile

PASSWORD = "reliability-bench-pw"

def wait_online(rest, want, timeout, since, interval=0.02):
    """Polls ew_boards_online until it reaches `want`; returns (seconds after `since`, samples)."""
    deadline = time.monotonic() + timeout
    samples = []
    while time.monotonic() < deadline:
        try:
            online = rest.metric("ew_boards_online") or 0
        except (OSError, RuntimeError, http.client.HTTPException):
            online = 0
        now = time.monotonic()
        samples.append((now - since, online))
        if online >= want:
            return now - since, samples
        time.sleep(interval)
    return None, samples


def quantile_time(samples, want, fraction):
    for t, online in samples:
        if online >= fraction * want:
            return t
    return None


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--build", default=os.path.join(ROOT, "build"))
    parser.add_argument("--agents", type=int, default=200)
    parser.add_argument("--sims", type=int, default=5000)
    parser.add_argument("--outages", default="0,5,15,60")
    parser.add_argument("--cut-seconds", type=float, default=0)
    parser.add_argument("--json", default="")
    args = parser.parse_args()
    build = os.path.abspath(args.build)
    if args.agents + args.sims == 0:
        return network_cut(build, args.cut_seconds)
    load = os.path.join(build, "tests", "bench", "ew_bench_session_load")
    if not os.path.exists(load):
        sys.exit(f"{load} missing: configure with -DEW_BUILD_BENCH=ON and build ew_bench_session_load")
    raise_nofile(0)

    work = tempfile.mkdtemp(prefix="ew-reliability-")
    log("work dir", work)
    port = free_port()
    conductor = Conductor(build, work, port, PASSWORD)
    conductor.start()
    rest = conductor.rest()

    log(f"enrolling {args.agents} agents and {args.sims} simulated boards")
    agent_cmds = [enrol_agent(build, work, rest, f"agent-{i:03d}")[1] for i in range(args.agents)]
    creds = []
    for i in range(args.sims):
        created = rest.call("POST", "/v1/boards", {"name": f"sim-{i:05d}"})
        e = rest.call("POST", "/v1/enrol", {"code": created["enrolmentCode"], "hostname": f"sim-{i:05d}"})
        creds.append({k: e[k] for k in ("boardId", "secret", "salt", "iterations", "keylen")})
    creds_path = os.path.join(work, "sims.json")
    with open(creds_path, "w") as f:
        json.dump(creds, f)

    procs = []
    sims_log = open(os.path.join(work, "sims.err"), "w")
    sims = subprocess.Popen([load, "--url", f"ws://127.0.0.1:{port}/ws", "--credentials", creds_path,
                             "--concurrency", "128", "--reconnect", "--join-timeout-seconds", "600"],
                            stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=sims_log, text=True)
    sim_events = []

    def read_sims():
        for line in sims.stdout:
            sim_events.append((time.monotonic(), line.split()))
    threading.Thread(target=read_sims, daemon=True).start()
    for i, cmd in enumerate(agent_cmds):
        out = open(os.path.join(work, f"agent-{i:03d}.log"), "w")
        procs.append(subprocess.Popen(cmd, stdout=out, stderr=out))
        if i % 20 == 19:
            time.sleep(0.2)  # start-up (GPIO, spool) is not what is measured
    total = args.agents + args.sims
    took, _ = wait_online(rest, total, 600, time.monotonic())
    if took is None:
        sys.exit(f"not all {total} boards came online; see {work}")
    log(f"all {total} boards online")

    results = {"commit": commit(), "agents": args.agents, "sims": args.sims, "runs": []}
    try:
        for outage in [float(x) for x in args.outages.split(",")]:
            time.sleep(5)  # settled: every board idle
            sim_events.clear()
            conductor.kill9()
            killed_at = time.monotonic()
            time.sleep(outage)
            conductor.start()
            back = conductor.listening_at
            rest = conductor.rest()
            all_back, samples = wait_online(rest, total, 120, back)
            sims_back = next((float(e[1]) - back for t, e in sim_events if e and e[0] == "all-joined"), None)
            run = {"outage_s": outage, "down_s": round(back - killed_at, 2),
                   "all_back_s": None if all_back is None else round(all_back, 2),
                   "half_back_s": quantile_time(samples, total, 0.5),
                   "p90_back_s": quantile_time(samples, total, 0.9),
                   "sims_all_joined_s": None if sims_back is None else round(sims_back, 2),
                   "load_average": os.getloadavg()[0],
                   # (seconds after listening, boards online), thinned to every 100 ms
                   "curve": [(round(t, 2), int(n)) for i, (t, n) in enumerate(samples) if i % 5 == 0]}
            for key in ("half_back_s", "p90_back_s"):
                if run[key] is not None:
                    run[key] = round(run[key], 2)
            results["runs"].append(run)
            log(json.dumps({k: v for k, v in run.items() if k != "curve"}))
    finally:
        for p in procs:
            p.send_signal(signal.SIGTERM)
        sims.stdin.close()
        for p in procs:
            try:
                p.wait(timeout=10)
            except subprocess.TimeoutExpired:
                p.kill()
        sims.wait(timeout=30)
        conductor.kill9()
    print(json.dumps({**results, "runs": [{k: v for k, v in r.items() if k != "curve"} for r in results["runs"]]},
                     indent=1))
    print("\n| outage | all boards back after restart | half back | 90 % back | simulated sessions all joined |")
    print("|---|---|---|---|---|")
    for r in results["runs"]:
        print(f"| {r['outage_s']:.0f} s | {r['all_back_s']} s | {r['half_back_s']} s | {r['p90_back_s']} s "
              f"| {r['sims_all_joined_s']} s |")
    if args.json:
        with open(args.json, "w") as f:
            json.dump(results, f, indent=1)
    if not os.environ.get("EW_KEEP_TMP"):
        shutil.rmtree(work, ignore_errors=True)
    if args.cut_seconds > 0:
        network_cut(build, args.cut_seconds)


def network_cut(build, seconds):
    env = dict(os.environ, EW_BIN_DIR=build, EW_NETCUT_SECONDS=str(seconds), PYTHONDONTWRITEBYTECODE="1")
    name = "test_netcut.NetworkCutTest.test_a_board_cut_off_returns_and_its_edges_arrive_in_order"
    run = subprocess.run(["/usr/bin/python3", "-m", "unittest", "-v", name], cwd=os.path.join(ROOT, "tests", "integration"),
                         env=env, capture_output=True, text=True, timeout=seconds + 300)
    lines = [line for line in (run.stdout + run.stderr).splitlines() if "cut " in line and "edges" in line]
    print("\nnetwork cut:", lines[-1].split("... ")[-1] if lines else "(no figure)", "; test",
          "passed" if run.returncode == 0 else "FAILED")
    if run.returncode != 0:
        print(run.stderr[-3000:])


if __name__ == "__main__":
    main()
