#!/usr/bin/python3
"""Placement benchmark (docs/BENCHMARKS.md, "Placement"): the paper's experiments ("Dynamic
Allocation of Serverless Functions in IoT Environments", Pinto, Dias, Ferreira) on a real
conductor and three real agents on 127.0.0.1, functions in real containers.

Runtimes: "local" is an agent connected straight to the conductor; "cloud-1" and "cloud-2" are
agents whose WebSocket goes through a delay proxy on loopback (this script, asyncio) that adds
26 ms / 35.5 ms each way (52 ms / 71 ms round trip) and, when told, limits the bandwidth to
28 kbit/s up and 14 kbit/s down. (tc netem is not in this kernel; the proxy sits in the real
path: every byte between those agents and the conductor goes through it.) The conductor's own
cloud runtime is off, so the three agents are the only runtimes: the conductor has one cloud
runtime of its own, so the paper's two clouds are two boards behind slower links. Durations are
scaled 4x down: heavy sleeps 500 ms on "local" and 250 ms on the clouds (the paper: 2 s / 1 s),
super heavy 1 s / 500 ms (4 s / 2 s), light returns at once; at 10x the ~250 ms container start
of this shared host drowned the difference. The network delays are not scaled. Each call
carries a 1 KB event (at 14 kbit/s 1 KB takes ~0.6 s, which is what makes the slowed cloud
worse than local). Every function names its strategy in its function.json ("placement"), as a
user would; the calls name none.

  (1) rounds: --rounds (99) rounds of light, heavy, super heavy and cloud-only, per strategy, on
      fresh functions (no prior knowledge). "cloud-only" is deployed on cloud-1 and cloud-2 only
      (a cloudOnly function would run in the conductor's own cloud runtime, off here). Reported:
      calls per runtime and mean duration, per function and strategy.
  (2) cut: 99 heavy calls with ucb1 and sliding-ucb; before call 50 both cloud links are cut
      (connections reset, new ones refused): every call must still succeed.
  (3) slowdown: 250 heavy calls per strategy, each on a fresh function; before call 50 the
      network to both clouds is slowed. Reported: calls after the change until the choice is
      back on "local" (8 of 10 consecutive calls there), means before and after, share of calls
      on local from call 100.

  EW_BIN_DIR=build /usr/bin/python3 tests/bench/run_placement_bench.py [--calls 250] [--rounds 99]
      [--strategies greedy,ucb1,bayes-ucb,sliding-ucb] [--experiments rounds,cut,slowdown]
      (a strategy may carry function.json knobs: "sliding-ucb:window=40", "greedy:epsilon=0.05")
      [--csv docs/placement_calls.csv] [--plots docs]

Prints markdown tables; --csv writes every call (experiment, strategy, function, call, runtime,
ms, status, http, tried); --plots draws the PNGs (plot_placement_bench.py) from those rows.
"""

import argparse
import asyncio
import csv
import io
import json
import os
import shutil
import statistics
import sys
import tarfile
import tempfile
import threading
import time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "integration"))
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import harness  # noqa: E402


