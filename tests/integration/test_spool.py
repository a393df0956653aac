"""The agent's on-disk spool, end to end: a real conductor and a real agent with a simulated chip.
While the conductor is away, trigger outcomes (stream fn.report) and the edges of watched lines
(stream gpio.event) are kept on the board's disk; the agent is killed (kill -9) and restarted in
the middle of it; when the conductor is back everything arrives once, in order."""

import os
import signal
import struct
import unittest

from harness import wait_until
from sim_gpio import SimGpio
from test_functions import RUNTIMES, sh_spec
import test_gpio
from test_gpio import GpioTestCase

# Returns the trigger event it was given: its timestampNs (the board's monotonic clock, which an
# agent restart does not reset) orders the outcomes.
ECHO_SH = """#!/bin/sh
read -r event
printf '%s\\n' "$event"
"""


def spooled_records(stream_dir):
    """Whole records in a spool stream's segment files (16-byte header: u32 length, u32 crc, u64 seq)."""
    if not os.path.isdir(stream_dir):
        return 0
    count = 0
    for name in sorted(os.listdir(stream_dir)):
        if not name.endswith(".seg"):
            continue
        with open(os.path.join(stream_dir, name), "rb") as f:
            data = f.read()
        offset = 0
        while offset + 16 <= len(data):
            length = struct.unpack_from("<I", data, offset)[0]
            if offset + 16 + length > len(data):
                break
            offset += 16 + length
            count += 1
    return count


class SpoolTestCase(GpioTestCase):
    workdir_prefix = "ew-spool-"

    def conductor_away(self, board_id):
        self.conductor.stop()
        wait_until(lambda: self.agent_logged(board_id, "retrying in"), timeout=15,
                   what="the agent notices the conductor is gone")

    def conductor_back(self, board_id):
        self.conductor.start()
        self.token = self.conductor.login()
        wait_until(lambda: self.conductor.status_of(self.token, board_id) == "online", timeout=30,
                   what=f"{board_id} online again")

    def restart_agent(self, board_id, sim):
        """kill -9, then start the same agent again; returns a SimGpio for its new control socket."""
        agent = self.agents[board_id]
        control = sim.path
        sim.close()
        self.sims.remove(sim)
        agent.kill(signal.SIGKILL)
        os.unlink(control)
        agent.start()
        sim = SimGpio.when_ready(control)
        self.sims.append(sim)
        return sim

    def log_count(self, board_id, text):
        with open(self.agents[board_id].log_path) as log:
            return log.read().count(text)


@unittest.skipUnless(RUNTIMES, "no container runtime (crun, runc or bwrap) on this host: apt-get install runc bubblewrap")
class SpoolTriggerTest(SpoolTestCase):
    upload = test_gpio.GpioFunctionsTest.upload
    deploy = test_gpio.GpioFunctionsTest.deploy

    def test_trigger_outcomes_survive_an_agent_kill_while_the_conductor_is_away(self):
        board_id, sim = self.board()
        fn = self.upload(sh_spec("echo-edge"), {"main.sh": ECHO_SH})
        self.deploy(fn, board_id, triggers=[{"line": "GPIO4", "edge": "rising", "debounceMs": 0}])
        succeeded = f"trigger {fn} on GPIO4: succeeded"

        def edge(sim):
            # One outcome at a time, so that the order outcomes are stored in is the edges' order.
            before = self.log_count(board_id, succeeded)
            sim.drive("GPIO4", 1)
            wait_until(lambda: self.log_count(board_id, succeeded) == before + 1, timeout=20,
                       what="the triggered function's outcome")
            sim.drive("GPIO4", 0)

        self.conductor_away(board_id)
        for _ in range(4):
            edge(sim)
        sim = self.restart_agent(board_id, sim)  # the outcomes are on disk only
        wait_until(lambda: sim.lines()["GPIO4"]["consumer"] == f"trigger:{fn}", what="the trigger restored")
        wait_until(lambda: self.agent_logged(board_id, "stream fn.report: 4 record(s) waiting"), timeout=15,
                   what="the restarted agent finds 4 outcomes in its spool")
        for _ in range(3):
            edge(sim)
        self.conductor_back(board_id)

        def history():
            status, body = self.rest("GET", f"/v1/functions/{fn}/invocations?limit=100")
            self.assertEqual(status, 200, body)
            return [i for i in body["invocations"] if "trigger" in i]

        wait_until(lambda: len(history()) >= 7, timeout=30, what="7 trigger outcomes in the conductor's history")
        records = list(reversed(history()))  # the history is newest first: this is the order they arrived in
        self.assertEqual(len(records), 7, records)  # once each
        stamps = [r["trigger"]["timestampNs"] for r in records]
        self.assertEqual(stamps, sorted(stamps), "outcomes arrive in the order the edges happened")
        self.assertEqual(len(set(stamps)), 7)
        for record in records:
            self.assertEqual(record["status"], "succeeded", record)
            self.assertEqual(record["boardId"], board_id)
        # Nothing is sent twice: another restart with the conductor up finds an empty stream.
        sim = self.restart_agent(board_id, sim)
        wait_until(lambda: sim.lines()["GPIO4"]["consumer"] == f"trigger:{fn}", what="the trigger restored")
        wait_until(lambda: self.conductor.status_of(self.token, board_id) == "online", what="online")
        edge(sim)
        wait_until(lambda: len(history()) == 8, timeout=20, what="the 8th outcome")
        self.assertEqual(len(history()), 8)

        # sys.info shows the stream and its counters: 8 outcomes stored, all acknowledged.
        async def spool_streams():
            s = await self.session()
            info = (await s.call(f"ew.board.{board_id}.sys.info")).kwresults
            s.leave()
            return {stream["name"]: stream for stream in info["spoolStreams"]}

        def report_stream():
            return self.run_async(spool_streams()).get("fn.report")

        wait_until(lambda: (report_stream() or {}).get("records") == "0", what="fn.report drained")
        stream = report_stream()
        self.assertEqual((stream["nextSeq"], stream["policy"], stream["droppedOldest"], stream["corruptRecords"]),
                         ("9", "drop-oldest", "0", "0"), stream)


