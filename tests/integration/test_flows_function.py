"""Node-RED `function` nodes on a real agent: a real conductor and an edgewire-agent process on
127.0.0.1 with a simulated GPIO chip (played through its control socket; the only faked part).
A flow posted to /v1/flows puts gpio in → function (Duktape, two outputs, initialize code,
node context) → gpio out on the board; an error thrown by the function reaches a catch node on
the board. Code the board's engine cannot compile (an arrow function) and external modules are
refused at deploy time, naming node id, type and tab."""

from harness import wait_until
import test_flows_boards as boards

FUNC = """var n = context.get('edges') + 1;
context.set('edges', n);
if (n === 3) {
    throw new Error('third edge: ' + msg.payload);
}
node.status({fill: 'green', shape: 'dot', text: 'edges ' + n});
return [{payload: 1 - msg.payload}, {payload: n % 2}];"""


def function_flow(board):
    """Tab "F" on `board`: gpio in GPIO17 → fn1 (2 outputs) → gpio out GPIO27 (inverted level) and
    GPIO22 (odd edge count); catch → change (payload 1) → gpio out GPIO23."""
    return [
        {"id": "tF", "type": "tab", "label": "F", "board": board, "disabled": False, "info": ""},
        {"id": "in1", "type": "edgewire-gpio-in", "z": "tF", "name": "button", "line": "GPIO17", "edge": "both",
         "pull": "none", "debounce": 0, "read": False, "x": 100, "y": 80, "wires": [["fn1"]]},
        {"id": "fn1", "type": "function", "z": "tF", "name": "invert and count", "func": FUNC, "outputs": 2,
         "timeout": 0, "noerr": 0, "initialize": "context.set('edges', 0);", "finalize": "", "libs": [],
         "x": 250, "y": 80, "wires": [["out1"], ["out2"]]},
        {"id": "out1", "type": "edgewire-gpio-out", "z": "tF", "name": "inverted", "line": "GPIO27", "level": "1",
         "x": 400, "y": 60, "wires": []},
        {"id": "out2", "type": "edgewire-gpio-out", "z": "tF", "name": "odd", "line": "GPIO22", "level": "0",
         "x": 400, "y": 100, "wires": []},
        {"id": "c1", "type": "catch", "z": "tF", "name": "", "scope": None, "uncaught": False, "x": 100, "y": 160,
         "wires": [["ch1"]]},
        {"id": "ch1", "type": "change", "z": "tF", "name": "alarm",
         "rules": [{"t": "set", "p": "payload", "pt": "msg", "to": "1", "tot": "num"}], "x": 250, "y": 160,
         "wires": [["out3"]]},
        {"id": "out3", "type": "edgewire-gpio-out", "z": "tF", "name": "alarm", "line": "GPIO23", "level": "0",
         "x": 400, "y": 160, "wires": []},
    ]


class FunctionNodeOnBoardTest(boards.FlowsOnBoardsCase):
    workdir_prefix = "ew-flowfn-"

    def setUp(self):
        super().setUp()
        self.board_id = self.board("pi-f")
        self.sim = self.sims[self.board_id]

    def post_flow(self, name, nodes):
        return self.rest("POST", f"/v1/flows?project={self.project}", {"name": name, "nodes": nodes, "cloud": "external"})

    def partition_state(self, flow_id):
        return self.states(flow_id)[self.board_id]["state"]

    def test_function_node_runs_on_the_board(self):
        sim = self.sim
        sim.drive("GPIO17", 0)
        status, body = self.post_flow("fn", function_flow(self.board_id))
        self.assertEqual(status, 201, body)
        flow_id = body["id"]
        wait_until(lambda: self.partition_state(flow_id) == "deployed", 20, 0.1, "partition deployed")
        wait_until(lambda: sim.read("GPIO27") == 1 and sim.read("GPIO22") == 0, what="initial levels")

        sim.drive("GPIO17", 1)  # edge 1: GPIO27 = 1 - 1 = 0, GPIO22 = 1 % 2 = 1
        wait_until(lambda: sim.read("GPIO27") == 0 and sim.read("GPIO22") == 1, 10, 0.02, "edge 1 through fn1")
        sim.drive("GPIO17", 0)  # edge 2: GPIO27 = 1, GPIO22 = 0 (context kept the count)
        wait_until(lambda: sim.read("GPIO27") == 1 and sim.read("GPIO22") == 0, 10, 0.02, "edge 2 through fn1")
        self.assertEqual(sim.read("GPIO23"), 0)
        sim.drive("GPIO17", 1)  # edge 3: fn1 throws → catch → change → GPIO23 = 1; outputs untouched
        wait_until(lambda: sim.read("GPIO23") == 1, 10, 0.02, "the error reached the catch node")
        self.assertEqual(sim.read("GPIO27"), 1)
        self.assertEqual(sim.read("GPIO22"), 0)
        sim.drive("GPIO17", 0)  # edge 4: the node still runs
        wait_until(lambda: sim.read("GPIO27") == 1 and sim.read("GPIO22") == 0, 10, 0.02, "edge 4 through fn1")
        sim.drive("GPIO17", 1)  # edge 5
        wait_until(lambda: sim.read("GPIO27") == 0 and sim.read("GPIO22") == 1, 10, 0.02, "edge 5 through fn1")

    def test_syntax_the_board_engine_lacks_is_refused_at_deploy(self):
        nodes = function_flow(self.board_id)
        nodes[2]["func"] = "return [msg].map(m => ({payload: 1 - m.payload}));"
        status, body = self.post_flow("bad-syntax", nodes)
        self.assertEqual(status, 400, body)
        message = body["error"]["message"]
        self.assertIn('node "fn1" (function) on tab "tF"', message)
        self.assertIn("SyntaxError", message)
        self.assertIn("arrow functions", message)
        self.assertEqual(body["error"]["details"][0]["node"], "fn1")
        self.assertEqual(body["error"]["details"][0]["type"], "function")
        self.assertEqual(body["error"]["details"][0]["tab"], "tF")

        nodes = function_flow(self.board_id)
        nodes[2]["libs"] = [{"var": "fs", "module": "fs"}]
        status, body = self.post_flow("bad-libs", nodes)
        self.assertEqual(status, 400, body)
        self.assertIn('node "fn1" (function) on tab "tF"', body["error"]["message"])
        self.assertIn("cannot be loaded on a board", body["error"]["message"])
        status, body = self.rest("GET", f"/v1/flows?project={self.project}")
        self.assertEqual(status, 200, body)
        self.assertEqual([f["name"] for f in body["flows"]], [], body)  # nothing stored


if __name__ == "__main__":
    import unittest
    unittest.main()