class DelayProxy:
    """A TCP proxy on 127.0.0.1 that delays every chunk by `delay` seconds one way and, when a
    rate is set, serialises the bytes at that rate (bits/s) per direction: the model of a slow
    link. Runs its own asyncio loop in a thread; settings change at once for new bytes."""

    def __init__(self, upstream_port, delay):
        self.upstream_port = upstream_port
        self.delay = delay
        self.rate_up = None    # agent → conductor, bits/s
        self.rate_down = None  # conductor → agent
        self.cut = False
        self.loop = asyncio.new_event_loop()
        self.writers = set()
        ready = threading.Event()
        self.thread = threading.Thread(target=self._run, args=(ready,), daemon=True)
        self.thread.start()
        ready.wait()

    def _run(self, ready):
        asyncio.set_event_loop(self.loop)
        self.server = self.loop.run_until_complete(asyncio.start_server(self._serve, "127.0.0.1", 0))
        self.port = self.server.sockets[0].getsockname()[1]
        ready.set()
        self.loop.run_forever()

    async def _serve(self, reader, writer):
        if self.cut:
            writer.close()
            return
        try:
            up_reader, up_writer = await asyncio.open_connection("127.0.0.1", self.upstream_port)
        except OSError:
            writer.close()
            return
        self.writers.update((writer, up_writer))
        await asyncio.gather(self._pump(reader, up_writer, "up"), self._pump(up_reader, writer, "down"),
                             return_exceptions=True)
        for w in (writer, up_writer):
            self.writers.discard(w)
            w.close()

    async def _pump(self, reader, writer, direction):
        queue = asyncio.Queue()
        link_free = 0.0  # when the link finishes sending what is queued (monotonic seconds)

        async def deliver():
            while True:
                at, data = await queue.get()
                if data is None:
                    break
                wait = at - self.loop.time()
                if wait > 0:
                    await asyncio.sleep(wait)
                writer.write(data)
                await writer.drain()
            writer.close()

        sender = asyncio.ensure_future(deliver())
        try:
            while True:
                data = await reader.read(65536)
                if not data or self.cut:
                    break
                now = self.loop.time()
                rate = self.rate_up if direction == "up" else self.rate_down
                start = max(now, link_free)
                link_free = start + (len(data) * 8 / rate if rate else 0.0)
                queue.put_nowait((link_free + self.delay, data))
        finally:
            queue.put_nowait((0, None))
            if self.cut:
                sender.cancel()
                writer.close()
            else:
                await sender

    def set(self, rate_up=None, rate_down=None, cut=False):
        def apply():
            self.rate_up, self.rate_down, self.cut = rate_up, rate_down, cut
            if cut:
                for w in list(self.writers):
                    w.close()
        self.loop.call_soon_threadsafe(apply)
        time.sleep(0.05)

    def close(self):
        self.loop.call_soon_threadsafe(self.loop.stop)


EVENT = {"data": "x" * 1000}


def placement_of(label):
    """function.json "placement" for a strategy label: "ucb1", or with knobs "sliding-ucb:window=40"
    (comma-separated: epsilon, ucbC, window)."""
    name, _, knobs = label.partition(":")
    placement = {"strategy": name}
    for knob in filter(None, knobs.split(",")):
        key, _, value = knob.partition("=")
        placement[key] = int(value) if key == "window" else float(value)
    return placement


def slug(label):
    return label.replace(":", "-").replace("=", "").replace(",", "-").replace(".", "")


def package(name, version, sleep, strategy):
    script = f"#!/bin/sh\nread -r event\nsleep {sleep}\necho '{{\"slept\": {sleep}}}'\n"
    spec = {"name": name, "version": version, "runtime": "sh", "entrypoint": "main.sh", "timeoutMs": 10000,
            "placement": placement_of(strategy)}
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w:gz") as tar:
        for path, text, mode in (("function.json", json.dumps(spec), 0o644), ("main.sh", script, 0o755)):
            data = text.encode()
            info = tarfile.TarInfo(path)
            info.size = len(data)
            info.mode = mode
            tar.addfile(info, io.BytesIO(data))
    return buf.getvalue()


