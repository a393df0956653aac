#!/usr/bin/python3
"""edgewire-agent against a real (independent) WAMP router: join with salted WAMP-CRA,
answer sys.info/sys.ping through the router, survive INTERRUPT, a router GOODBYE and a killed
router, refuse to give up on a wrong secret, and leave with GOODBYE on SIGTERM.

Usage: agent_router_test.py PATH/TO/edgewire-agent
"""

import json
import os
import queue
import re
import signal
import subprocess
import sys
import tempfile
import threading
import time
import unittest

HERE = os.path.dirname(os.path.abspath(__file__))
AGENT = None
BOARD = "brd-0123456789abcdef"
SECRET = "board-secret-from-enrolment"
SALT = "salt-of-this-board"


class Lines:
    """Collects a process's output lines and waits for patterns in them."""

    def __init__(self, stream, name):
        self.queue = queue.Queue()
        self.seen = []
        self.name = name
        threading.Thread(target=self._pump, args=(stream,), daemon=True).start()

    def _pump(self, stream):
        for raw in iter(stream.readline, b""):
            self.queue.put(raw.decode(errors="replace").rstrip("\n"))

    def wait_for(self, pattern, timeout=10.0):
        deadline = time.monotonic() + timeout
        regex = re.compile(pattern)
        while True:
            left = deadline - time.monotonic()
            if left <= 0:
                raise AssertionError("%s: no line matching %r within %.0fs; saw:\n  %s"
                                     % (self.name, pattern, timeout, "\n  ".join(self.seen[-30:])))
            try:
                line = self.queue.get(timeout=left)
            except queue.Empty:
                continue
            self.seen.append(line)
            if regex.search(line):
                return line


