#!/usr/bin/python3
"""Edge benchmark (docs/BENCHMARKS.md, issue 11 "limits before authentication"): a real conductor
on 127.0.0.1; GET /healthz latency over one keep-alive connection, p50/p99, measured twice in one
run, side by side:

  (a) baseline: the conductor idle;
  (b) under attack: --slow connections (default 1,000) that trickle header bytes (slowloris; each
      one byte every --trickle-s, reopened when the conductor drops it) plus --bad-logins per
      second (default 100) of POST /v1/auth/tokens with a wrong password.

The attackers run in a child process so that their Python work does not sit in the probe's
measurements. Slow connections come from 127.0.1.x and logins from 127.0.2.x source addresses, as
many hosts would, and the probe from 127.0.0.1 (from one address the attack would meet the
per-address cap, which is the defence working; the script reports how many were refused). The goal (issue 11): /healthz p99 < 50 ms under attack.

  EW_BIN_DIR=build /usr/bin/python3 tests/bench/run_edge_bench.py [--slow 1000] [--bad-logins 100]
      [--probes 2000] [--attack-warmup-s 5] [--keep]
"""

import argparse
import asyncio
import http.client
import json
import multiprocessing
import os
import resource
import shutil
import sys
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "integration"))
import harness  # noqa: E402


def pct(values, p):
    values = sorted(values)
    if not values:
        return float("nan")
    k = min(len(values) - 1, max(0, int(round(p / 100.0 * (len(values) - 1)))))
    return values[k]


def probe_healthz(port, count):
    """Latencies (ms) of `count` GET /healthz over one keep-alive connection."""
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
    latencies, errors = [], 0
    for _ in range(count):
        start = time.perf_counter()
        try:
            conn.request("GET", "/healthz")
            resp = conn.getresponse()
            resp.read()
            if resp.status != 200:
                errors += 1
        except (OSError, http.client.HTTPException):
            errors += 1
            conn.close()
            conn = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
            continue
        latencies.append((time.perf_counter() - start) * 1000.0)
        time.sleep(0.002)  # a steady probe, not a flood of its own
    conn.close()
    return latencies, errors


async def slow_connection(port, index, trickle_s, stats, stop):
    """Holds one connection open by trickling a never-ending header; reopens it when dropped."""
    source = f"127.0.1.{1 + index % 250}"
    header = b"GET /healthz HTTP/1.1\r\nHost: bench\r\nX-Slow: " + b"a" * 4000
    while not stop.is_set():
        try:
            reader, writer = await asyncio.open_connection("127.0.0.1", port, local_addr=(source, 0))
        except OSError:
            stats["connect_errors"] += 1
            await asyncio.sleep(1.0)
            continue
        stats["opened"] += 1
        opened = time.monotonic()
        hung_up = False
        try:
            i = 0
            while not stop.is_set():
                writer.write(header[i % len(header):i % len(header) + 1])
                await writer.drain()
                i += 1
                try:
                    data = await asyncio.wait_for(reader.read(4096), trickle_s)
                    if not data:
                        hung_up = True  # the conductor closed it
                        break
                except asyncio.TimeoutError:
                    pass
        except (OSError, ConnectionError):
            hung_up = True
        held = time.monotonic() - opened
        if hung_up and held < 1.0:
            stats["refused_fast"] += 1  # closed at once: a connection cap
        elif hung_up:
            stats["dropped"] += 1
            stats["held_s_max"] = max(stats["held_s_max"], held)
        writer.close()
        await asyncio.sleep(0.05)


async def bad_logins(port, rate, stats, stop):
    """`rate` wrong-password logins per second, open loop: each on a connection of its own, sent on
    schedule whether or not earlier ones were answered (an attacker does not wait)."""
    body = json.dumps({"username": "admin", "password": "wrong-password"}).encode()
    request = (b"POST /v1/auth/tokens HTTP/1.1\r\nHost: bench\r\nContent-Type: application/json\r\n"
               b"Connection: close\r\nContent-Length: " + str(len(body)).encode() + b"\r\n\r\n" + body)
    in_flight = set()
    sent = [0]

    async def one():
        sent[0] += 1
        source = f"127.0.2.{1 + sent[0] % 250}"  # many attacking hosts, none of them the probe's
        try:
            reader, writer = await asyncio.open_connection("127.0.0.1", port, local_addr=(source, 0))
            writer.write(request)
            await writer.drain()
            head = await asyncio.wait_for(reader.readuntil(b"\r\n\r\n"), 30)
            status = int(head.split(b" ", 2)[1])
            stats[f"login_{status}"] = stats.get(f"login_{status}", 0) + 1
            writer.close()
        except (OSError, asyncio.IncompleteReadError, asyncio.TimeoutError, ValueError):
            stats["login_errors"] = stats.get("login_errors", 0) + 1

    next_at = time.monotonic()
    while not stop.is_set():
        if len(in_flight) < 2000:
            task = asyncio.create_task(one())
            in_flight.add(task)
            task.add_done_callback(in_flight.discard)
        next_at += 1.0 / rate
        await asyncio.sleep(max(0.0, next_at - time.monotonic()))
    await asyncio.gather(*in_flight, return_exceptions=True)


