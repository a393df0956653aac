#!/usr/bin/python3
"""Soak (docs/BENCHMARKS.md → Reliability): a real conductor and one real agent (simulated GPIO
chip) on 127.0.0.1 under steady mixed load for --minutes, sampling both processes' RSS and open
file descriptors every --sample-seconds. Load, all at once:

  - --rate invocations/s (default 10) of a warm sh function on the board, synchronous REST calls
    POST /v1/functions/{id}/invocations, paced (each late call is counted, none is skipped);
  - GPIO edges: a paced square wave on the simulated GPIO4 (--edge-rate edges/s), watched through
    the REST event stream GET /v1/boards/{id}/gpio/events (every edge is counted at the client);
  - REST traffic: once a second GET /v1/boards, GET /v1/functions/{id}/invocations,
    PUT /v1/boards/{id}/gpio/GPIO17, POST /v1/boards/{id}/calls/sys.ping.

Growth is reported against the first sample after --warmup-minutes (RSS goal < 5 %); the full
sample table is printed so a slow climb shows even when the end point looks fine. Errors (non-2xx
answers, failed invocations, lost edges) are counted and printed; any is a finding.

  EW_BIN_DIR=build /usr/bin/python3 tests/bench/run_soak.py --minutes 60   # the recorded run
  EW_BIN_DIR=build /usr/bin/python3 tests/bench/run_soak.py                # 3 minutes, a smoke run
"""

import argparse
import http.client
import json
import os
import shutil
import subprocess
import sys
import tempfile
import threading
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "integration"))
import harness  # noqa: E402
from sim_gpio import SimGpio, sim_chip_config  # noqa: E402
from run_functions_bench import Rest, WARM_SH, package  # noqa: E402


def proc_sample(pid):
    """(RSS KiB, open fds) of a live process."""
    rss = 0
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                rss = int(line.split()[1])
    return rss, len(os.listdir(f"/proc/{pid}/fd"))


class Counters:
    def __init__(self):
        self.lock = threading.Lock()
        self.values = {}

    def add(self, name, n=1):
        with self.lock:
            self.values[name] = self.values.get(name, 0) + n

    def snapshot(self):
        with self.lock:
            return dict(self.values)


def invocation_loop(port, token, fn_id, board_id, rate, stop, counters, latencies):
    rest = Rest(port, token)
    period = 1.0 / rate
    due = time.monotonic()
    i = 0
    while not stop.is_set():
        now = time.monotonic()
        if now < due:
            stop.wait(due - now)
            continue
        if now - due > period:
            counters.add("invocations_late")
        due += period
        i += 1
        start = time.perf_counter()
        try:
            status, body = rest.call("POST", f"/v1/functions/{fn_id}/invocations",
                                     {"boardId": board_id, "event": {"i": i}})
        except (OSError, http.client.HTTPException) as e:
            counters.add("invocation_errors")
            counters.add(f"invocation_error:{type(e).__name__}")
            rest = Rest(port, token)
            continue
        latencies.append((time.perf_counter() - start) * 1000)
        if status == 200 and isinstance(body, dict) and body.get("output") == {"echo": {"i": i}}:
            counters.add("invocations_ok")
        else:
            counters.add("invocation_errors")
            counters.add(f"invocation_error:{status}")


def rest_loop(port, token, fn_id, board_id, stop, counters):
    rest = Rest(port, token)
    value = 0
    while not stop.wait(1.0):
        value ^= 1
        calls = [("GET", "/v1/boards", None), ("GET", f"/v1/functions/{fn_id}/invocations?limit=20", None),
                 ("PUT", f"/v1/boards/{board_id}/gpio/GPIO17", {"value": value}),
                 ("POST", f"/v1/boards/{board_id}/calls/sys.ping", {})]
        for method, path, body in calls:
            try:
                status, _ = rest.call(method, path, body)
            except (OSError, http.client.HTTPException):
                status = "exception"
                rest = Rest(port, token)
            counters.add("rest_ok" if status == 200 else "rest_errors")
            if status != 200:
                counters.add(f"rest_error:{method} {path.split('?')[0]}:{status}")


