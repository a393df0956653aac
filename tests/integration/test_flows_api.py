"""Distributed flows through the REST API and the CLI against a real conductor: a flow over two
boards and the cloud is validated, partitioned, stored and deployed; boards are python WAMP
clients (python3-autobahn) that serve ew.board.<id>.flow.deploy/stop/list like an agent and
record what they got. Covers deploy while a board is offline (it gets its partition when it
registers, and from ew.conductor.flow.sync), versions, status, delete, validation errors naming
the node, and the router's authorization of ew.flow.<flow>.* topics."""

import asyncio
import json
import os
import tempfile
import time
import unittest

from autobahn.wamp.exception import ApplicationError
from autobahn.wamp.types import CallResult, PublishOptions, SubscribeOptions

import wamp_client
from harness import ConductorTestCase, cli, wait_until

PASSWORD = "flows-operator-pw"


class FakeBoard:
    """A board session serving the flow procedures as the agent does: deploy records the partition
    and answers {flow, version, state}; stop forgets it; list reports what it runs."""

    def __init__(self, board_id, secret):
        self.board_id = board_id
        self.secret = secret
        self.deploys = []
        self.stops = []
        self.running = {}
        self.session = None
        self.delay = 0  # seconds flow.deploy takes to answer (a slow board)

    async def join(self, ws_url):
        self.session = await wamp_client.connect(
            ws_url, {"method": "wampcra", "authid": self.board_id, "secret": self.secret}, serializer="msgpack")
        prefix = f"ew.board.{self.board_id}."
        await self.session.register(self.deploy, prefix + "flow.deploy")
        await self.session.register(self.stop, prefix + "flow.stop")
        await self.session.register(self.list, prefix + "flow.list")
        await wamp_client.board_ready(self.session)
        return self

    async def deploy(self, **partition):
        if self.delay:
            await asyncio.sleep(self.delay)
        self.deploys.append(partition)
        seen = self.running.get(partition["flow"])
        if seen and seen["version"] > partition["version"]:
            raise ApplicationError("ew.error.conflict", "older than the running version")
        self.running[partition["flow"]] = partition
        return CallResult(flow=partition["flow"], version=partition["version"], state="running")

    def stop(self, flow):
        self.stops.append(flow)
        self.running.pop(flow, None)
        return CallResult()

    def list(self):
        return CallResult(flows=[{"flow": f, "version": p["version"], "state": "running", "nodes": len(p["nodes"]),
                                  "spooled": 3, "dropped": 0} for f, p in self.running.items()])

    def leave(self):
        if self.session:
            self.session.leave()
            self.session = None


def two_board_flow(board_a, board_b, on_b=True):
    """Tab "Board A" (tab property board) with a switch edge → change → (wire to board B) gpio out,
    and a debug left in the cloud on a second tab, reached through link nodes."""
    nodes = [
        {"id": "tA", "type": "tab", "label": "Board A", "board": board_a, "disabled": False, "info": ""},
        {"id": "tC", "type": "tab", "label": "Cloud", "disabled": False, "info": ""},
        {"id": "in1", "type": "edgewire-gpio-in", "z": "tA", "name": "button", "line": 17, "edge": "rising",
         "x": 100, "y": 80, "wires": [["ch1"]]},
        {"id": "ch1", "type": "change", "z": "tA", "name": "", "rules": [{"t": "set", "p": "topic", "pt": "msg",
         "to": "led", "tot": "str"}], "x": 250, "y": 80, "wires": [["out1", "lo1"]]},
        {"id": "lo1", "type": "link out", "z": "tA", "mode": "link", "links": ["li1"], "x": 400, "y": 40, "wires": []},
        {"id": "li1", "type": "link in", "z": "tC", "links": ["lo1"], "x": 100, "y": 80, "wires": [["dbg"]]},
        {"id": "dbg", "type": "debug", "z": "tC", "name": "cloud debug", "active": True, "x": 250, "y": 80, "wires": []},
    ]
    out = {"id": "out1", "type": "edgewire-gpio-out", "z": "tA", "name": "led", "line": 27, "x": 400, "y": 120,
           "wires": []}
    if on_b:
        out["board"] = board_b
    nodes.append(out)
    return nodes


