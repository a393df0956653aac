"""Agent updates of a fleet over the air end to end (issue 16), with the amd64 package.

The boards are test_agent_update.py's: each a throwaway dpkg root with edgewire-agent installed
from the .deb, its installed agent under a supervisor (systemd's Restart=) and a watcher that runs
the installed root helper when the agent stages a request (edgewire-agent-update.path). Three of
them in one fleet against a real conductor on 127.0.0.1. Packages are signed the operator's way
(`edgewire package keygen|sign`) and every board trusts that key, as in test_agent_update.py.

Cases: `edgewire board update --fleet F --parallel 2` updates the boards in the fleet's order, never
more than two at once, and `board list` shows each board's new version; a broken package stops the
rollout at its first board (rolled back) and the others are never asked. A conductor killed while a
board installs comes back with the rollout still listed, marked interrupted (docs/ARCHITECTURE.md
"Agent updates"): the installing board's outcome is still recorded when it rejoins, the board not
yet asked stays pending and is updated when the operator runs the update again."""

import os
import re
import signal
import sqlite3
import sys
import tempfile
import threading
import time
import unittest

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
import test_agent_update as ota  # noqa: E402
from harness import Conductor, wait_until  # noqa: E402  (test_agent_update put it on the path)

VERSION = ota.VERSION


class GatedBoard(ota.Board):
    """A board whose update helper starts only once `gate` is set (set by default): the test holds
    a board in `installing` while it kills the conductor."""

    def __init__(self, tmp):
        super().__init__(tmp)
        self.gate = threading.Event()
        self.gate.set()

    def watch_requests(self):
        while not self.stopping.is_set():
            if os.path.exists(os.path.join(self.update_dir, "request")) and self.gate.wait(timeout=0.2):
                self.run_helper()
            time.sleep(0.2)