class Bench:
    def __init__(self, workdir):
        self.workdir = workdir
        self.conductor = harness.Conductor(workdir, heartbeat_timeout_ms=10000, log_level="info",
                                           extra_config="[functions]\nruntime = \"none\"\n"
                                                        "max_running_per_function = 1000\n").start()
        self.token = self.conductor.login()
        self.proxies = {"cloud-1": DelayProxy(self.conductor.port, 0.026),
                        "cloud-2": DelayProxy(self.conductor.port, 0.0355)}
        self.boards, self.agents = {}, []
        for name in ("local", "cloud-1", "cloud-2"):
            board_id, code = self.conductor.create_board(self.token, name)
            agent = harness.Agent(workdir, name, log_level="info")
            url = self.conductor.url if name == "local" else f"http://127.0.0.1:{self.proxies[name].port}"
            enrol = agent.enrol(url, code)
            assert enrol.returncode == 0, enrol.stdout + enrol.stderr
            agent.start()
            self.agents.append(agent)
            harness.wait_until(lambda: self.conductor.status_of(self.token, board_id) == "online", timeout=20,
                               what=f"{name} online")
            self.boards[name] = board_id
        self.names = {f"board:{b}": n for n, b in self.boards.items()}

    def rest(self, method, path, body=None, raw=None, content_type="application/json"):
        return self.conductor.rest(method, path, body, token=self.token, raw=raw, content_type=content_type)

    # Each function: (version, seconds it sleeps, boards it is deployed on). The clouds run a
    # version of their own that sleeps half as long (the paper's faster cloud hardware).
    FUNCTIONS = {
        "light": [("1.0.0", 0, ["local", "cloud-1", "cloud-2"])],
        "heavy": [("1.0.0", 0.5, ["local"]), ("1.0.1", 0.25, ["cloud-1", "cloud-2"])],
        "super-heavy": [("1.0.0", 1.0, ["local"]), ("1.0.1", 0.5, ["cloud-1", "cloud-2"])],
        "cloud-only": [("1.0.0", 0.25, ["cloud-1", "cloud-2"])],
    }

    def function(self, kind, name, strategy):
        """Uploads and deploys a fresh function of `kind` named `name` whose function.json names
        `strategy`; returns its id once every deployment is "deployed"."""
        versions = self.FUNCTIONS[kind]
        for version, sleep, _ in versions:
            status, fn = self.rest("POST", "/v1/functions", raw=package(name, version, sleep, strategy),
                                   content_type="application/gzip")
            assert status == 201, fn
        for version, _, boards in versions:
            status, body = self.rest("POST", f"/v1/functions/{fn['id']}/deployments",
                                     {"boardIds": [self.boards[b] for b in boards], "version": version})
            assert status == 202, body
        expected = sum(len(boards) for _, _, boards in versions)

        def deployed():
            _, listed = self.rest("GET", f"/v1/functions/{fn['id']}/deployments")
            # A deployment sent while an agent was still joining stays pending until it next
            # registers: ask again (the same version).
            for d in listed["deployments"]:
                if d["state"] in ("pending", "failed") and time.monotonic() - asked[0] > 3:
                    self.rest("POST", f"/v1/functions/{fn['id']}/deployments",
                              {"boardIds": [d["boardId"]], "version": d["version"]})
                    asked[0] = time.monotonic()
            return sum(d["state"] == "deployed" for d in listed["deployments"]) == expected
        asked = [time.monotonic()]
        harness.wait_until(deployed, timeout=60, interval=0.1, what=f"{name} deployed")
        return fn["id"]

    def call(self, fn):
        """One invocation the conductor places; (ms seen by the client, runtime, status, http, tried)."""
        started = time.monotonic()
        status, body = self.rest("POST", f"/v1/functions/{fn}/invocations", {"event": EVENT})
        ms = (time.monotonic() - started) * 1000
        record = body.get("invocation", body) if isinstance(body, dict) else {}
        placed = record.get("placement", {})
        runtime = self.names.get(placed.get("runtime"), placed.get("runtime", "?"))
        tried = [self.names.get(t["runtime"], t["runtime"]) for t in placed.get("tried", [])]
        return round(ms, 1), runtime, record.get("status", str(status)), status, "+".join(tried)

    def links(self, mode):
        for proxy in self.proxies.values():
            if mode == "fast":
                proxy.set()
            elif mode == "slow":
                proxy.set(rate_up=28_000, rate_down=14_000)
            elif mode == "cut":
                proxy.set(cut=True)

    def wait_all_online(self):
        for name, board_id in self.boards.items():
            harness.wait_until(lambda: self.conductor.status_of(self.token, board_id) == "online", timeout=30,
                               what=f"{name} online")

    def run(self, experiment, strategy, calls, change_at, change):
        fn = self.function("heavy", f"heavy-{experiment}-{slug(strategy)}", strategy)
        self.links("fast")
        rows = []
        for call in range(calls):
            if call == change_at:
                self.links(change)
            ms, runtime, status, http, tried = self.call(fn)
            rows.append({"experiment": experiment, "strategy": strategy, "function": "heavy", "call": call,
                         "runtime": runtime, "ms": ms, "status": status, "http": http, "tried": tried})
        self.links("fast")
        return fn, rows

    def rounds(self, strategy, rounds):
        """Experiment (1): `rounds` rounds of one call of each function, fresh functions."""
        self.links("fast")
        fns = {kind: self.function(kind, f"{kind}-rounds-{slug(strategy)}", strategy) for kind in self.FUNCTIONS}
        rows = []
        for n in range(rounds):
            for kind, fn in fns.items():
                ms, runtime, status, http, tried = self.call(fn)
                rows.append({"experiment": "rounds", "strategy": strategy, "function": kind, "call": n,
                             "runtime": runtime, "ms": ms, "status": status, "http": http, "tried": tried})
        return rows

    def close(self):
        for agent in self.agents:
            agent.kill()
        self.conductor.stop()
        for proxy in self.proxies.values():
            proxy.close()


