"""Board management end to end (issue 16): sys.reboot with a harmless reboot command, sys.logs,
their authorization (reboot is admin-only on REST, on the generic calls route and over WAMP;
restart and logs are for the board's project), bad input, and the CLI commands. Restart's exit
status and systemd's part are in test_systemd_notify.py."""

import asyncio
import http.client
import json
import os
import signal
import subprocess

import wamp_client
from autobahn.wamp.exception import ApplicationError
from harness import CLI, Agent, ConductorTestCase, cli, wait_until

PASSWORD = "board-admin-operator-pw"


class BoardAdminCase(ConductorTestCase):
    """A project with an operator; boards of that project, enrolled and online."""

    def setUp(self):
        super().setUp()
        status, project = self.rest("POST", "/v1/projects", {"name": "farm"})
        self.assertEqual(status, 201, project)
        self.project = project["id"]
        status, user = self.rest("POST", "/v1/users", {"name": "op-farm", "password": PASSWORD, "projectId": self.project})
        self.assertEqual(status, 201, user)
        self.operator = self.conductor.login("op-farm", PASSWORD)

    def board(self, name, extra_config="", log_level_debug=False):
        board_id, code = self.conductor.create_board(self.token, name, project=self.project)
        agent = Agent(self.workdir, name, log_level="debug" if log_level_debug else "info", extra_config=extra_config)
        enrol = agent.enrol(self.conductor.url, code)
        self.assertEqual(enrol.returncode, 0, enrol.stdout + enrol.stderr)
        agent.start()
        self.agents[name] = agent
        wait_until(lambda: self.conductor.status_of(self.token, board_id) == "online", what=f"{name} online")
        return board_id, agent


class BoardAdminTest(BoardAdminCase):
    def test_reboot_runs_the_configured_command_for_admins_only(self):
        marker = os.path.join(self.workdir, "rebooted")
        board_id, agent = self.board("pi-reboot", f'[system]\nreboot_command = "touch {marker}"\n')
        # Operators of the board's own project may not reboot it, by any route.
        for path in (f"/v1/boards/{board_id}/reboot", f"/v1/boards/{board_id}/calls/sys.reboot"):
            status, body = self.conductor.rest("POST", path, {}, token=self.operator)
            self.assertEqual(status, 403, body)
            self.assertIn("admin", body["error"]["message"])

        async def over_wamp():
            s = await wamp_client.connect(self.conductor.ws_url, {"method": "ticket", "ticket": self.operator})
            try:
                with self.assertRaises(ApplicationError) as refused:
                    await s.call(f"ew.board.{board_id}.sys.reboot")
                self.assertEqual(refused.exception.error, "wamp.error.not_authorized")
                # The rest of the board stays reachable for its operator.
                pong = await s.call(f"ew.board.{board_id}.sys.ping")
                self.assertIsNotNone(pong)
            finally:
                s.leave()
        asyncio.run(asyncio.wait_for(over_wamp(), 60))
        self.assertFalse(os.path.exists(marker), "a refused reboot must not run the command")

        status, body = self.rest("POST", f"/v1/boards/{board_id}/reboot", {})
        self.assertEqual(status, 200, body)
        self.assertEqual(body, {"action": "reboot", "delayMs": "500"})
        wait_until(lambda: os.path.exists(marker), what="the reboot command ran")
        self.assertIsNone(agent.proc.poll(), "reboot runs the command; the agent itself stays")
        # The agent logged it, and sys.logs shows it.
        status, logs = self.conductor.rest("GET", f"/v1/boards/{board_id}/logs?lines=20", token=self.operator)
        self.assertEqual(status, 200, logs)
        self.assertEqual(logs["capacity"], 200)
        self.assertTrue(any("sys.reboot" in line for line in logs["lines"]), logs)

    def test_a_board_without_a_reboot_command_refuses(self):
        board_id, _ = self.board("pi-noreboot")
        status, body = self.rest("POST", f"/v1/boards/{board_id}/reboot", {})
        self.assertEqual(status, 503, body)
        self.assertIn("reboot_command", body["error"]["message"])

    def test_logs_are_bounded_and_checked(self):
        board_id, _ = self.board("pi-logs")
        status, logs = self.conductor.rest("GET", f"/v1/boards/{board_id}/logs?lines=3", token=self.operator)
        self.assertEqual(status, 200, logs)
        self.assertLessEqual(len(logs["lines"]), 3)
        self.assertTrue(all("\n" not in line for line in logs["lines"]))
        for bad in ("0", "1001", "-1", "x", ""):
            status, body = self.rest("GET", f"/v1/boards/{board_id}/logs?lines={bad}")
            self.assertEqual(status, 400, (bad, body))
        status, body = self.rest("GET", "/v1/boards/brd-missing/logs")
        self.assertEqual(status, 404, body)

    def test_cli_logs_restart_and_reboot(self):
        board_id, agent = self.board("pi-cli")
        out = cli(self.conductor, "board", "logs", "pi-cli", "-n", "5", token=self.operator)
        self.assertEqual(out.returncode, 0, out.stderr)
        self.assertTrue(0 < len(out.stdout.splitlines()) <= 5, out.stdout)
        out = cli(self.conductor, "board", "reboot", "pi-cli", token=self.operator)
        self.assertEqual(out.returncode, 3, out.stdout)  # refused (README, "Exit statuses")
        self.assertIn("admin", out.stderr)
        out = cli(self.conductor, "board", "logs", "pi-cli", "-n", "5000", token=self.operator)
        self.assertEqual(out.returncode, 2, out.stderr)
        out = cli(self.conductor, "board", "restart", "pi-cli", token=self.operator)
        self.assertEqual(out.returncode, 0, out.stderr)
        self.assertIn("restart in 500 ms", out.stdout)
        self.assertEqual(agent.proc.wait(timeout=10), 75)
        agent.proc = None


