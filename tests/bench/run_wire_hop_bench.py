#!/usr/bin/python3
"""Cross-board wire hop benchmark (docs/BENCHMARKS.md, "Flows"): a real conductor and two real
agents (tests/integration/harness.py) on 127.0.0.1, log level info. One flow, cloud "external"
(this script plays the cloud partition, as the Node-RED palette would):

    cloud "src" ──wire──► board A: change "a1" ──wire (the hop measured)──► board B: change "b1"
                                                                              ──wire──► cloud "sink"

The script (python3-autobahn, msgpack, one session) publishes one message at a time on src's
wire and stamps, on CLOCK_MONOTONIC:
  t0  when it publishes;
  t1  when the router delivers A's message on the A→B wire to it (it subscribes to that topic
      too: the router sends it to B and to the script in the same fan-out);
  t2  when B's message on b1's wire reaches it.
Then the next message. Figures (ms, p50/p99 over --messages):
  hop   = t2 - t1: from A's message leaving the router towards B, through B's agent (WAMP
          receive, wire order, its runtime's queue, the change node, its wire outbox and spool)
          and back through the router to a subscriber: one cross-board hop plus one router →
          subscriber delivery;
  round = t2 - t0: script → A → B → script, three wires;
  local = the same round trip with a1 and b1 both on board A (two wires, A's hop is in-process);
  hop by difference = p50(round) - p50(local): what the A→B wire and B's agent add;
  router = the script publishing to a topic it subscribes to itself: the router + client cost
          that every figure above contains at least once.

  EW_BIN_DIR=build /usr/bin/python3 tests/bench/run_wire_hop_bench.py [--messages 2000]
"""

import argparse
import asyncio
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(os.path.dirname(HERE))
sys.path.insert(0, os.path.join(HERE, "..", "integration"))
os.environ.setdefault("EW_BIN_DIR", os.path.join(ROOT, "build"))
import harness  # noqa: E402
import wamp_client  # noqa: E402
from autobahn.wamp.types import PublishOptions  # noqa: E402


def pct(values, p):
    values = sorted(values)
    return round(values[min(len(values) - 1, int(len(values) * p / 100))], 3)


def summary(values_ms):
    return {"p50": pct(values_ms, 50), "p99": pct(values_ms, 99), "n": len(values_ms)}


def flow(board_a, board_b):
    return [
        {"id": "t", "type": "tab", "label": "hop"},
        {"id": "src", "type": "inject", "z": "t", "wires": [["a1"]]},
        {"id": "a1", "type": "change", "z": "t", "board": board_a,
         "rules": [{"t": "set", "p": "topic", "pt": "msg", "to": "a", "tot": "str"}], "wires": [["b1"]]},
        {"id": "b1", "type": "change", "z": "t", "board": board_b,
         "rules": [{"t": "set", "p": "topic", "pt": "msg", "to": "b", "tot": "str"}], "wires": [["sink"]]},
        {"id": "sink", "type": "debug", "z": "t", "wires": []},
    ]


async def measure(ws_url, token, flow_id, messages, tap_middle):
    s = await wamp_client.connect(ws_url, {"method": "ticket", "ticket": token}, serializer="msgpack")
    t1, t2 = {}, {}
    arrived = {}

    def on_middle(*args, **kw):
        t1[kw["seq"]] = time.monotonic_ns()

    def on_end(*args, **kw):
        n = args[0]["payload"]["n"]
        t2[n] = time.monotonic_ns()
        if n in arrived and not arrived[n].done():
            arrived[n].set_result(None)

    await s.subscribe(on_end, f"ew.flow.{flow_id}.wire.b1.0")
    if tap_middle:
        await s.subscribe(on_middle, f"ew.flow.{flow_id}.wire.a1.0")
    topic = f"ew.flow.{flow_id}.wire.src.0"
    rounds, hops = [], []
    warmup = 100
    loop = asyncio.get_running_loop()
    for n in range(1, warmup + messages + 1):
        arrived[n] = loop.create_future()
        t0 = time.monotonic_ns()
        s.publish(topic, {"payload": {"n": n}}, seq=n, version=1, **{"from": "cloud"})
        await asyncio.wait_for(arrived[n], 10)
        if n <= warmup:
            continue
        rounds.append((t2[n] - t0) / 1e6)
        if tap_middle:
            # A numbers its wire from 1, in the order it sends: message n is A's seq n.
            hops.append((t2[n] - t1[n]) / 1e6)
    s.leave()
    return rounds, hops


async def router_baseline(ws_url, token, messages):
    s = await wamp_client.connect(ws_url, {"method": "ticket", "ticket": token}, serializer="msgpack")
    loop = asyncio.get_running_loop()
    waiting = {}
    got = {}

    def on_event(*args, **kw):
        got[kw["n"]] = time.monotonic_ns()
        waiting[kw["n"]].set_result(None)

    await s.subscribe(on_event, "ew.bench.echo")
    out = []
    for n in range(1, messages + 101):
        waiting[n] = loop.create_future()
        t0 = time.monotonic_ns()
        s.publish("ew.bench.echo", n=n, options=PublishOptions(exclude_me=False))
        await asyncio.wait_for(waiting[n], 10)
        if n > 100:
            out.append((got[n] - t0) / 1e6)
    s.leave()
    return out


def deploy(conductor, token, name, nodes):
    status, body = conductor.rest("POST", "/v1/flows", {"name": name, "nodes": nodes, "cloud": "external"}, token)
    assert status in (200, 201), body
    assert all(p["state"] in ("deployed", "external") for p in body["partitions"]), body
    return body["id"]


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--messages", type=int, default=2000)
    args = parser.parse_args()
    workdir = tempfile.mkdtemp(prefix="ew-wirehop-bench-")
    conductor = harness.Conductor(workdir, log_level="info").start()
    agents = []
    try:
        token = conductor.login()
        boards = []
        for name in ("pi-a", "pi-b"):
            board_id, code = conductor.create_board(token, name)
            agent = harness.Agent(workdir, name, log_level="info")
            agent.enrol(conductor.url, code)
            agent.start()
            agents.append(agent)
            boards.append(board_id)
        for b in boards:
            harness.wait_until(lambda: conductor.status_of(token, b) == "online", what="agent online")
        cross = deploy(conductor, token, "hop", flow(boards[0], boards[1]))
        local = deploy(conductor, token, "local", flow(boards[0], boards[0]))
        time.sleep(2)  # the agents' wire subscriptions and outbox resume delay
        rounds, hops = asyncio.run(measure(conductor.ws_url, token, cross, args.messages, True))
        local_rounds, _ = asyncio.run(measure(conductor.ws_url, token, local, args.messages, False))
        router = asyncio.run(router_baseline(conductor.ws_url, token, args.messages))
        commit = subprocess.run(["git", "-C", ROOT, "rev-parse", "--short", "HEAD"], capture_output=True,
                                text=True).stdout.strip()
        print(json.dumps({
            "commit": commit,
            "messages": args.messages,
            "cross_board_hop_ms": summary(hops),
            "round_trip_script_A_B_script_ms": summary(rounds),
            "round_trip_script_A_A_script_ms": summary(local_rounds),
            "router_publish_to_self_ms": summary(router),
            # The A→B wire and B's runtime, by difference of the two round trips' medians.
            "cross_board_hop_by_difference_p50_ms": round(pct(rounds, 50) - pct(local_rounds, 50), 3),
        }, indent=2))
    finally:
        for agent in agents:
            agent.stop()
        conductor.stop()
        shutil.rmtree(workdir, ignore_errors=True)


if __name__ == "__main__":
    main()