def attack(port, slow, trickle_s, login_rate, ready, stop_event, results):
    async def main():
        stats = {"opened": 0, "dropped": 0, "refused_fast": 0, "connect_errors": 0, "held_s_max": 0.0}
        started = time.monotonic()
        stop = asyncio.Event()
        tasks = [asyncio.create_task(slow_connection(port, i, trickle_s, stats, stop)) for i in range(slow)]
        if login_rate > 0:
            tasks.append(asyncio.create_task(bad_logins(port, login_rate, stats, stop)))
        while stats["opened"] < slow:
            await asyncio.sleep(0.1)
        ready.set()
        while not stop_event.is_set():
            await asyncio.sleep(0.2)
        stop.set()
        stats["attack_s"] = time.monotonic() - started
        await asyncio.sleep(trickle_s + 0.5)
        for t in tasks:
            t.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        results.put(stats)

    asyncio.run(main())


def metric(port, name):
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
    conn.request("GET", "/metrics")
    text = conn.getresponse().read().decode()
    conn.close()
    return [line for line in text.splitlines() if line.startswith(name)]


def summary(label, latencies, errors):
    return (f"{label:<42} p50 {pct(latencies, 50):7.2f} ms   p99 {pct(latencies, 99):7.2f} ms   "
            f"max {max(latencies) if latencies else float('nan'):7.2f} ms   n {len(latencies)}   errors {errors}")


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--slow", type=int, default=1000, help="slow (slowloris) connections held open")
    ap.add_argument("--trickle-s", type=float, default=1.0, help="seconds between header bytes of a slow connection")
    ap.add_argument("--bad-logins", type=int, default=100, help="wrong-password logins per second")
    ap.add_argument("--probes", type=int, default=2000, help="/healthz requests per measurement")
    ap.add_argument("--attack-warmup-s", type=float, default=5.0, help="attack time before the probe starts")
    ap.add_argument("--keep", action="store_true", help="keep the work directory")
    args = ap.parse_args()

    if not os.path.exists(harness.CONDUCTOR):
        sys.exit(f"missing {harness.CONDUCTOR}: build edgewire-conductor (EW_BIN_DIR=build)")
    # Slow connections need descriptors on both sides (the conductor inherits this limit).
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    want = min(hard, max(soft, 4 * args.slow + 1024))
    resource.setrlimit(resource.RLIMIT_NOFILE, (want, hard))
    if want < 2 * args.slow + 256:
        print(f"warning: only {want} file descriptors for {args.slow} slow connections", file=sys.stderr)

    work = tempfile.mkdtemp(prefix="ew-edge-bench-")
    conductor = harness.Conductor(work, log_level="warn").start()
    try:
        port = conductor.port
        probe_healthz(port, 200)  # warm-up
        base, base_errors = probe_healthz(port, args.probes)

        ctx = multiprocessing.get_context("fork")
        ready, stop_event, results = ctx.Event(), ctx.Event(), ctx.Queue()
        attacker = ctx.Process(target=attack, args=(port, args.slow, args.trickle_s, args.bad_logins, ready,
                                                    stop_event, results))
        attacker.start()
        if not ready.wait(120):
            print("warning: not every slow connection opened within 120 s", file=sys.stderr)
        time.sleep(args.attack_warmup_s)
        started = time.monotonic()
        loaded, loaded_errors = probe_healthz(port, args.probes)
        probe_s = time.monotonic() - started
        open_now = metric(port, "ew_server_connections_open")
        stop_event.set()
        stats = results.get(timeout=120)
        attacker.join(30)
        refused = metric(port, "ew_server_connections_refused_total")
        dropped = metric(port, "ew_server_connections_dropped_total")

        print(f"conductor {harness.CONDUCTOR} on 127.0.0.1:{port}, {os.cpu_count()} CPUs")
        print(summary("GET /healthz, idle conductor (baseline)", base, base_errors))
        print(summary(f"GET /healthz, {args.slow} slow conns + {args.bad_logins} bad logins/s", loaded, loaded_errors))
        print(f"probe under attack ran {probe_s:.1f} s; p99 ratio {pct(loaded, 99) / pct(base, 99):.2f}x; "
              f"goal p99 < 50 ms: {'met' if pct(loaded, 99) < 50 else 'NOT met'}")
        print(f"slow connections: opened {stats['opened']}, dropped by the conductor {stats['dropped']} "
              f"(longest held {stats['held_s_max']:.1f} s), closed at once {stats['refused_fast']}, "
              f"connect errors {stats['connect_errors']}")
        logins = {k: v for k, v in stats.items() if k.startswith("login_")}
        answered = sum(v for k, v in logins.items() if k != "login_errors")
        print(f"bad logins by status: {logins}; {answered / stats['attack_s']:.0f}/s answered of "
              f"{args.bad_logins}/s offered over {stats['attack_s']:.1f} s")
        for line in open_now + refused + dropped:
            print("  " + line)
    finally:
        conductor.stop()
        if args.keep:
            print(f"work directory kept: {work}")
        else:
            shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
