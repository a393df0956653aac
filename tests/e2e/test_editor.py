"""End to end in a real browser: a real conductor and two agents on simulated GPIO (the
integration harness), Node-RED 4.1 with the palette installed from a packed tarball
(deploy/scripts/node-red.sh), and editor_e2e.js driving the editor in Debian's headless Chromium.
The flow built in the editor: gpio in (board A, GPIO4) → change (in Node-RED) → gpio out (board
B, GPIO17), and gpio in → debug (put on board A from the Edgewire sidebar). After Deploy, an edge
on A's GPIO4 must show in the editor's debug sidebar (from board A), give the status dots, and
set B's GPIO17 through the cloud. Screenshots go to EW_E2E_ARTEFACTS (the build's Testing dir)."""

import json
import os
import shutil
import subprocess
import sys
import threading
import time
import unittest

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.abspath(os.path.join(HERE, "..", ".."))
sys.path.insert(0, os.path.join(ROOT, "tests", "integration"))

from harness import Agent, ConductorTestCase, wait_until  # noqa: E402
from sim_gpio import SimGpio, sim_chip_config  # noqa: E402

CHROMIUM = os.environ.get("EW_CHROMIUM", "/usr/bin/chromium")
ARTEFACTS = os.environ.get("EW_E2E_ARTEFACTS", os.path.join(ROOT, "build", "Testing", "e2e"))


