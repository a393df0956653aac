"""GPIO, end to end: a real conductor and a real agent on 127.0.0.1 whose chip is simulated (the
only faked part: there is no GPIO hardware here). Edges are played into the running agent through
its simulation control socket; everything else goes the way it does on a board: WAMP procedures
and events through the conductor's router, REST, the CLI, functions in real containers that reach
their declared lines through the agent's broker, and edge triggers while the conductor is away."""

import asyncio
import http.client
import json
import os
import subprocess
import unittest

import wamp_client
from harness import CLI, Agent, ConductorTestCase, wait_until
from sim_gpio import SimGpio, sim_chip_config
from test_functions import package, sh_spec, RUNTIMES


class GpioTestCase(ConductorTestCase):
    workdir_prefix = "ew-gpio-"

    def setUp(self):
        super().setUp()
        self.sims = []

    def tearDown(self):
        for sim in self.sims:
            sim.close()
        super().tearDown()

    def board(self, name="pi"):
        """A board whose agent has a simulated Raspberry Pi chip; returns (board id, SimGpio)."""
        board_id, code = self.conductor.create_board(self.token, name)
        control = os.path.join(self.workdir, f"{name}-sim.sock")
        agent = Agent(self.workdir, name, extra_config=sim_chip_config(control))
        enrol = agent.enrol(self.conductor.url, code)
        self.assertEqual(enrol.returncode, 0, enrol.stdout + enrol.stderr)
        self.agents[board_id] = agent
        agent.start()
        wait_until(lambda: self.conductor.status_of(self.token, board_id) == "online", what=f"{board_id} online")
        # Online is the joined session; its procedures register right after (gpio.* among them).
        wait_until(lambda: self.rest("GET", f"/v1/boards/{board_id}/gpio")[0] == 200,
                   what=f"{board_id}'s GPIO procedures")
        sim = SimGpio.when_ready(control)
        self.sims.append(sim)
        return board_id, sim

    def agent_logged(self, board_id, text):
        with open(self.agents[board_id].log_path) as log:
            return text in log.read()

    def run_async(self, coro, timeout=120):
        return asyncio.run(asyncio.wait_for(coro, timeout))

    async def session(self, serializer="json"):
        return await wamp_client.connect(self.conductor.ws_url, {"method": "ticket", "ticket": self.token},
                                         serializer=serializer)


