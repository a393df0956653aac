#!/usr/bin/python3
"""Many boards benchmark (issue 15; docs/BENCHMARKS.md, "Many boards (issue 15)"): N simulated
board sessions (WAMP-CRA, msgpack, the conductor's heartbeat on) on one conductor.

  /usr/bin/python3 tests/bench/run_scale_bench.py [--build build] [--boards 100000] [--loaders 8]
        [--enrollers 8] [--heartbeat-timeouts 4000,60000] [--ping-ceilings shipped,0] [--idle-seconds 30]
        [--pings 2000] [--json results.json]

Steps and what is measured:
1. One conductor (shipped defaults except: the connection caps raised, since every board comes
   from loopback; router.heartbeat_timeout_ms and heartbeat_max_pings_per_second per run; log
   level warn). RLIMIT_NOFILE raised for
   it and for the loaders with resource.setrlimit before they start (the script runs as root or
   with a high enough hard limit), never in the product's defaults.
2. N boards created and enrolled through REST (POST /v1/boards, POST /v1/enrol), by --enrollers
   processes in parallel; how long that takes is printed (it is set-up, not a goal).
3. A real edgewire-agent enrolled and connected; its sys.ping answered through WAMP
   (ew_bench_wamp_call, one call in flight) and REST (POST /v1/boards/{id}/calls/sys.ping),
   p50/p99: the baseline with no load sessions.
4. --loaders ew_bench_session_load processes, each with a slice of the credentials and its own
   source address 127.0.0.(10+i) (~28,000 ephemeral ports per source address towards one port).
   Time from their start until every session is joined (the last loader's "joined"; and the
   conductor's ew_boards_online gauge).
5. With all joined: conductor VmRSS (and KB per session above the RSS before the loaders
   started); CPU of conductor and loaders over --idle-seconds of idle (utime+stime from
   /proc/PID/stat), and the conductor's pings in that window (ew_server_heartbeat_pings_total
   when the conductor has it, else estimated from its ping rule) and the silence after which it
   pings a session (ew_server_heartbeat_interval_seconds: stretched under the ping ceiling);
   sys.ping p50/p99 again, through WAMP and REST.
Steps 1-5 are run once per --heartbeat-timeouts value and --ping-ceilings value (the conductor
restarted, the boards enrolled once: the store is kept). A ceiling of boards ÷ 20 shows, with
fewer boards, what 100,000 boards do at the shipped 5,000 (each pinged after 20 s of silence).

Every process runs on this machine (loopback): the loaders' own CPU competes with the conductor's.
Needs a build with EW_BUILD_BENCH. Never part of ctest.
"""

import argparse
import http.client
import json
import multiprocessing
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time

from bench_fleet import (ROOT, Conductor, Rest, enrol_agent, free_port, log, proc_cpu_seconds, proc_rss_kb,
                         raise_nofile)

PASSWORD = "scale-bench-pw"


def scale_conductor(build, work, port, heartbeat_timeout_ms, n, ceiling=None):
    """The conductor for n boards (the caps above n's sockets), with this run's heartbeat; `ceiling`
    sets router.heartbeat_max_pings_per_second (None: the shipped default)."""
    extra = (f"[router]\nheartbeat_timeout_ms = {heartbeat_timeout_ms}\n"
             f"heartbeat_interval_ms = {heartbeat_timeout_ms // 2}\n")
    if ceiling is not None:
        extra += f"heartbeat_max_pings_per_second = {ceiling}\n"
    return Conductor(build, work, port, PASSWORD, max_connections=4 * n + 1000,
                     name=f"conductor-{heartbeat_timeout_ms}-{'shipped' if ceiling is None else ceiling}", extra=extra)


def enrol_slice(job):
    port, token, first, count = job
    rest = Rest(port, token)
    enrol = Rest(port)
    out = []
    for i in range(first, first + count):
        created = rest.call("POST", "/v1/boards", {"name": f"sim-{i:06d}"})
        e = enrol.call("POST", "/v1/enrol", {"code": created["enrolmentCode"], "hostname": f"sim-{i:06d}"})
        out.append({k: e[k] for k in ("boardId", "secret", "salt", "iterations", "keylen")})
    return out


def enrol_boards(port, token, n, workers):
    step = 500
    jobs = [(port, token, first, min(step, n - first)) for first in range(0, n, step)]
    creds = []
    started = time.monotonic()
    with multiprocessing.Pool(workers) as pool:
        for part in pool.imap(enrol_slice, jobs):
            creds.extend(part)
            if len(creds) % 10000 < step:
                log(f"  enrolled {len(creds)} / {n} ({time.monotonic() - started:.0f} s)")
    return creds, time.monotonic() - started


