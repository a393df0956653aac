"""Foundation, end to end: a real conductor and real agents on 127.0.0.1 — enrolment, live
status, calls through the reverse channel, liveness, restarts, refusals and authorization,
plus python3-autobahn as an independent WAMP client (JSON and msgpack)."""

import asyncio
import json
import os
import re
import shutil
import signal
import subprocess
import tempfile
import time
import unittest

from autobahn.wamp.exception import ApplicationError

import harness
from harness import Agent, Conductor, cli, wait_until
import wamp_client


class FoundationTest(unittest.TestCase):
    def setUp(self):
        self.workdir = tempfile.mkdtemp(prefix="ew-it-")
        self.conductor = Conductor(self.workdir).start()
        self.token = self.conductor.login()
        self.admin_project = self.conductor.last_login_user["projectId"]
        self.agents = []

    def tearDown(self):
        # Print the processes' logs when a test fails, to find the race instead of guessing.
        if not getattr(self._outcome, "success", True):
            self.dump_logs()
        for agent in self.agents:
            agent.kill()
        self.conductor.stop()
        if os.environ.get("EW_KEEP_TMP"):
            print("kept", self.workdir)
        else:
            shutil.rmtree(self.workdir, ignore_errors=True)

    def dump_logs(self):
        for path in sorted(os.listdir(self.workdir)):
            if path.endswith(".log"):
                with open(os.path.join(self.workdir, path)) as f:
                    print(f"==== {path}\n{f.read()[-4000:]}")

    def enrolled_agent(self, name, start=True):
        board_id, code = self.conductor.create_board(self.token, name)
        agent = Agent(self.workdir, name)
        enrol = agent.enrol(self.conductor.url, code)
        self.assertEqual(enrol.returncode, 0, enrol.stdout + enrol.stderr)
        self.agents.append(agent)
        if start:
            agent.start()
            self.wait_status(board_id, "online")
        return board_id, agent

    def wait_status(self, board_id, status, timeout=10.0):
        return wait_until(lambda: self.conductor.status_of(self.token, board_id) == status, timeout=timeout,
                          what=f"board {board_id} {status}")

    def call(self, board_id, procedure, body=None, token=None):
        return self.conductor.rest("POST", f"/v1/boards/{board_id}/calls/{procedure}", body or {}, token or self.token)

    # ---- the happy path ----

    def test_enrol_online_and_call_two_agents(self):
        boards = [self.enrolled_agent(f"pi-{i}") for i in range(2)]
        for board_id, _ in boards:
            status, info = self.call(board_id, "sys.info")
            self.assertEqual(status, 200, info)
            kw = info["kwargs"]
            self.assertEqual(kw["boardId"], board_id)
            self.assertTrue(kw["hostname"])
            self.assertTrue(kw["agentVersion"])
            self.assertGreater(float(kw["memoryTotalBytes"]), 0)
            status, pong = self.call(board_id, "sys.ping", {"args": ["hello"]})
            self.assertEqual(status, 200, pong)
            self.assertEqual(pong["kwargs"]["boardId"], board_id)
            board = self.conductor.board(self.token, board_id)
            self.assertEqual(board["status"], "online")
            self.assertTrue(board["sessionPeer"].startswith("127.0.0.1:"))
        status, listing = self.conductor.rest("GET", "/v1/boards", token=self.token)
        self.assertEqual({b["status"] for b in listing["boards"]}, {"online"})

    def test_cli_operator_flow(self):
        home = os.path.join(self.workdir, "home")
        out = cli(self.conductor, "login", "--user", "admin", "--password-stdin", stdin=harness.ADMIN_PASSWORD + "\n",
                  home=home)
        self.assertEqual(out.returncode, 0, out.stderr)
        out = cli(self.conductor, "board", "create", "kitchen", home=home)
        self.assertEqual(out.returncode, 0, out.stderr)
        self.assertIn("edgewire-agent enrol", out.stdout)
        out = cli(self.conductor, "--json", "board", "list", home=home)
        boards = json.loads(out.stdout)["boards"]
        board = next(b for b in boards if b["name"] == "kitchen")
        self.assertEqual(board["status"], "pending")
        created = cli(self.conductor, "--json", "board", "create", "garage", home=home)
        code = json.loads(created.stdout)["enrolmentCode"]
        board_id = json.loads(created.stdout)["board"]["id"]
        agent = Agent(self.workdir, "garage")
        self.agents.append(agent)
        self.assertEqual(agent.enrol(self.conductor.url, code).returncode, 0)
        agent.start()
        self.wait_status(board_id, "online")
        out = cli(self.conductor, "board", "list", home=home)
        self.assertEqual(out.returncode, 0, out.stderr)
        line = next(l for l in out.stdout.splitlines() if board_id in l)
        self.assertIn("online", line)
        out = cli(self.conductor, "board", "ping", board_id, home=home)
        self.assertEqual(out.returncode, 0, out.stderr)
        out = cli(self.conductor, "--json", "board", "call", board_id, "sys.info", home=home)
        self.assertEqual(out.returncode, 0, out.stderr)
        self.assertEqual(json.loads(out.stdout)["kwargs"]["boardId"], board_id)
        out = cli(self.conductor, "board", "delete", board_id, home=home)
        self.assertEqual(out.returncode, 0, out.stderr)
        status, _ = self.conductor.rest("GET", f"/v1/boards/{board_id}", token=self.token)
        self.assertEqual(status, 404)

    # ---- liveness and restarts ----

    def test_killed_agent_shows_offline_within_5s_and_comes_back(self):
        board_id, agent = self.enrolled_agent("pi-kill")
        agent.kill(signal.SIGKILL)
        start = time.monotonic()
        self.wait_status(board_id, "offline", timeout=5.0)
        self.assertLess(time.monotonic() - start, 5.0)
        agent.start()
        self.wait_status(board_id, "online")
        self.assertEqual(self.call(board_id, "sys.ping")[0], 200)

    def test_frozen_agent_is_dropped_by_the_heartbeat(self):
        board_id, agent = self.enrolled_agent("pi-frozen")
        # SIGSTOP keeps the TCP connection open but the agent stops answering pings.
        agent.proc.send_signal(signal.SIGSTOP)
        start = time.monotonic()
        try:
            self.wait_status(board_id, "offline", timeout=5.0)
            self.assertLess(time.monotonic() - start, 5.0)
        finally:
            agent.proc.send_signal(signal.SIGCONT)
        self.wait_status(board_id, "online", timeout=10.0)

    def test_the_ping_ceiling_stretches_the_heartbeat_and_boards_follow(self):
        # 500 ms / 1 s configured, at most 1 ping a second: with three boards each is pinged after
        # 3 s of silence and dropped after 6 s, the boards are told and time their own checks by
        # it; a frozen board goes after 6 s, not 1 s. The first board joined alone (told 1 s / 2 s
        # in WELCOME) and pings the conductor every 2 s, so the wheel never pings it: it learns
        # the new terms from the ping the conductor answers its own with.
        self.conductor.stop()
        self.conductor = Conductor(self.workdir, heartbeat_timeout_ms=1000,
                                   extra_router="heartbeat_max_pings_per_second = 1").start()
        self.token = self.conductor.login()
        boards = [self.enrolled_agent(f"pi-hb{i}") for i in range(3)]
        wait_until(lambda: self.conductor.metric("ew_server_heartbeat_interval_seconds") == 3.0, timeout=10,
                   what="the heartbeat interval stretched to 3 s")

        def text(path):
            with open(path) as f:
                return f.read()
        told = "conductor heartbeat: it pings after 3000 ms of our silence, drops us after 6000 ms"
        for _, agent in boards:
            wait_until(lambda: told in text(agent.log_path), timeout=10, what="the agent told 3 s / 6 s")
        self.assertIn("conductor heartbeat: it pings after 1000 ms of our silence, drops us after 2000 ms",
                      text(boards[0][1].log_path))
        self.assertIn("heartbeat: 3 WebSockets at most 1 pings a second: each pinged after 3000 ms of silence, "
                      "dropped after 6000 ms", text(self.conductor.log_path))
        pings = self.conductor.metric("ew_server_heartbeat_pings_total")
        time.sleep(8)
        # ~1 a second (a tick's rounding aside); 500 ms intervals would have sent ~40.
        self.assertLessEqual(self.conductor.metric("ew_server_heartbeat_pings_total") - pings, 11)
        self.assertEqual(self.conductor.metric("ew_server_heartbeat_expired_total"), 0)
        for board_id, _ in boards:
            self.assertEqual(self.conductor.status_of(self.token, board_id), "online")
        board_id, agent = boards[1]
        agent.proc.send_signal(signal.SIGSTOP)
        try:
            self.wait_status(board_id, "offline", timeout=20.0)
        finally:
            agent.proc.send_signal(signal.SIGCONT)
        silences = [int(m) for m in re.findall(r"silent for (\d+) ms, dropping", text(self.conductor.log_path))]
        self.assertEqual(len(silences), 1, silences)
        self.assertGreaterEqual(silences[0], 6000)
        # Back to two boards (2 s / 4 s): the others, silent up to 3 s, are kept.
        for other in (boards[0][0], boards[2][0]):
            self.assertEqual(self.conductor.status_of(self.token, other), "online")
        self.wait_status(board_id, "online", timeout=15.0)
        self.assertEqual(self.call(board_id, "sys.ping")[0], 200)

    def test_conductor_restart_shows_offline_until_agents_reconnect(self):
        boards = [self.enrolled_agent(f"pi-r{i}") for i in range(2)]
        port = self.conductor.port
        for _, agent in boards:
            agent.proc.send_signal(signal.SIGSTOP)
        self.conductor.stop(signal.SIGKILL)
        self.conductor = Conductor(self.workdir, port=port).start()
        self.token = self.conductor.login()
        for board_id, _ in boards:
            self.assertEqual(self.conductor.status_of(self.token, board_id), "offline")
        for _, agent in boards:
            agent.proc.send_signal(signal.SIGCONT)
        for board_id, _ in boards:
            self.wait_status(board_id, "online", timeout=15.0)
            self.assertEqual(self.call(board_id, "sys.ping")[0], 200)

    # ---- refusals ----

    def test_wrong_and_reused_enrolment_codes_are_refused(self):
        board_id, code = self.conductor.create_board(self.token, "pi-codes")
        agent = Agent(self.workdir, "pi-codes")
        wrong = agent.enrol(self.conductor.url, "not-the-code")
        self.assertNotEqual(wrong.returncode, 0)
        self.assertIn("refused", wrong.stderr + wrong.stdout)
        self.assertFalse(os.path.exists(agent.credential))
        self.assertEqual(agent.enrol(self.conductor.url, code).returncode, 0)
        other = Agent(self.workdir, "pi-codes-2")
        reused = other.enrol(self.conductor.url, code)
        self.assertNotEqual(reused.returncode, 0)
        status, body = self.conductor.rest("POST", "/v1/enrol", {"code": code})
        self.assertEqual(status, 401)
        self.assertIn("error", body)

    def test_wrong_secret_is_refused(self):
        board_id, agent = self.enrolled_agent("pi-secret", start=False)
        cred = agent.read_credential()
        cred["secret"] = "A" * len(cred["secret"])
        with open(agent.credential, "w") as f:
            json.dump(cred, f)
        before = self.conductor.metric("ew_wamp_auth_failures_total") or 0
        agent.start()
        wait_until(lambda: (self.conductor.metric("ew_wamp_auth_failures_total") or 0) > before,
                   what="an authentication failure")
        self.assertEqual(self.conductor.status_of(self.token, board_id), "offline")

    # ---- authorization ----

    def _board_credentials(self, name):
        board_id, code = self.conductor.create_board(self.token, name)
        status, enrol = self.conductor.rest("POST", "/v1/enrol", {"code": code, "hostname": "test"})
        self.assertEqual(status, 200, enrol)
        return board_id, enrol

    def test_board_may_not_register_another_boards_uri(self):
        other_id, _ = self.enrolled_agent("pi-victim")
        board_id, enrol = self._board_credentials("pi-intruder")

        async def scenario():
            session = await wamp_client.connect(
                self.conductor.ws_url, {"method": "wampcra", "authid": board_id, "secret": enrol["secret"]},
                serializer="msgpack")
            with self.assertRaises(ApplicationError) as caught:
                await session.register(lambda: "evil", f"ew.board.{other_id}.sys.ping")
            self.assertEqual(caught.exception.error, "wamp.error.not_authorized")
            # Its own namespace is fine.
            await session.register(lambda: "mine", f"ew.board.{board_id}.custom.thing")
            session.leave()

        asyncio.run(scenario())
        # The real board still answers its own ping.
        self.assertEqual(self.call(other_id, "sys.ping")[0], 200)

    def test_user_of_another_project_is_not_authorized(self):
        board_id, _ = self.enrolled_agent("pi-a")
        status, project = self.conductor.rest("POST", "/v1/projects", {"name": "project-b"}, self.token)
        self.assertEqual(status, 201, project)
        status, user = self.conductor.rest("POST", "/v1/users", {"name": "bob", "password": "bob-password-1",
                                                                  "projectId": project["id"], "role": "operator"},
                                           self.token)
        self.assertEqual(status, 201, user)
        bob = self.conductor.login("bob", "bob-password-1")
        status, body = self.call(board_id, "sys.ping", token=bob)
        self.assertEqual(status, 403, body)
        self.assertEqual(body["error"]["code"], "permission_denied")
        status, body = self.conductor.rest("GET", f"/v1/boards/{board_id}", token=bob)
        self.assertEqual(status, 403)

        async def scenario():
            session = await wamp_client.connect(self.conductor.ws_url, {"method": "ticket", "ticket": bob})
            with self.assertRaises(ApplicationError) as caught:
                await session.call(f"ew.board.{board_id}.sys.ping")
            self.assertEqual(caught.exception.error, "wamp.error.not_authorized")
            session.leave()

        asyncio.run(scenario())

    # ---- interop: an independent WAMP client ----

    def _operator_token(self):
        status, user = self.conductor.rest("POST", "/v1/users", {"name": "alice", "password": "alice-password-1",
                                                                  "projectId": self.admin_project, "role": "operator"},
                                           self.token)
        if status != 201:
            status, users = self.conductor.rest("GET", "/v1/users", token=self.token)
        return self.conductor.login("alice", "alice-password-1")

    def _interop(self, serializer):
        board_id, agent = self.enrolled_agent(f"pi-interop-{serializer}")
        alice = self._operator_token()

        async def scenario():
            session = await wamp_client.connect(self.conductor.ws_url, {"method": "ticket", "ticket": alice},
                                                serializer=serializer)
            result = await session.call(f"ew.board.{board_id}.sys.ping", "marco")
            kwargs = result.kwresults if hasattr(result, "kwresults") else result
            self.assertEqual(kwargs["boardId"], board_id)
            info = await session.call(f"ew.board.{board_id}.sys.info")
            info = info.kwresults if hasattr(info, "kwresults") else info
            self.assertEqual(info["boardId"], board_id)
            events = asyncio.Queue()
            await session.subscribe(lambda *a, **kw: events.put_nowait(kw.get("status")), f"ew.board.{board_id}.status")
            agent.kill(signal.SIGKILL)
            self.assertEqual(await asyncio.wait_for(events.get(), 10), "offline")
            agent.start()
            self.assertEqual(await asyncio.wait_for(events.get(), 10), "online")
            session.leave()

        asyncio.run(scenario())

    def test_python_autobahn_json_calls_board_and_receives_events(self):
        self._interop("json")

    def test_python_autobahn_msgpack_calls_board_and_receives_events(self):
        self._interop("msgpack")

    def test_node_autobahn_calls_board_and_receives_events(self):
        js_dir = os.path.join(os.path.dirname(os.path.abspath(__file__)), "js")
        if not shutil.which("node") or not os.path.isdir(os.path.join(js_dir, "node_modules", "autobahn")):
            self.skipTest("npm autobahn is not installed (run npm ci in tests/integration/js)")
        board_id, agent = self.enrolled_agent("pi-interop-js")
        alice = self._operator_token()
        proc = subprocess.Popen(["node", "interop.js", self.conductor.ws_url, alice, board_id], cwd=js_dir,
                                stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        try:
            steps = []
            def next_step():
                line = proc.stdout.readline()
                if not line:
                    self.fail("node client ended: " + proc.stderr.read())
                steps.append(json.loads(line))
                return steps[-1]
            called = next_step()
            self.assertEqual(called["step"], "called", steps)
            self.assertEqual(called["kwargs"]["boardId"], board_id)
            self.assertEqual(next_step()["step"], "subscribed")
            agent.kill(signal.SIGKILL)
            self.assertEqual(next_step(), {"step": "event", "status": "offline"})
            agent.start()
            self.assertEqual(next_step(), {"step": "event", "status": "online"})
            self.assertEqual(proc.wait(timeout=10), 0)
        finally:
            if proc.poll() is None:
                proc.kill()
            proc.wait()


if __name__ == "__main__":
    unittest.main(verbosity=2)