def edge_stream(port, token, board_id, stop, counters):
    """Counts the SSE events of GPIO4 until stopped; reconnects if the stream ends."""
    while not stop.is_set():
        conn = http.client.HTTPConnection("127.0.0.1", port, timeout=5)
        try:
            conn.request("GET", f"/v1/boards/{board_id}/gpio/events?line=GPIO4&edge=both",
                         headers={"X-Auth-Token": token, "Accept": "text/event-stream"})
            resp = conn.getresponse()
            if resp.status != 200:
                counters.add("edge_stream_errors")
                stop.wait(1)
                continue
            counters.add("edge_streams_opened")
            while not stop.is_set():
                try:
                    line = resp.fp.readline()
                except TimeoutError:
                    continue
                if not line:
                    break
                if line.startswith(b"data:") and b'"edge"' in line:
                    counters.add("edges_received")
        except (OSError, http.client.HTTPException):
            counters.add("edge_stream_errors")
            stop.wait(1)
        finally:
            conn.close()


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--minutes", type=float, default=3.0, help="how long the load runs (60 for the record)")
    ap.add_argument("--warmup-minutes", type=float, default=None,
                    help="growth is measured from the first sample after this (default: 5, or a third of a short run)")
    ap.add_argument("--sample-seconds", type=float, default=60.0)
    ap.add_argument("--rate", type=float, default=10.0, help="invocations per second")
    ap.add_argument("--edge-rate", type=float, default=10.0, help="GPIO edges per second")
    ap.add_argument("--json", help="write the raw figures here")
    ap.add_argument("--keep", action="store_true", help="keep the work directory")
    args = ap.parse_args()
    warmup = args.warmup_minutes if args.warmup_minutes is not None else min(5.0, args.minutes / 3)

    commit = subprocess.run(["git", "-C", HERE, "rev-parse", "--short", "HEAD"], capture_output=True,
                            text=True).stdout.strip()
    work = tempfile.mkdtemp(prefix="ew-soak-")
    conductor = harness.Conductor(work, log_level="warn").start()
    agent = None
    sim = None
    stop = threading.Event()
    threads = []
    counters = Counters()
    latencies = []
    samples = []
    results = {"command": " ".join([os.path.basename(sys.argv[0])] + sys.argv[1:]), "commit": commit,
               "minutes": args.minutes, "warmupMinutes": warmup, "rate": args.rate, "edgeRate": args.edge_rate}
    try:
        token = conductor.login()
        board_id, code = conductor.create_board(token, "soak-pi")
        control = os.path.join(work, "sim.sock")
        agent = harness.Agent(work, "soak-pi", log_level="warn", extra_config=sim_chip_config(control))
        enrol = agent.enrol(conductor.url, code)
        assert enrol.returncode == 0, enrol.stderr
        agent.start()
        harness.wait_until(lambda: conductor.status_of(token, board_id) == "online", what="board online")
        harness.wait_until(lambda: os.path.exists(control), what="simulation socket")
        sim = SimGpio(control, timeout=30)

        rest = Rest(conductor.port, token)
        spec = {"name": "soak-echo", "version": "1", "runtime": "sh", "entrypoint": "main.sh", "maxConcurrency": 64,
                "warm": {"enabled": True, "maxInstances": 4}}
        status, fn = rest.call("POST", "/v1/functions", raw=package(spec, {"main.sh": WARM_SH}),
                               content_type="application/gzip")
        assert status == 201, (status, fn)
        status, body = rest.call("POST", f"/v1/functions/{fn['id']}/deployments", {"boardIds": [board_id]})
        assert status == 202, (status, body)

        def deployed():
            _, body = rest.call("GET", f"/v1/functions/{fn['id']}/deployments")
            states = {d["boardId"]: d["state"] for d in body["deployments"]}
            assert states.get(board_id) != "failed", body
            return states.get(board_id) == "deployed"
        harness.wait_until(deployed, timeout=120, what="deployed")

        threads = [
            threading.Thread(target=invocation_loop, daemon=True,
                             args=(conductor.port, token, fn["id"], board_id, args.rate, stop, counters, latencies)),
            threading.Thread(target=rest_loop, daemon=True,
                             args=(conductor.port, token, fn["id"], board_id, stop, counters)),
            threading.Thread(target=edge_stream, daemon=True, args=(conductor.port, token, board_id, stop, counters)),
        ]
        for t in threads:
            t.start()
        harness.wait_until(lambda: counters.snapshot().get("edge_streams_opened"), what="edge stream open")
        time.sleep(0.5)  # the watch reaches the board before the first edge
        # One paced square wave covers the whole run (two edges a cycle); re-armed below if it ends.
        period_us = int(2e6 / args.edge_rate)
        total_seconds = args.minutes * 60
        sim.square("GPIO4", period_us=period_us, cycles=int(total_seconds * args.edge_rate / 2) + 10, paced=True)
        edges_started = time.monotonic()

        start = time.monotonic()
        next_sample = start
        while True:
            now = time.monotonic()
            if now >= next_sample:
                c_rss, c_fds = proc_sample(conductor.proc.pid)
                a_rss, a_fds = proc_sample(agent.proc.pid)
                snap = counters.snapshot()
                row = {"minute": round((now - start) / 60, 2), "conductorRssKiB": c_rss, "conductorFds": c_fds,
                       "agentRssKiB": a_rss, "agentFds": a_fds, "invocationsOk": snap.get("invocations_ok", 0),
                       "edges": snap.get("edges_received", 0), "restOk": snap.get("rest_ok", 0),
                       "errors": snap.get("invocation_errors", 0) + snap.get("rest_errors", 0)}
                samples.append(row)
                print(json.dumps(row), file=sys.stderr, flush=True)
                next_sample += args.sample_seconds
            if now - start >= total_seconds:
                break
            if conductor.proc.poll() is not None or agent.proc.poll() is not None:
                raise RuntimeError("a process died during the soak; see " + work)
            time.sleep(min(1.0, max(0.0, next_sample - time.monotonic())))
        edge_seconds = time.monotonic() - edges_started
        stop.set()
        for t in threads:
            t.join(timeout=10)
        # The last sample was taken under load (minute == --minutes); none after the load stops,
        # whose closed connections would read as an fd "drop".
        snap = counters.snapshot()
        results["counters"] = snap
        results["edgesPlayedApprox"] = int(min(edge_seconds, total_seconds) * args.edge_rate)
    finally:
        stop.set()
        if sim:
            sim.close()
        if agent:
            agent.stop()
        conductor.stop()
        if not args.keep:
            shutil.rmtree(work, ignore_errors=True)

    results["samples"] = samples
    base = next((s for s in samples if s["minute"] >= warmup), samples[0])
    last = samples[-1]

    def growth(key):
        return 100.0 * (last[key] - base[key]) / base[key] if base[key] else 0.0
    results["growth"] = {k: growth(k) for k in ("conductorRssKiB", "agentRssKiB", "conductorFds", "agentFds")}
    lat = sorted(latencies)
    results["invocationLatencyMs"] = {"p50": lat[len(lat) // 2] if lat else None,
                                      "p99": lat[int(len(lat) * 0.99)] if lat else None, "n": len(lat)}
    if args.json:
        with open(args.json, "w") as f:
            json.dump(results, f, indent=1)

    c = results["counters"]
    print(f"\n### Soak ({results['command']}, commit {commit})\n")
    print(f"{args.minutes:g} min at {args.rate:g} invocations/s + {args.edge_rate:g} GPIO edges/s + 4 REST calls/s; "
          f"growth from minute {base['minute']:g} (after {warmup:g} min warm-up) to minute {last['minute']:g}.\n")
    print("| minute | conductor RSS | conductor fds | agent RSS | agent fds | invocations ok | edges | errors |")
    print("|---|---|---|---|---|---|---|---|")
    for s in samples:
        print(f"| {s['minute']:g} | {s['conductorRssKiB'] / 1024:.1f} MiB | {s['conductorFds']} | "
              f"{s['agentRssKiB'] / 1024:.1f} MiB | {s['agentFds']} | {s['invocationsOk']} | {s['edges']} | "
              f"{s['errors']} |")
    g = results["growth"]
    print(f"\nGrowth after warm-up: conductor RSS {g['conductorRssKiB']:+.1f} %, agent RSS {g['agentRssKiB']:+.1f} %, "
          f"conductor fds {g['conductorFds']:+.1f} %, agent fds {g['agentFds']:+.1f} % (goal: RSS < 5 %).")
    lat = results["invocationLatencyMs"]
    print(f"Invocations: {c.get('invocations_ok', 0)} ok, {c.get('invocation_errors', 0)} errors, "
          f"{c.get('invocations_late', 0)} started late; latency p50 {lat['p50'] or 0:.1f} ms, p99 {lat['p99'] or 0:.1f} ms. "
          f"Edges received {c.get('edges_received', 0)} of ~{results['edgesPlayedApprox']} played. "
          f"REST {c.get('rest_ok', 0)} ok, {c.get('rest_errors', 0)} errors.")
    other = {k: v for k, v in c.items() if ":" in k}
    if other:
        print("Errors by kind: " + json.dumps(other))


if __name__ == "__main__":
    main()