def quantiles(samples_us):
    s = sorted(samples_us)
    return {"p50_us": round(s[len(s) // 2], 1), "p99_us": round(s[min(len(s) - 1, int(len(s) * 0.99))], 1),
            "n": len(s)}


def ping_figures(build, port, token, board_id, pings):
    call = os.path.join(build, "tests", "bench", "ew_bench_wamp_call")
    run = subprocess.run([call, "--url", f"ws://127.0.0.1:{port}/ws", "--token", token, "--procedure",
                          f"ew.board.{board_id}.sys.ping", "--calls", str(pings), "--in-flight", "1"],
                         capture_output=True, text=True, timeout=600)
    wamp = None
    for line in run.stdout.splitlines():
        if line.startswith("{"):
            got = json.loads(line)
            wamp = {"p50_us": got.get("p50_us"), "p99_us": got.get("p99_us"), "n": pings}
    if wamp is None:
        log("ew_bench_wamp_call failed:", run.stderr[-500:])
    rest = Rest(port, token)
    rest.call("POST", f"/v1/boards/{board_id}/calls/sys.ping", {})
    samples = []
    for _ in range(max(1, pings // 4)):
        t = time.perf_counter()
        rest.call("POST", f"/v1/boards/{board_id}/calls/sys.ping", {})
        samples.append((time.perf_counter() - t) * 1e6)
    return {"wamp": wamp, "rest": quantiles(samples)}


def wait_online(rest, want, timeout):
    deadline = time.monotonic() + timeout
    online = 0
    while time.monotonic() < deadline:
        try:
            online = rest.metric("ew_boards_online") or 0
        except (OSError, RuntimeError, http.client.HTTPException):
            pass
        if online >= want:
            return True
        time.sleep(0.2)
    log(f"only {online} of {want} boards online")
    return False


def run_once(args, build, work, port, creds_paths, n, heartbeat_timeout_ms, agent_cmd, agent_board, ceiling=None):
    result = {"heartbeat_timeout_ms": heartbeat_timeout_ms, "ping_ceiling": "shipped" if ceiling is None else ceiling}
    label = f"{heartbeat_timeout_ms}-{result['ping_ceiling']}"
    conductor = scale_conductor(build, work, port, heartbeat_timeout_ms, n, ceiling)
    conductor.start()
    pid = conductor.proc.pid
    rest = Rest(port)
    token = rest.call("POST", "/v1/auth/tokens", {"username": "admin", "password": PASSWORD})["token"]
    rest.token = token
    agent_log = open(os.path.join(work, f"agent-{label}.log"), "w")
    agent = subprocess.Popen(agent_cmd, stdout=agent_log, stderr=agent_log)
    loaders = []
    try:
        if not wait_online(rest, 1, 60):
            raise RuntimeError("the agent did not come online")
        time.sleep(1)
        result["baseline_ping"] = ping_figures(build, port, token, agent_board, args.pings)
        log("baseline sys.ping", json.dumps(result["baseline_ping"]))
        rss_before = proc_rss_kb(pid)
        result["rss_before_kb"] = rss_before

        load = os.path.join(build, "tests", "bench", "ew_bench_session_load")
        started = time.monotonic()
        joined_at = {}
        joined_count = {}
        for i, path in enumerate(creds_paths):
            err = open(os.path.join(work, f"loader-{label}-{i}.err"), "w")
            p = subprocess.Popen([load, "--url", f"ws://127.0.0.1:{port}/ws", "--credentials", path,
                                  "--concurrency", str(args.concurrency), "--bind", f"127.0.0.{10 + i}",
                                  "--join-timeout-seconds", "300"],
                                 stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=err, text=True)
            loaders.append(p)

            def reader(p=p, i=i):
                for line in p.stdout:
                    if line.startswith("joined "):
                        joined_at[i] = time.monotonic()
                        joined_count[i] = int(line.split()[1])
            threading.Thread(target=reader, daemon=True).start()
        while len(joined_at) < len(loaders) and time.monotonic() - started < 320:
            if any(p.poll() is not None for p in loaders):
                break
            time.sleep(0.1)
        joined = sum(joined_count.values())
        result["joined"] = joined
        result["all_joined_s"] = round(max(joined_at.values()) - started, 2) if len(joined_at) == len(loaders) else None
        online_ok = wait_online(rest, n + 1, 60)
        result["online_gauge_s"] = round(time.monotonic() - started, 2) if online_ok else None
        log(f"joined {joined} of {n} in {result['all_joined_s']} s (gauge {result['online_gauge_s']} s)")
        time.sleep(5)  # settle: join work done, heartbeats only
        rss = proc_rss_kb(pid)
        result["rss_kb"] = rss
        result["kb_per_session"] = round((rss - rss_before) / max(1, joined), 2)
        loader_pids = [p.pid for p in loaders]
        pings0 = rest.metric("ew_server_heartbeat_pings_total")  # None before the wheel's metric
        c0 = proc_cpu_seconds(pid)
        l0 = sum(proc_cpu_seconds(x) for x in loader_pids)
        t0 = time.monotonic()
        time.sleep(args.idle_seconds)
        c1 = proc_cpu_seconds(pid)
        l1 = sum(proc_cpu_seconds(x) for x in loader_pids)
        wall = time.monotonic() - t0
        pings1 = rest.metric("ew_server_heartbeat_pings_total")
        # The silence after which a session is pinged, stretched under the ping ceiling (None
        # before the conductor had the gauge).
        result["heartbeat_interval_s"] = rest.metric("ew_server_heartbeat_interval_seconds")
        result["idle_cpu_core_pct"] = round(100 * (c1 - c0) / wall, 1)
        result["loaders_cpu_core_pct"] = round(100 * (l1 - l0) / wall, 1)
        # Pings a second the heartbeat rule implies for answering peers (the conductor does not
        # count them). The wheel (since f8153cb): a session silent for the interval (here half
        # the timeout) is pinged at the next tick (an eighth of the timeout) of its bucket: one
        # ping every interval + tick/2 on average. Before it (--legacy-heartbeat): pinged when a
        # tick every timeout/8 found it silent for timeout/4: one ping every 3/8 timeout.
        timeout_s = heartbeat_timeout_ms / 1000
        period_s = timeout_s * 3 / 8 if args.legacy_heartbeat else timeout_s / 2 + timeout_s / 16
        pings_per_s = joined / period_s
        result["pings_per_s_estimate"] = round(pings_per_s)
        if pings0 is not None and pings1 is not None:
            # Counted by the conductor (ew_server_heartbeat_pings_total): this replaces the estimate.
            pings_per_s = (pings1 - pings0) / wall
            result["pings_per_s_measured"] = round(pings_per_s)
        result["cpu_us_per_ping"] = round(1e6 * (c1 - c0) / wall / pings_per_s, 2) if pings_per_s else None
        log(f"idle: conductor {result['idle_cpu_core_pct']} % of a core, loaders {result['loaders_cpu_core_pct']} %, "
            f"RSS {rss / 1024:.0f} MiB ({result['kb_per_session']} KB/session)")
        result["loaded_ping"] = ping_figures(build, port, token, agent_board, args.pings)
        log("loaded sys.ping", json.dumps(result["loaded_ping"]))
        result["rss_after_pings_kb"] = proc_rss_kb(pid)
        result["load_average"] = os.getloadavg()[0]
        alive = [p.poll() is None for p in loaders]
        result["loaders_alive"] = sum(alive)
    finally:
        for p in loaders:
            try:
                p.stdin.close()
            except OSError:
                pass
        for p in loaders:
            try:
                p.wait(timeout=60)
            except subprocess.TimeoutExpired:
                p.kill()
        agent.send_signal(signal.SIGTERM)
        try:
            agent.wait(timeout=10)
        except subprocess.TimeoutExpired:
            agent.kill()
        conductor.stop()
    return result


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--build", default=os.path.join(ROOT, "build"))
    parser.add_argument("--boards", type=int, default=100000)
    parser.add_argument("--loaders", type=int, default=8)
    parser.add_argument("--enrollers", type=int, default=8)
    parser.add_argument("--concurrency", type=int, default=128, help="handshakes in flight per loader")
    parser.add_argument("--heartbeat-timeouts", default="4000,60000",
                        help="router.heartbeat_timeout_ms per run (4000 = shipped)")
    parser.add_argument("--ping-ceilings", default="shipped",
                        help="router.heartbeat_max_pings_per_second per run, 'shipped' for the default (5,000), "
                             "0 for none; every timeout is run with every ceiling")
    parser.add_argument("--idle-seconds", type=float, default=30)
    parser.add_argument("--pings", type=int, default=2000)
    parser.add_argument("--legacy-heartbeat", action="store_true",
                        help="the conductor measured predates the heartbeat wheel (f8153cb): its ping rule for CPU/ping")
    parser.add_argument("--json", default="")
    args = parser.parse_args()
    build = os.path.abspath(args.build)
    for name in ("ew_bench_session_load", "ew_bench_wamp_call"):
        if not os.path.exists(os.path.join(build, "tests", "bench", name)):
            sys.exit(f"{name} missing: configure with -DEW_BUILD_BENCH=ON and build it")
    n = args.boards
    nofile = raise_nofile(2 * n + 10000)
    log(f"RLIMIT_NOFILE {nofile}")
    # The conductor holds one descriptor per session, plus its store, listener, REST clients and
    # the real agent: without CAP_SYS_RESOURCE the hard limit caps N (20,000 on the shared VM).
    if nofile < n + 1000:
        sys.exit(f"RLIMIT_NOFILE is {nofile}: the conductor cannot hold {n} sessions; run as root with "
                 f"CAP_SYS_RESOURCE, or --boards {nofile - 1000} or fewer")

    work = tempfile.mkdtemp(prefix="ew-scale-")
    log("work dir", work)
    commit = subprocess.run(["git", "-C", ROOT, "rev-parse", "--short", "HEAD"], capture_output=True,
                            text=True).stdout.strip()
    port = free_port()
    timeouts = [int(x) for x in args.heartbeat_timeouts.split(",") if x]
    conductor = scale_conductor(build, work, port, timeouts[0], n)
    conductor.start()
    try:
        rest = Rest(port)
        token = rest.call("POST", "/v1/auth/tokens", {"username": "admin", "password": PASSWORD})["token"]
        rest.token = token
        log(f"enrolling {n} boards with {args.enrollers} REST clients")
        creds, enrol_s = enrol_boards(port, token, n, args.enrollers)
        log(f"enrolled {n} in {enrol_s:.1f} s ({n / enrol_s:.0f}/s)")
        agent_board, agent_cmd = enrol_agent(build, work, rest, "agent-real")
    finally:
        conductor.stop()

    k = args.loaders
    creds_paths = []
    for i in range(k):
        path = os.path.join(work, f"creds-{i}.json")
        with open(path, "w") as f:
            json.dump(creds[i::k], f)
        creds_paths.append(path)
    del creds

    results = {"commit": commit, "boards": n, "loaders": k, "enrol_s": round(enrol_s, 1),
               "cpus": os.cpu_count(), "runs": []}
    ceilings = [None if x == "shipped" else int(x) for x in args.ping_ceilings.split(",") if x]
    for t in timeouts:
        for ceiling in ceilings:
            log(f"run: heartbeat_timeout_ms {t}, ping ceiling {'shipped' if ceiling is None else ceiling}")
            r = run_once(args, build, work, port, creds_paths, n, t, agent_cmd, agent_board, ceiling)
            results["runs"].append(r)
            log(json.dumps(r))
    print(json.dumps(results, indent=1))
    print(f"\n{n} boards, commit {commit}, enrolment {results['enrol_s']} s\n")
    print("| heartbeat timeout | ping ceiling | joined | all joined | RSS | KB/session | pinged after (gauge) "
          "| pings/s counted | idle CPU (conductor) | CPU/ping "
          "| loaders CPU | sys.ping WAMP p50/p99 (baseline) | loaded | REST p50/p99 (baseline) | loaded |")
    print("|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|")
    for r in results["runs"]:
        def pp(x):
            return f"{x['p50_us'] / 1000:.2f}/{x['p99_us'] / 1000:.2f} ms" if x else "-"
        print(f"| {r['heartbeat_timeout_ms']} ms | {r['ping_ceiling']} | {r.get('joined')} | {r.get('all_joined_s')} s "
              f"| {r.get('rss_kb', 0) / 1024:.0f} MiB | {r.get('kb_per_session')} | {r['heartbeat_interval_s'] if r.get('heartbeat_interval_s') is None else round(r['heartbeat_interval_s'], 2)} s "
              f"| {r.get('pings_per_s_measured', '-')} | {r.get('idle_cpu_core_pct')} % "
              f"| {r.get('cpu_us_per_ping')} µs | {r.get('loaders_cpu_core_pct')} % "
              f"| {pp(r['baseline_ping']['wamp'])} | {pp(r.get('loaded_ping', {}).get('wamp'))} "
              f"| {pp(r['baseline_ping']['rest'])} | {pp(r.get('loaded_ping', {}).get('rest'))} |")
    if args.json:
        with open(args.json, "w") as f:
            json.dump(results, f, indent=1)
    if not os.environ.get("EW_KEEP_TMP"):
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
