"""The authorization matrix of docs/SECURITY.md, cell by cell, against a real conductor.

The table in the section "Authorization matrix" is the source: this test parses it, checks that
it names every REST route the conductor registers, then for each row and each principal
(anonymous, admin, operator A, operator B, board A, board B) makes the request and checks the
answer: allowed → neither 401 nor 403 (WAMP: no ABORT, no wamp.error.not_authorized), refused →
401 or 403 (WAMP: the join is refused or the ERROR is wamp.error.not_authorized)."""

import asyncio
import http.client
import io
import json
import os
import re
import tarfile
import unittest

from autobahn.wamp.exception import ApplicationError
from autobahn.wamp.types import PublishOptions, SubscribeOptions

import wamp_client
from harness import ConductorTestCase

ROOT = os.path.normpath(os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", ".."))
SECURITY_MD = os.path.join(ROOT, "docs", "SECURITY.md")
PRINCIPALS = ["anonymous", "admin", "operator A", "operator B", "board A", "board B"]
PASSWORD = "matrix-operator-pw"
NOT_AUTHORIZED = "wamp.error.not_authorized"


def parse_matrix():
    """{row key: {principal: "allowed"|"refused"}} from the table of the section."""
    with open(SECURITY_MD) as f:
        text = f.read()
    assert "## Authorization matrix" in text, "docs/SECURITY.md has no section 'Authorization matrix'"
    section = text.split("## Authorization matrix", 1)[1].split("\n## ", 1)[0]
    header, rows = None, {}
    for line in section.splitlines():
        if not line.startswith("|"):
            continue
        cells = [c.strip() for c in line.strip().strip("|").split("|")]
        if cells[0] == "request":
            header = cells[1:]
            assert header == PRINCIPALS, header
            continue
        if set(cells[0]) <= set("-"):
            continue
        key = re.fullmatch(r"`([^`]+)`", cells[0])
        assert key, f"first column must be in backticks: {line}"
        assert len(cells) == 1 + len(PRINCIPALS), line
        assert all(c in ("allowed", "refused") for c in cells[1:]), line
        assert key.group(1) not in rows, f"row {key.group(1)} twice"
        rows[key.group(1)] = dict(zip(PRINCIPALS, cells[1:]))
    return rows


# Routes the conductor's server serves itself, before the REST route table: HTTP requests for a
# board's service through a tunnel (cloud-conductor/server/http_session.hpp, Proxy).
SERVER_ROUTES = {"GET /v1/boards/{id}/proxy/{port}"}
# ... and a service's authenticated connections, WebSocket upgrades only (issue 17, review M4).
SERVER_ROUTES.add("GET /v1/services/{id}/connect")
# The upgrade a service connection is: board A is offline in this world, so an allowed caller
# gets 503 (the tunnel cannot open), a refused one 401 or 403 before any upgrade.
UPGRADE_HEADERS = {"Upgrade": "websocket", "Connection": "Upgrade", "Sec-WebSocket-Version": "13",
                   "Sec-WebSocket-Key": "dGhlIHNhbXBsZSBub25jZQ=="}


def registered_routes():
    """Every "METHOD /path" the REST resources add (routes.Add({...}) or the add(...) helpers),
    and the SERVER_ROUTES."""
    routes = set(SERVER_ROUTES)
    rest_dir = os.path.join(ROOT, "cloud-conductor", "rest")
    for name in sorted(os.listdir(rest_dir)):
        if name.endswith(".cpp"):
            with open(os.path.join(rest_dir, name)) as f:
                source = f.read()
            for m in re.finditer(r'(?:routes\.Add\(\{|add\()"(GET|POST|PUT|PATCH|DELETE)", "(/[^"]*)"', source):
                routes.add(f"{m.group(1)} {m.group(2)}")
    return routes


def package(name):
    """A minimal sh function package (.tar.gz bytes)."""
    spec = {"name": name, "version": "1.0.0", "runtime": "sh", "entrypoint": "main.sh", "timeoutMs": 5000}
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w:gz") as tar:
        for path, text, mode in (("function.json", json.dumps(spec), 0o644), ("main.sh", "#!/bin/sh\necho '{}'\n", 0o755)):
            data = text.encode()
            info = tarfile.TarInfo(path)
            info.size = len(data)
            info.mode = mode
            tar.addfile(info, io.BytesIO(data))
    return buf.getvalue()


class AuthzMatrixTest(ConductorTestCase):
    def http(self, method, path, token=None, body=None, raw=None, content_type="application/json", headers=None):
        """(status, text). Server-sent event streams are closed after their headers."""
        conn = http.client.HTTPConnection("127.0.0.1", self.conductor.port, timeout=30)
        try:
            data = raw if raw is not None else (json.dumps(body).encode() if body is not None else None)
            headers = {**(headers or {}), "Content-Type": content_type}
            if token:
                headers["X-Auth-Token"] = token
            conn.request(method, path, body=data, headers=headers)
            resp = conn.getresponse()
            if (resp.getheader("Content-Type") or "").startswith("text/event-stream"):
                return resp.status, ""
            return resp.status, resp.read().decode(errors="replace")
        finally:
            conn.close()

    def admin(self, method, path, body=None, expect=(200, 201), **kw):
        status, text = self.http(method, path, self.token, body, **kw)
        self.assertIn(status, expect, f"{method} {path}: {text}")
        return json.loads(text) if text else None

    # ---- the world: projects A and B, one operator and one board each, objects of A ----

    def fresh_name(self, prefix):
        self.counter = getattr(self, "counter", 0) + 1
        return f"{prefix}-{self.counter}"

    def new_board(self, project):
        body = self.admin("POST", "/v1/boards", {"name": self.fresh_name("brd"), "projectId": project})
        return body["board"]["id"], body["enrolmentCode"]

    def enrol(self, code):
        status, text = self.http("POST", "/v1/enrol", body={"code": code, "hostname": "matrix"})
        self.assertIn(status, (200, 201), text)
        return json.loads(text)

    def new_function(self, project):
        return self.admin("POST", f"/v1/functions?project={project}", raw=package(self.fresh_name("fn")),
                          content_type="application/gzip")["id"]

    def new_flow(self, project):
        """A flow of `project` with its one node on board A (offline while the world is built)."""
        nodes = [{"id": "t1", "type": "tab", "label": "matrix"},
                 {"id": "n1", "type": "inject", "z": "t1", "board": self.world["board A"], "wires": []}]
        return self.admin("POST", f"/v1/flows?project={project}",
                          {"name": self.fresh_name("flow"), "nodes": nodes})["id"]

    def new_service(self, board):
        """A tunnel service on `board` (its conductor port listens; board A is offline here)."""
        return self.admin("POST", "/v1/services", {"boardId": board, "boardPort": 22})["id"]

    def new_trigger(self, function):
        """A schedule trigger of `function` (issue 18, wt-trig): no broker needed."""
        return self.admin("POST", "/v1/triggers", {"type": "schedule", "functionId": function,
                                                   "schedule": "0 0 * * *"})["id"]

    def build_world(self):
        w = {}
        for side in ("A", "B"):
            w["project " + side] = self.admin("POST", "/v1/projects", {"name": f"proj-{side.lower()}"})["id"]
            user = self.admin("POST", "/v1/users", {"name": f"op-{side.lower()}", "password": PASSWORD,
                                                     "projectId": w["project " + side]})
            w["user " + side] = user["id"]
            board_id, code = self.new_board(w["project " + side])
            enrolled = self.enrol(code)
            w["board " + side] = board_id
            w["secret " + side] = enrolled["secret"]
        w["fleet A"] = self.admin("POST", "/v1/fleets", {"name": "fleet-a", "projectId": w["project A"]})["id"]
        w["function A"] = self.new_function(w["project A"])
        self.world = w
        w["flow A"] = self.new_flow(w["project A"])
        w["service A"] = self.new_service(w["board A"])
        w["trigger A"] = self.new_trigger(w["function A"])

    def login(self, principal):
        if principal in ("operator A", "operator B"):
            return self.conductor.login(f"op-{principal[-1].lower()}", PASSWORD)
        return self.conductor.login()

    def credentials(self):
        w = self.world
        return {
            "anonymous": None,
            "admin": self.token,
            "operator A": self.login("operator A"),
            "operator B": self.login("operator B"),
            # A board has no REST credential: its WAMP-CRA secret must not pass for a token.
            "board A": w["secret A"],
            "board B": w["secret B"],
        }

    # ---- REST: one request per row, objects of project A ----

    def rest_request(self, key, principal, token):
        """(method, path, kwargs for http(), token) for the row; None when the row is not REST."""
        w = self.world
        a_board, a_fn, a_fleet = w["board A"], w["function A"], w["fleet A"]
        method, pattern = key.split(" ", 1)
        fresh = {
            "DELETE /v1/projects/{id}": lambda: "/v1/projects/" + self.admin(
                "POST", "/v1/projects", {"name": self.fresh_name("gone")})["id"],
            "DELETE /v1/users/{id}": lambda: "/v1/users/" + self.admin(
                "POST", "/v1/users", {"name": self.fresh_name("gone"), "password": PASSWORD,
                                      "projectId": w["project A"]})["id"],
            "DELETE /v1/boards/{id}": lambda: "/v1/boards/" + self.new_board(w["project A"])[0],
            "DELETE /v1/fleets/{id}": lambda: "/v1/fleets/" + self.admin(
                "POST", "/v1/fleets", {"name": self.fresh_name("gone"), "projectId": w["project A"]})["id"],
            "DELETE /v1/functions/{id}": lambda: "/v1/functions/" + self.new_function(w["project A"]),
            "DELETE /v1/flows/{id}": lambda: "/v1/flows/" + self.new_flow(w["project A"]),
            "DELETE /v1/services/{id}": lambda: "/v1/services/" + self.new_service(w["board A"]),
            "DELETE /v1/triggers/{id}": lambda: "/v1/triggers/" + self.new_trigger(w["function A"]),
        }
        if key in fresh:
            return method, fresh[key](), {}, token
        if key == "DELETE /v1/auth/tokens/current":
            # Revokes the token it is sent with: users log in again for it.
            return method, "/v1/auth/tokens/current", {}, self.login(principal) if principal in (
                "admin", "operator A", "operator B") else token
        if key == "POST /v1/enrol":
            return method, "/v1/enrol", {"body": {"code": self.new_board(w["project A"])[1]}}, token
        requests = {
            "GET /healthz": ("/healthz", {}),
            "GET /metrics": ("/metrics", {}),
            "POST /v1/auth/tokens": ("/v1/auth/tokens", {"body": {"username": "op-a", "password": PASSWORD}}),
            "GET /v1/auth/whoami": ("/v1/auth/whoami", {}),
            "GET /v1/projects": ("/v1/projects", {}),
            "POST /v1/projects": ("/v1/projects", {"body": {"name": self.fresh_name("proj")}}),
            "GET /v1/projects/{id}": ("/v1/projects/" + w["project A"], {}),
            "GET /v1/users": ("/v1/users", {}),
            "POST /v1/users": ("/v1/users", {"body": {"name": self.fresh_name("usr"), "password": PASSWORD,
                                                      "projectId": w["project A"]}}),
            "GET /v1/users/{id}": ("/v1/users/" + w["user A"], {}),
            "GET /v1/boards": ("/v1/boards", {}),
            "POST /v1/boards": ("/v1/boards", {"body": {"name": self.fresh_name("brd"), "projectId": w["project A"]}}),
            "GET /v1/boards/{id}": ("/v1/boards/" + a_board, {}),
            "POST /v1/boards/{id}/calls/{procedure}": (f"/v1/boards/{a_board}/calls/sys.ping", {"body": {}}),
            "GET /v1/boards/{id}/gpio": (f"/v1/boards/{a_board}/gpio", {}),
            "GET /v1/boards/{id}/gpio/events": (f"/v1/boards/{a_board}/gpio/events?line=GPIO17", {}),
            "GET /v1/boards/{id}/gpio/{line}": (f"/v1/boards/{a_board}/gpio/GPIO17", {}),
            "PUT /v1/boards/{id}/gpio/{line}": (f"/v1/boards/{a_board}/gpio/GPIO17", {"body": {"value": 1}}),
            "GET /v1/boards/{id}/gpio/{line}/history": (f"/v1/boards/{a_board}/gpio/GPIO17/history", {}),
            "GET /v1/fleets": ("/v1/fleets", {}),
            "POST /v1/fleets": ("/v1/fleets", {"body": {"name": self.fresh_name("flt"), "projectId": w["project A"]}}),
            "GET /v1/fleets/{id}": ("/v1/fleets/" + a_fleet, {}),
            "PUT /v1/fleets/{id}/boards/{boardId}": (f"/v1/fleets/{a_fleet}/boards/{a_board}", {}),
            "DELETE /v1/fleets/{id}/boards/{boardId}": (f"/v1/fleets/{a_fleet}/boards/{a_board}", {}),
            "GET /v1/functions": ("/v1/functions", {}),
            "POST /v1/functions": (f"/v1/functions?project={w['project A']}",
                                   {"raw": package(self.fresh_name("fn")), "content_type": "application/gzip"}),
            "GET /v1/functions/{id}": ("/v1/functions/" + a_fn, {}),
            "POST /v1/functions/{id}/deployments": (f"/v1/functions/{a_fn}/deployments", {"body": {"boardIds": [a_board]}}),
            "GET /v1/functions/{id}/deployments": (f"/v1/functions/{a_fn}/deployments", {}),
            "DELETE /v1/functions/{id}/deployments/{boardId}": (f"/v1/functions/{a_fn}/deployments/{a_board}", {}),
            "POST /v1/functions/{id}/invocations": (f"/v1/functions/{a_fn}/invocations",
                                                    {"body": {"boardId": a_board, "async": True}}),
            "GET /v1/functions/{id}/invocations": (f"/v1/functions/{a_fn}/invocations", {}),
            "GET /v1/functions/{id}/invocations/{invocationId}": (f"/v1/functions/{a_fn}/invocations/inv-none", {}),
            "GET /v1/functions/{id}/stats": (f"/v1/functions/{a_fn}/stats", {}),
            "GET /v1/flows": ("/v1/flows", {}),
            "POST /v1/flows": (f"/v1/flows?project={w['project A']}",
                               {"body": {"name": self.fresh_name("flow"), "nodes": [{"id": "t", "type": "tab"}]}}),
            "GET /v1/flows/{id}": ("/v1/flows/" + w["flow A"], {}),
            "GET /v1/flows/{id}/status": (f"/v1/flows/{w['flow A']}/status", {}),
            "GET /v1/boards/{id}/proxy/{port}": (f"/v1/boards/{a_board}/proxy/8080/", {}),
            "GET /v1/services": ("/v1/services", {}),
            "POST /v1/services": ("/v1/services", {"body": {"boardId": a_board, "boardPort": 8080}}),
            "GET /v1/services/{id}": ("/v1/services/" + w["service A"], {}),
        }
        # Board management (issue 16).
        requests.update({
            "POST /v1/boards/{id}/restart": (f"/v1/boards/{a_board}/restart", {"body": {}}),
            "POST /v1/boards/{id}/reboot": (f"/v1/boards/{a_board}/reboot", {"body": {}}),
            "GET /v1/boards/{id}/logs": (f"/v1/boards/{a_board}/logs?lines=5", {}),
        })
        # Triggers (issue 18, wt-trig): objects of function A's project.
        requests.update({
            "GET /v1/triggers": ("/v1/triggers", {}),
            "POST /v1/triggers": ("/v1/triggers", {"body": {"type": "schedule", "functionId": a_fn,
                                                            "schedule": "30 1 * * *"}}),
            "GET /v1/triggers/{id}": ("/v1/triggers/" + w["trigger A"], {}),
        })
        # Browser logins to boards' HTTP services (issue 17).
        requests.update({
            "POST /v1/boards/{id}/proxy-logins": (f"/v1/boards/{a_board}/proxy-logins", {"body": {"port": 8080}}),
        })
        # Authenticated service connections (issue 17, review M4): the service's project or admins.
        requests.update({
            "GET /v1/services/{id}/connect": (f"/v1/services/{w['service A']}/connect", {"headers": UPGRADE_HEADERS}),
        })
        # Agent updates over the air (issue 16): admins only. An admin's request is well formed
        # enough to pass authorization and then fails on its content (400/404): still "allowed".
        requests.update({
            "POST /v1/agent-packages": ("/v1/agent-packages", {"raw": b"not a deb",
                                                               "content_type": "application/vnd.debian.binary-package"}),
            "GET /v1/agent-packages": ("/v1/agent-packages", {}),
            "POST /v1/agent-updates": ("/v1/agent-updates", {"body": {"package": "0" * 64, "boardIds": [a_board]}}),
            "GET /v1/agent-updates": ("/v1/agent-updates", {}),
            "GET /v1/agent-updates/{id}": ("/v1/agent-updates/upd-none", {}),
        })
        self.assertIn(key, requests, f"the matrix row {key} has no request in this test")
        path, kw = requests[key]
        return method, path, kw, token

    # ---- WAMP: one session per principal ----

    def wamp_target(self, key, principal):
        """(action, uri, options) for a WAMP row, in terms of board A."""
        a = self.world["board A"]
        slug = principal.replace(" ", "_").lower()
        targets = {
            "WAMP join realm edgewire": ("join", None, None),
            "WAMP call ew.board.<A>.*": ("call", f"ew.board.{a}.sys.ping", None),
            "WAMP register ew.board.<A>.*": ("register", f"ew.board.{a}.matrix.{slug}", None),
            "WAMP subscribe ew.board.<A>.*": ("subscribe", f"ew.board.{a}.status", None),
            "WAMP subscribe-prefix ew.board.<A>": ("subscribe", f"ew.board.{a}", "prefix"),
            "WAMP subscribe-wildcard ew.board.<A>..*": ("subscribe", f"ew.board.{a}..event", "wildcard"),
            "WAMP publish ew.board.<A>.*": ("publish", f"ew.board.{a}.log", None),
            "WAMP subscribe-prefix ew.board": ("subscribe", "ew.board", "prefix"),
            "WAMP subscribe-wildcard ew.board..status": ("subscribe", "ew.board..status", "wildcard"),
            "WAMP subscribe ew.flow.<A>.*": ("subscribe", f"ew.flow.{self.world['flow A']}.wire.n1.0", None),
            "WAMP subscribe-prefix ew.flow.<A>": ("subscribe", f"ew.flow.{self.world['flow A']}", "prefix"),
            "WAMP publish ew.flow.<A>.*": ("publish", f"ew.flow.{self.world['flow A']}.debug", None),
            "WAMP subscribe-wildcard ew.flow..wire": ("subscribe", "ew.flow..wire", "wildcard"),
            "WAMP call ew.conductor.*": ("call", "ew.conductor.fn.fetch", None),
            "WAMP register ew.conductor.*": ("register", f"ew.conductor.matrix.{slug}", None),
            "WAMP subscribe wamp.session.on_leave": ("subscribe", "wamp.session.on_leave", None),
            "WAMP subscribe-prefix wamp.session": ("subscribe", "wamp.session", "prefix"),
            "WAMP subscribe wamp.session.on_join": ("subscribe", "wamp.session.on_join", None),
            "WAMP call com.example.*": ("call", "com.example.matrix.proc", None),
            "WAMP register com.example.*": ("register", f"com.example.matrix.{slug}", None),
            "WAMP subscribe com.example.*": ("subscribe", "com.example.matrix", None),
            "WAMP publish com.example.*": ("publish", "com.example.matrix", None),
        }
        # Board management (issue 16): rebooting is for admins, whichever way it is asked.
        targets["WAMP call ew.board.<A>.sys.reboot"] = ("call", f"ew.board.{a}.sys.reboot", None)
        # Agent updates (issue 16): installing a package can brick a board, admins only.
        targets["WAMP call ew.board.<A>.sys.update"] = ("call", f"ew.board.{a}.sys.update", None)
        # Tunnels (issue 17, review 3 L4): tunnel.* is the conductor's to call, admins refused too.
        targets["WAMP call ew.board.<A>.tunnel.open"] = ("call", f"ew.board.{a}.tunnel.open", None)
        self.assertIn(key, targets, f"the matrix row {key} has no request in this test")
        return targets[key]

    def wamp_creds(self, principal, tokens):
        w = self.world
        if principal == "anonymous":
            return {"method": "anonymous"}
        if principal.startswith("board"):
            side = principal[-1]
            return {"method": "wampcra", "authid": w["board " + side], "secret": w["secret " + side]}
        return {"method": "ticket", "ticket": tokens[principal]}

    async def wamp_outcome(self, session, action, uri, match):
        """"allowed" or "refused" for one WAMP request, and what was seen."""
        try:
            if action == "call":
                await asyncio.wait_for(session.call(uri), 10)
            elif action == "register":
                registration = await asyncio.wait_for(session.register(lambda *a, **k: None, uri), 10)
                await registration.unregister()
            elif action == "subscribe":
                options = SubscribeOptions(match=match) if match else None
                subscription = await asyncio.wait_for(session.subscribe(lambda *a, **k: None, uri, options=options), 10)
                await subscription.unsubscribe()
            elif action == "publish":
                await asyncio.wait_for(session.publish(uri, options=PublishOptions(acknowledge=True)), 10)
            return "allowed", "ok"
        except ApplicationError as e:
            return ("refused" if e.error == NOT_AUTHORIZED else "allowed"), e.error

    async def wamp_cells(self, rows, tokens):
        failures = []
        sessions = {}
        for principal in PRINCIPALS:
            try:
                sessions[principal] = await wamp_client.connect(self.conductor.ws_url, self.wamp_creds(principal, tokens))
            except RuntimeError as e:
                sessions[principal] = e
        # Board A serves the procedure the call rows reach.
        board_a = sessions["board A"]
        self.assertNotIsInstance(board_a, Exception, "board A could not join")
        await board_a.register(lambda: "pong", f"ew.board.{self.world['board A']}.sys.ping")
        for key, expected in rows.items():
            for principal in PRINCIPALS:
                action, uri, match = self.wamp_target(key, principal)
                session = sessions[principal]
                if principal == "anonymous":
                    # A fresh attempt per cell: anonymous never gets a session.
                    try:
                        s = await wamp_client.connect(self.conductor.ws_url, self.wamp_creds(principal, tokens))
                        s.leave()
                        got, seen = "allowed", "joined"
                    except RuntimeError as e:
                        got, seen = "refused", str(e)
                elif isinstance(session, Exception):
                    got, seen = "refused", str(session)
                elif action == "join":
                    got, seen = "allowed", "joined"
                else:
                    got, seen = await self.wamp_outcome(session, action, uri, match)
                if os.environ.get("EW_MATRIX_VERBOSE"):
                    print(f"{key} [{principal}]: {got} ({seen})")
                if got != expected[principal]:
                    failures.append(f"{key} [{principal}]: expected {expected[principal]}, got {got} ({seen})")
        for session in sessions.values():
            if not isinstance(session, Exception):
                session.leave()
        return failures

    def test_every_cell_of_the_matrix(self):
        matrix = parse_matrix()
        rest_rows = {k: v for k, v in matrix.items() if not k.startswith("WAMP ")}
        wamp_rows = {k: v for k, v in matrix.items() if k.startswith("WAMP ")}
        # The table names every route the conductor serves, and no route it does not.
        routes = registered_routes()
        self.assertGreater(len(routes), 30)
        self.assertEqual(set(rest_rows), routes, "docs/SECURITY.md's matrix and the REST routes differ")

        self.build_world()
        tokens = self.credentials()
        failures = []
        for key, expected in rest_rows.items():
            for principal in PRINCIPALS:
                method, path, kw, token = self.rest_request(key, principal, tokens[principal])
                status, text = self.http(method, path, token, **kw)
                got = "refused" if status in (401, 403) else "allowed"
                if os.environ.get("EW_MATRIX_VERBOSE"):
                    print(f"{key} [{principal}]: {status} {text[:120]}")
                if got != expected[principal]:
                    failures.append(f"{key} [{principal}]: expected {expected[principal]}, got {status} {text[:200]}")
                if principal == "operator B" and method == "GET" and status == 200:
                    # Lists answer operator B without a trace of project A.
                    for secret_id in ("project A", "board A", "fleet A", "function A", "user A", "flow A", "service A"):
                        if self.world[secret_id] in text:
                            failures.append(f"{key} [operator B]: the answer names {secret_id}")
        failures += asyncio.run(self.wamp_cells(wamp_rows, tokens))
        self.assertEqual(failures, [], "\n".join(failures))


if __name__ == "__main__":
    unittest.main()
