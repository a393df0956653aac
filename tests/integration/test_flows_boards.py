"""Distributed flows on real agents: a real conductor and two real edgewire-agent processes on
127.0.0.1 with simulated GPIO chips (played through their control sockets; the only faked part).
A flow posted to /v1/flows puts a GPIO input and a change node on board A and a GPIO output on
board B; an edge on A's line drives B's line through the cross wire ew.flow.<flow>.wire.ch1.0.
Board B restarted keeps its partition from disk; messages board A sends while the conductor is
away are spooled and delivered in order when it returns."""

import os
import time
import unittest

from harness import Agent, ConductorTestCase, cli, wait_until
from sim_gpio import SimGpio, sim_chip_config
from test_functions import RUNTIMES, package, sh_spec

# The event is msg.payload (a level, 0 or 1); the result is the other level.
INVERT_SH = """#!/bin/sh
read -r level
echo $((1 - level))
"""


def edge_flow(board_a, board_b):
    """Tab "A" on board A: gpio in GPIO17 (both edges) → change (topic) → gpio out GPIO27 on board B."""
    return [
        {"id": "tA", "type": "tab", "label": "A", "board": board_a, "disabled": False, "info": ""},
        {"id": "in1", "type": "edgewire-gpio-in", "z": "tA", "name": "button", "line": "GPIO17", "edge": "both",
         "pull": "none", "debounce": 0, "read": False, "x": 100, "y": 80, "wires": [["ch1"]]},
        {"id": "ch1", "type": "change", "z": "tA", "name": "to led",
         "rules": [{"t": "set", "p": "topic", "pt": "msg", "to": "led", "tot": "str"}], "x": 250, "y": 80,
         "wires": [["out1"]]},
        {"id": "out1", "type": "edgewire-gpio-out", "z": "tA", "name": "led", "line": "GPIO27", "level": "0",
         "board": board_b, "x": 400, "y": 80, "wires": []},
    ]


def function_flow(board_a, board_b):
    """As edge_flow, with an edgewire-function (run in the cloud) between the change node and B."""
    nodes = edge_flow(board_a, board_b)
    nodes[2]["wires"] = [["fn1"]]
    nodes.append({"id": "fn1", "type": "edgewire-function", "z": "tA", "name": "invert", "function": "invert",
                  "placement": "cloud", "timeout": 30, "x": 300, "y": 160, "wires": [["out1"]]})
    return nodes


class FlowsOnBoardsCase(ConductorTestCase):
    """A conductor, a project "flows", and boards of that project made on demand by board(name):
    each a real agent with a simulated GPIO chip (self.sims[board_id] drives and reads it)."""
    workdir_prefix = "ew-flowboards-"

    def setUp(self):
        super().setUp()
        self.sims = {}
        status, project = self.rest("POST", "/v1/projects", {"name": "flows"})
        self.assertEqual(status, 201, project)
        self.project = project["id"]

    def tearDown(self):
        for sim in self.sims.values():
            sim.close()
        super().tearDown()

    def rest(self, method, path, body=None):
        return self.conductor.rest(method, path, body, token=self.token)

    def board(self, name):
        board_id, code = self.conductor.create_board(self.token, name, project=self.project)
        control = os.path.join(self.workdir, f"{name}-sim.sock")
        agent = Agent(self.workdir, name, extra_config=sim_chip_config(control))
        enrol = agent.enrol(self.conductor.url, code)
        self.assertEqual(enrol.returncode, 0, enrol.stdout + enrol.stderr)
        self.agents[board_id] = agent
        agent.start()
        wait_until(lambda: self.conductor.status_of(self.token, board_id) == "online", what=f"{name} online")
        self.connect_sim(board_id, control)
        return board_id

    def connect_sim(self, board_id, control):
        if board_id in self.sims:
            self.sims[board_id].close()
        self.sims[board_id] = SimGpio.when_ready(control)

    def states(self, flow_id):
        status, body = self.rest("GET", f"/v1/flows/{flow_id}/status")
        self.assertEqual(status, 200, body)
        return {p["board"]: p for p in body["partitions"]}