class GpioWampTest(GpioTestCase):
    def test_read_write_and_watch_round_trip_through_the_conductor(self):
        board_id, sim = self.board()
        prefix = f"ew.board.{board_id}.gpio"

        async def scenario():
            s = await self.session()
            events = []
            await s.subscribe(lambda **kw: events.append(kw), f"{prefix}.event")

            info = (await s.call(f"ew.board.{board_id}.sys.info")).kwresults
            self.assertEqual([(c["name"], c["backend"], c["lines"]) for c in info["gpioChips"]], [("sim0", "sim", 28)])
            self.assertEqual(info["gpioChips"][0]["lineNames"][17], "GPIO17")
            chips = (await s.call(f"{prefix}.lines")).kwresults["chips"]
            self.assertEqual([c["name"] for c in chips], ["sim0"])
            self.assertEqual(len(chips[0]["lines"]), 28)

            written = (await s.call(f"{prefix}.write", line="GPIO17", value=1)).kwresults
            self.assertEqual(written, {"chip": "sim0", "line": "GPIO17", "offset": 17, "value": 1})
            self.assertEqual(sim.read("GPIO17"), 1)

            sim.drive("GPIO4", 1)
            self.assertEqual((await s.call(f"{prefix}.read", line="GPIO4")).kwresults["value"], 1)
            self.assertEqual((await s.call(f"{prefix}.read", line="4")).kwresults["value"], 1)

            watch = (await s.call(f"{prefix}.watch", line="GPIO4", edge="both")).kwresults
            self.assertEqual(watch["line"], "GPIO4")
            sim.drive("GPIO4", 0)
            sim.drive("GPIO4", 1)
            for _ in range(200):
                if len(events) >= 2:
                    break
                await asyncio.sleep(0.02)
            self.assertEqual([(e["edge"], e["seq"], e["value"]) for e in events], [("falling", 1, 0), ("rising", 2, 1)])
            self.assertGreater(events[1]["timestampNs"], events[0]["timestampNs"])

            await s.call(f"{prefix}.unwatch", watch=watch["watch"])
            sim.drive("GPIO4", 0)
            await asyncio.sleep(0.3)
            self.assertEqual(len(events), 2)
            self.assertFalse(sim.lines()["GPIO4"]["used"])
            s.leave()

        self.run_async(scenario())

    def test_edges_at_1khz_for_10s_arrive_in_order_without_gaps(self):
        board_id, sim = self.board()
        edges = 10_000

        async def scenario():
            s = await self.session(serializer="msgpack")
            seqs = []
            done = asyncio.get_running_loop().create_future()

            def on_event(**kw):
                seqs.append(kw["seq"])
                if len(seqs) == edges and not done.done():
                    done.set_result(None)

            await s.subscribe(on_event, f"ew.board.{board_id}.gpio.event")
            await s.call(f"ew.board.{board_id}.gpio.watch", line="GPIO4", edge="both")
            # A square wave of 2 ms period flips the level every 1 ms: 1,000 edges a second.
            sim.square("GPIO4", period_us=2000, cycles=edges // 2, paced=True)
            played = await asyncio.get_running_loop().run_in_executor(None, sim.wait_signal)
            self.assertEqual(played["edges"], edges)
            try:
                await asyncio.wait_for(done, 15)
            except asyncio.TimeoutError:
                pass
            self.assertEqual(len(seqs), edges, f"received {len(seqs)} of {edges}")
            self.assertEqual(seqs, list(range(1, edges + 1)))
            s.leave()

        self.run_async(scenario(), timeout=60)

    def test_debounce_drops_bounces(self):
        board_id, sim = self.board()

        async def scenario():
            s = await self.session()
            events = []
            await s.subscribe(lambda **kw: events.append(kw), f"ew.board.{board_id}.gpio.event")
            await s.call(f"ew.board.{board_id}.gpio.watch", line="GPIO4", edge="both", debounceMs=20)
            # A button press that bounces for 3 ms, held 100 ms, then a release that bounces too.
            sim.series("GPIO4", [(0, 1), (500, 0), (500, 1), (1000, 0), (1000, 1),
                                 (100_000, 0), (700, 1), (700, 0)], paced=True)
            await asyncio.get_running_loop().run_in_executor(None, sim.wait_signal)
            for _ in range(100):
                if len(events) >= 2:
                    break
                await asyncio.sleep(0.02)
            await asyncio.sleep(0.2)
            self.assertEqual([(e["edge"], e["seq"]) for e in events], [("rising", 1), ("falling", 2)])
            s.leave()

        self.run_async(scenario())

    def test_two_watchers_share_a_line_and_each_leaving_releases_its_watch(self):
        board_id, sim = self.board()
        prefix = f"ew.board.{board_id}.gpio"

        async def scenario():
            first, second = await self.session(), await self.session("msgpack")
            got = {"first": [], "second": []}
            await first.subscribe(lambda **kw: got["first"].append(kw["seq"]), f"{prefix}.event")
            await second.subscribe(lambda **kw: got["second"].append(kw["seq"]), f"{prefix}.event")
            await first.call(f"{prefix}.watch", line="GPIO22", edge="rising")
            await second.call(f"{prefix}.watch", line="GPIO22", edge="falling")
            for v in (1, 0, 1, 0):
                sim.drive("GPIO22", v)
            for _ in range(100):
                if len(got["first"]) >= 4 and len(got["second"]) >= 4:
                    break
                await asyncio.sleep(0.02)
            self.assertEqual(got["first"], [1, 2, 3, 4])
            self.assertEqual(got["second"], [1, 2, 3, 4])

            # A different debounce on a watched line is refused, naming the settings in force.
            with self.assertRaises(Exception) as refused:
                await second.call(f"{prefix}.watch", line="GPIO22", debounceMs=50)
            self.assertIn("debounce 0 ms", str(refused.exception))

            first.leave()
            await asyncio.sleep(0.3)
            self.assertTrue(sim.lines()["GPIO22"]["used"], "the second watcher still holds the line")
            second.leave()
            await asyncio.sleep(0.1)

        self.run_async(scenario())
        wait_until(lambda: not sim.lines()["GPIO22"]["used"], what="GPIO22 released when both watchers left")

    def test_a_busy_line_names_its_holder(self):
        board_id, sim = self.board()
        prefix = f"ew.board.{board_id}.gpio"

        async def scenario():
            s = await self.session()
            await s.call(f"{prefix}.watch", line="GPIO6")
            with self.assertRaises(Exception) as busy:
                await s.call(f"{prefix}.write", line="GPIO6", value=1)
            self.assertIn("busy", str(busy.exception))
            self.assertIn("held by watch", str(busy.exception))
            with self.assertRaises(Exception) as unknown:
                await s.call(f"{prefix}.read", line="GPIO99")
            self.assertIn("no line", str(unknown.exception))
            s.leave()

        self.run_async(scenario())
        self.assertEqual(sim.read("GPIO6"), 0, "the refused write changed nothing")

    def test_watches_end_with_the_boards_session(self):
        board_id, sim = self.board()

        async def scenario():
            s = await self.session()
            await s.call(f"ew.board.{board_id}.gpio.watch", line="GPIO5")
            s.leave()

        self.run_async(scenario())
        self.conductor.stop()
        # The agent notices the conductor is gone and lets go of the session's lines.
        wait_until(lambda: not sim.lines()["GPIO5"]["used"], timeout=15, what="GPIO5 released")


class GpioRestTest(GpioTestCase):
    def test_rest_reads_writes_and_lists_lines_and_keeps_the_history(self):
        board_id, sim = self.board()
        base = f"/v1/boards/{board_id}/gpio"
        status, body = self.rest("PUT", f"{base}/GPIO17", {"value": 1})
        self.assertEqual(status, 200, body)
        self.assertEqual(body, {"chip": "sim0", "line": "GPIO17", "offset": 17, "value": 1})
        self.assertEqual(sim.read("GPIO17"), 1)
        sim.drive("GPIO4", 1)
        status, body = self.rest("GET", f"{base}/GPIO4")
        self.assertEqual((status, body["value"]), (200, 1), body)
        status, body = self.rest("GET", base)
        self.assertEqual(status, 200, body)
        lines = {l["name"]: l for l in body["chips"][0]["lines"]}
        self.assertEqual(lines["GPIO17"]["direction"], "output")
        self.assertEqual(lines["GPIO17"]["value"], 1)

        # Bad input: a clear error, and nothing written.
        for bad in ({"value": 2}, {"value": "1"}, {"value": 0, "extra": True}, {}):
            status, body = self.rest("PUT", f"{base}/GPIO17", bad)
            self.assertEqual(status, 400, (bad, body))
            self.assertIn("error", body)
        self.assertEqual(sim.read("GPIO17"), 1)
        status, body = self.rest("GET", f"{base}/GPIO99")
        self.assertEqual(status, 404, body)
        status, body = self.rest("PUT", f"{base}/bad%20line", {"value": 1})
        self.assertEqual(status, 400, body)

        def history():
            status, body = self.rest("GET", f"{base}/GPIO17/history")
            self.assertEqual(status, 200, body)
            return body["readings"]

        wait_until(lambda: len(history()) >= 1, what="the write in the history")
        self.assertEqual([(r["kind"], r["value"]) for r in history()], [("write", 1)])

    def test_an_sse_stream_and_the_cli_follow_edges_and_unwatch_when_they_go(self):
        board_id, sim = self.board()
        conn = http.client.HTTPConnection("127.0.0.1", self.conductor.port, timeout=20)
        conn.request("GET", f"/v1/boards/{board_id}/gpio/events?line=GPIO4&edge=both",
                     headers={"X-Auth-Token": self.token, "Accept": "text/event-stream"})
        resp = conn.getresponse()
        self.assertEqual(resp.status, 200)
        self.assertIn("text/event-stream", resp.getheader("Content-Type"))
        wait_until(lambda: sim.lines()["GPIO4"]["consumer"] == "watch", what="the stream's watch")

        cli_watch = subprocess.Popen([CLI, "gpio", "watch", board_id, "GPIO4", "--count", "3", "--json"],
                                     stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                                     env={**os.environ, "EDGEWIRE_URL": self.conductor.url,
                                          "EDGEWIRE_TOKEN": self.token})
        # The CLI's own watch shares the line; both must be on before the edges are driven.
        wait_until(lambda: self.agent_logged(board_id, "watch w2 on GPIO4"), what="the CLI's watch")
        for v in (1, 0, 1):
            sim.drive("GPIO4", v)

        events = []
        while len(events) < 3:
            line = resp.fp.readline().decode()
            self.assertTrue(line, "the stream ended early")
            if line.startswith("data: "):
                events.append(json.loads(line[6:]))
        self.assertEqual([(e["edge"], e["value"]) for e in events], [("rising", 1), ("falling", 0), ("rising", 1)])
        self.assertEqual([e["seq"] for e in events], [1, 2, 3])

        out, err = cli_watch.communicate(timeout=20)
        self.assertEqual(cli_watch.returncode, 0, err)
        cli_events = [json.loads(l) for l in out.splitlines() if l.strip()]
        self.assertEqual([e["edge"] for e in cli_events], ["rising", "falling", "rising"])

        resp.close()  # the conductor unwatches when the client goes
        conn.close()
        wait_until(lambda: not sim.lines()["GPIO4"]["used"], what="GPIO4 released after both watchers went")

        # The edges are in the history too, with the board's timestamps and sequence numbers.
        status, body = self.rest("GET", f"/v1/boards/{board_id}/gpio/GPIO4/history")
        self.assertEqual(status, 200, body)
        edges = [r for r in body["readings"] if r["kind"] == "edge"]
        self.assertEqual([r["seq"] for r in edges], [1, 2, 3])


GPIO_TOGGLE_SH = """#!/bin/sh
read -r event
gpio set GPIO17 1 || exit 3
v=$(gpio get GPIO4) || exit 4
echo "{\\"input\\": $v}"
"""

GPIO_UNDECLARED_SH = """#!/bin/sh
read -r event
if gpio set GPIO18 1 2>/tmp/err; then echo '{"denied": false}'; exit 0; fi
printf '{"denied": true, "message": "%s"}\\n' "$(tr -d '"\\n' </tmp/err)"
"""

# Runs on a rising edge of GPIO4, on the board, with or without the conductor: mirrors it on GPIO27.
GPIO_TRIGGERED_SH = """#!/bin/sh
read -r event
gpio set GPIO27 1
echo '{"ok": true}'
"""


@unittest.skipUnless(RUNTIMES, "no container runtime (crun, runc or bwrap) on this host: apt-get install runc bubblewrap")
class GpioFunctionsTest(GpioTestCase):
    def upload(self, spec, files):
        status, body = self.rest("POST", "/v1/functions", raw=package(spec, files), content_type="application/gzip")
        self.assertEqual(status, 201, body)
        return body["id"]

    def deploy(self, function_id, board_id, **extra):
        status, body = self.rest("POST", f"/v1/functions/{function_id}/deployments", {"boardIds": [board_id], **extra})
        self.assertEqual(status, 202, body)

        def deployed():
            status, body = self.rest("GET", f"/v1/functions/{function_id}/deployments")
            d = {x["boardId"]: x for x in body["deployments"]}.get(board_id)
            if d and d["state"] == "failed":
                raise AssertionError(f"deployment failed: {d}")
            return d and d["state"] == "deployed"

        wait_until(deployed, timeout=30, interval=0.1, what="deployed")

    def invoke(self, function_id, board_id):
        status, body = self.rest("POST", f"/v1/functions/{function_id}/invocations", {"boardId": board_id, "event": {}})
        return status, body

    def test_a_function_toggles_its_declared_line_and_reads_its_input(self):
        board_id, sim = self.board()
        fn = self.upload(sh_spec("toggle", gpio=[{"line": "GPIO17", "direction": "output"},
                                                 {"line": "GPIO4", "direction": "input"}]),
                         {"main.sh": GPIO_TOGGLE_SH})
        self.deploy(fn, board_id)
        sim.drive("GPIO4", 1)
        status, body = self.invoke(fn, board_id)
        self.assertEqual(status, 200, body)
        self.assertEqual(body["status"], "succeeded", body)
        self.assertEqual(body["output"], {"input": 1})
        self.assertEqual(sim.read("GPIO17"), 1)
        wait_until(lambda: not sim.lines()["GPIO17"]["used"], what="GPIO17 released after the invocation")

    def test_a_function_touching_an_undeclared_line_is_denied(self):
        board_id, sim = self.board()
        fn = self.upload(sh_spec("sneaky", gpio=[{"line": "GPIO17", "direction": "output"}]),
                         {"main.sh": GPIO_UNDECLARED_SH})
        self.deploy(fn, board_id)
        status, body = self.invoke(fn, board_id)
        self.assertEqual(status, 200, body)
        self.assertEqual(body["output"]["denied"], True, body)
        self.assertIn("GPIO18", body["output"]["message"])
        self.assertEqual(sim.read("GPIO18"), 0)
        self.assertFalse(sim.lines()["GPIO18"]["used"])
        self.assertTrue(self.agent_logged(board_id, "GPIO18"), "the agent logs the denial")

    def test_an_edge_trigger_fires_the_function_while_the_conductor_is_away(self):
        board_id, sim = self.board()
        fn = self.upload(sh_spec("mirror", gpio=[{"line": "GPIO27", "direction": "output"}]),
                         {"main.sh": GPIO_TRIGGERED_SH})
        self.deploy(fn, board_id, triggers=[{"line": "GPIO4", "edge": "rising", "debounceMs": 5}])
        self.assertEqual(sim.lines()["GPIO4"]["consumer"], f"trigger:{fn}")

        self.conductor.stop()
        wait_until(lambda: self.agent_logged(board_id, "retrying in"), timeout=15, what="agent notices the conductor is gone")
        self.assertEqual(sim.read("GPIO27"), 0)
        sim.drive("GPIO4", 1)
        wait_until(lambda: sim.read("GPIO27") == 1, timeout=20, what="the triggered function set GPIO27")
        wait_until(lambda: self.agent_logged(board_id, f"trigger {fn} on GPIO4: succeeded"), timeout=10,
                   what="the trigger's outcome in the agent's log")

        # Back on line, the board reports what it ran to the function's history.
        self.conductor.start()
        self.token = self.conductor.login()

        def reported():
            status, body = self.rest("GET", f"/v1/functions/{fn}/invocations")
            return status == 200 and [i for i in body["invocations"] if "trigger" in i]

        wait_until(reported, timeout=20, what="the trigger's invocation in the conductor's history")
        record = reported()[0]
        self.assertEqual(record["status"], "succeeded", record)
        self.assertEqual(record["boardId"], board_id)
        self.assertEqual((record["trigger"]["line"], record["trigger"]["edge"]), ("GPIO4", "rising"))


if __name__ == "__main__":
    unittest.main()