class SpoolGpioTest(SpoolTestCase):
    def test_watched_edges_while_the_conductor_is_away_reach_the_history_in_order(self):
        board_id, sim = self.board()

        # The watcher's session stays open (never leaves): its watch stays with it.
        async def watch_and_stay():
            s = await self.session()
            await s.call(f"ew.board.{board_id}.gpio.watch", line="GPIO5", edge="both")
            return s

        def history():
            status, body = self.rest("GET", f"/v1/boards/{board_id}/gpio/GPIO5/history")
            self.assertEqual(status, 200, body)
            return [r for r in body["readings"] if r["kind"] == "edge"]

        self.run_async(watch_and_stay())
        sim.drive("GPIO5", 1)  # seq 1, published at once
        # (Acknowledged: it leaves the spool only once the conductor took it, issue 14.)
        wait_until(lambda: len(history()) == 1, what="the live edge in the history")
        self.conductor_away(board_id)
        wait_until(lambda: self.agent_logged(board_id, "watch(es) kept"), what="the watch kept offline")
        for value in (0, 1, 0, 1):  # seq 2..5, spooled
            sim.drive("GPIO5", value)
        self.conductor_back(board_id)

        wait_until(lambda: len(history()) >= 5, timeout=20, what="5 edges in the history")
        edges = history()
        self.assertEqual([r["seq"] for r in edges], [1, 2, 3, 4, 5])
        self.assertEqual([r["value"] for r in edges], [1, 0, 1, 0, 1])
        # The old session's watch is gone once the new session is up.
        wait_until(lambda: not sim.lines()["GPIO5"]["used"], what="GPIO5 released")

    def test_spooled_edges_survive_an_agent_kill(self):
        board_id, sim = self.board()

        async def watch_and_stay():
            s = await self.session()
            await s.call(f"ew.board.{board_id}.gpio.watch", line="GPIO6", edge="both")
            return s

        self.run_async(watch_and_stay())
        self.conductor_away(board_id)
        for value in (1, 0, 1):
            sim.drive("GPIO6", value)
        spool = os.path.join(self.workdir, "pi-spool", "gpio.event")
        wait_until(lambda: spooled_records(spool) == 3, what="the 3 edges in the spool on disk")
        sim = self.restart_agent(board_id, sim)
        self.conductor_back(board_id)

        def history():
            status, body = self.rest("GET", f"/v1/boards/{board_id}/gpio/GPIO6/history")
            self.assertEqual(status, 200, body)
            return [r for r in body["readings"] if r["kind"] == "edge"]

        wait_until(lambda: len(history()) >= 3, timeout=20, what="the 3 spooled edges in the history")
        self.assertEqual([(r["seq"], r["value"]) for r in history()], [(1, 1), (2, 0), (3, 1)])


if __name__ == "__main__":
    unittest.main()
