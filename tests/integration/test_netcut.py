"""Issue 14, network cut: a board agent in a network namespace of its own, joined to the
conductor's host by a veth pair, is cut off silently (tc: a zero-length pfifo on both ends drops
every packet; no reset, no carrier loss) while three kinds of messages keep coming from it:
  - GPIO edges on a watched line (ew.board.<id>.gpio.event → the line's history), numbered by the
    agent per line (seq);
  - trigger outcomes: a function deployed with a GPIO trigger runs on the board for each rising
    edge (asynchronous invocations finishing during the cut) and reports its outcome
    (ew.conductor.fn.report → the function's invocation history), each carrying its edge;
  - flow messages: a board partition's gpio in node sends every edge over a cross wire to the
    flow's cloud partition (ew.flow.<flow>.wire.in1.0, numbered per wire: kwargs seq).
The conductor sees the board offline within 5 s, the agent notices within its idle timeout (8 s),
and when the link is back it returns within 2.5 s. What the agent sent into the dead link before
it noticed was never acknowledged, so it stays in the spool and goes again: every message of the
three kinds arrives exactly once, in order, checked by its sequence numbers — 0 lost.

Needs root and `ip netns` (skipped with the reason otherwise). EW_NETCUT_SECONDS sets the cut
(default 12 s here; tests/bench/run_reliability_bench.py --cut-seconds measures 60 s)."""

import asyncio
import os
import shutil
import subprocess
import threading
import time
import unittest

import wamp_client
from harness import Agent, Conductor, wait_until
from sim_gpio import SimGpio, sim_chip_config
from test_functions import RUNTIMES, package, sh_spec
import test_gpio
from test_gpio import GpioTestCase

CUT_SECONDS = float(os.environ.get("EW_NETCUT_SECONDS", "12"))
EDGE_PERIOD_S = 0.1      # the watched line (GPIO5) and the flow's line (GPIO17) toggle every 0.1 s
TRIGGER_EVERY = 10       # a rising edge on the trigger line (GPIO4) every 10 periods: one run at a time
# Returns the trigger event it was given, so its outcome names its edge.
ECHO_SH = """#!/bin/sh
read -r event
printf '%s\\n' "$event"
"""


def flow_to_the_cloud(board_id):
    """Board: gpio in GPIO17 → (cross wire) cloud: debug. Every edge is one message on the wire."""
    return [
        {"id": "tN", "type": "tab", "label": "Netcut"},
        {"id": "in1", "type": "edgewire-gpio-in", "z": "tN", "board": board_id, "name": "edges", "line": "GPIO17",
         "edge": "both", "pull": "none", "debounce": 0, "read": False, "wires": [["dbgC"]]},
        {"id": "dbgC", "type": "debug", "z": "tN", "name": "cloud debug", "active": False, "wires": []},
    ]


class HostSession:
    """A user session on the host that stays joined for the whole test, on its own event loop
    thread: it holds the GPIO watch (a watch goes with its caller's session) and records what the
    conductor routed on a flow wire, (kwargs seq, msg) in arrival order."""

    def __init__(self, ws_url, token):
        self.events = []
        self.loop = asyncio.new_event_loop()
        self.thread = threading.Thread(target=self.loop.run_forever, daemon=True)
        self.thread.start()

        async def join():
            self.session = await wamp_client.connect(ws_url, {"method": "ticket", "ticket": token})
        self.run(join())

    def run(self, coro):
        return asyncio.run_coroutine_threadsafe(coro, self.loop).result(10)

    def call(self, procedure, **kwargs):
        async def call():
            return await self.session.call(procedure, **kwargs)
        return self.run(call())

    def record_wire(self, topic):
        async def subscribe():
            await self.session.subscribe(lambda *a, **kw: self.events.append((kw.get("seq"), a[0] if a else None)),
                                         topic)
        self.run(subscribe())

    def close(self):
        self.loop.call_soon_threadsafe(self.session.leave)
        time.sleep(0.1)
        self.loop.call_soon_threadsafe(self.loop.stop)


