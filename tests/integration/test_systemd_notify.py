"""The agent under a service manager (issue 16), against a real NOTIFY_SOCKET listener instead of
systemd: READY=1 once the loop runs, STATUS= lines, WATCHDOG=1 at half of WATCHDOG_USEC from the
event loop, no pings once the loop is stuck (test hook EW_AGENT_TEST_HOOKS=1 + SIGUSR2), STOPPING=1
on SIGTERM and on sys.restart (exit status 75, which the unit restarts), journald priority prefixes
when JOURNAL_STREAM names stderr; and `systemd-analyze verify` of the units."""

import os
import shutil
import signal
import socket
import subprocess
import tempfile
import time
import unittest

from harness import AGENT, Agent, ConductorTestCase, wait_until

ROOT = os.path.abspath(os.path.join(os.path.dirname(__file__), "../.."))


class NotifyListener:
    """A datagram socket where the agent's sd_notify() lands, with the time of each message."""

    def __init__(self, path):
        self.path = path
        self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
        self.sock.bind(path)
        self.sock.settimeout(0.05)
        self.messages = []  # (monotonic time, "KEY=value")

    def drain(self):
        while True:
            try:
                data = self.sock.recv(4096)
            except socket.timeout:
                return
            now = time.monotonic()
            for line in data.decode().split("\n"):
                if line:
                    self.messages.append((now, line))

    def wait_for(self, predicate, timeout=10.0, what="message"):
        def seen():
            self.drain()
            return [m for t, m in self.messages if predicate(m)]
        return wait_until(seen, timeout=timeout, what=what)

    def listen_for(self, seconds):
        """Receives for `seconds`, so that each message is stamped when it arrives."""
        end = time.monotonic() + seconds
        while time.monotonic() < end:
            self.drain()

    def watchdogs_between(self, start, end):
        return [t for t, m in self.messages if m == "WATCHDOG=1" and start <= t < end]

    def close(self):
        self.sock.close()


class SystemdNotifyTest(ConductorTestCase):
    WATCHDOG_USEC = 400_000  # the agent pings every 200 ms

    def start_agent(self, name, extra_env=None):
        board_id, code = self.conductor.create_board(self.token, name)
        agent = Agent(self.workdir, name, log_level="debug")
        enrol = agent.enrol(self.conductor.url, code)
        self.assertEqual(enrol.returncode, 0, enrol.stdout + enrol.stderr)
        listener = NotifyListener(os.path.join(self.workdir, f"{name}.notify"))
        self.addCleanup(listener.close)
        log = open(agent.log_path, "a")
        self.addCleanup(log.close)
        st = os.fstat(log.fileno())
        env = dict(os.environ, NOTIFY_SOCKET=listener.path, WATCHDOG_USEC=str(self.WATCHDOG_USEC),
                   JOURNAL_STREAM=f"{st.st_dev}:{st.st_ino}", **(extra_env or {}))
        agent.proc = subprocess.Popen([AGENT, "run", "--config", agent.config], stdout=log, stderr=log, env=env)
        self.agents[name] = agent
        return board_id, agent, listener

    def test_ready_status_and_watchdog_cadence_then_silence_when_the_loop_is_stuck(self):
        board_id, agent, listener = self.start_agent("pi-notify", {"EW_AGENT_TEST_HOOKS": "1"})
        listener.wait_for(lambda m: m == "READY=1", what="READY=1")
        listener.wait_for(lambda m: m.startswith("STATUS=connected to ") and board_id in m, what="STATUS=connected")
        wait_until(lambda: self.conductor.status_of(self.token, board_id) == "online", what="online")
        # Cadence: WatchdogSec/2 = 200 ms, so ~10 pings in 2 s (a loaded CI host may lose a few).
        listener.drain()
        start = time.monotonic()
        listener.listen_for(2.0)
        pings = listener.watchdogs_between(start, start + 2.0)
        self.assertGreaterEqual(len(pings), 6, pings)
        self.assertLessEqual(len(pings), 14, pings)
        gaps = [b - a for a, b in zip(pings, pings[1:])]
        self.assertLess(max(gaps), 0.4 * 2, gaps)  # never a whole watchdog period without a ping
        # Wedge the loop: the pings stop, so systemd would kill and restart the agent.
        agent.proc.send_signal(signal.SIGUSR2)
        listener.listen_for(0.5)  # a ping already on its way may still land
        wedged_at = time.monotonic()
        listener.listen_for(1.5)
        self.assertEqual(listener.watchdogs_between(wedged_at, time.monotonic()), [],
                         "a stuck event loop must not feed the watchdog")
        self.assertIsNone(agent.proc.poll())
        agent.kill(signal.SIGKILL)
        with open(agent.log_path) as f:
            log = f.read()
        self.assertIn("test hook: wedging the event loop", log)
        # JOURNAL_STREAM named stderr: sd-daemon priority prefixes, no timestamps.
        lines = [l for l in log.splitlines() if l.startswith("<")]
        self.assertTrue(any(l.startswith("<6>info ") for l in lines), log[-2000:])
        self.assertTrue(any(l.startswith("<4>warning ") for l in lines), log[-2000:])
        self.assertTrue(any(l.startswith("<7>debug") for l in lines), log[-2000:])

    def test_sigterm_sends_stopping_and_exits_zero(self):
        board_id, agent, listener = self.start_agent("pi-stop")
        listener.wait_for(lambda m: m == "READY=1", what="READY=1")
        agent.proc.send_signal(signal.SIGTERM)
        self.assertEqual(agent.proc.wait(timeout=10), 0)
        listener.wait_for(lambda m: m == "STOPPING=1", what="STOPPING=1")
        agent.proc = None

    def test_sys_restart_leaves_the_session_and_exits_75(self):
        board_id, agent, listener = self.start_agent("pi-restart")
        wait_until(lambda: self.conductor.status_of(self.token, board_id) == "online", what="online")
        status, body = self.rest("POST", f"/v1/boards/{board_id}/restart", {})
        self.assertEqual(status, 200, body)
        self.assertEqual(body["action"], "restart")
        self.assertEqual(agent.proc.wait(timeout=10), 75)
        listener.wait_for(lambda m: m == "STOPPING=1", what="STOPPING=1")
        wait_until(lambda: self.conductor.status_of(self.token, board_id) == "offline", what="offline")
        agent.proc = None


