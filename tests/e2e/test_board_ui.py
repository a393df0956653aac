"""A board's own web UI in a real browser through the conductor (issue 17): a real conductor and
agent (the integration harness), a small web UI on the board's loopback (board_web_ui.py: a page,
a stylesheet and a script by relative links, a WebSocket echo), and board_ui_e2e.js driving
Debian's headless Chromium through playwright-core. The browser opens a login link, lands on the
board's page through /v1/boards/{id}/proxy/{port}/ with its cookie, and everything on the page
works; the cookie does not authorize the API or another board or port, a service worker of the
board's page cannot be registered, and an expired one is refused. Screenshots go to EW_E2E_ARTEFACTS."""

import json
import os
import shutil
import subprocess
import sys
import unittest

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.abspath(os.path.join(HERE, "..", ".."))
sys.path.insert(0, os.path.join(ROOT, "tests", "integration"))

from harness import Agent, ConductorTestCase, wait_until  # noqa: E402

CHROMIUM = os.environ.get("EW_CHROMIUM", "/usr/bin/chromium")
ARTEFACTS = os.environ.get("EW_E2E_ARTEFACTS", os.path.join(ROOT, "build", "Testing", "e2e"))
SESSION_TTL_S = 12


class BoardUiTest(ConductorTestCase):
    workdir_prefix = "ew-e2e-board-ui-"
    conductor_config = f"[tunnels]\nport_first = 0\nproxy_session_ttl_s = {SESSION_TTL_S}\n"

    def setUp(self):
        if not shutil.which("node"):
            self.skipTest("node is needed for playwright-core (apt-get install nodejs)")
        if not os.access(CHROMIUM, os.X_OK):
            self.skipTest(f"no Chromium at {CHROMIUM} (apt-get install chromium)")
        if not os.path.isdir(os.path.join(HERE, "node_modules", "playwright-core")):
            self.fail("playwright-core is not installed: run npm ci in tests/e2e (deploy/scripts/test.sh does)")
        super().setUp()
        self.procs = []

    def tearDown(self):
        for proc in self.procs:
            if proc.poll() is None:
                proc.kill()
                proc.wait()
            for stream in (proc.stdout, proc.stderr):
                if stream:
                    stream.close()
        super().tearDown()

    def board(self, name):
        board_id, code = self.conductor.create_board(self.token, name)
        agent = Agent(self.workdir, name)
        enrol = agent.enrol(self.conductor.url, code)
        self.assertEqual(enrol.returncode, 0, enrol.stdout + enrol.stderr)
        self.agents[name] = agent
        agent.start()
        wait_until(lambda: self.conductor.status_of(self.token, board_id) == "online", what=f"{name} online")
        return board_id

    def test_board_web_ui_through_the_proxy_with_a_cookie_login(self):
        board = self.board("web-ui-board")
        other = self.board("web-ui-other")
        ui = subprocess.Popen(["/usr/bin/python3", os.path.join(HERE, "board_web_ui.py")], stdout=subprocess.PIPE,
                              stderr=subprocess.PIPE, text=True)
        self.procs.append(ui)
        port = int(ui.stdout.readline())
        status, login = self.rest("POST", f"/v1/boards/{board}/proxy-logins", {"port": port})
        self.assertEqual(status, 201, login)
        driver = subprocess.Popen(["node", os.path.join(HERE, "board_ui_e2e.js"), self.conductor.url, login["url"],
                                   board, str(port), other, str(SESSION_TTL_S), ARTEFACTS],
                                  cwd=HERE, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        self.procs.append(driver)
        steps = {}
        for line in driver.stdout:
            step = json.loads(line)
            print("browser:", json.dumps(step)[:400])
            steps[step["step"]] = step
        driver.wait(timeout=60)
        self.assertNotIn("error", steps, steps.get("error"))
        self.assertIn("done", steps, driver.stderr.read())
        base = f"/v1/boards/{board}/proxy/{port}/"

        page = steps["page"]
        self.assertEqual(page["url"], base)  # redirected; the login code is not in the URL
        self.assertEqual(page["script"], "app.js ran")  # relative script through the proxy
        self.assertEqual(page["ws"], "echo: hello from the browser")  # relative WebSocket through the proxy
        self.assertEqual(page["background"], "rgb(238, 238, 255)")  # relative stylesheet
        self.assertIn(base + "app.js", page["requests"])
        self.assertIn(base + "style.css", page["requests"])
        self.assertNotIn("ew_proxy_session", page["boardSawCookies"])
        self.assertNotIn("ew_proxy_session", page["documentCookie"])  # HttpOnly: no script reads it
        self.assertEqual(page["cookie"]["path"], base)
        self.assertTrue(page["cookie"]["httpOnly"])
        self.assertEqual(page["cookie"]["sameSite"], "Strict")
        self.assertFalse(page["cookie"]["secure"])  # plain http on loopback; TLS sets Secure (test_tunnels)
        self.assertLessEqual(page["cookie"]["expiresIn"], SESSION_TTL_S)
        self.assertIn("board_theme=dark", steps["reload"]["boardSawCookies"])  # the board's own cookie passes
        self.assertNotIn("ew_proxy_session", steps["reload"]["boardSawCookies"])

        elsewhere = steps["elsewhere"]
        for result in elsewhere["scoped"] + elsewhere["forced"]:
            self.assertEqual(result["status"], 401, result)
        self.assertEqual(elsewhere["fetched"], 401)

        # Review 3, H1: no service worker of a board's page can take over the conductor's origin.
        worker = steps["service-worker"]["result"]
        self.assertTrue(worker.startswith("refused"), worker)
        self.assertIn("403", worker)

        expired = steps["expired"]
        self.assertTrue(expired["kept"], expired)
        self.assertFalse(expired["keptAfter"], expired)  # the browser dropped it at Max-Age
        self.assertEqual(expired["dropped"]["status"], 401, expired)
        self.assertIn("API token is required", expired["dropped"]["body"])
        self.assertEqual(expired["expired"]["status"], 401, expired)  # and the conductor refuses it
        self.assertIn("expired", expired["expired"]["body"])


if __name__ == "__main__":
    unittest.main()