class EditorTest(ConductorTestCase):
    workdir_prefix = "ew-e2e-"

    def setUp(self):
        if not shutil.which("node") or not shutil.which("npm"):
            self.skipTest("node and npm are needed for Node-RED (apt-get install nodejs npm)")
        if not os.access(CHROMIUM, os.X_OK):
            self.skipTest(f"no Chromium at {CHROMIUM} (apt-get install chromium)")
        if not os.path.isdir(os.path.join(HERE, "node_modules", "playwright-core")):
            self.fail("playwright-core is not installed: run npm ci in tests/e2e (deploy/scripts/test.sh does)")
        super().setUp()
        self.sims = []
        self.node_red_dir = os.path.join(self.workdir, "node-red")
        self.driver = None

    def tearDown(self):
        if self.driver and self.driver.poll() is None:
            self.driver.kill()
            self.driver.wait()
        pid_file = os.path.join(self.node_red_dir, "node-red.pid")
        if os.path.exists(pid_file):
            try:
                os.kill(int(open(pid_file).read().strip()), 15)
            except (OSError, ValueError):
                pass
        for sim in self.sims:
            sim.close()
        super().tearDown()

    def operator_token(self):
        project = self.conductor.last_login_user["projectId"]
        status, body = self.rest("POST", "/v1/users", {"name": "flow-author", "password": "flow-author-pw-1",
                                                       "projectId": project, "role": "operator"})
        self.assertEqual(status, 201, body)
        return self.conductor.login("flow-author", "flow-author-pw-1")

    def board(self, name):
        board_id, code = self.conductor.create_board(self.token, name)
        control = os.path.join(self.workdir, f"{name}-sim.sock")
        agent = Agent(self.workdir, name, extra_config=sim_chip_config(control))  # harness: own [flows] state_dir
        enrol = agent.enrol(self.conductor.url, code)
        self.assertEqual(enrol.returncode, 0, enrol.stdout + enrol.stderr)
        self.agents[board_id] = agent
        agent.start()
        wait_until(lambda: self.conductor.status_of(self.token, board_id) == "online", what=f"{name} online")
        sim = SimGpio.when_ready(control)
        self.sims.append(sim)
        return board_id, sim

    def start_node_red(self, token):
        env = dict(os.environ, NODE_RED_DIR=self.node_red_dir, NODE_RED_PORT="0", EDGEWIRE_URL=self.conductor.url,
                   EDGEWIRE_TOKEN=token, EDGEWIRE_FLOW_NAME="e2e", NODE_RED_LOG_LEVEL="debug")
        started = subprocess.run(["bash", os.path.join(ROOT, "deploy", "scripts", "node-red.sh")], env=env,
                                 capture_output=True, text=True, timeout=600)
        # node-red.log joins the logs printed when the test fails.
        self.assertEqual(started.returncode, 0, started.stdout + started.stderr)
        url = [l for l in started.stdout.splitlines() if "editor at " in l][-1].rsplit("editor at ", 1)[1].strip()
        return url

    def copy_node_red_log(self):
        log = os.path.join(self.node_red_dir, "node-red.log")
        if os.path.exists(log):
            shutil.copy(log, os.path.join(self.workdir, "node-red.log"))

    def test_drag_wire_deploy_and_see_a_boards_debug_output(self):
        board_a, sim_a = self.board("greenhouse-pi")
        board_b, sim_b = self.board("barn-pi")
        url = self.start_node_red(self.operator_token())
        os.makedirs(ARTEFACTS, exist_ok=True)
        self.driver = subprocess.Popen(["node", os.path.join(HERE, "editor_e2e.js"), url, board_a, board_b, ARTEFACTS],
                                       cwd=HERE, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        steps = {}
        stderr = []
        threading.Thread(target=lambda: stderr.append(self.driver.stderr.read()), daemon=True).start()

        def next_step():
            while True:
                line = self.driver.stdout.readline()
                if not line:
                    self.driver.wait()
                    self.copy_node_red_log()
                    self.fail(f"browser driver ended (exit {self.driver.returncode}) after {list(steps)}: {''.join(stderr)}")
                step = json.loads(line)
                print("e2e:", json.dumps(step)[:600], flush=True)
                if step["step"] == "page-error":
                    continue
                steps[step["step"]] = step
                return step

        try:
            self.assertEqual(next_step()["step"], "editor")
            self.assertTrue(steps["editor"]["placementDeclared"], "the palette's plugin did not declare board on core nodes")
            self.assertEqual(next_step()["step"], "dragged")
            configured = next_step()
            self.assertEqual(configured["step"], "configured-gpio", configured)
            self.assertEqual(sorted(configured["boardsListed"]), sorted([board_a, board_b]))
            self.assertEqual(configured["linesListed"], 28 + 1)  # the Pi chip's lines and the empty choice
            self.assertEqual(configured["invalid"], [], "the editor finds the GPIO nodes misconfigured")
            placed = next_step()
            self.assertEqual(placed, {"step": "placed", "debugBoard": board_a})
            wired = next_step()
            self.assertEqual(len(wired["wires"]), 3, wired)

            deployed = next_step()
            if deployed["step"] == "deploy-failed":
                error = (deployed.get("state") or {}).get("error") or {}
                if not error.get("status"):
                    self.fail(f"Deploy did not reach the conductor: {json.dumps(error)}; screenshot {deployed.get('screenshot')}")
                missing = ("the conductor has no POST /v1/flows yet (branch wt-flowmodel)"
                           if error.get("status") in (404, 405) else "the conductor refused the flow")
                self.copy_node_red_log()
                self.fail(f"Deploy reached the conductor but {missing}: {json.dumps(error)}; "
                          f"screenshot {deployed.get('screenshot')}")
            self.assertEqual(deployed["step"], "deployed", deployed)
            flow = deployed["flow"]
            boards = {p["board"]: p for p in flow["partitions"]}
            self.assertEqual(set(boards), {board_a, board_b, ""}, flow)
            exported = {n["id"]: n for n in deployed["exported"]}
            nodes = steps["dragged"]["nodes"]
            self.assertEqual(exported[nodes["gpioIn"]]["board"], board_a)
            self.assertEqual(exported[nodes["gpioIn"]]["line"], "GPIO4")
            self.assertEqual(exported[nodes["gpioOut"]]["board"], board_b)
            self.assertEqual(exported[nodes["debug"]]["board"], board_a)

            # Edges on A until the editor shows A's debug output (the partition may still be starting).
            seen = {}

            def play():
                level = 0
                while "debug-seen" not in steps and self.driver.poll() is None and len(seen) < 120:
                    level ^= 1
                    sim_a.drive("GPIO4", level)
                    seen[len(seen)] = level
                    time.sleep(0.5)

            player = threading.Thread(target=play, daemon=True)
            player.start()
            shown = next_step()
            if shown["step"] == "partition-failed":
                errors = "; ".join(f"{p['board']}: {p.get('error')}" for p in shown["partitions"])
                missing = (" — the agents do not serve ew.board.<id>.flow.deploy yet (board runtime, branch wt-flowruntime)"
                           if "flow.deploy" in errors else "")
                self.fail(f"boards did not take their partitions: {errors}{missing}; screenshot {shown['screenshot']}")
            self.assertEqual(shown["step"], "debug-seen", shown)
            player.join(timeout=5)
            self.assertIn("gpio/GPIO4", shown["text"])
            # As Node-RED's own debug node shows it: "gpio/GPIO4 : msg.payload : number" and the level.
            self.assertRegex(shown["text"], r"gpio/GPIO4 : msg\.payload : number [01]$")
            done = next_step()
            self.assertEqual(done["step"], "done", done)
            self.assertTrue(os.path.exists(done["screenshot"]))

            # Board B's line follows A's, through the change node in Node-RED.
            # (each drive must be an edge: start from the level the player left)
            start = sim_a.read("GPIO4")
            for level in (1 - start, start, 1 - start):
                sim_a.drive("GPIO4", level)
                wait_until(lambda: sim_b.read("GPIO17") == level, timeout=15, what=f"B GPIO17 == {level}")
            self.assertEqual(self.driver.wait(timeout=30), 0)
        finally:
            self.copy_node_red_log()


if __name__ == "__main__":
    unittest.main()