class FlowsOnBoardsTest(FlowsOnBoardsCase):
    def deploy(self, a, b, nodes=None):
        status, body = self.rest("POST", f"/v1/flows?project={self.project}",
                                 {"name": "edge", "nodes": nodes or edge_flow(a, b), "cloud": "external"})
        self.assertIn(status, (200, 201), body)
        flow_id = body["id"]
        wait_until(lambda: all(self.states(flow_id)[x]["state"] == "deployed" for x in (a, b)), 20, 0.1,
                   "both partitions deployed")
        return flow_id

    def test_edge_on_board_a_drives_gpio_out_on_board_b(self):
        a = self.board("pi-a")
        b = self.board("pi-b")
        sim_a, sim_b = self.sims[a], self.sims[b]
        sim_a.drive("GPIO17", 0)
        flow_id = self.deploy(a, b)
        # gpio out's initial level (0) is set when B's partition starts.
        wait_until(lambda: sim_b.read("GPIO27") == 0, what="B's initial level")

        sim_a.drive("GPIO17", 1)
        wait_until(lambda: sim_b.read("GPIO27") == 1, 10, 0.02, "B's led on after A's rising edge")
        sim_a.drive("GPIO17", 0)
        wait_until(lambda: sim_b.read("GPIO27") == 0, 10, 0.02, "B's led off after A's falling edge")

        # Latency of the whole hop (edge → A's runtime → WAMP → B's runtime → line), loopback.
        hops = []
        for i in range(20):
            level = (i + 1) % 2
            start = time.monotonic()
            sim_a.drive("GPIO17", level)
            wait_until(lambda: sim_b.read("GPIO27") == level, 10, 0.0005, "B follows A")
            hops.append(time.monotonic() - start)
        hops.sort()
        print(f"GPIO edge on A -> gpio out on B: p50 {hops[len(hops) // 2] * 1000:.2f} ms "
              f"(includes the sim socket's polling), max {hops[-1] * 1000:.2f} ms")

        # Board B restarted: its partition comes back from disk, before and without a new deploy.
        self.agents[b].stop()
        self.agents[b].start()
        wait_until(lambda: self.conductor.status_of(self.token, b) == "online", what="B back online")
        self.connect_sim(b, os.path.join(self.workdir, "pi-b-sim.sock"))
        sim_b = self.sims[b]
        wait_until(lambda: self.states(flow_id)[b]["state"] == "deployed", 20, 0.1, "B deployed again")
        time.sleep(0.5)  # B re-subscribes to the wire after its join
        sim_a.drive("GPIO17", 1)
        wait_until(lambda: sim_b.read("GPIO27") == 1, 10, 0.02, "B follows A after its restart")
        with open(self.agents[b].log_path) as log:
            self.assertIn("resumed from disk", log.read())

    @unittest.skipUnless(RUNTIMES, "no container runtime (crun, runc or bwrap) on this host")
    def test_edge_on_board_a_drives_board_b_through_a_function(self):
        a = self.board("pi-a")
        b = self.board("pi-b")
        status, function = self.conductor.rest("POST", f"/v1/functions?project={self.project}",
                                               raw=package(sh_spec("invert"), {"main.sh": INVERT_SH}),
                                               content_type="application/gzip", token=self.token)
        self.assertEqual(status, 201, function)
        sim_a, sim_b = self.sims[a], self.sims[b]
        sim_a.drive("GPIO17", 0)
        self.deploy(a, b, function_flow(a, b))
        wait_until(lambda: sim_b.read("GPIO27") == 0, what="B's initial level")
        sim_a.drive("GPIO17", 1)   # function(1) = 0: B stays low...
        sim_a.drive("GPIO17", 0)   # ...function(0) = 1: B goes high
        wait_until(lambda: sim_b.read("GPIO27") == 1, 30, 0.05, "B high through the function")
        sim_a.drive("GPIO17", 1)
        wait_until(lambda: sim_b.read("GPIO27") == 0, 30, 0.05, "B low through the function")

    def test_messages_sent_while_the_conductor_is_away_arrive_in_order(self):
        a = self.board("pi-a")
        b = self.board("pi-b")
        sim_a, sim_b = self.sims[a], self.sims[b]
        sim_a.drive("GPIO17", 0)
        flow_id = self.deploy(a, b)
        wait_until(lambda: sim_b.read("GPIO27") == 0, what="B's initial level")
        sim_a.drive("GPIO17", 1)
        wait_until(lambda: sim_b.read("GPIO27") == 1, 10, 0.02, "B follows A")

        # The conductor goes away: A keeps running and spools what it sends on the wire.
        self.conductor.stop()
        for level in (0, 1, 0):
            sim_a.drive("GPIO17", level)
        time.sleep(0.3)
        self.assertEqual(sim_b.read("GPIO27"), 1)  # nothing reached B
        self.conductor.start()
        self.token = self.conductor.login()
        for x in (a, b):
            wait_until(lambda: self.conductor.status_of(self.token, x) == "online", 30, 0.1, "boards back")
        # The last spooled level (0) is where B ends, and B's log shows the wire's numbers: the
        # live message (1), then the three spooled ones, in order, each once.
        wait_until(lambda: sim_b.read("GPIO27") == 0, 20, 0.05, "B gets A's spooled messages")
        topic = f"ew.flow.{flow_id}.wire.ch1.0"

        def seqs():
            with open(self.agents[b].log_path) as log:
                return [int(line.split(" seq ")[1].split()[0]) for line in log if topic + " seq " in line]
        wait_until(lambda: seqs() == [1, 2, 3, 4], 10, 0.05, "B's wire log")
        with open(self.agents[a].log_path) as log:
            self.assertNotIn("not spooled", log.read())

    def test_messages_sent_while_the_receiver_is_offline_arrive_in_order_when_it_returns(self):
        a = self.board("pi-a")
        b = self.board("pi-b")
        sim_a, sim_b = self.sims[a], self.sims[b]
        sim_a.drive("GPIO17", 0)
        flow_id = self.deploy(a, b)
        wait_until(lambda: sim_b.read("GPIO27") == 0, what="B's initial level")
        sim_a.drive("GPIO17", 1)
        wait_until(lambda: sim_b.read("GPIO27") == 1, 10, 0.02, "B follows A")

        # Board B goes away; A goes on sending on the wire: the conductor keeps it for B.
        self.agents[b].stop()
        wait_until(lambda: self.conductor.status_of(self.token, b) == "offline", 10, 0.05, "B offline")
        for level in (0, 1, 0, 1):
            sim_a.drive("GPIO17", level)
        wait_until(lambda: self.states(flow_id)[b]["relayBuffered"] == 4, 10, 0.05, "four messages kept for B")
        self.assertEqual(self.states(flow_id)[b]["relayDropped"], 0)
        out = cli(self.conductor, "flow", "status", flow_id, token=self.token)
        self.assertEqual(out.returncode, 0, out.stderr)
        # BOARD STATE VERSION RUNNING SPOOLED DROPPED KEPT KEPT-DROPPED: B is offline, 4 kept for it.
        self.assertRegex(out.stdout, rf"{b}\s+\S+\s+1\s+1\s+-\s+-\s+4\s+0")

        # B returns: its partition comes back from disk, subscribes, and gets the four in order.
        self.agents[b].start()
        wait_until(lambda: self.conductor.status_of(self.token, b) == "online", 30, 0.1, "B back")
        self.connect_sim(b, os.path.join(self.workdir, "pi-b-sim.sock"))
        topic = f"ew.flow.{flow_id}.wire.ch1.0"

        def seqs():
            with open(self.agents[b].log_path) as log:
                return [int(line.split(" seq ")[1].split()[0]) for line in log if topic + " seq " in line]
        wait_until(lambda: seqs() == [1, 2, 3, 4, 5], 20, 0.05, "B's wire log: the live message, then the kept ones")
        wait_until(lambda: self.sims[b].read("GPIO27") == 1, 10, 0.05, "B at A's last level")
        self.assertEqual(self.states(flow_id)[b]["relayBuffered"], 0)
        with open(self.conductor.log_path) as log:
            self.assertIn("4 wire message(s) kept while it was away delivered on " + topic, log.read())


if __name__ == "__main__":
    unittest.main()
