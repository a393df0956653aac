"""The cloud partition of a flow deployed without Node-RED (POST /v1/flows, cloud "conductor") runs
in the conductor's own C++ flow runtime, joined to the boards' partitions over the same
ew.flow.<flow>.wire.* topics. A real conductor and two real edgewire-agent processes on 127.0.0.1
with simulated GPIO chips: an edge on board A's line goes through a change node (and a debug
node) in the cloud and drives board B's line; the cloud's debug output appears on the flow's
debug topic beside board A's; status, a newer version, delete; an edgewire-function node in the
cloud partition runs an Edgewire function."""

import asyncio
import http.server
import threading
import time
import unittest

import wamp_client
from harness import wait_until
import test_flows_boards as boards
from test_functions import RUNTIMES, package, sh_spec


def cloud_flow(board_a, board_b, topic="via-cloud"):
    """One tab, placed per node. Board A: gpio in GPIO17 → (wire) cloud: change (msg.topic = `topic`) → debug, and
    → (wire) board B: gpio out GPIO27. Board A also has a debug node on its edges."""
    return [
        {"id": "tC", "type": "tab", "label": "Cloud"},
        {"id": "in1", "type": "edgewire-gpio-in", "z": "tC", "board": board_a, "name": "button", "line": "GPIO17", "edge": "both",
         "pull": "none", "debounce": 0, "read": False, "wires": [["ch1", "dbgA"]]},
        {"id": "dbgA", "type": "debug", "z": "tC", "board": board_a, "name": "board debug", "active": True, "wires": []},
        {"id": "ch1", "type": "change", "z": "tC", "name": "in the cloud",
         "rules": [{"t": "set", "p": "topic", "pt": "msg", "to": topic, "tot": "str"}], "wires": [["out1", "dbgC"]]},
        {"id": "dbgC", "type": "debug", "z": "tC", "name": "cloud debug", "active": True, "complete": "true",
         "wires": []},
        {"id": "out1", "type": "edgewire-gpio-out", "z": "tC", "name": "led", "line": "GPIO27", "level": "0",
         "board": board_b, "wires": []},
    ]


class DebugListener:
    """A user session subscribed to a flow's debug topic, on its own event loop thread."""

    def __init__(self, ws_url, token, flow_id):
        self.events = []
        self.loop = asyncio.new_event_loop()
        self.thread = threading.Thread(target=self.loop.run_forever, daemon=True)
        self.thread.start()

        async def join():
            self.session = await wamp_client.connect(ws_url, {"method": "ticket", "ticket": token})
            await self.session.subscribe(lambda *a, **kw: self.events.append(kw), f"ew.flow.{flow_id}.debug")
        asyncio.run_coroutine_threadsafe(join(), self.loop).result(10)

    def close(self):
        self.loop.call_soon_threadsafe(self.session.leave)
        time.sleep(0.1)
        self.loop.call_soon_threadsafe(self.loop.stop)


