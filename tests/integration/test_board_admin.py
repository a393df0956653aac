"""Board management end to end (issue 16): sys.reboot with a harmless reboot command, sys.logs,
their authorization (reboot is admin-only on REST, on the generic calls route and over WAMP;
restart and logs are for the board's project), bad input, and the CLI commands. Restart's exit
status and systemd's part are in test_systemd_notify.py."""

import asyncio
import os

import wamp_client
from autobahn.wamp.exception import ApplicationError
from harness import Agent, ConductorTestCase, cli, wait_until

PASSWORD = "board-admin-operator-pw"


class BoardAdminTest(ConductorTestCase):
    def setUp(self):
        super().setUp()
        status, project = self.rest("POST", "/v1/projects", {"name": "farm"})
        self.assertEqual(status, 201, project)
        self.project = project["id"]
        status, user = self.rest("POST", "/v1/users", {"name": "op-farm", "password": PASSWORD, "projectId": self.project})
        self.assertEqual(status, 201, user)
        self.operator = self.conductor.login("op-farm", PASSWORD)

    def board(self, name, extra_config=""):
        board_id, code = self.conductor.create_board(self.token, name, project=self.project)
        agent = Agent(self.workdir, name, log_level="info", extra_config=extra_config)
        enrol = agent.enrol(self.conductor.url, code)
        self.assertEqual(enrol.returncode, 0, enrol.stdout + enrol.stderr)
        agent.start()
        self.agents[name] = agent
        wait_until(lambda: self.conductor.status_of(self.token, board_id) == "online", what=f"{name} online")
        return board_id, agent

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