def sh(*cmd, check=True):
    return subprocess.run(list(cmd), capture_output=True, text=True, check=check)


def netns_unavailable():
    if os.geteuid() != 0:
        return "needs root for ip netns"
    if not shutil.which("ip") or not shutil.which("tc"):
        return "needs ip and tc (iproute2)"
    probe = f"ewprobe{os.getpid()}"
    made = sh("ip", "netns", "add", probe, check=False)
    if made.returncode != 0:
        return "ip netns add failed: " + made.stderr.strip()
    sh("ip", "netns", "del", probe, check=False)
    return None


class Netns:
    """A namespace with a veth pair to the host: host 10.213.N.1/30, board 10.213.N.2/30."""

    def __init__(self):
        n = os.getpid() % 250
        self.name = f"ewcut{os.getpid()}"
        self.host_if = f"ewh{os.getpid()}"[:15]
        self.board_if = f"ewb{os.getpid()}"[:15]
        self.host_ip = f"10.213.{n}.1"
        self.board_ip = f"10.213.{n}.2"
        sh("ip", "netns", "add", self.name)
        sh("ip", "link", "add", self.host_if, "type", "veth", "peer", "name", self.board_if)
        sh("ip", "link", "set", self.board_if, "netns", self.name)
        sh("ip", "addr", "add", self.host_ip + "/30", "dev", self.host_if)
        sh("ip", "link", "set", self.host_if, "up")
        self.exec("ip", "addr", "add", self.board_ip + "/30", "dev", self.board_if)
        self.exec("ip", "link", "set", self.board_if, "up")
        self.exec("ip", "link", "set", "lo", "up")

    def exec(self, *cmd):
        return sh("ip", "netns", "exec", self.name, *cmd)

    def cut(self):
        # A queue that holds nothing: every packet either end sends is dropped, and neither
        # socket hears of it (a cut cable, not a closed port). netem and iptables are not
        # available on every host (this one has neither); pfifo is always built in.
        sh("tc", "qdisc", "add", "dev", self.host_if, "root", "pfifo", "limit", "0")
        self.exec("tc", "qdisc", "add", "dev", self.board_if, "root", "pfifo", "limit", "0")

    def restore(self):
        sh("tc", "qdisc", "del", "dev", self.host_if, "root", check=False)
        sh("ip", "netns", "exec", self.name, "tc", "qdisc", "del", "dev", self.board_if, "root", check=False)

    def remove(self):
        sh("ip", "link", "del", self.host_if, check=False)
        sh("ip", "netns", "del", self.name, check=False)


REASON = netns_unavailable()