class CloudPartitionTest(boards.FlowsOnBoardsCase):
    workdir_prefix = "ew-flowcloud-"

    def post(self, nodes, name="via-cloud"):
        start = time.monotonic()
        status, body = self.rest("POST", f"/v1/flows?project={self.project}", {"name": name, "nodes": nodes})
        took = time.monotonic() - start
        self.assertIn(status, (200, 201), body)
        # Every runtime (two boards online, the conductor) answered within the short wait.
        self.assertLess(took, 2.5)
        return body

    def test_cloud_partition_runs_in_the_conductor_between_two_boards(self):
        a = self.board("pi-a")
        b = self.board("pi-b")
        sim_a, sim_b = self.sims[a], self.sims[b]
        sim_a.drive("GPIO17", 0)
        body = self.post(cloud_flow(a, b))
        flow_id = body["id"]
        parts = {p["board"]: p for p in body["partitions"]}
        self.assertEqual(parts[""], {"board": "", "nodes": 2, "state": "deployed"})
        self.assertEqual((parts[a]["state"], parts[b]["state"]), ("deployed", "deployed"))
        status = self.states(flow_id)[""]
        self.assertEqual((status["state"], status["online"], status["runningVersion"]), ("deployed", True, 1))
        wait_until(lambda: sim_b.read("GPIO27") == 0, what="B's initial level")

        listener = DebugListener(self.conductor.ws_url, self.token, flow_id)
        try:
            time.sleep(0.3)  # A (re)subscribed to nothing new; the listener's SUBSCRIBE is in
            sim_a.drive("GPIO17", 1)
            wait_until(lambda: sim_b.read("GPIO27") == 1, 10, 0.02, "B's led on through the cloud")
            sim_a.drive("GPIO17", 0)
            wait_until(lambda: sim_b.read("GPIO27") == 0, 10, 0.02, "B's led off through the cloud")
            # The cloud's debug output is on the flow's debug topic with board A's: board "" is the
            # cloud, and its message went through the cloud's change node.
            wait_until(lambda: len([e for e in listener.events if e.get("board") == ""]) >= 2, 10, 0.05,
                       "the cloud's debug output")
            cloud = [e for e in listener.events if e.get("board") == ""]
            self.assertEqual(cloud[0]["node"], "dbgC")
            self.assertEqual(cloud[0]["name"], "cloud debug")
            self.assertEqual((cloud[0]["msg"]["topic"], cloud[0]["msg"]["payload"]), ("via-cloud", 1))
            self.assertEqual(cloud[1]["msg"]["payload"], 0)
            wait_until(lambda: any(e.get("board") == a and e.get("node") == "dbgA" for e in listener.events), 10, 0.05,
                       "board A's debug output")

            # Version 2 changes the cloud's change node: the conductor runs the new one.
            body = self.post(cloud_flow(a, b, topic="v2"))
            self.assertEqual((body["id"], body["version"]), (flow_id, 2))
            self.assertEqual({p["board"]: p["state"] for p in body["partitions"]}[""], "deployed")
            time.sleep(0.5)  # the boards' partitions of version 2 subscribe again
            count = len(cloud)
            sim_a.drive("GPIO17", 1)
            wait_until(lambda: sim_b.read("GPIO27") == 1, 10, 0.02, "B follows A on version 2")
            wait_until(lambda: len([e for e in listener.events if e.get("board") == ""]) > count, 10, 0.05,
                       "version 2's debug output")
            last = [e for e in listener.events if e.get("board") == ""][-1]
            self.assertEqual(last["msg"]["topic"], "v2")
            self.assertEqual(self.states(flow_id)[""]["runningVersion"], 2)

            # Deleted: the cloud partition stops with the boards' ones; nothing reaches B any more.
            status, _ = self.rest("DELETE", f"/v1/flows/{flow_id}")
            self.assertEqual(status, 204)
            time.sleep(0.5)
            sim_a.drive("GPIO17", 0)
            time.sleep(0.5)
            self.assertEqual(sim_b.read("GPIO27"), 1)
        finally:
            listener.close()
        with open(self.conductor.log_path) as log:
            text = log.read()
        self.assertIn(f"cloud flow {flow_id} v1 running in the conductor", text)
        self.assertIn(f"cloud flow {flow_id} v2 stopped", text)

    def test_cloud_partition_survives_a_conductor_restart(self):
        a = self.board("pi-a")
        b = self.board("pi-b")
        sim_a, sim_b = self.sims[a], self.sims[b]
        sim_a.drive("GPIO17", 0)
        flow_id = self.post(cloud_flow(a, b))["id"]
        wait_until(lambda: sim_b.read("GPIO27") == 0, what="B's initial level")
        sim_a.drive("GPIO17", 1)
        wait_until(lambda: sim_b.read("GPIO27") == 1, 10, 0.02, "B follows A")
        # The conductor restarts: the stored cloud partition runs again, with a new publisher name,
        # so board B does not take its first messages for duplicates of the last run's.
        self.conductor.stop()
        self.conductor.start()
        self.token = self.conductor.login()
        for x in (a, b):
            wait_until(lambda: self.conductor.status_of(self.token, x) == "online", 30, 0.1, "boards back")
        wait_until(lambda: self.states(flow_id)[""]["runningVersion"] == 1, 10, 0.1, "the cloud partition back")
        time.sleep(2.0)  # boards resubscribe after their join (and A's resume delay passes)
        sim_a.drive("GPIO17", 0)
        wait_until(lambda: sim_b.read("GPIO27") == 0, 10, 0.02, "B follows A after the restart")
        sim_a.drive("GPIO17", 1)
        wait_until(lambda: sim_b.read("GPIO27") == 1, 10, 0.02, "and again")

    def test_nodes_the_cloud_cannot_run_are_refused_naming_them(self):
        a = self.board("pi-a")
        nodes = cloud_flow(a, a)
        nodes[3]["type"] = "exec"  # the cloud's change node: a type no C++ runtime has
        status, body = self.rest("POST", f"/v1/flows?project={self.project}", {"name": "bad", "nodes": nodes})
        self.assertEqual(status, 400, body)
        self.assertEqual(body["error"]["details"][0]["node"], "ch1")
        self.assertIn("not implemented by the conductor's flow runtime", body["error"]["message"])
        nodes = cloud_flow(a, a)
        del nodes[5]["board"]  # gpio out left in the cloud
        status, body = self.rest("POST", f"/v1/flows?project={self.project}", {"name": "bad", "nodes": nodes})
        self.assertEqual(status, 400, body)
        self.assertIn('node "out1" (edgewire-gpio-out) on tab "tC": needs a board\'s GPIO', body["error"]["message"])
        # Owned by a Node-RED editor, the cloud may hold any node.
        status, body = self.rest("POST", f"/v1/flows?project={self.project}",
                                 {"name": "ok", "nodes": nodes, "cloud": "external"})
        self.assertEqual(status, 201, body)

    @unittest.skipUnless(RUNTIMES, "no container runtime (crun, runc or bwrap) on this host")
    def test_function_node_in_the_cloud_runs_an_edgewire_function(self):
        a = self.board("pi-a")
        b = self.board("pi-b")
        status, function = self.conductor.rest("POST", f"/v1/functions?project={self.project}",
                                               raw=package(sh_spec("invert"), {"main.sh": boards.INVERT_SH}),
                                               content_type="application/gzip", token=self.token)
        self.assertEqual(status, 201, function)
        nodes = cloud_flow(a, b)
        nodes[3]["wires"] = [["fn1"]]
        nodes.append({"id": "fn1", "type": "edgewire-function", "z": "tC", "name": "invert", "function": "invert",
                      "placement": "cloud", "timeout": 30, "wires": [["out1"]]})
        sim_a, sim_b = self.sims[a], self.sims[b]
        sim_a.drive("GPIO17", 0)
        self.post(nodes)
        wait_until(lambda: sim_b.read("GPIO27") == 0, what="B's initial level")
        sim_a.drive("GPIO17", 1)   # invert(1) = 0: B stays low...
        sim_a.drive("GPIO17", 0)   # ...invert(0) = 1: B goes high
        wait_until(lambda: sim_b.read("GPIO27") == 1, 30, 0.05, "B high through the cloud's function call")
        sim_a.drive("GPIO17", 1)
        wait_until(lambda: sim_b.read("GPIO27") == 0, 30, 0.05, "B low through the cloud's function call")


