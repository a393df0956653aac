#!/usr/bin/python3
"""GPIO benchmark (docs/BENCHMARKS.md, "GPIO"): a real conductor and one real agent on 127.0.0.1
whose chip is simulated; edges are played into the running agent through its simulation control
socket and received by a python3-autobahn subscriber on the conductor.

  (a) edge → subscriber latency: a paced square wave; each event carries the edge's
      CLOCK_MONOTONIC timestamp, the subscriber stamps receipt on the same clock. Baseline, side
      by side: the same subscriber receiving events that a WAMP client publishes straight into
      the router, stamped the same way (router + client cost without the agent);
  (b) maximum sustained edge rate without loss: paced square waves of rising rate, each for
      --rate-seconds; lost = sequence gaps or missing events at the subscriber;
  (c) GPIO write via REST (PUT /v1/boards/{id}/gpio/GPIO17) round trip, p50/p99, against the same
      REST → WAMP → agent round trip of sys.ping (POST /v1/boards/{id}/calls/sys.ping) and a
      GET /healthz that never leaves the conductor.

  EW_BIN_DIR=build /usr/bin/python3 tests/bench/run_gpio_bench.py [--edges 2000] [--rest-calls 1000]
"""

import argparse
import asyncio
import json
import os
import shutil
import sys
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "integration"))
import harness  # noqa: E402
import wamp_client  # noqa: E402
from sim_gpio import SimGpio, sim_chip_config  # noqa: E402
from run_functions_bench import Rest, pct, timed  # noqa: E402


def summary(values_ms):
    return {"p50": pct(values_ms, 50), "p99": pct(values_ms, 99), "n": len(values_ms)}


