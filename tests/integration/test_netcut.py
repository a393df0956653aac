"""Issue 14, network cut: a board agent in a network namespace of its own, joined to the
conductor's host by a veth pair, is cut off silently (tc: a zero-length pfifo on both ends drops
every packet; no reset, no carrier loss) while edges keep coming on a watched GPIO line. The
conductor sees the board offline within 5 s, the agent notices within its idle timeout (8 s) and
spools what follows, and when the link is back it returns within 2.5 s and the spooled edges
arrive once, in order.

Known gap, measured here and printed: what the agent publishes between the cut and the moment it
notices goes into a socket that will never deliver it, and a live publication is not
acknowledged, so those edges are lost (about 8 s worth). The test holds the loss to that window.

Needs root and `ip netns` (skipped with the reason otherwise). EW_NETCUT_SECONDS sets the cut
(default 12 s here; tests/bench/run_reliability_bench.py --cut measures 60 s)."""

import os
import shutil
import subprocess
import threading
import time
import unittest

from harness import Agent, Conductor, wait_until
from sim_gpio import SimGpio, sim_chip_config
from test_gpio import GpioTestCase

CUT_SECONDS = float(os.environ.get("EW_NETCUT_SECONDS", "12"))
EDGE_PERIOD_S = 0.1


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

    def board_in_netns(self, name="cut"):
        board_id, code = self.conductor.create_board(self.token, name)
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
        board_id, sim = self.board_in_netns()

        async def watch_and_stay():
            s = await self.session()
            await s.call(f"ew.board.{board_id}.gpio.watch", line="GPIO5", edge="both")
            return s
        self.run_async(watch_and_stay())

        # Edges at 10/s from now to the end, each one numbered by the agent (seq).
        stop = threading.Event()
        driven = []

        def drive():
            value = 0
            while not stop.is_set():
                value ^= 1
                sim.drive("GPIO5", value)
                driven.append((time.monotonic(), value))
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
            # The watch belongs to the board's old session: once the new session is up and the
            # spool drained it is released, so only edges up to the link's return are counted.
            stop.set()
            driver.join()
            self.net.restore()
            restored_at = time.monotonic()
            wait_until(lambda: self.conductor.status_of(self.token, board_id) == "online", timeout=20, interval=0.05,
                       what="the board online again")
            back_after = time.monotonic() - restored_at
            time.sleep(1)
        finally:
            stop.set()
            driver.join()
        total = len(driven)

        def history():
            status, body = self.rest("GET", f"/v1/boards/{board_id}/gpio/GPIO5/history?limit=1000")
            self.assertEqual(status, 200, body)
            return [r for r in body["readings"] if r["kind"] == "edge"]
        try:
            wait_until(lambda: len(history()) >= total, timeout=20, what="every edge in the history")
        except AssertionError:
            pass  # counted below
        edges = history()
        seqs = [int(r["seq"]) for r in edges]
        lost = sorted(set(range(1, total + 1)) - set(seqs))
        print(f"cut {CUT_SECONDS:.0f} s: offline at the conductor after {offline_after:.2f} s, noticed by the agent "
              f"after {noticed_after:.2f} s, back {back_after:.2f} s after the link; {total} edges, "
              f"{len(edges)} in the history, lost {len(lost)} (seq {lost[:3]}..{lost[-3:]})")
        self.assertLessEqual(offline_after, 5.0)
        self.assertLessEqual(back_after, 2.5)
        self.assertEqual(seqs, sorted(seqs), "edges in the order they happened")
        self.assertEqual(len(seqs), len(set(seqs)), "each edge once")
        # What the agent published after it knew the link was dead was spooled, and all of it
        # arrived: any loss is confined to the window before it noticed (the socket swallowed
        # them), which is at most its idle timeout (8 s) long.
        if lost:
            first_lost_at = driven[lost[0] - 1][0]
            last_lost_at = driven[lost[-1] - 1][0]
            self.assertGreaterEqual(first_lost_at, cut_at - 1.0, lost)
            self.assertLessEqual(last_lost_at, cut_at + noticed_after + 0.5, lost)


if __name__ == "__main__":
    unittest.main()