@unittest.skipIf(REASON, REASON or "")
class NetworkCutTest(GpioTestCase):
    workdir_prefix = "ew-netcut-"

    def setUp(self):
        import tempfile
        self.workdir = tempfile.mkdtemp(prefix=self.workdir_prefix)
        self.sims = []
        self.agents = {}
        self.net = Netns()
        self.addCleanup(self.net.remove)
        # Shipped heartbeat (2 s / 4 s); plain WS on the veth address (a test network).
        self.conductor = Conductor(self.workdir, heartbeat_timeout_ms=4000, listen_address="0.0.0.0",
                                   extra_server="allow_plain = true").start()
        self.token = self.conductor.login()

    deploy = test_gpio.GpioFunctionsTest.deploy

    def board_in_netns(self, name="cut", project=None):
        board_id, code = self.conductor.create_board(self.token, name, project=project)
        control = os.path.join(self.workdir, f"{name}-sim.sock")
        agent = Agent(self.workdir, name, log_level="info", extra_config=sim_chip_config(control))
        agent.prefix = ["ip", "netns", "exec", self.net.name]
        agent.run_extra = ["--insecure"]
        url = f"http://{self.net.host_ip}:{self.conductor.port}"
        enrol = subprocess.run(agent.prefix + [__import__("harness").AGENT, "enrol", "--conductor", url, "--code", code,
                                               "--credential", agent.credential, "--insecure"],
                               capture_output=True, text=True, timeout=30)
        self.assertEqual(enrol.returncode, 0, enrol.stdout + enrol.stderr)
        self.agents[board_id] = agent.start()
        wait_until(lambda: self.conductor.status_of(self.token, board_id) == "online", timeout=20, what="online")
        sim = SimGpio.when_ready(control)
        self.sims.append(sim)
        return board_id, sim

    def test_a_board_cut_off_returns_and_its_edges_arrive_in_order(self):
        status, project = self.rest("POST", "/v1/projects", {"name": "netcut"})
        self.assertEqual(status, 201, project)
        board_id, sim = self.board_in_netns(project=project["id"])
        sim.drive("GPIO17", 0)

        host = HostSession(self.conductor.ws_url, self.token)
        self.addCleanup(host.close)
        # 1. GPIO edges: a watch whose session stays open.
        host.call(f"ew.board.{board_id}.gpio.watch", line="GPIO5", edge="both")

        # 2. Trigger outcomes: a function run on the board for each rising edge of GPIO4.
        fn = None
        if RUNTIMES:
            status, body = self.rest("POST", f"/v1/functions?project={project['id']}",
                                     raw=package(sh_spec("echo-edge"), {"main.sh": ECHO_SH}),
                                     content_type="application/gzip")
            self.assertEqual(status, 201, body)
            fn = body["id"]
            self.deploy(fn, board_id, triggers=[{"line": "GPIO4", "edge": "rising", "debounceMs": 0}])

        # 3. Flow messages: the board's partition sends every GPIO17 edge over a wire to the cloud.
        status, flow = self.rest("POST", f"/v1/flows?project={project['id']}",
                                 {"name": "netcut", "nodes": flow_to_the_cloud(board_id)})
        self.assertIn(status, (200, 201), flow)
        wire_topic = f"ew.flow.{flow['id']}.wire.in1.0"

        def flow_deployed():
            status, body = self.rest("GET", f"/v1/flows/{flow['id']}/status")
            return status == 200 and all(p["state"] == "deployed" for p in body["partitions"])
        wait_until(flow_deployed, timeout=20, what="the flow deployed on the board and in the cloud")
        host.record_wire(wire_topic)
        wire = host
        time.sleep(0.3)

        # Every line toggled from one thread: GPIO5 and GPIO17 every period, GPIO4 up and down
        # every TRIGGER_EVERY periods (one function run at a time, so outcomes finish in edge order).
        stop = threading.Event()
        driven = []           # (time, value) of GPIO5: its edge seq n is driven[n - 1]
        flow_values = []      # values driven on GPIO17, in order
        trigger_rises = []    # time of each rising edge on GPIO4

        def drive():
            value, tick = 0, 0
            while not stop.is_set():
                value ^= 1
                sim.drive("GPIO5", value)
                driven.append((time.monotonic(), value))
                sim.drive("GPIO17", value)
                flow_values.append(value)
                if fn and tick % TRIGGER_EVERY == 0:
                    sim.drive("GPIO4", 1)
                    trigger_rises.append(time.monotonic())
                elif fn and tick % TRIGGER_EVERY == TRIGGER_EVERY // 2:
                    sim.drive("GPIO4", 0)
                tick += 1
                time.sleep(EDGE_PERIOD_S)
        driver = threading.Thread(target=drive, daemon=True)
        driver.start()
        try:
            time.sleep(2)
            self.net.cut()
            cut_at = time.monotonic()
            wait_until(lambda: self.conductor.status_of(self.token, board_id) == "offline", timeout=10, interval=0.05,
                       what="the conductor sees the board offline")
            offline_after = time.monotonic() - cut_at
            wait_until(lambda: self.agent_logged(board_id, "connection lost"), timeout=20,
                       what="the agent notices the cut")
            noticed_after = time.monotonic() - cut_at
            time.sleep(max(0.0, CUT_SECONDS - (time.monotonic() - cut_at)))
            # The watch belongs to the board's old session: once the new session is up it is
            # released, so only edges up to the link's return are counted.
            stop.set()
            driver.join()
            self.net.restore()
            restored_at = time.monotonic()
            wait_until(lambda: self.conductor.status_of(self.token, board_id) == "online", timeout=20, interval=0.05,
                       what="the board online again")
            back_after = time.monotonic() - restored_at
        finally:
            stop.set()
            driver.join()
        total = len(driven)

        def history():
            status, body = self.rest("GET", f"/v1/boards/{board_id}/gpio/GPIO5/history?limit=1000")
            self.assertEqual(status, 200, body)
            return [r for r in body["readings"] if r["kind"] == "edge"]

        def outcomes():
            status, body = self.rest("GET", f"/v1/functions/{fn}/invocations?limit=1000")
            self.assertEqual(status, 200, body)
            return list(reversed([i for i in body["invocations"] if "trigger" in i]))  # arrival order

        for what, done in (("every edge in the history", lambda: len(history()) >= total),
                           ("every flow message on the wire", lambda: len(wire.events) >= len(flow_values)),
                           ("every trigger outcome", lambda: not fn or len(outcomes()) >= len(trigger_rises))):
            try:
                wait_until(done, timeout=30, what=what)
            except AssertionError:
                pass  # counted below
        time.sleep(1)  # anything sent twice would arrive by now

        edges = history()
        seqs = [int(r["seq"]) for r in edges]
        lost = sorted(set(range(1, total + 1)) - set(seqs))
        wire_seqs = [int(seq) for seq, _ in wire.events]
        wire_lost = sorted(set(range(1, len(flow_values) + 1)) - set(wire_seqs))
        ran = outcomes() if fn else []
        outcomes_lost = len(trigger_rises) - len({r["trigger"]["seq"] for r in ran})
        print(f"cut {CUT_SECONDS:.0f} s: offline at the conductor after {offline_after:.2f} s, noticed by the agent "
              f"after {noticed_after:.2f} s, back {back_after:.2f} s after the link; {total} edges, "
              f"{len(edges)} in the history, lost {len(lost)} (seq {lost[:3]}..{lost[-3:]}); "
              f"{len(flow_values)} flow messages, {len(wire.events)} on the wire, lost {len(wire_lost)}; "
              f"{len(trigger_rises)} trigger outcomes, {len(ran)} recorded, lost {outcomes_lost}"
              + ("" if fn else " (no container runtime: triggers not run)"))
        self.assertLessEqual(offline_after, 5.0)
        self.assertLessEqual(back_after, 2.5)

        # GPIO edges: all of them, once each, in the order they happened.
        self.assertEqual(lost, [], "edges lost across the cut")
        self.assertEqual(seqs, list(range(1, total + 1)), "each edge once, in order")
        self.assertEqual([r["value"] for r in edges], [v for _, v in driven])
        # Flow messages: the wire's seqs 1..N once each in order, carrying the values driven.
        self.assertEqual(wire_lost, [], "flow messages lost across the cut")
        self.assertEqual(wire_seqs, list(range(1, len(flow_values) + 1)), "each flow message once, in order")
        self.assertEqual([msg["payload"] for _, msg in wire.events], flow_values)
        # Trigger outcomes: one per rising edge, in the order of the edges (their chip seqs), all
        # succeeded (the functions ran on the board while it was cut off).
        if fn:
            trigger_seqs = [r["trigger"]["seq"] for r in ran]
            self.assertEqual(len(ran), len(trigger_rises), "each trigger outcome once")
            self.assertEqual(trigger_seqs, sorted(trigger_seqs), "outcomes in the order of their edges")
            self.assertEqual(len(set(trigger_seqs)), len(trigger_seqs))
            self.assertEqual(outcomes_lost, 0)
            for record in ran:
                self.assertEqual(record["status"], "succeeded", record)


if __name__ == "__main__":
    unittest.main()