class Listener:
    """An HTTP server on 127.0.0.1 that counts requests (a service on the conductor's network)."""

    def __init__(self, body):
        hits = self.hits = []

        class Handler(http.server.BaseHTTPRequestHandler):
            def do_GET(self):
                hits.append(self.path)
                self.send_response(200)
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, *args):
                pass
        self.server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.port = self.server.server_address[1]
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def close(self):
        self.server.shutdown()
        self.server.server_close()


class CloudOutboundTest(boards.FlowsOnBoardsCase):
    """The conductor's cloud partitions dial only [flows] cloud_outbound: an http request or mqtt
    node in a flow cannot make the conductor reach a service on its own network (SSRF)."""
    workdir_prefix = "ew-flowout-"

    def setUp(self):
        self.listed = Listener(b"listed")
        self.secret = Listener(b"secret")
        self.conductor_config = f'[flows]\ncloud_outbound = ["127.0.0.1:{self.listed.port}"]\n'
        super().setUp()

    def tearDown(self):
        super().tearDown()
        self.listed.close()
        self.secret.close()

    def flow(self, request, before=None):
        """inject (once) → [before] → http request → debug, all in the cloud."""
        nodes = [{"id": "tO", "type": "tab", "label": "Out"},
                 {"id": "inj", "type": "inject", "z": "tO", "once": True, "onceDelay": 0.1, "repeat": "",
                  "payload": "", "payloadType": "date", "wires": [[before["id"] if before else "req"]]},
                 dict({"id": "req", "type": "http request", "z": "tO", "method": "GET", "ret": "txt", "url": "",
                       "wires": [["dbg"]]}, **request),
                 {"id": "dbg", "type": "debug", "z": "tO", "active": True, "complete": "true", "wires": []},
                 {"id": "cat", "type": "catch", "z": "tO", "scope": None, "wires": [["dbg"]]}]
        if before:
            nodes.append(dict(before, z="tO", wires=[["req"]]))
        return nodes

    def test_cloud_nodes_dial_only_the_listed_places(self):
        # A fixed URL off the list, or an MQTT broker off it: the cloud partition does not load (its
        # deploy answer says why, naming the node), and nothing runs.
        def refused(name, nodes, node):
            status, body = self.rest("POST", f"/v1/flows?project={self.project}", {"name": name, "nodes": nodes})
            self.assertEqual(status, 201, body)
            cloud = [p for p in body["partitions"] if p["board"] == ""][0]
            self.assertEqual(cloud["state"], "failed", body)
            self.assertIn("cloud_outbound", cloud["error"])
            self.assertIn(f"node {node} ", cloud["error"])
            self.assertEqual(self.rest("DELETE", f"/v1/flows/{body['id']}")[0], 204)
        for url in (f"http://127.0.0.1:{self.secret.port}/", f"http://localhost:{self.listed.port}/",
                    f"http://127.1:{self.listed.port}/", "http://169.254.169.254/latest/meta-data/"):
            refused("probe", self.flow({"url": url}), "req")
        mqtt = [{"id": "tM", "type": "tab", "label": "M"},
                {"id": "b1", "type": "mqtt-broker", "broker": "127.0.0.1", "port": str(self.secret.port)},
                {"id": "min", "type": "mqtt in", "z": "tM", "broker": "b1", "topic": "#", "qos": "0",
                 "datatype": "auto-detect", "wires": [[]]}]
        refused("mqtt-probe", mqtt, "min")

        # A URL from the message is checked on each request: the error reaches the flow, the
        # service sees nothing.
        set_url = {"id": "seturl", "type": "change", "name": "",
                   "rules": [{"t": "set", "p": "url", "pt": "msg", "to": f"http://127.0.0.1:{self.secret.port}/x",
                              "tot": "str"}]}
        body = self.post_and_listen(self.flow({}, before=set_url))
        wait_until(lambda: any("cloud_outbound" in str(e) for e in body.events), what="the refusal in the debug output")
        body.close()
        # The listed place works.
        listening = self.post_and_listen(self.flow({"url": f"http://127.0.0.1:{self.listed.port}/ok"}), name="ok")
        wait_until(lambda: any(e.get("msg") == "listed" or "listed" in str(e) for e in listening.events),
                   what="the listed service's answer in the debug output")
        listening.close()
        self.assertEqual(self.secret.hits, [], "the conductor never reached the unlisted service")
        self.assertEqual(self.listed.hits, ["/ok"])

    def post_and_listen(self, nodes, name="out"):
        # Listen before the inject fires: its flow id is known only after the POST, so post a
        # first version without the inject's "once", subscribe, then post the real one.
        quiet = [dict(n, once=False) if n.get("type") == "inject" else n for n in nodes]
        status, body = self.rest("POST", f"/v1/flows?project={self.project}", {"name": name, "nodes": quiet})
        self.assertIn(status, (200, 201), body)
        listener = DebugListener(self.conductor.ws_url, self.token, body["id"])
        status, again = self.rest("POST", f"/v1/flows?project={self.project}", {"name": name, "nodes": nodes})
        self.assertIn(status, (200, 201), again)
        return listener


if __name__ == "__main__":
    unittest.main()