class UnitFilesTest(unittest.TestCase):
    def test_units_pass_systemd_analyze_verify(self):
        analyze = shutil.which("systemd-analyze")
        if analyze is None:
            self.skipTest("systemd-analyze is not installed (Debian package systemd)")
        # verify checks every key and that ExecStart=/ExecReload= programs exist: a root with the
        # host's own units (sysinit.target, ...), /bin/kill, the built programs where the units
        # look for them, and our units.
        root = tempfile.mkdtemp(prefix="ew-units-")
        self.addCleanup(shutil.rmtree, root, ignore_errors=True)
        for d in ("usr/bin", "usr/lib/systemd", "etc/systemd/system"):
            os.makedirs(os.path.join(root, d))
        os.symlink("usr/lib", os.path.join(root, "lib"))
        os.symlink("usr/bin", os.path.join(root, "bin"))
        shutil.copytree("/usr/lib/systemd/system", os.path.join(root, "usr/lib/systemd/system"), symlinks=True)
        shutil.copy("/bin/kill", os.path.join(root, "usr/bin/kill"))
        shutil.copy(AGENT, os.path.join(root, "usr/bin/edgewire-agent"))
        conductor = os.path.join(os.path.dirname(os.path.dirname(AGENT)), "cloud-conductor", "edgewire-conductor")
        shutil.copy(conductor, os.path.join(root, "usr/bin/edgewire-conductor"))
        # The update helper the agent's path unit starts (issue 16).
        os.makedirs(os.path.join(root, "usr/lib/edgewire"))
        shutil.copy(os.path.join(ROOT, "deploy/scripts/edgewire-agent-update"),
                    os.path.join(root, "usr/lib/edgewire/edgewire-agent-update"))
        units = []
        for unit in ("edgewire-agent.service", "edgewire-conductor.service", "edgewire-agent-update.path",
                     "edgewire-agent-update.service"):
            dest = os.path.join(root, "etc/systemd/system", unit)
            shutil.copy(os.path.join(ROOT, "deploy/systemd", unit), dest)
            units.append(dest)
        result = subprocess.run([analyze, "verify", f"--root={root}", *units], capture_output=True, text=True,
                                timeout=60)
        # verify exits 0 on unknown keys and bad values, only printing them: any line is a finding.
        findings = [l for l in (result.stdout + result.stderr).splitlines() if l.strip()]
        self.assertEqual(result.returncode, 0, result.stdout + result.stderr)
        self.assertEqual(findings, [])

if __name__ == "__main__":
    unittest.main()