class FlowsApiTest(ConductorTestCase):
    def setUp(self):
        super().setUp()
        status, project = self.rest("POST", "/v1/projects", {"name": "flows"})
        self.assertEqual(status, 201, project)
        self.project = project["id"]
        self.boards = {}
        for name in ("pi-a", "pi-b", "pi-c"):
            board_id, code = self.conductor.create_board(self.token, name, project=self.project)
            status, enrol = self.conductor.rest("POST", "/v1/enrol", {"code": code, "hostname": name})
            self.assertEqual(status, 200, enrol)
            self.boards[name] = FakeBoard(board_id, enrol["secret"])

    def post_flow(self, name, nodes, cloud="external"):
        return self.rest("POST", f"/v1/flows?project={self.project}", {"name": name, "nodes": nodes, "cloud": cloud})

    def partitions(self, body):
        return {p["board"]: p for p in body["partitions"]}

    def test_two_board_flow_deploys_versions_and_deletes(self):
        a, b, c = self.boards["pi-a"], self.boards["pi-b"], self.boards["pi-c"]

        async def scenario():
            await a.join(self.conductor.ws_url)
            await c.join(self.conductor.ws_url)
            # Board B is offline at deploy time.
            status, body = await asyncio.to_thread(self.post_flow, "door", two_board_flow(a.board_id, b.board_id))
            self.assertEqual(status, 201, body)
            flow_id = body["id"]
            self.assertEqual(body["version"], 1)
            parts = self.partitions(body)
            self.assertEqual(set(parts), {"", a.board_id, b.board_id})
            self.assertEqual(parts[""]["state"], "external")
            self.assertEqual(parts[""]["nodes"], 2)
            self.assertEqual(parts[a.board_id]["state"], "deployed")
            self.assertEqual(parts[a.board_id]["nodes"], 3)
            self.assertEqual(parts[b.board_id]["state"], "offline")

            # Board A got its partition: the change node's wire to board B and the link to the
            # cloud became outbound topics.
            self.assertEqual(len(a.deploys), 1)
            pa = a.deploys[0]
            self.assertEqual((pa["flow"], pa["version"], pa["board"]), (flow_id, 1, a.board_id))
            self.assertEqual(sorted(n["id"] for n in pa["nodes"]), ["ch1", "in1", "lo1"])
            topics = {(o["node"], o["port"]): o["topic"] for o in pa["outbound"]}
            self.assertEqual(topics, {("ch1", 0): f"ew.flow.{flow_id}.wire.ch1.0",
                                      ("lo1", 0): f"ew.flow.{flow_id}.wire.lo1.0"})
            self.assertEqual(c.deploys, [])

            # Board B returns: registering flow.deploy gets it its partition.
            await b.join(self.conductor.ws_url)
            await asyncio.to_thread(wait_until, lambda: len(b.deploys) == 1, 10, 0.05, "board B's deploy")
            pb = b.deploys[0]
            self.assertEqual([n["id"] for n in pb["nodes"]], ["out1"])
            self.assertEqual(pb["inbound"], [{"topic": f"ew.flow.{flow_id}.wire.ch1.0", "targets": ["out1"]}])

            def b_deployed():
                status, body = self.rest("GET", f"/v1/flows/{flow_id}/status")
                return status == 200 and self.partitions(body)[b.board_id]["state"] == "deployed" and body
            status_body = await asyncio.to_thread(wait_until, b_deployed, 10, 0.1, "board B deployed")
            sb = self.partitions(status_body)[b.board_id]
            self.assertEqual((sb["runningVersion"], sb["spooled"], sb["dropped"], sb["online"]), (1, 3, 0, True))

            # A board that joins later asks flow.sync: it gets what it lacks and what to stop.
            sync = (await b.session.call("ew.conductor.flow.sync", flows=[{"flow": "flw-gone", "version": 4}])).kwresults
            self.assertEqual(sync["stop"], ["flw-gone"])
            self.assertEqual(sync["deploy"][0]["flow"], flow_id)
            sync = (await b.session.call("ew.conductor.flow.sync", flows=[{"flow": flow_id, "version": 1}])).kwresults
            self.assertEqual((sync["deploy"], sync["stop"]), ([], []))
            with self.assertRaises(ApplicationError):
                await b.session.call("ew.conductor.flow.sync", flows="nope")

            # The flow's topics: boards with a partition and users of the project; not board C.
            wire = f"ew.flow.{flow_id}.wire.ch1.0"
            got = []
            await b.session.subscribe(lambda *args, **kw: got.append((args, kw)), wire)
            await a.session.publish(wire, {"payload": 1}, seq=1, **{"from": a.board_id}, version=1,
                                    options=PublishOptions(acknowledge=True, exclude_me=False))
            await asyncio.to_thread(wait_until, lambda: got, 5, 0.05, "the wire message on board B")
            self.assertEqual(got[0][0][0], {"payload": 1})
            for attempt in (c.session.subscribe(lambda *a: None, wire),
                            c.session.publish(wire, {}, options=PublishOptions(acknowledge=True)),
                            c.session.subscribe(lambda *a: None, f"ew.flow.{flow_id}", options=SubscribeOptions(match="prefix"))):
                with self.assertRaises(ApplicationError) as caught:
                    await attempt
                self.assertEqual(caught.exception.error, "wamp.error.not_authorized")
            user = await wamp_client.connect(self.conductor.ws_url, {"method": "ticket", "ticket": self.operator_token()})
            await user.subscribe(lambda *a: None, f"ew.flow.{flow_id}.debug")
            user.leave()

            # Version 2 leaves board B: it is told to stop; board A gets version 2.
            status, body = await asyncio.to_thread(self.post_flow, "door",
                                                   two_board_flow(a.board_id, b.board_id, on_b=False))
            self.assertEqual(status, 200, body)
            self.assertEqual((body["id"], body["version"]), (flow_id, 2))
            self.assertEqual(set(self.partitions(body)), {"", a.board_id})
            await asyncio.to_thread(wait_until, lambda: b.stops == [flow_id], 10, 0.05, "board B's stop")
            self.assertEqual(a.deploys[-1]["version"], 2)
            # ... and may no longer subscribe to the flow's topics.
            await asyncio.to_thread(wait_until, lambda: True, 0.2)
            with self.assertRaises(ApplicationError):
                await b.session.subscribe(lambda *a: None, f"ew.flow.{flow_id}.wire.ch1.1")

            # Versions are kept as posted.
            status, v1 = await asyncio.to_thread(self.rest, "GET", f"/v1/flows/{flow_id}?version=1")
            self.assertEqual(status, 200, v1)
            self.assertEqual((v1["version"], v1["latestVersion"]), (1, 2))
            self.assertEqual(v1["nodes"], two_board_flow(a.board_id, b.board_id))
            status, _ = await asyncio.to_thread(self.rest, "GET", f"/v1/flows/{flow_id}?version=3")
            self.assertEqual(status, 404)
            status, listing = await asyncio.to_thread(self.rest, "GET", "/v1/flows")
            self.assertEqual([(f["id"], f["version"]) for f in listing["flows"]], [(flow_id, 2)])

            # Delete stops it on board A (board B left already) and forgets it.
            status, _ = await asyncio.to_thread(self.rest, "DELETE", f"/v1/flows/{flow_id}")
            self.assertEqual(status, 204)
            await asyncio.to_thread(wait_until, lambda: a.stops == [flow_id], 10, 0.05, "board A's stop")
            status, _ = await asyncio.to_thread(self.rest, "GET", f"/v1/flows/{flow_id}")
            self.assertEqual(status, 404)
            for board in (a, b, c):
                board.leave()

        asyncio.run(scenario())

    def test_board_offline_at_delete_is_stopped_when_it_returns(self):
        a = self.boards["pi-a"]

        async def scenario():
            await a.join(self.conductor.ws_url)
            status, body = await asyncio.to_thread(self.post_flow, "solo", two_board_flow(a.board_id, a.board_id))
            self.assertEqual(status, 201, body)
            flow_id = body["id"]
            a.leave()
            await asyncio.to_thread(wait_until, lambda: self.conductor.status_of(self.token, a.board_id) == "offline",
                                    10, 0.05, "board A offline")
            status, _ = await asyncio.to_thread(self.rest, "DELETE", f"/v1/flows/{flow_id}")
            self.assertEqual(status, 204)
            self.assertEqual(a.stops, [])
            await a.join(self.conductor.ws_url)
            await asyncio.to_thread(wait_until, lambda: a.stops == [flow_id], 10, 0.05, "the stop on return")
            a.leave()

        asyncio.run(scenario())

    def test_validation_errors_name_the_node_and_change_nothing(self):
        a, b = self.boards["pi-a"].board_id, self.boards["pi-b"].board_id
        broken = two_board_flow(a, b)
        broken[2]["wires"] = [["ch1", "nowhere"]]
        status, body = self.post_flow("bad", broken)
        self.assertEqual(status, 400, body)
        self.assertEqual(body["error"]["code"], "invalid_argument")
        self.assertEqual(body["error"]["message"],
                         'node "in1" (edgewire-gpio-in) on tab "tA": wires to unknown node "nowhere"')
        self.assertEqual(body["error"]["details"], [{"node": "in1", "type": "edgewire-gpio-in", "tab": "tA",
                                                     "message": 'wires to unknown node "nowhere"'}])

        # A node type board runtimes do not implement, placed on a board; and one left in the cloud
        # with the conductor running the cloud partition.
        unsupported = two_board_flow(a, b)
        unsupported[3]["type"] = "exec"
        status, body = self.post_flow("bad", unsupported, cloud="conductor")
        self.assertEqual(status, 400, body)
        self.assertIn('node "ch1" (exec) on tab "tA": type "exec" is not implemented by board', body["error"]["message"])
        messages = [d["message"] for d in body["error"]["details"]]
        self.assertEqual(len(messages), 1, messages)
        cloud_fn = two_board_flow(a, b)
        cloud_fn[6]["type"] = "exec"
        status, body = self.post_flow("bad", cloud_fn, cloud="conductor")
        self.assertEqual(status, 400, body)
        self.assertEqual(body["error"]["details"][0]["node"], "dbg")
        status, body = self.post_flow("ok-external", cloud_fn, cloud="external")
        self.assertEqual(status, 201, body)

        # A board that does not exist, or of another project.
        status, other = self.rest("POST", "/v1/projects", {"name": "other"})
        other_board, _ = self.conductor.create_board(self.token, "pi-other", project=other["id"])
        for board, why in (("brd-0000000000000000", "which does not exist"), (other_board, "of another project")):
            status, body = self.post_flow("bad", two_board_flow(a, board))
            self.assertEqual(status, 400, body)
            self.assertEqual(body["error"]["details"][0]["node"], "out1")
            self.assertIn(why, body["error"]["message"])

        # Subflow recursion, and bodies that are not flows.
        recursive = [{"id": "t", "type": "tab"}, {"id": "sf", "type": "subflow", "in": [], "out": []},
                     {"id": "i", "type": "subflow:sf", "z": "sf", "wires": []}]
        status, body = self.post_flow("bad", recursive)
        self.assertEqual(status, 400, body)
        self.assertIn('subflow "sf" contains itself', body["error"]["message"])
        for bad in ({"name": "bad", "nodes": {}}, {"name": "bad"}, {"name": "bad", "nodes": [], "cloud": "moon"},
                    {"name": "", "nodes": []}, {"name": "bad", "nodes": [], "extra": 1}):
            status, body = self.rest("POST", f"/v1/flows?project={self.project}", bad)
            self.assertEqual(status, 400, (bad, body))

        # Nothing was stored but the one good flow.
        status, listing = self.rest("GET", "/v1/flows")
        self.assertEqual([f["name"] for f in listing["flows"]], ["ok-external"])

    def operator_token(self):
        if not getattr(self, "_operator", None):
            status, user = self.rest("POST", "/v1/users", {"name": "flow-op", "password": PASSWORD,
                                                           "projectId": self.project, "role": "operator"})
            self.assertEqual(status, 201, user)
            self._operator = self.conductor.login("flow-op", PASSWORD)
        return self._operator

    def test_cli_deploy_ls_show_status_rm(self):
        a, b = self.boards["pi-a"], self.boards["pi-b"]
        token = self.operator_token()
        home = tempfile.mkdtemp(dir=self.workdir)
        path = os.path.join(self.workdir, "garage-door.json")
        with open(path, "w") as f:
            json.dump(two_board_flow(a.board_id, b.board_id), f)

        async def scenario():
            await a.join(self.conductor.ws_url)
            out = await asyncio.to_thread(cli, self.conductor, "flow", "deploy", path, "--cloud", "external",
                                          token=token, home=home)
            self.assertEqual(out.returncode, 0, out.stdout + out.stderr)
            self.assertIn("flow garage-door version 1", out.stdout)
            self.assertRegex(out.stdout, rf"{a.board_id}\s+3\s+deployed")
            self.assertRegex(out.stdout, rf"{b.board_id}\s+1\s+offline")
            self.assertRegex(out.stdout, r"\(cloud\)\s+2\s+external")
            a.leave()

        asyncio.run(scenario())
        out = cli(self.conductor, "flow", "ls", token=token, home=home)
        self.assertEqual(out.returncode, 0, out.stderr)
        self.assertRegex(out.stdout, r"flw-[0-9a-f]+\s+garage-door\s+1\s+external")
        out = cli(self.conductor, "flow", "show", "garage-door", token=token, home=home)
        self.assertEqual(out.returncode, 0, out.stderr)
        self.assertIn("version 1, 8 objects in the export", out.stdout)
        out = cli(self.conductor, "flow", "status", "garage-door", token=token, home=home)
        self.assertEqual(out.returncode, 0, out.stderr)
        self.assertRegex(out.stdout, rf"{b.board_id}\s+offline\s+1")
        out = cli(self.conductor, "flow", "show", "garage-door", "--json", token=token, home=home)
        self.assertEqual(json.loads(out.stdout)["name"], "garage-door")
        # A refused flow: the CLI prints the node the conductor named, exit status not 0.
        bad = two_board_flow(a.board_id, b.board_id)
        bad[3]["wires"] = [["ghost"]]
        with open(path, "w") as f:
            json.dump(bad, f)
        out = cli(self.conductor, "flow", "deploy", path, token=token, home=home)
        self.assertNotEqual(out.returncode, 0)
        self.assertIn('node "ch1" (change) on tab "tA": wires to unknown node "ghost"', out.stderr)
        out = cli(self.conductor, "flow", "rm", "garage-door", token=token, home=home)
        self.assertEqual(out.returncode, 0, out.stderr)
        self.assertIn("flow garage-door deleted", out.stdout)
        out = cli(self.conductor, "flow", "ls", token=token, home=home)
        self.assertNotIn("garage-door", out.stdout)

    def test_a_slow_board_gets_a_202_at_once_and_the_cli_follows_it(self):
        a = self.boards["pi-a"]
        token = self.operator_token()
        home = tempfile.mkdtemp(dir=self.workdir)
        path = os.path.join(self.workdir, "slow.json")
        nodes = [{"id": "t", "type": "tab", "board": a.board_id},
                 {"id": "n", "type": "inject", "z": "t", "wires": []}]
        with open(path, "w") as f:
            json.dump(nodes, f)

        async def scenario():
            await a.join(self.conductor.ws_url)
            a.delay = 4
            start = time.monotonic()
            status, body = await asyncio.to_thread(self.post_flow, "slow", nodes)
            took = time.monotonic() - start
            # The conductor answered after its 2 s wait, not after the board.
            self.assertEqual(status, 202, body)
            self.assertLess(took, 3.5)
            self.assertTrue(body["created"])
            self.assertEqual(self.partitions(body)[a.board_id]["state"], "pending")
            status, body = await asyncio.to_thread(self.rest, "POST", f"/v1/flows?project={self.project}&wait=0",
                                                   {"name": "slow", "nodes": nodes, "cloud": "external"})
            self.assertEqual(status, 202, body)
            self.assertEqual((body["version"], body["created"]), (2, False))
            status, body = await asyncio.to_thread(self.rest, "POST", f"/v1/flows?project={self.project}&wait=99999",
                                                   {"name": "slow", "nodes": nodes})
            self.assertEqual(status, 400, body)
            # The CLI follows the pending partition until its board answers.
            out = await asyncio.to_thread(cli, self.conductor, "flow", "deploy", path, "--cloud", "external",
                                          token=token, home=home)
            self.assertEqual(out.returncode, 0, out.stdout + out.stderr)
            self.assertRegex(out.stdout, rf"{a.board_id}\s+1\s+deployed")
            self.assertIn("flow slow version 3", out.stdout)
            a.leave()

        asyncio.run(scenario())

    def test_board_fn_invoke_is_limited_to_its_project(self):
        a = self.boards["pi-a"]

        async def scenario():
            await a.join(self.conductor.ws_url)
            for kwargs, error in (({"function": "no-such-fn", "event": {}}, "wamp.error.no_such_procedure"),
                                  ({"event": {}}, "wamp.error.invalid_argument"),
                                  ({"function": "x", "placement": "mars"}, None)):
                with self.assertRaises(ApplicationError) as caught:
                    await a.session.call("ew.conductor.fn.invoke", **kwargs)
                if error:
                    self.assertEqual(caught.exception.error, error, caught.exception)
            a.leave()

        asyncio.run(scenario())


if __name__ == "__main__":
    unittest.main()