async def edge_latency(ws_url, token, board_id, sim, edges, period_us):
    """Per-edge latency (ms) from the simulated edge to the subscriber."""
    s = await wamp_client.connect(ws_url, {"method": "ticket", "ticket": token}, serializer="msgpack")
    latencies, seqs = [], []
    done = asyncio.get_running_loop().create_future()

    def on_event(**kw):
        latencies.append((time.monotonic_ns() - kw["timestampNs"]) / 1e6)
        seqs.append(kw["seq"])
        if len(seqs) >= edges and not done.done():
            done.set_result(None)

    sub = await s.subscribe(on_event, f"ew.board.{board_id}.gpio.event")
    watch = (await s.call(f"ew.board.{board_id}.gpio.watch", line="GPIO4", edge="both")).kwresults["watch"]
    sim.square("GPIO4", period_us=period_us, cycles=edges // 2, paced=True)
    try:
        await asyncio.wait_for(done, edges * period_us / 2e6 + 30)
    except asyncio.TimeoutError:
        pass
    await asyncio.get_running_loop().run_in_executor(None, sim.wait_signal)
    await s.call(f"ew.board.{board_id}.gpio.unwatch", watch=watch)
    await sub.unsubscribe()
    s.leave()
    return latencies, seqs


async def router_baseline(ws_url, token, board_id, events, period_us):
    """The same subscriber, events published by a WAMP client straight into the router."""
    sub_s = await wamp_client.connect(ws_url, {"method": "ticket", "ticket": token}, serializer="msgpack")
    pub_s = await wamp_client.connect(ws_url, {"method": "ticket", "ticket": token}, serializer="msgpack")
    topic = f"ew.board.{board_id}.bench.event"
    latencies = []
    done = asyncio.get_running_loop().create_future()

    def on_event(**kw):
        latencies.append((time.monotonic_ns() - kw["timestampNs"]) / 1e6)
        if len(latencies) >= events and not done.done():
            done.set_result(None)

    await sub_s.subscribe(on_event, topic)
    start = time.monotonic_ns()
    for i in range(events):
        due = start + i * period_us * 500  # every period/2, as the square wave's edges
        delay = (due - time.monotonic_ns()) / 1e9
        if delay > 0:
            await asyncio.sleep(delay)
        pub_s.publish(topic, chip="sim0", line="GPIO4", offset=4, edge="rising", value=1,
                      timestampNs=time.monotonic_ns(), seq=i + 1)
    try:
        await asyncio.wait_for(done, 30)
    except asyncio.TimeoutError:
        pass
    sub_s.leave()
    pub_s.leave()
    return latencies


async def sustained(ws_url, token, board_id, sim, rate, seconds):
    """Plays `rate` edges/s for `seconds`; returns (received, expected, gaps, in_order, late_us)."""
    period_us = max(2, int(round(2e6 / rate)))
    cycles = int(rate * seconds) // 2
    expected = cycles * 2
    s = await wamp_client.connect(ws_url, {"method": "ticket", "ticket": token}, serializer="msgpack")
    seqs = []
    await s.subscribe(lambda **kw: seqs.append(kw["seq"]), f"ew.board.{board_id}.gpio.event")
    watch = (await s.call(f"ew.board.{board_id}.gpio.watch", line="GPIO5", edge="both")).kwresults["watch"]
    sim.square("GPIO5", period_us=period_us, cycles=cycles, paced=True)
    played = await asyncio.get_running_loop().run_in_executor(None, sim.wait_signal)
    deadline = time.monotonic() + 10
    error = None
    while len(seqs) < expected and time.monotonic() < deadline and s.is_attached():
        await asyncio.sleep(0.05)
    try:
        await s.call(f"ew.board.{board_id}.gpio.unwatch", watch=watch)
        s.leave()
    except Exception as e:  # noqa: BLE001 - the subscriber's session can die under the load
        error = f"subscriber session lost: {type(e).__name__}"
    gaps = sum(1 for a, b in zip(seqs, seqs[1:]) if b != a + 1)
    in_order = seqs == sorted(seqs)
    return {"rate": 2e6 / period_us, "expected": expected, "received": len(seqs), "gaps": gaps, "inOrder": in_order,
            "playedEdges": played.get("edges"), "maxLateUs": played.get("maxLateUs"), "error": error}


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--edges", type=int, default=2000, help="edges for the latency measurement")
    ap.add_argument("--period-us", type=int, default=2000, help="square-wave period for the latency run")
    ap.add_argument("--rates", default="1000,2000,5000,10000,20000,30000,40000", help="edges/s to try, ascending")
    ap.add_argument("--rate-seconds", type=float, default=3.0)
    ap.add_argument("--rest-calls", type=int, default=1000)
    ap.add_argument("--json", help="write the raw figures here")
    ap.add_argument("--keep", action="store_true")
    args = ap.parse_args()

    work = tempfile.mkdtemp(prefix="ew-gpio-bench-")
    conductor = harness.Conductor(work, log_level="warn").start()
    agent = None
    sim = None
    results = {"command": " ".join([os.path.basename(sys.argv[0])] + sys.argv[1:])}
    try:
        token = conductor.login()
        board_id, code = conductor.create_board(token, "bench-pi")
        control = os.path.join(work, "sim.sock")
        agent = harness.Agent(work, "bench-pi", log_level="warn", extra_config=sim_chip_config(control))
        assert agent.enrol(conductor.url, code).returncode == 0
        agent.start()
        harness.wait_until(lambda: conductor.status_of(token, board_id) == "online", what="board online")
        harness.wait_until(lambda: os.path.exists(control), what="simulation socket")
        sim = SimGpio(control, timeout=120)

        # (a) latency, with the router-only baseline.
        latencies, seqs = asyncio.run(edge_latency(conductor.ws_url, token, board_id, sim, args.edges, args.period_us))
        baseline = asyncio.run(router_baseline(conductor.ws_url, token, board_id, args.edges, args.period_us))
        results["latency"] = {"edgewire": summary(latencies), "routerOnly": summary(baseline),
                              "lost": args.edges - len(seqs), "rateEdgesPerS": 2e6 / args.period_us}

        # (b) sustained rate.
        rates = []
        for rate in [float(r) for r in args.rates.split(",")]:
            r = asyncio.run(sustained(conductor.ws_url, token, board_id, sim, rate, args.rate_seconds))
            rates.append(r)
            print(f"  {r['rate']:.0f} edges/s: received {r['received']}/{r['expected']}, gaps {r['gaps']}, "
                  f"signal late by up to {r['maxLateUs']} us {r['error'] or ''}", file=sys.stderr)
            if r["error"] or r["received"] != r["expected"]:
                break  # the next rate would only fail harder
        results["sustained"] = rates
        lossless = [r["rate"] for r in rates if r["received"] == r["expected"] and r["gaps"] == 0 and r["inOrder"]]
        results["maxLosslessRate"] = max(lossless) if lossless else 0

        # (c) REST round trips, interleaved.
        rest = Rest(conductor.port, token)
        samples = {"write": [], "ping": [], "healthz": []}
        for i in range(args.rest_calls):
            dt, (status, body) = timed(lambda: rest.call("PUT", f"/v1/boards/{board_id}/gpio/GPIO17", {"value": i % 2}))
            assert status == 200, (status, body)
            samples["write"].append(dt * 1000)
            dt, (status, body) = timed(lambda: rest.call("POST", f"/v1/boards/{board_id}/calls/sys.ping", {}))
            assert status == 200, (status, body)
            samples["ping"].append(dt * 1000)
            dt, (status, _) = timed(lambda: rest.call("GET", "/healthz"))
            samples["healthz"].append(dt * 1000)
        assert sim.read("GPIO17") == (args.rest_calls - 1) % 2
        results["rest"] = {k: summary(v) for k, v in samples.items()}
    finally:
        if sim:
            sim.close()
        if agent:
            agent.stop()
        conductor.stop()
        if not args.keep:
            shutil.rmtree(work, ignore_errors=True)

    lat = results["latency"]
    print(f"\n### GPIO ({results['command']})\n")
    print("| Edge → subscriber latency | p50 | p99 | events |")
    print("|---|---|---|---|")
    print(f"| Edgewire: simulated edge → agent → router → subscriber | {lat['edgewire']['p50']:.2f} ms | "
          f"{lat['edgewire']['p99']:.2f} ms | {lat['edgewire']['n']} of {args.edges} |")
    print(f"| Baseline: WAMP client publish → router → subscriber | {lat['routerOnly']['p50']:.2f} ms | "
          f"{lat['routerOnly']['p99']:.2f} ms | {lat['routerOnly']['n']} |")
    print(f"| Ratio | {lat['edgewire']['p50'] / lat['routerOnly']['p50']:.2f}× | "
          f"{lat['edgewire']['p99'] / lat['routerOnly']['p99']:.2f}× | |")
    print("\n| Paced edges/s | received | gaps | in order | note |")
    print("|---|---|---|---|---|")
    for r in results["sustained"]:
        print(f"| {r['rate']:.0f} | {r['received']}/{r['expected']} | {r['gaps']} | {r['inOrder']} | {r['error'] or ''} |")
    print(f"\nMaximum sustained rate without loss: **{results['maxLosslessRate']:.0f} edges/s**\n")
    rest = results["rest"]
    print("| REST round trip | p50 | p99 |")
    print("|---|---|---|")
    for key, label in (("write", "PUT /v1/boards/{id}/gpio/GPIO17 (write on the board)"),
                       ("ping", "POST /v1/boards/{id}/calls/sys.ping (baseline: same path, no GPIO)"),
                       ("healthz", "GET /healthz (conductor only)")):
        print(f"| {label} | {rest[key]['p50']:.3f} ms | {rest[key]['p99']:.3f} ms |")
    print(f"| Ratio write / ping | {rest['write']['p50'] / rest['ping']['p50']:.2f}× | "
          f"{rest['write']['p99'] / rest['ping']['p99']:.2f}× |")
    if args.json:
        with open(args.json, "w") as f:
            json.dump(results, f, indent=2)


if __name__ == "__main__":
    main()