class FleetUpdateTest(ota.UpdateTestCase):
    cli_timeout = 600
    @classmethod
    def setUpClass(cls):
        # The same packages as test_agent_update.py (built once into <build>/packages-test, or $EW_DEB_DIR).
        ota.AgentUpdateTest.setUpClass.__func__(cls)

    def setUp(self):
        self.tmp = tempfile.mkdtemp(prefix="ew-fleet-update-")
        # The boards' agents run as `nobody` (as on a board): they must reach their directories below.
        os.chmod(self.tmp, 0o755)
        self.conductor = Conductor(self.tmp).start()
        self.token = self.conductor.login()
        self.boards = {}  # board id → GatedBoard

    def tearDown(self):
        for board in self.boards.values():
            board.stop()
        logs = [os.path.join(self.tmp, "conductor.log")]
        for board in self.boards.values():
            logs += [board.log_path, board.helper_log]
        self.finish(logs, 5000)

    # The operator's signing key and uploads, as test_agent_update.py makes them.
    keygen = ota.AgentUpdateTest.keygen
    sign = ota.AgentUpdateTest.sign
    upload = ota.AgentUpdateTest.upload

    install_enrol_start = ota.AgentUpdateTest.install_enrol_start

    def add_board(self, name):
        """A board with 0.1.0-1 installed the way an installer does, enrolled and running."""
        board = GatedBoard(os.path.join(self.tmp, name))
        board_id = self.install_enrol_start(board, name)
        self.boards[board_id] = board
        return board_id

    def fleet_of(self, name, count):
        """`count` boards online in a fleet; returns (fleet id, board ids in the fleet's order)."""
        ids = [self.add_board(f"{name}-{i}") for i in range(count)]
        for board_id in ids:
            wait_until(lambda: self.conductor.status_of(self.token, board_id) == "online", timeout=60,
                       what=f"{board_id} online")
        status, fleet = self.rest("POST", "/v1/fleets", {"name": name})
        self.assertEqual(status, 201, fleet)
        for board_id in ids:
            status, fleet = self.rest("PUT", f"/v1/fleets/{fleet['id']}/boards/{board_id}")
            self.assertEqual(status, 200, fleet)
        self.assertEqual(sorted(fleet["boardIds"]), sorted(ids))
        return fleet["id"], list(fleet["boardIds"])

    def listed(self):
        status, body = self.rest("GET", "/v1/boards")
        self.assertEqual(status, 200, body)
        return {b["id"]: b for b in body["boards"]}

    def rollout(self, update_id):
        status, body = self.rest("GET", f"/v1/agent-updates/{update_id}")
        self.assertEqual(status, 200, body)
        return body

    def steps(self, update_id):
        """The rollout's steps in the conductor's log, in order: (board, "asked" | final state)."""
        with open(self.conductor.log_path) as f:
            text = f.read()
        out = []
        pattern = re.compile(rf"agent update {update_id}: (?:asking board=(\S+) to install|"
                             rf"board=(\S+) (online|rolled-back|failed))")
        for m in pattern.finditer(text):
            out.append((m.group(1), "asked") if m.group(1) else (m.group(2), m.group(3)))
        return out

    def test_a_fleet_rolls_two_at_a_time_and_the_first_failure_stops_it(self):
        fleet_id, order = self.fleet_of("pis", 3)
        wait_until(lambda: all(self.listed()[b].get("agentVersion") for b in order), what="versions in the list")

        # 1. A working 0.1.0-2, two boards at a time.
        good = ota.repack(self.deb, "0.1.0-2", self.tmp)
        self.sign(good, self.key)  # <deb>.sig, which `board update` sends along
        out = self.cli("board", "update", "--fleet", "pis", "--deb", good, "--parallel", "2", "--deadline", "60")
        self.assertEqual(out.returncode, 0, out.stdout + out.stderr)
        update_id = re.search(r"update (upd-\S+):", out.stdout).group(1)
        for board_id in order:
            self.assertIn(f"{board_id}: online", out.stdout)
        rollout = self.rollout(update_id)
        self.assertEqual(rollout["state"], "done")
        self.assertEqual(rollout["parallel"], 2)
        self.assertEqual([b["boardId"] for b in rollout["boards"]], order, "the fleet's order")
        self.assertEqual({b["state"] for b in rollout["boards"]}, {"online"})
        for board_id, board in self.boards.items():
            self.assertEqual(board.installed_version(), "0.1.0-2", board_id)
            self.assertEqual(board.helper_runs, 1, board_id)

        # Rolling, from the conductor's own account: the first two asked at once, the third only
        # once one of them was online, never three in flight.
        steps = self.steps(update_id)
        asked = [board for board, what in steps if what == "asked"]
        self.assertEqual(asked, order, steps)
        self.assertEqual(steps[:2], [(order[0], "asked"), (order[1], "asked")], steps)
        third = steps.index((order[2], "asked"))
        self.assertTrue(any(what == "online" for _, what in steps[:third]), steps)
        in_flight, most = 0, 0
        for _, what in steps:
            in_flight += 1 if what == "asked" else -1
            most = max(most, in_flight)
        self.assertEqual(most, 2, steps)
        self.assertEqual(in_flight, 0, steps)

        # Versions per board in `board list`, REST and CLI.
        wait_until(lambda: all(self.listed()[b].get("packageVersion") == "0.1.0-2" for b in order),
                   what="0.1.0-2 for every board in the list")
        listing = self.cli("board", "list")
        self.assertEqual(listing.returncode, 0, listing.stderr)
        for board_id in order:
            line = next(line for line in listing.stdout.splitlines() if line.startswith(board_id))
            self.assertIn("0.1.0-2", line)

        # 2. An agent that exits at once, one board at a time: the first board rolls back by
        # itself, the rollout stops there and the other two are never asked.
        broken = ota.repack(self.deb, "0.1.0-3", self.tmp, broken=True)
        out = self.cli("board", "update", "--fleet", fleet_id, "--deb", broken, "--sign-key", self.key + ".key",
                       "--deadline", "15")
        self.assertEqual(out.returncode, 4, out.stdout + out.stderr)
        update_id = re.search(r"update (upd-\S+):", out.stdout).group(1)
        rollout = self.rollout(update_id)
        self.assertEqual(rollout["state"], "stopped")
        self.assertIn(f"board {order[0]} rolled-back", rollout["stopReason"])
        self.assertEqual([b["state"] for b in rollout["boards"]], ["rolled-back", "pending", "pending"])
        self.assertEqual([b for b, what in self.steps(update_id) if what == "asked"], [order[0]])
        for board_id in order:
            self.assertEqual(self.boards[board_id].installed_version(), "0.1.0-2", board_id)
        self.assertEqual([self.boards[b].helper_runs for b in order], [2, 1, 1])
        for board_id in order:
            wait_until(lambda: self.conductor.status_of(self.token, board_id) == "online", timeout=30,
                       what=f"{board_id} online on 0.1.0-2")
        wait_until(lambda: self.listed()[order[0]].get("packageVersion") == "0.1.0-2", what="0.1.0-2 again")

    def test_a_conductor_restart_mid_rollout_leaves_it_interrupted(self):
        fleet_id, order = self.fleet_of("pair", 2)
        first, second = order
        good = ota.repack(self.deb, "0.1.0-2", self.tmp)
        status, package = self.upload(good, self.sign(good, self.key))
        self.assertEqual(status, 201, package)
        self.boards[first].gate.clear()  # staged, but its helper waits: the board stays `installing`
        status, rollout = self.rest("POST", "/v1/agent-updates", {"package": package["sha256"], "fleetId": fleet_id,
                                                                  "parallel": 1, "deadlineSeconds": 120})
        self.assertEqual(status, 201, rollout)
        update_id = rollout["id"]
        wait_until(lambda: self.rollout(update_id)["boards"][0]["state"] == "installing", timeout=60,
                   what="the first board staged the package")

        # The registry has it (written off the router's strand, so wait for the write), then the
        # conductor dies without a chance to write anything more.
        def stored_state():
            db = sqlite3.connect(self.conductor.store, timeout=5)
            try:
                row = db.execute("SELECT state FROM agent_rollout_boards WHERE rollout_id = ? AND position = 0",
                                 (update_id,)).fetchone()
                return row[0] if row else None
            finally:
                db.close()
        wait_until(lambda: stored_state() == "installing", what="the installing state stored")
        self.conductor.stop(sig=signal.SIGKILL)
        self.conductor.start()
        self.token = self.conductor.login()

        rollout = self.rollout(update_id)
        self.assertEqual(rollout["state"], "interrupted")
        self.assertIn("the conductor restarted", rollout["stopReason"])
        self.assertEqual([b["boardId"] for b in rollout["boards"]], order)
        self.assertEqual([b["state"] for b in rollout["boards"]], ["installing", "pending"])
        self.assertEqual(rollout["package"]["signature"], package["signature"], "kept with the rollout")
        status, updates = self.rest("GET", "/v1/agent-updates")
        self.assertEqual(status, 200, updates)
        self.assertEqual(updates["updates"][0]["id"], update_id)
        out = self.cli("board", "updates")
        self.assertEqual(out.returncode, 0, out.stderr)
        self.assertRegex(out.stdout, rf"{update_id}\s+interrupted\s+0\.1\.0-2\s+2\s+0 online")
        out = self.cli("board", "updates", update_id)
        self.assertEqual(out.returncode, 0, out.stderr)
        self.assertIn("state: interrupted", out.stdout)
        self.assertIn("reason: the conductor restarted", out.stdout)

        # The first board's helper goes on: the new agent joins the new conductor and reports; the
        # rollout records it but asks nobody else.
        self.boards[first].gate.set()
        wait_until(lambda: self.rollout(update_id)["boards"][0]["state"] == "online", timeout=120,
                   what="the installing board's report after the restart")
        self.assertEqual(self.boards[first].installed_version(), "0.1.0-2")
        rollout = self.rollout(update_id)
        self.assertEqual(rollout["state"], "interrupted")
        self.assertEqual(rollout["boards"][1]["state"], "pending")
        self.assertEqual(self.boards[second].installed_version(), VERSION)
        self.assertEqual(self.boards[second].helper_runs, 0)
        self.assertNotIn((second, "asked"), self.steps(update_id))
        wait_until(lambda: self.listed()[first].get("packageVersion") == "0.1.0-2", what="0.1.0-2 listed")
        # The other board rejoined the new conductor too; its version is asked once it is online.
        wait_until(lambda: self.listed()[second].get("agentVersion"), timeout=30,
                   what="the other board's version, asked on rejoining")

        # The operator runs the update again for the board left pending.
        out = self.cli("board", "update", second, "--deb", good, "--deadline", "60")
        self.assertEqual(out.returncode, 0, out.stdout + out.stderr)
        self.assertIn(f"{second}: online", out.stdout)
        self.assertEqual(self.boards[second].installed_version(), "0.1.0-2")


if __name__ == "__main__":
    unittest.main()