class BoardLogsFollowTest(BoardAdminCase):
    """sys.logs follow mode (issue 16): the board publishes new lines on ew.board.<id>.sys.log
    while someone follows; REST streams them (Server-Sent Events) and `edgewire board logs -f`
    prints them; the follow ends when the last client leaves and when the board goes offline."""

    def open_stream(self, board_id, token):
        conn = http.client.HTTPConnection("127.0.0.1", self.conductor.port, timeout=20)
        conn.request("GET", f"/v1/boards/{board_id}/logs?follow=true", headers={"X-Auth-Token": token})
        return conn, conn.getresponse()

    def read_batches(self, resp, until):
        """Batches from the stream until one has a line for which until(line) is true."""
        batches = []
        while True:
            line = resp.fp.readline().decode()
            self.assertTrue(line, f"the stream ended early: {batches}")
            if line.startswith("event: end"):
                self.fail(f"the stream ended: {resp.fp.readline().decode()}")
            if line.startswith("data: "):
                batches.append(json.loads(line[6:]))
                if any(until(l) for l in batches[-1]["lines"]):
                    return batches

    def test_logs_follow_delivers_new_lines_until_the_client_goes(self):
        board_id, agent = self.board("pi-follow", log_level_debug=True)
        conn, resp = self.open_stream(board_id, self.operator)
        self.assertEqual(resp.status, 200)
        self.assertIn("text/event-stream", resp.getheader("Content-Type"))
        # Lines the board logs from now on arrive: each call it serves logs one (debug level).
        for _ in range(3):
            self.assertEqual(self.conductor.rest("POST", f"/v1/boards/{board_id}/calls/sys.info", {},
                                                 token=self.operator)[0], 200)
        batches = self.read_batches(resp, lambda l: f"invocation of ew.board.{board_id}.sys.info" in l)
        lines = [l for b in batches for l in b["lines"]]
        self.assertTrue(any("sys.logs: followed" in l for l in lines), lines)
        # Numbered without gaps from one batch to the next.
        for before, after in zip(batches, batches[1:]):
            self.assertEqual(after["firstSeq"], before["firstSeq"] + len(before["lines"]) + after["skipped"])
        self.assertTrue(all(len(b["lines"]) <= 200 for b in batches))

        # A second client shares the board's follow; the CLI prints the new lines too.
        follower = subprocess.Popen([CLI, "board", "logs", "pi-follow", "-f", "-n", "1"], stdout=subprocess.PIPE,
                                    stderr=subprocess.PIPE, text=True,
                                    env={**os.environ, "EDGEWIRE_URL": self.conductor.url,
                                         "EDGEWIRE_TOKEN": self.operator})
        try:
            printed = []

            def cli_saw_ping():
                self.conductor.rest("POST", f"/v1/boards/{board_id}/calls/sys.ping", {}, token=self.operator)
                line = follower.stdout.readline()
                printed.append(line)
                return f"invocation of ew.board.{board_id}.sys.ping" in line
            wait_until(cli_saw_ping, timeout=30, what="the CLI printing a new line")
        finally:
            follower.send_signal(signal.SIGTERM)
            follower.communicate(timeout=10)
        resp.close()
        conn.close()
        # The last client gone, the board stops publishing.
        def unfollowed():
            with open(agent.log_path) as f:
                return "no longer followed (unfollowed)" in f.read()
        wait_until(unfollowed, timeout=20, what="the board unfollowed")

    def test_a_user_holds_a_bounded_number_of_log_follows(self):
        """Issue 14 review: each follow is a stream the conductor feeds; a user may hold 8 at once
        (all boards together). The 9th is a clear 429 and opens nothing; closing one frees a place;
        another user is not affected."""
        board_id, agent = self.board("pi-follow-cap")
        # (connection, response): a streamed response owns its socket; dropping it ends the stream.
        streams = []
        try:
            for _ in range(8):
                conn, resp = self.open_stream(board_id, self.operator)
                self.assertEqual(resp.status, 200)
                streams.append((conn, resp))
            conn, resp = self.open_stream(board_id, self.operator)
            self.assertEqual(resp.status, 429)
            body = json.loads(resp.read())
            self.assertEqual(body["error"]["code"], "resource_exhausted", body)
            self.assertIn("follows", body["error"]["message"])
            conn.close()
            # Another user (the admin) still may.
            conn, resp = self.open_stream(board_id, self.token)
            self.assertEqual(resp.status, 200)
            streams.append((conn, resp))
            # One closed: the operator may follow again, once the conductor saw the client go.
            conn, resp = streams.pop(0)
            resp.close()
            conn.close()

            def another():
                conn, resp = self.open_stream(board_id, self.operator)
                if resp.status == 200:
                    streams.append((conn, resp))
                    return True
                resp.close()
                conn.close()
                return False
            wait_until(another, timeout=10, what="a freed follow place")
        finally:
            for conn, resp in streams:
                resp.close()
                conn.close()

    def test_logs_follow_is_for_the_boards_project_and_ends_when_the_board_goes(self):
        board_id, agent = self.board("pi-follow-end")
        status, user = self.rest("POST", "/v1/projects", {"name": "other"})
        self.assertEqual(status, 201, user)
        status, stranger = self.rest("POST", "/v1/users", {"name": "op-other", "password": PASSWORD,
                                                           "projectId": user["id"]})
        self.assertEqual(status, 201, stranger)
        conn, resp = self.open_stream(board_id, self.conductor.login("op-other", PASSWORD))
        self.assertEqual(resp.status, 403)
        conn.close()
        status, body = self.conductor.rest("GET", f"/v1/boards/{board_id}/logs?follow=maybe", token=self.operator)
        self.assertEqual(status, 400, body)
        status, body = self.conductor.rest("GET", f"/v1/boards/{board_id}/logs?follow=true&lines=5",
                                           token=self.operator)
        self.assertEqual(status, 400, body)

        conn, resp = self.open_stream(board_id, self.operator)
        self.assertEqual(resp.status, 200)
        agent.kill(signal.SIGKILL)
        ended = None
        while ended is None:
            line = resp.fp.readline().decode()
            self.assertTrue(line, "the stream closed without an end event")
            if line.startswith("event: end"):
                ended = json.loads(resp.fp.readline().decode()[6:])
        self.assertIn("offline", ended["reason"])
        conn.close()