def calls_to_move_back(rows, change_at, runtime="local"):
    for start in range(change_at, len(rows) - 9):
        if sum(r["runtime"] == runtime for r in rows[start:start + 10]) >= 8:
            return start - change_at
    return None


def mean(values):
    return round(statistics.mean(values), 1) if values else None


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--calls", type=int, default=250)
    parser.add_argument("--rounds", type=int, default=99)
    parser.add_argument("--strategies", default="greedy,ucb1,bayes-ucb,sliding-ucb")
    parser.add_argument("--cut-strategies", default="ucb1,sliding-ucb")
    parser.add_argument("--experiments", default="rounds,cut,slowdown")
    parser.add_argument("--csv")
    parser.add_argument("--plots", help="directory for the PNGs (needs python3-matplotlib)")
    args = parser.parse_args()
    experiments = args.experiments.split(",")
    strategies = args.strategies.split(",")
    workdir = tempfile.mkdtemp(prefix="ew-bench-place-")
    bench = Bench(workdir)
    all_rows = []
    try:
        if "rounds" in experiments:
            print(f"## (1) {args.rounds} rounds of every function, no prior knowledge\n")
            print("| strategy | function | calls on local / cloud-1 / cloud-2 | mean ms | failed calls |")
            print("|---|---|---|---|---|")
            for strategy in strategies:
                rows = bench.rounds(strategy, args.rounds)
                all_rows += rows
                for kind in Bench.FUNCTIONS:
                    mine = [r for r in rows if r["function"] == kind]
                    picks = " / ".join(str(sum(r["runtime"] == n for r in mine)) for n in ("local", "cloud-1", "cloud-2"))
                    failed = sum(r["status"] != "succeeded" for r in mine)
                    print(f"| {strategy} | {kind} | {picks} | {mean([r['ms'] for r in mine])} | {failed} |", flush=True)
                print(f"| {strategy} | **all** | | **{mean([r['ms'] for r in rows])}** | |", flush=True)
        if "slowdown" in experiments:
            print("\n## (3) the network to the clouds slowed to 28/14 kbit/s before call 50\n")
            print("| strategy | calls to move back to local | mean ms, calls 0-49 | mean ms, calls 50-end | on local from call 100 | failed calls |")
            print("|---|---|---|---|---|---|")
            for strategy in strategies:
                fn, rows = bench.run("slowdown", strategy, args.calls, 50, "slow")
                all_rows += rows
                moved = calls_to_move_back(rows, 50)
                local = sum(r["runtime"] == "local" for r in rows[100:]) / max(1, len(rows[100:]))
                failed = sum(r["status"] != "succeeded" for r in rows)
                print(f"| {strategy} | {moved if moved is not None else 'never'} | {mean([r['ms'] for r in rows[:50]])} | "
                      f"{mean([r['ms'] for r in rows[50:]])} | {local:.0%} | {failed} |", flush=True)
        if "cut" in experiments:
            print("\n## (2) both cloud links cut before call 50 of 99\n")
            print("| strategy | succeeded | mean ms, calls 0-49 | mean ms, calls 50-98 | calls that fell back |")
            print("|---|---|---|---|---|")
            for strategy in filter(None, args.cut_strategies.split(",")):
                bench.wait_all_online()
                fn, rows = bench.run("cut", strategy, 99, 50, "cut")
                all_rows += rows
                ok = sum(r["status"] == "succeeded" for r in rows)
                fell_back = sum("+" in r["tried"] for r in rows)
                print(f"| {strategy} | {ok}/99 | {mean([r['ms'] for r in rows[:50]])} | {mean([r['ms'] for r in rows[50:]])} | "
                      f"{fell_back} |", flush=True)
    finally:
        bench.close()
        if args.csv:
            with open(args.csv, "w", newline="") as f:
                writer = csv.DictWriter(f, fieldnames=list(all_rows[0].keys()) if all_rows else ["call"])
                writer.writeheader()
                writer.writerows(all_rows)
        if not os.environ.get("EW_KEEP_TMP"):
            shutil.rmtree(workdir, ignore_errors=True)
    if args.plots:
        import plot_placement_bench  # noqa: E402 (matplotlib only when asked)
        for path in plot_placement_bench.plot(all_rows, args.plots):
            print(f"wrote {path}")


if __name__ == "__main__":
    main()
