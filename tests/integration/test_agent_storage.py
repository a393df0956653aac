"""Issue 14: an agent whose disk fills up or turns read-only keeps serving (ping, GPIO, invocations
of what is deployed) and says why, in its log and in sys.info's storageProblems. The "card" is a
real small tmpfs holding the agent's state, spool and flows directories; the container work
directory is elsewhere, as /run is on a board."""

import os
import subprocess
import unittest

from harness import Agent, ConductorTestCase, wait_until
from sim_gpio import SimGpio, sim_chip_config
from test_functions import DOUBLE_SH, RUNTIMES, package, sh_spec


@unittest.skipUnless(os.geteuid() == 0, "mounting a small tmpfs needs root")
@unittest.skipUnless(RUNTIMES, "no container runtime (crun, runc or bwrap) on this host")
class AgentStorageTest(ConductorTestCase):
    workdir_prefix = "ew-agent-disk-"

    def setUp(self):
        super().setUp()
        self.card = os.path.join(self.workdir, "card")
        os.makedirs(self.card)
        subprocess.run(["mount", "-t", "tmpfs", "-o", "size=6m", "tmpfs", self.card], check=True)
        self.addCleanup(subprocess.run, ["umount", "-l", self.card])
        self.sim = None

    def tearDown(self):
        if self.sim:
            self.sim.close()
        super().tearDown()

    def start_agent(self):
        board_id, code = self.conductor.create_board(self.token, "pi-card")
        agent = Agent(self.workdir, "pi-card")
        control = os.path.join(self.workdir, "sim.sock")
        with open(agent.config, "w") as f:
            f.write(f"""[agent]
credential_path = "{agent.credential}"
reconnect_initial_ms = 100
reconnect_max_ms = 1000
[functions]
state_dir = "{self.card}/functions"
work_dir = "{self.workdir}/containers"
[flows]
state_dir = "{self.card}/flows"
[spool]
dir = "{self.card}/spool"
[log]
level = "info"
{sim_chip_config(control)}""")
        self.assertEqual(agent.enrol(self.conductor.url, code).returncode, 0)
        self.agents[board_id] = agent
        agent.start()
        wait_until(lambda: self.conductor.status_of(self.token, board_id) == "online", what="board online")
        wait_until(lambda: os.path.exists(control), what="simulation socket")
        self.sim = SimGpio(control)
        return board_id, agent

    def info(self, board_id):
        status, body = self.rest("POST", f"/v1/boards/{board_id}/calls/sys.info", {})
        self.assertEqual(status, 200, body)
        return body["kwargs"]

    def serves(self, board_id, fn_id, n):
        status, body = self.rest("POST", f"/v1/boards/{board_id}/calls/sys.ping", {})
        self.assertEqual(status, 200, body)
        status, body = self.rest("PUT", f"/v1/boards/{board_id}/gpio/GPIO17", {"value": n % 2})
        self.assertEqual(status, 200, body)
        self.assertEqual(self.sim.read("GPIO17"), n % 2)
        status, body = self.rest("POST", f"/v1/functions/{fn_id}/invocations", {"boardId": board_id, "event": {"n": n}})
        self.assertEqual(status, 200, body)
        self.assertEqual(body["status"], "succeeded", body)
        self.assertEqual(body["output"]["double"], 2 * n)

    def test_full_then_read_only_card(self):
        board_id, agent = self.start_agent()
        status, fn = self.rest("POST", "/v1/functions", raw=package(sh_spec("double"), {"main.sh": DOUBLE_SH}),
                               content_type="application/gzip")
        self.assertEqual(status, 201, fn)
        status, body = self.rest("POST", f"/v1/functions/{fn['id']}/deployments", {"boardIds": [board_id]})
        self.assertEqual(status, 202, body)

        def deployed():
            _, body = self.rest("GET", f"/v1/functions/{fn['id']}/deployments")
            return any(d["boardId"] == board_id and d["state"] == "deployed" for d in body["deployments"])
        wait_until(deployed, timeout=30, what="deployed")
        self.serves(board_id, fn["id"], 1)
        self.assertEqual(self.info(board_id)["storageProblems"], [])

        # Full card.
        subprocess.run(["dd", "if=/dev/zero", f"of={self.card}/filler", "bs=64k"], capture_output=True)
        problems = self.info(board_id)["storageProblems"]
        self.assertTrue(any(p.startswith(f"spool ([spool] dir) {self.card}/spool: No space left on device")
                            for p in problems), problems)
        self.assertTrue(any("functions state" in p for p in problems), problems)
        self.serves(board_id, fn["id"], 2)
        with open(agent.log_path) as f:
            self.assertIn(f"{self.card}/spool cannot be written: No space left on device", f.read())

        os.remove(f"{self.card}/filler")
        wait_until(lambda: self.info(board_id)["storageProblems"] == [], what="problems cleared")

        # A read-only card (remounting needs no open writers: the agent stops first, as when a
        # card fails and the kernel remounts it read-only before a reboot). The agent still comes
        # up, joins and serves, and says why.
        agent.stop()
        self.sim.close()
        self.sim = None
        wait_until(lambda: self.conductor.status_of(self.token, board_id) == "offline", what="offline")
        subprocess.run(["mount", "-o", "remount,ro", self.card], check=True)
        agent.start()
        wait_until(lambda: self.conductor.status_of(self.token, board_id) == "online", what="back online")
        self.sim = SimGpio(os.path.join(self.workdir, "sim.sock"))
        self.serves(board_id, fn["id"], 4)
        problems = self.info(board_id)["storageProblems"]
        self.assertEqual(len(problems), 3, problems)
        self.assertTrue(all("Read-only file system" in p for p in problems), problems)
        with open(agent.log_path) as f:
            log = f.read()
        self.assertIn(f"{self.card}/functions cannot be written: Read-only file system", log)
        self.assertIn(f"{self.card}/spool cannot be written: Read-only file system", log)

        # Writable again: the problems clear.
        subprocess.run(["mount", "-o", "remount,rw", self.card], check=True)
        self.assertEqual(self.info(board_id)["storageProblems"], [])


if __name__ == "__main__":
    unittest.main()