class Router:
    def __init__(self, port=0, boards=None, extra=()):
        boards = boards or ["%s:%s:%s:1000:32" % (BOARD, SECRET, SALT)]
        cmd = ["/usr/bin/python3", "-u", os.path.join(HERE, "wamp_test_router.py"), "--port", str(port)] + list(extra)
        for b in boards:
            cmd += ["--board", b]
        self.proc = subprocess.Popen(cmd, stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
        self.out = Lines(self.proc.stdout, "router")
        self.port = int(self.out.wait_for(r"^listening \d+").split()[1])
        self.url = "ws://127.0.0.1:%d/ws" % self.port

    def command(self, text):
        self.proc.stdin.write((text + "\n").encode())
        self.proc.stdin.flush()

    def kill(self):
        if self.proc.poll() is None:
            self.proc.kill()
        self.proc.wait()
        self.proc.stdin.close()
        self.proc.stdout.close()

    def call(self, procedure, *args, msgpack=False):
        cmd = ["/usr/bin/python3", os.path.join(HERE, "wamp_call.py"), self.url, procedure] + list(args)
        if msgpack:
            cmd.append("--msgpack")
        out = subprocess.run(cmd, capture_output=True, timeout=20, check=True).stdout.decode()
        return json.loads(out.strip().splitlines()[-1])


class Agent:
    def __init__(self, workdir, url, secret=SECRET, name="agent"):
        self.credential = os.path.join(workdir, name, "agent.json")
        os.makedirs(os.path.dirname(self.credential), exist_ok=True)
        with open(self.credential, "w") as f:
            json.dump({"board_id": BOARD, "secret": secret, "realm": "edgewire", "wamp_url": url, "salt": SALT,
                       "iterations": 1000, "keylen": 32, "conductor_url": "http://127.0.0.1:1"}, f)
        self.config = os.path.join(workdir, name, "agent.toml")
        with open(self.config, "w") as f:
            f.write('[agent]\nreconnect_initial_ms = 100\nreconnect_max_ms = 800\n'
                    f'[spool]\ndir = "{os.path.join(workdir, name, "spool")}"\n[log]\nlevel = "debug"\n')
        env = dict(os.environ, NOTIFY_SOCKET="")
        self.proc = subprocess.Popen([AGENT, "run", "--config", self.config, "--credential", self.credential],
                                     stdout=subprocess.PIPE, stderr=subprocess.STDOUT, env=env)
        self.out = Lines(self.proc.stdout, name)

    def stop(self, timeout=1.0):
        """SIGTERM; returns (exit code, seconds taken)."""
        started = time.monotonic()
        self.proc.send_signal(signal.SIGTERM)
        code = self.proc.wait(timeout=5)
        return code, time.monotonic() - started

    def kill(self):
        if self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait()
        self.proc.stdout.close()


class AgentRouterTest(unittest.TestCase):
    def setUp(self):
        self.tmp = tempfile.TemporaryDirectory()
        self.router = Router()
        self.agents = []

    def tearDown(self):
        for agent in self.agents:
            agent.kill()
        self.router.kill()
        self.tmp.cleanup()

    def start_agent(self, **kwargs):
        agent = Agent(self.tmp.name, self.router.url, **kwargs)
        self.agents.append(agent)
        return agent

    def wait_registered(self):
        self.router.out.wait_for(r"^joined %s wamp\.2\.msgpack" % BOARD)
        self.router.out.wait_for(r"^registered ew\.board\.%s\.sys\.info" % BOARD)
        self.router.out.wait_for(r"^registered ew\.board\.%s\.sys\.ping" % BOARD)

    def test_serves_procedures_and_recovers_from_everything(self):
        agent = self.start_agent()
        self.wait_registered()
        agent.out.wait_for(r"joined as board=%s session=\d+" % BOARD)

        info = self.router.call("ew.board.%s.sys.info" % BOARD)
        kw = info["kwargs"]
        self.assertEqual(kw["boardId"], BOARD)
        for key in ("hostname", "os", "kernel", "machine", "agentVersion"):
            self.assertTrue(kw[key], key)
        self.assertGreater(int(kw["memoryTotalBytes"]), 0)
        self.assertGreater(int(kw["agentRssBytes"]), 0)
        self.assertGreaterEqual(kw["cpuCount"], 1)
        self.assertEqual(len(kw["loadAverage"]), 3)

        ping = self.router.call("ew.board.%s.sys.ping" % BOARD, "hello", msgpack=True)
        self.assertEqual(ping["kwargs"]["echo"], "aGVsbG8=")
        self.assertEqual(ping["kwargs"]["boardId"], BOARD)
        self.assertLess(abs(int(ping["kwargs"]["boardTimeNs"]) / 1e9 - time.time()), 60)

        # The conductor gives up on a call: ERROR wamp.error.canceled, session stays up.
        self.router.command("interrupt %s" % BOARD)
        self.router.out.wait_for(r"^invocation-error wamp\.error\.canceled")
        self.assertEqual(self.router.call("ew.board.%s.sys.ping" % BOARD)["kwargs"]["echo"], "")

        # The conductor ends the session: the agent answers GOODBYE and comes back.
        self.router.command("kick %s" % BOARD)
        self.router.out.wait_for(r"^goodbye %s wamp\.close\.goodbye_and_out" % BOARD)
        agent.out.wait_for(r"connection lost: the conductor ended the session: wamp\.close\.system_shutdown")
        self.wait_registered()
        # Killed only once the agent has registered everything: before that it is still joining
        # and reports "connection failed", not "lost".
        agent.out.wait_for(r"ready: board=%s .* procedures registered" % BOARD)

        # The conductor is killed: the agent notices at once and rejoins the new one.
        port = self.router.port
        self.router.command("quit")
        self.router.kill()
        agent.out.wait_for(r"connection lost: .*retrying in .*probing the conductor")
        self.router = Router(port=port)
        # A reachability probe sees the new router and the agent connects at once (issue 14).
        agent.out.wait_for(r"conductor 127\.0\.0\.1:%d answers again" % port)
        self.wait_registered()
        agent.out.wait_for(r"joined as board=%s" % BOARD)
        self.assertEqual(self.router.call("ew.board.%s.sys.ping" % BOARD)["kwargs"]["boardId"], BOARD)

        # SIGTERM: GOODBYE to the router, exit 0 within a second.
        code, took = agent.stop()
        self.assertEqual(code, 0)
        self.assertLess(took, 1.0)
        self.router.out.wait_for(r"^goodbye %s wamp\.close\.system_shutdown" % BOARD)

    def test_follows_the_conductors_heartbeat_terms(self):
        # A router that never pings by itself and says in WELCOME that it pings a board after 2 s
        # of the board's silence and drops it after 5 s: the agent then pings it only after 5 s of
        # the router's silence (its own default is 2 s). A ping whose payload says 7 s moves that
        # to 7 s. Lower bounds only: load can delay a ping, never bring it forward.
        self.router.kill()
        self.router = Router(extra=["--ping-interval", "0", "--welcome-heartbeat", "2000:5000"])
        agent = self.start_agent()
        self.wait_registered()
        last_frame = time.monotonic()
        agent.out.wait_for(r"conductor heartbeat: it pings after 2000 ms of our silence, drops us after 5000 ms; "
                           r"we ping it after 5000 ms of its silence, give up after 10000 ms")
        self.router.out.wait_for(r"^pinged by %s$" % BOARD, timeout=20)
        self.assertGreaterEqual(time.monotonic() - last_frame, 4.0)
        self.router.command('ping %s {"interval_ms":1000,"timeout_ms":7000}' % BOARD)
        self.router.out.wait_for(r"^sent ping %s$" % BOARD)
        pinged = time.monotonic()
        agent.out.wait_for(r"we ping it after 7000 ms of its silence, give up after 14000 ms")
        self.router.out.wait_for(r"^pinged by %s$" % BOARD, timeout=20)
        self.assertGreaterEqual(time.monotonic() - pinged, 6.0)
        # Still serving: the pings were answered.
        self.assertEqual(self.router.call("ew.board.%s.sys.ping" % BOARD, "on")["kwargs"]["echo"], "b24=")

    def test_undecodable_frames_end_the_session_and_the_agent_rejoins(self):
        agent = self.start_agent()
        self.wait_registered()
        # A truncated INVOCATION, a byte msgpack reserves, an empty frame, an array of no message,
        # nesting past the agent's bound (512 levels).
        for frame in ("944401", "c1", "-", "90", "91" * 600 + "90"):
            self.router.command("raw %s %s" % (BOARD, frame))
            agent.out.wait_for(r"undecodable WAMP message|malformed WAMP message")
            self.router.out.wait_for(r"^closed %s " % BOARD)
            self.wait_registered()
        self.assertEqual(self.router.call("ew.board.%s.sys.ping" % BOARD, "still")["kwargs"]["echo"], "c3RpbGw=")

    def test_wrong_secret_is_refused_with_a_warning_and_a_long_backoff(self):
        # Issue 14: a refused board retried at info level every few seconds, forever.
        agent = self.start_agent(secret="wrong")
        self.router.out.wait_for(r"^refused %s" % BOARD)
        agent.out.wait_for(r"warning \[agent\] the conductor refused board=%s: join refused: "
                           r"wamp\.error\.authentication_failed: wrong signature; next attempt in "
                           r"(1[5-9]|2\d|30)\.\ds" % BOARD)
        # Stopping during the long wait is still prompt.
        code, took = agent.stop()
        self.assertEqual(code, 0)
        self.assertLess(took, 1.0)

    def test_issue11_huge_cra_iterations_are_refused_not_computed(self):
        # 2^31 PBKDF2 iterations froze the agent's io thread for hours; now the CHALLENGE is
        # refused at once, the agent says why, retries, and still stops promptly.
        self.router.kill()
        self.router = Router(boards=["%s:%s:%s:2147483648:32" % (BOARD, SECRET, SALT)])
        agent = self.start_agent()
        agent.out.wait_for(r"connection failed: refusing the conductor's wampcra CHALLENGE: "
                           r"iterations 2147483648 out of range \(1\.\.1000000\)")
        agent.out.wait_for(r"connecting to .* \(attempt 2\)")  # the loop is alive
        code, took = agent.stop()
        self.assertEqual(code, 0)
        self.assertLess(took, 1.0)

    def test_second_agent_with_same_id_is_refused_registration(self):
        first = self.start_agent(name="first")
        self.wait_registered()
        first.out.wait_for(r"joined as board")
        second = self.start_agent(name="second")
        second.out.wait_for(r"register ew\.board\.%s\.sys\.\w+ refused: wamp\.error\.procedure_already_exists" % BOARD)
        # The first keeps serving.
        self.assertEqual(self.router.call("ew.board.%s.sys.ping" % BOARD)["kwargs"]["boardId"], BOARD)
        # Once the first leaves, the second takes over.
        self.assertEqual(first.stop()[0], 0)
        second.out.wait_for(r"joined as board", timeout=15)
        self.router.out.wait_for(r"^registered ew\.board\.%s\.sys\.ping" % BOARD, timeout=15)


if __name__ == "__main__":
    AGENT = os.path.abspath(sys.argv.pop(1))
    unittest.main(verbosity=2)
