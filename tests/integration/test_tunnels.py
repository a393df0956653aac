"""Reverse tunnels (issue 17) end to end: a real conductor and real agents on 127.0.0.1, TCP
services on the boards' loopback (Python servers standing in for sshd or a web UI), clients on
the services' conductor ports. Echo, 100 MB both ways at once with equal checksums, 100
concurrent connections, memory under a slow consumer, an agent killed mid-transfer, offline
boards and refused ports, forged/reused/foreign tokens, project isolation, restart, delete,
metrics, the CLI, and the same over the conductor's own TLS."""

import asyncio
import base64
import hashlib
import http.client
import os
import re
import select
import socket
import signal
import socketserver
import subprocess
import ssl
import threading
import time
import unittest

import wamp_client
from autobahn.wamp.exception import ApplicationError
from harness import CLI, Agent, ConductorTestCase, cli, wait_until

TUNNEL_CONFIG = """[tunnels]
port_first = 0
open_timeout_ms = 5000
"""


class _Handler(socketserver.BaseRequestHandler):
    def handle(self):
        self.server.behaviour(self.request)


class LocalService(socketserver.ThreadingTCPServer):
    """A TCP service on the board's loopback; `behaviour(conn)` serves one connection."""
    daemon_threads = True
    allow_reuse_address = True
    request_queue_size = 512  # the default 5 drops the SYNs of a burst of 100 connections

    def __init__(self, behaviour):
        super().__init__(("127.0.0.1", 0), _Handler)
        self.behaviour = behaviour
        threading.Thread(target=self.serve_forever, daemon=True).start()

    @property
    def port(self):
        return self.server_address[1]

    def stop(self):
        self.shutdown()
        self.server_close()


def echo(conn):
    """Echoes until the client half-closes, then half-closes too."""
    while True:
        data = conn.recv(256 * 1024)
        if not data:
            break
        conn.sendall(data)
    conn.shutdown(socket.SHUT_WR)


def firehose(conn):
    """Sends as fast as the reader takes it, until the connection breaks."""
    chunk = os.urandom(64 * 1024)
    try:
        while True:
            conn.sendall(chunk)
    except OSError:
        pass


def pattern(size, seed):
    """`size` deterministic bytes."""
    block = hashlib.sha256(seed.encode()).digest() * 2048  # 64 KiB
    return (block * (size // len(block) + 1))[:size]


def recv_all(sock, timeout=60):
    sock.settimeout(timeout)
    parts = []
    while True:
        data = sock.recv(256 * 1024)
        if not data:
            return b"".join(parts)
        parts.append(data)


async def wait_for_async(predicate, timeout=10):
    deadline = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() > deadline:
            raise AssertionError("timed out")
        await asyncio.sleep(0.02)


def rss_kib(pid):
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    raise AssertionError("no VmRSS")


def ws_upgrade(port, path, board, use_tls=False, ca=None):
    """(status, body) of a WebSocket upgrade request, as a board's tunnel dial would send it."""
    if use_tls:
        context = ssl.create_default_context(cafile=ca)
        conn = http.client.HTTPSConnection("127.0.0.1", port, timeout=10, context=context)
    else:
        conn = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
    try:
        headers = {"Upgrade": "websocket", "Connection": "Upgrade", "Sec-WebSocket-Version": "13",
                   "Sec-WebSocket-Key": base64.b64encode(os.urandom(16)).decode()}
        if board:
            headers["X-Edgewire-Board"] = board
        conn.request("GET", path, headers=headers)
        resp = conn.getresponse()
        return resp.status, (resp.read().decode(errors="replace") if resp.status != 101 else "")
    finally:
        conn.close()


class TunnelTestCase(ConductorTestCase):
    conductor_extra = ""  # more conductor.toml after TUNNEL_CONFIG
    agent_extra = ""      # more agent.toml

    def setUp(self):
        self.conductor_config = TUNNEL_CONFIG + self.conductor_extra
        self.services = []
        super().setUp()

    def tearDown(self):
        for service in self.services:
            service.stop()
        super().tearDown()

    def local(self, behaviour):
        service = LocalService(behaviour)
        self.services.append(service)
        return service

    def board(self, name, start=True, project=None):
        board_id, code = self.conductor.create_board(self.token, name, project)
        agent = Agent(self.workdir, name, extra_config=self.agent_extra)
        ca = ["--ca-file", self.conductor.tls.ca] if self.conductor.tls else []
        enrol = agent.enrol(self.conductor.url, code, *ca)
        self.assertEqual(enrol.returncode, 0, enrol.stdout + enrol.stderr)
        self.agents[name] = agent
        if start:
            agent.start()
            wait_until(lambda: self.conductor.status_of(self.token, board_id) == "online", what=f"{name} online")
        return board_id

    def open_service(self, board_id, board_port, token=None, **extra):
        body = {"boardId": board_id, "boardPort": board_port, **extra}
        status, resp = self.conductor.rest("POST", "/v1/services", body, token or self.token)
        self.assertEqual(status, 201, resp)
        return resp

    def connect(self, service):
        sock = socket.create_connection(("127.0.0.1", service["conductorPort"]), timeout=30)
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        return sock

    def round_trip(self, service, message):
        with self.connect(service) as sock:
            sock.sendall(message)
            sock.shutdown(socket.SHUT_WR)
            return recv_all(sock)

    def service_state(self, service_id):
        status, body = self.rest("GET", f"/v1/services/{service_id}")
        self.assertEqual(status, 200, body)
        return body

    def log(self):
        with open(self.conductor.log_path) as f:
            return f.read()

    def project_operator(self, tag):
        """A new project "proj-<tag>" and an API token of its operator "op-<tag>"."""
        _, project = self.rest("POST", "/v1/projects", {"name": f"proj-{tag}"})
        return project, self.operator(f"op-{tag}", project["id"])

    def operator(self, name, project):
        """An API token of a new user of `project` (not an admin)."""
        status, body = self.rest("POST", "/v1/users", {"name": name, "password": "tunnel-operator-pw",
                                                      "projectId": project})
        self.assertEqual(status, 201, body)
        return self.conductor.login(name, "tunnel-operator-pw")

    def enrolled_board(self, name, project=None):
        """(board id, secret) of a board enrolled by hand, for a WAMP client to play it."""
        board, code = self.conductor.create_board(self.token, name, project)
        status, enrolled = self.conductor.rest("POST", "/v1/enrol", {"code": code, "hostname": "t"})
        self.assertIn(status, (200, 201), enrolled)
        return board, enrolled["secret"]

    async def token_keeper(self, board, secret, opens):
        """A WAMP session playing `board`: it answers tunnel.open and appends the call's arguments
        to `opens` instead of dialling back."""
        session = await wamp_client.connect(self.conductor.ws_url, {
            "method": "wampcra", "authid": board, "secret": secret})

        def tunnel_open(**kwargs):
            opens.append(kwargs)
            return None
        await session.register(tunnel_open, f"ew.board.{board}.tunnel.open")
        await wamp_client.board_ready(session)  # online only now, as an agent is
        return session


class TunnelTest(TunnelTestCase):
    def test_echo_half_close_state_and_metrics(self):
        board = self.board("echo-board")
        local = self.local(echo)
        service = self.open_service(board, local.port)
        self.assertEqual(service["state"], "listening")
        self.assertEqual(service["boardId"], board)
        self.assertGreater(service["conductorPort"], 0)
        self.assertEqual(self.round_trip(service, b"hello through the tunnel"), b"hello through the tunnel")
        # Half-close: the client stops sending, still reads everything the board sends after.
        with self.connect(service) as sock:
            sock.sendall(b"a" * 100_000)
            sock.shutdown(socket.SHUT_WR)
            self.assertEqual(recv_all(sock), b"a" * 100_000)
        wait_until(lambda: self.service_state(service["id"])["liveConnections"] == 0, what="connections closed")
        state = self.service_state(service["id"])
        self.assertEqual(state["totalConnections"], 2)
        self.assertEqual(state["bytesToBoard"], 24 + 100_000)
        self.assertEqual(state["bytesFromBoard"], 24 + 100_000)
        _, listed = self.rest("GET", "/v1/services")
        self.assertEqual([s["id"] for s in listed["services"]], [service["id"]])
        _, metrics = self.conductor.rest("GET", "/metrics")
        port = service["conductorPort"]
        self.assertRegex(metrics, rf'ew_tunnel_bytes_total{{direction="to_board",port="{port}"}} 100024\b')
        self.assertRegex(metrics, rf'ew_tunnel_bytes_total{{direction="from_board",port="{port}"}} 100024\b')
        self.assertRegex(metrics, rf'ew_tunnel_connections_open{{port="{port}"}} 0\b')
        self.assertRegex(metrics, rf'ew_tunnel_connections_total{{port="{port}"}} 2\b')
        self.assertNotIn(service["id"], metrics)

    def test_short_connections_leave_no_tunnel_open(self):
        """Both TCP ends of a short exchange close at once (the client, then the service because
        its client did), so both ends of the tunnel finish together. Only the conductor's side
        sends the WebSocket close frame: when both did, the two ends could wedge until the 5 s
        close timeout, and a run of short connections filled the per-address cap with finished
        tunnels (the tunnel benchmark's 300 connects were reset)."""
        board = self.board("short-board")
        local = self.local(echo)
        service = self.open_service(board, local.port, maxConnections=1024)
        for _ in range(100):
            with self.connect(service) as sock:
                sock.sendall(b"x")
                self.assertEqual(sock.recv(1), b"x")
        # Well inside the 5 s closing-handshake timeout that used to end them.
        wait_until(lambda: self.service_state(service["id"])["liveConnections"] == 0, timeout=3.5,
                   what="all 100 tunnels closed")
        with open(self.agents["short-board"].log_path) as f:
            self.assertNotIn("closing handshake timed out", f.read() + self.log())

    def test_bulk_100_mb_both_ways_with_equal_checksums(self):
        board = self.board("bulk-board")
        local = self.local(echo)
        service = self.open_service(board, local.port)
        size = 100 * 1024 * 1024
        sent = hashlib.sha256()
        received = hashlib.sha256()
        counts = {"received": 0}
        with self.connect(service) as sock:
            def send():
                data = pattern(size, "bulk")
                sent.update(data)
                sock.sendall(data)
                sock.shutdown(socket.SHUT_WR)
            sender = threading.Thread(target=send)
            started = time.monotonic()
            sender.start()
            sock.settimeout(120)
            while True:
                data = sock.recv(1 << 20)
                if not data:
                    break
                counts["received"] += len(data)
                received.update(data)
            sender.join()
            elapsed = time.monotonic() - started
        self.assertEqual(counts["received"], size)
        self.assertEqual(received.hexdigest(), sent.hexdigest())
        print(f"100 MiB each way through the tunnel in {elapsed:.2f} s")
        state = self.service_state(service["id"])
        self.assertEqual(state["bytesToBoard"], size)

    def test_100_concurrent_connections(self):
        board = self.board("many-board")
        local = self.local(echo)
        service = self.open_service(board, local.port, maxConnections=150)
        socks = [self.connect(service) for _ in range(100)]
        try:
            # All 100 are spliced at once before any of them finishes.
            wait_until(lambda: self.service_state(service["id"])["liveConnections"] == 100, timeout=20,
                       what="100 live connections")
            for i, sock in enumerate(socks):
                sock.sendall(f"connection {i}".encode() * 100)
                sock.shutdown(socket.SHUT_WR)
            for i, sock in enumerate(socks):
                self.assertEqual(recv_all(sock), f"connection {i}".encode() * 100)
        finally:
            for sock in socks:
                sock.close()
        wait_until(lambda: self.service_state(service["id"])["liveConnections"] == 0, what="all closed")

    def test_connection_limit_and_source_allowlist(self):
        board = self.board("limit-board")
        local = self.local(echo)
        limited = self.open_service(board, local.port, maxConnections=2)
        first, second = self.connect(limited), self.connect(limited)
        wait_until(lambda: self.service_state(limited["id"])["liveConnections"] == 2, what="2 live")
        with self.connect(limited) as third:
            self.assertEqual(recv_all(third, timeout=5), b"")  # closed at once
        first.close()
        second.close()
        wait_until(lambda: self.service_state(limited["id"])["liveConnections"] == 0, what="freed")
        self.assertEqual(self.round_trip(limited, b"again"), b"again")
        # 127.0.0.1 is not in 10.0.0.0/8: refused; in 127.0.0.0/8: served.
        walled = self.open_service(board, local.port, allowCidrs=["10.0.0.0/8"])
        with self.connect(walled) as sock:
            self.assertEqual(recv_all(sock, timeout=5), b"")
        self.assertIn("not in the service's allowCidrs", self.log())
        open_ = self.open_service(board, local.port, allowCidrs=["10.0.0.0/8", "127.0.0.0/8"])
        self.assertEqual(self.round_trip(open_, b"allowed"), b"allowed")
        for bad in (["10.0.0.1/8"], ["nonsense"], ["300.0.0.0/8"], "10.0.0.0/8"):
            status, body = self.rest("POST", "/v1/services", {"boardId": board, "boardPort": 22, "allowCidrs": bad})
            self.assertEqual(status, 400, body)

    def test_slow_consumer_keeps_conductor_memory_bounded(self):
        board = self.board("slow-board")
        local = self.local(firehose)
        service = self.open_service(board, local.port)
        pid = self.conductor.proc.pid
        before = rss_kib(pid)
        with self.connect(service) as sock:
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 64 * 1024)
            got = 0
            deadline = time.monotonic() + 4
            while time.monotonic() < deadline:
                got += len(sock.recv(16 * 1024))
                time.sleep(0.005)
            peak = rss_kib(pid)
        # The board's firehose could have sent gigabytes meanwhile: back-pressure holds it to
        # what the socket buffers take, and the conductor's memory does not follow the producer.
        self.assertGreater(got, 1 << 20)
        self.assertLess(peak - before, 32 * 1024, f"conductor RSS grew from {before} KiB to {peak} KiB")
        state = self.service_state(service["id"])
        self.assertLess(state["bytesFromBoard"], got + 32 * 1024 * 1024)

    def test_agent_killed_mid_transfer_other_tunnels_keep_working(self):
        doomed = self.board("doomed-board")
        survivor = self.board("survivor-board")
        firehose_local = self.local(firehose)
        echo_local = self.local(echo)
        doomed_service = self.open_service(doomed, firehose_local.port)
        survivor_service = self.open_service(survivor, echo_local.port)
        with self.connect(survivor_service) as steady, self.connect(doomed_service) as sock:
            steady.sendall(b"before")
            steady.settimeout(10)
            self.assertEqual(steady.recv(100), b"before")
            sock.settimeout(10)
            self.assertTrue(sock.recv(65536))
            self.agents["doomed-board"].kill()
            # The client sees the end of its connection (EOF or reset) promptly.
            started = time.monotonic()
            try:
                while sock.recv(1 << 20):
                    pass
            except ConnectionResetError:
                pass
            self.assertLess(time.monotonic() - started, 8)
            # The other board's tunnel, open through it all, still carries bytes.
            steady.sendall(b"after")
            self.assertEqual(steady.recv(100), b"after")
        self.assertEqual(self.round_trip(survivor_service, b"new connection"), b"new connection")
        self.assertTrue(self.conductor.healthy())

    def test_offline_board_and_refused_port_close_the_client_promptly(self):
        offline = self.board("offline-board", start=False)
        service = self.open_service(offline, 22)
        started = time.monotonic()
        with self.connect(service) as sock:
            self.assertEqual(recv_all(sock, timeout=5), b"")
        self.assertLess(time.monotonic() - started, 2)
        self.assertIn(f"board {offline} is offline", self.log())
        online = self.board("refusing-board")
        probe = socket.socket()
        probe.bind(("127.0.0.1", 0))
        closed_port = probe.getsockname()[1]
        probe.close()
        refused = self.open_service(online, closed_port)
        started = time.monotonic()
        with self.connect(refused) as sock:
            self.assertEqual(recv_all(sock, timeout=5), b"")
        self.assertLess(time.monotonic() - started, 3)
        wait_until(lambda: "the board could not open the tunnel" in self.log(), what="reason logged")
        self.assertRegex(self.log(), rf"127\.0\.0\.1:{closed_port} on board {online}: [Cc]onnection refused")
        self.assertEqual(self.service_state(refused["id"])["refusedConnections"], 1)

    def test_delete_closes_listener_and_live_connections(self):
        board = self.board("delete-board")
        local = self.local(echo)
        service = self.open_service(board, local.port)
        live = self.connect(service)
        live.sendall(b"x")
        live.settimeout(10)
        self.assertEqual(live.recv(10), b"x")
        status, _ = self.rest("DELETE", f"/v1/services/{service['id']}")
        self.assertEqual(status, 204)
        self.assertEqual(recv_all(live, timeout=5), b"")  # cut
        live.close()
        with self.assertRaises(OSError):
            socket.create_connection(("127.0.0.1", service["conductorPort"]), timeout=2).close()
        status, _ = self.rest("GET", f"/v1/services/{service['id']}")
        self.assertEqual(status, 404)
        status, _ = self.rest("DELETE", f"/v1/services/{service['id']}")
        self.assertEqual(status, 404)

    def test_services_listen_again_after_a_conductor_restart(self):
        board = self.board("restart-board")
        local = self.local(echo)
        service = self.open_service(board, local.port)
        self.conductor.stop()
        self.conductor.start()
        self.token = self.conductor.login()
        wait_until(lambda: self.conductor.status_of(self.token, board) == "online", timeout=15, what="board back")
        state = self.service_state(service["id"])
        self.assertEqual(state["state"], "listening")
        self.assertEqual(state["conductorPort"], service["conductorPort"])
        self.assertEqual(self.round_trip(service, b"after restart"), b"after restart")

    def test_bad_requests_change_nothing(self):
        board = self.board("bad-board", start=False)
        for body in ({}, {"boardId": board}, {"boardId": board, "boardPort": 0},
                     {"boardId": board, "boardPort": 70000}, {"boardId": board, "boardPort": "22"},
                     {"boardId": board, "boardPort": 22, "conductorPort": 80},
                     {"boardId": board, "boardPort": 22, "maxConnections": 0},
                     {"boardId": board, "boardPort": 22, "maxConnections": 1025},
                     {"boardId": board, "boardPort": 22, "extra": 1}):
            status, resp = self.rest("POST", "/v1/services", body)
            self.assertEqual(status, 400, (body, resp))
        status, resp = self.rest("POST", "/v1/services", {"boardId": "brd-nope", "boardPort": 22})
        self.assertEqual(status, 404, resp)
        taken = self.open_service(board, 22)
        status, resp = self.rest("POST", "/v1/services",
                                 {"boardId": board, "boardPort": 23, "conductorPort": taken["conductorPort"]})
        self.assertIn(status, (409, 503), resp)
        _, listed = self.rest("GET", "/v1/services")
        self.assertEqual(len(listed["services"]), 1)

    def test_user_of_another_project_is_refused(self):
        a, op_a = self.project_operator("a")
        _, op_b = self.project_operator("b")
        board = self.board("iso-board", start=False, project=a["id"])
        service = self.open_service(board, 22, token=op_a)
        self.assertEqual(service["projectId"], a["id"])
        status, _ = self.conductor.rest("POST", "/v1/services", {"boardId": board, "boardPort": 80}, op_b)
        self.assertEqual(status, 403)
        status, listed = self.conductor.rest("GET", "/v1/services", token=op_b)
        self.assertEqual((status, listed["services"]), (200, []))
        for method in ("GET", "DELETE"):
            status, _ = self.conductor.rest(method, f"/v1/services/{service['id']}", token=op_b)
            self.assertEqual(status, 403, method)
        status, listed = self.conductor.rest("GET", "/v1/services", token=op_a)
        self.assertEqual([s["id"] for s in listed["services"]], [service["id"]])
        self.assertEqual(self.conductor.rest("DELETE", f"/v1/services/{service['id']}", token=op_a)[0], 204)

    def test_cli_tunnel_open_ls_close(self):
        board = self.board("cli-board")
        local = self.local(echo)
        opened = cli(self.conductor, "tunnel", "open", board, str(local.port), token=self.token)
        self.assertEqual(opened.returncode, 0, opened.stdout + opened.stderr)
        m = re.search(r"(svc-[0-9a-f]+).*?:(\d+)", opened.stdout)
        self.assertTrue(m, opened.stdout)
        service_id, port = m.group(1), int(m.group(2))
        self.assertEqual(self.round_trip({"conductorPort": port}, b"via cli"), b"via cli")
        listed = cli(self.conductor, "tunnel", "ls", token=self.token)
        self.assertEqual(listed.returncode, 0, listed.stderr)
        self.assertIn(service_id, listed.stdout)
        self.assertIn("listening", listed.stdout)
        closed = cli(self.conductor, "tunnel", "close", service_id, token=self.token)
        self.assertEqual(closed.returncode, 0, closed.stderr)
        self.assertEqual(self.rest("GET", f"/v1/services/{service_id}")[0], 404)
        missing = cli(self.conductor, "tunnel", "close", service_id, token=self.token)
        self.assertNotEqual(missing.returncode, 0)


class TunnelTokenTest(TunnelTestCase):
    """The tunnel WebSocket's token, with a board played by a WAMP client that holds board C's
    secret: it registers tunnel.open and keeps the tokens instead of dialling back."""

    def test_forged_reused_and_foreign_tokens_are_rejected(self):
        board_c, secret = self.enrolled_board("token-board")
        board_d = self.board("other-board", start=False)
        port = self.conductor.port
        service = self.open_service(board_c, 4242)
        opens = []  # the board's tunnel.open calls

        async def scenario():
            session = await self.token_keeper(board_c, secret, opens)
            loop = asyncio.get_running_loop()
            first = await loop.run_in_executor(None, self.connect, service)
            await wait_for_async(lambda: len(opens) == 1)
            second = await loop.run_in_executor(None, self.connect, service)
            await wait_for_async(lambda: len(opens) == 2)
            results = {}
            # Forged: never issued.
            results["forged"] = await loop.run_in_executor(
                None, ws_upgrade, port, "/v1/tunnel/" + "A" * 43, board_c)
            # Foreign: a real token, presented for another board (and then spent).
            results["foreign"] = await loop.run_in_executor(
                None, ws_upgrade, port, "/v1/tunnel/" + opens[1]["token"], board_d)
            results["foreign again"] = await loop.run_in_executor(
                None, ws_upgrade, port, "/v1/tunnel/" + opens[1]["token"], board_c)
            # Genuine, then reused.
            results["genuine"] = await loop.run_in_executor(
                None, ws_upgrade, port, "/v1/tunnel/" + opens[0]["token"], board_c)
            results["reused"] = await loop.run_in_executor(
                None, ws_upgrade, port, "/v1/tunnel/" + opens[0]["token"], board_c)
            results["malformed"] = await loop.run_in_executor(
                None, ws_upgrade, port, "/v1/tunnel/../ws", board_c)
            session.leave()
            first.close()
            second.close()
            return results

        results = asyncio.run(scenario())
        self.assertEqual({o["port"] for o in opens}, {4242})
        self.assertEqual(results["genuine"][0], 101, results)
        for key in ("forged", "foreign", "foreign again", "reused", "malformed"):
            self.assertEqual(results[key][0], 403, (key, results[key]))
        self.assertIn("unknown or already used", results["reused"][1])
        self.assertIn("not the board it was issued to", results["foreign"][1])
        # No log line carries a token.
        log = self.log()
        for token in (o["token"] for o in opens):
            self.assertNotIn(token, log)


def read_head(conn):
    """What a board's service read up to the end of a request's head (body bytes read with it
    included), or None when the connection ended first."""
    data = b""
    while b"\r\n\r\n" not in data:
        chunk = conn.recv(65536)
        if not chunk:
            return None
        data += chunk
    return data


def http_app(conn):
    """A tiny HTTP/1.1 service on the board: answers with what it saw; an Upgrade request gets
    101 and then an echo of raw bytes (a stand-in for a WebSocket)."""
    data = read_head(conn)
    if data is None:
        return
    head, body = data.split(b"\r\n\r\n", 1)
    lines = head.decode().split("\r\n")
    headers = {k.lower(): v.strip() for k, v in (line.split(":", 1) for line in lines[1:])}
    if headers.get("upgrade", "").lower() == "websocket":
        conn.sendall(b"HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\r\n")
        if body:
            conn.sendall(body)
        echo(conn)
        return
    length = int(headers.get("content-length", "0"))
    while len(body) < length:
        body += conn.recv(65536)
    seen = {"requestLine": lines[0], "headers": headers, "body": body.decode()}
    import json
    payload = json.dumps(seen).encode()
    conn.sendall(b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: " +
                 str(len(payload)).encode() + b"\r\n\r\n" + payload)


class HttpProxyTest(TunnelTestCase):
    """HTTP services through /v1/boards/{id}/proxy/{port}/ on the conductor's port."""

    def proxy(self, method, path, token, body=None, headers=None):
        conn = http.client.HTTPConnection("127.0.0.1", self.conductor.port, timeout=15)
        try:
            h = dict(headers or {})
            if token:
                h["X-Auth-Token"] = token
            conn.request(method, path, body=body, headers=h)
            resp = conn.getresponse()
            return resp.status, resp.read().decode(errors="replace")
        finally:
            conn.close()

    def test_requests_and_upgrades_reach_the_boards_http_service(self):
        import json
        board = self.board("web-board")
        app = self.local(http_app)
        base = f"/v1/boards/{board}/proxy/{app.port}"
        status, text = self.proxy("GET", base + "/status/page?x=1", self.token)
        self.assertEqual(status, 200, text)
        seen = json.loads(text)
        self.assertEqual(seen["requestLine"], "GET /status/page?x=1 HTTP/1.1")
        self.assertEqual(seen["headers"]["host"], f"127.0.0.1:{app.port}")
        self.assertEqual(seen["headers"]["x-forwarded-prefix"], base)
        self.assertNotIn("x-auth-token", seen["headers"])  # the caller's token stays at the conductor
        status, text = self.proxy("POST", base + "/api", self.token, body=b'{"on": true}',
                                  headers={"Content-Type": "application/json"})
        self.assertEqual(status, 200, text)
        self.assertEqual(json.loads(text)["body"], '{"on": true}')
        self.assertEqual(json.loads(self.proxy("GET", base, self.token)[1])["requestLine"], "GET / HTTP/1.1")
        # A WebSocket upgrade: after the 101, bytes flow both ways.
        with socket.create_connection(("127.0.0.1", self.conductor.port), timeout=15) as sock:
            sock.sendall((f"GET {base}/ws HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
                          f"Sec-WebSocket-Version: 13\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n"
                          f"X-Auth-Token: {self.token}\r\n\r\n").encode())
            got = b""
            while b"\r\n\r\n" not in got:
                got += sock.recv(4096)
            self.assertTrue(got.startswith(b"HTTP/1.1 101"), got)
            sock.sendall(b"frames after the upgrade")
            echoed = b""
            while len(echoed) < 24:
                echoed += sock.recv(4096)
            self.assertEqual(echoed, b"frames after the upgrade")

    def test_callers_and_boards_that_may_not_are_refused(self):
        board = self.board("guarded-board")
        app = self.local(http_app)
        base = f"/v1/boards/{board}/proxy/{app.port}/"
        self.assertEqual(self.proxy("GET", base, None)[0], 401)
        self.assertEqual(self.proxy("GET", base, "not-a-token")[0], 401)
        _, other = self.project_operator("other")
        self.assertEqual(self.proxy("GET", base, other)[0], 403)
        self.assertEqual(self.proxy("GET", f"/v1/boards/{board}/proxy/0/", self.token)[0], 400)
        self.assertEqual(self.proxy("GET", "/v1/boards/brd-none/proxy/80/", self.token)[0], 404)
        probe = socket.socket()
        probe.bind(("127.0.0.1", 0))
        closed_port = probe.getsockname()[1]
        probe.close()
        status, text = self.proxy("GET", f"/v1/boards/{board}/proxy/{closed_port}/", self.token)
        self.assertEqual(status, 503, text)
        self.assertIn("refused", text)
        offline = self.board("offline-web", start=False)
        self.assertEqual(self.proxy("GET", f"/v1/boards/{offline}/proxy/80/", self.token)[0], 503)

    def test_issue17_proxied_bytes_are_counted_in_metrics(self):
        """Review 2, finding 4: proxied HTTP bytes go through the tunnels' splice and its books:
        ew_tunnel_bytes_total{port="proxy"} counts exactly what reached the board and came back."""
        seen = []

        def app(conn):
            data = read_head(conn)
            if data is None:
                return
            head = data.split(b"\r\n\r\n", 1)[0].decode()
            length = int(re.search(r"(?im)^content-length: *(\d+)", head).group(1))
            while len(data) - len(head) - 4 < length:
                data += conn.recv(65536)
            seen.append(data)
            body = b"y" * 30000
            conn.sendall(b"HTTP/1.1 200 OK\r\nContent-Length: " + str(len(body)).encode() + b"\r\n\r\n" + body)

        board = self.board("metered-board")
        local = self.local(app)
        to_name = 'ew_tunnel_bytes_total{direction="to_board",port="proxy"}'
        from_name = 'ew_tunnel_bytes_total{direction="from_board",port="proxy"}'
        to_before = self.conductor.metric(to_name) or 0
        from_before = self.conductor.metric(from_name) or 0
        with socket.create_connection(("127.0.0.1", self.conductor.port), timeout=15) as sock:
            sock.sendall((f"POST /v1/boards/{board}/proxy/{local.port}/upload HTTP/1.1\r\nHost: x\r\n"
                          f"X-Auth-Token: {self.token}\r\nContent-Length: 20000\r\n\r\n").encode() + b"x" * 20000)
            answer = recv_all(sock, timeout=15)
        self.assertTrue(answer.startswith(b"HTTP/1.1 200"), answer[:200])
        self.assertTrue(answer.endswith(b"y" * 30000))
        wait_until(lambda: seen, what="the board's request")

        def counted():
            to_board = (self.conductor.metric(to_name) or 0) - to_before
            from_board = (self.conductor.metric(from_name) or 0) - from_before
            return (to_board, from_board) == (len(seen[0]), len(answer)) or (to_board, from_board)
        result = wait_until(lambda: counted() is True, what="proxied bytes in /metrics")
        self.assertTrue(result, (counted(), len(seen[0]), len(answer)))


def proxy_request(port, method, path, headers=None, body=None):
    """(status, headers dict (lower-case names), body text) of one request on the conductor's port."""
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=15)
    try:
        conn.request(method, path, body=body, headers=headers or {})
        resp = conn.getresponse()
        return resp.status, {k.lower(): v for k, v in resp.getheaders()}, resp.read().decode(errors="replace")
    finally:
        conn.close()


class ProxyLoginTest(TunnelTestCase):
    """Browser logins to a board's HTTP service (issue 17): POST /v1/boards/{id}/proxy-logins gives
    a one-time link; opening it sets a session cookie scoped to that board and port and redirects
    to the clean URL. The browser itself is in tests/e2e/test_board_ui.py; here the cookie's rules."""

    conductor_extra = "proxy_session_ttl_s = 3\n"  # [tunnels]: sessions expire within the test

    def login_link(self, board, port, token=None):
        status, body = self.conductor.rest("POST", f"/v1/boards/{board}/proxy-logins", {"port": port},
                                           token=token or self.token)
        self.assertEqual(status, 201, body)
        return body

    def open_link(self, link):
        status, headers, text = proxy_request(self.conductor.port, "GET", link["url"])
        self.assertEqual(status, 303, text)
        cookie = headers["set-cookie"]
        return headers["location"], cookie, cookie.split(";", 1)[0]

    def test_login_link_sets_a_scoped_cookie_that_reaches_only_its_board_and_port(self):
        board = self.board("cookie-board")
        other_board = self.board("cookie-other")
        app = self.local(http_app)
        base = f"/v1/boards/{board}/proxy/{app.port}/"
        link = self.login_link(board, app.port)
        self.assertTrue(link["url"].startswith(base + "?ew_login="), link)
        self.assertNotIn(self.token, link["url"])  # the link carries a one-time code, not the token
        location, set_cookie, pair = self.open_link(link)
        self.assertEqual(location, base)  # the code is gone from the URL
        attributes = [a.strip() for a in set_cookie.split(";")]
        self.assertIn(f"Path={base}", attributes)
        self.assertIn("HttpOnly", attributes)
        self.assertIn("SameSite=Strict", attributes)
        self.assertIn("Max-Age=3", attributes)
        self.assertNotIn("Secure", attributes)  # plain HTTP here; TunnelTlsTest checks Secure
        self.assertTrue(pair.startswith("ew_proxy_session="))
        session = pair.split("=", 1)[1]
        self.assertNotEqual(session, self.token)
        # The cookie opens the board's page; the board's own cookies pass, ours does not.
        status, _, text = proxy_request(self.conductor.port, "GET", base + "page?x=1",
                                        {"Cookie": f"theme=dark; {pair}; lang=en"})
        self.assertEqual(status, 200, text)
        import json
        seen = json.loads(text)
        self.assertEqual(seen["requestLine"], "GET /page?x=1 HTTP/1.1")
        self.assertEqual(seen["headers"]["cookie"], "theme=dark; lang=en")
        # The code was single-use.
        status, _, text = proxy_request(self.conductor.port, "GET", link["url"])
        self.assertEqual(status, 401, text)
        # Nowhere else: not the API (CSRF), not another port, not another board.
        for path in ("/v1/boards", f"/v1/boards/{board}", "/v1/services",
                     f"/v1/boards/{board}/proxy/{app.port + 1}/", f"/v1/boards/{other_board}/proxy/{app.port}/"):
            status, _, text = proxy_request(self.conductor.port, "GET", path, {"Cookie": pair})
            self.assertEqual(status, 401, (path, text))
        status, _, _ = proxy_request(self.conductor.port, "POST", "/v1/services", {"Cookie": pair},
                                     body=b'{"boardId": "x", "boardPort": 22}')
        self.assertEqual(status, 401)
        # A link for one port does not log in on another.
        other_link = self.login_link(board, app.port)
        wrong = other_link["url"].replace(f"/proxy/{app.port}/", f"/proxy/{app.port + 1}/")
        self.assertEqual(proxy_request(self.conductor.port, "GET", wrong)[0], 401)
        # Expired: refused after proxy_session_ttl_s (3 s here).
        time.sleep(3.2)
        status, _, text = proxy_request(self.conductor.port, "GET", base, {"Cookie": pair})
        self.assertEqual(status, 401, text)
        self.assertIn("expired", text)

    def test_links_are_for_the_boards_project_and_revocation_ends_sessions(self):
        a, op_a = self.project_operator("web-a")
        _, op_b = self.project_operator("web-b")
        board = self.board("web-iso", project=a["id"])
        app = self.local(http_app)
        status, body = self.conductor.rest("POST", f"/v1/boards/{board}/proxy-logins", {"port": app.port}, token=op_b)
        self.assertEqual(status, 403, body)
        for bad in ({}, {"port": 0}, {"port": 70000}, {"port": "80"}, {"port": 80, "extra": 1}):
            status, body = self.conductor.rest("POST", f"/v1/boards/{board}/proxy-logins", bad, token=op_a)
            self.assertEqual(status, 400, (bad, body))
        self.assertEqual(self.conductor.rest("POST", f"/v1/boards/{board}/proxy-logins", {"port": 80})[0], 401)
        _, _, pair = self.open_link(self.login_link(board, app.port, token=op_a))
        base = f"/v1/boards/{board}/proxy/{app.port}/"
        self.assertEqual(proxy_request(self.conductor.port, "GET", base, {"Cookie": pair})[0], 200)
        # Logging out (revoking the token that asked for the link) ends the browser's session.
        status, _ = self.conductor.rest("DELETE", "/v1/auth/tokens/current", token=op_a)
        self.assertIn(status, (200, 204))
        status, _, text = proxy_request(self.conductor.port, "GET", base, {"Cookie": pair})
        self.assertEqual(status, 401, text)


class TunnelPingTest(TunnelTestCase):
    """Idle tunnels are pinged: a tunnel whose board froze (SIGSTOP: its TCP stays up, nothing
    answers) is closed, the client's connection with it, within 2-3 ping intervals; a healthy
    idle tunnel lives on through many intervals."""

    conductor_extra = "ping_interval_ms = 300\n"
    agent_extra = "[tunnels]\nping_interval_ms = 300\n"

    def test_a_frozen_board_leg_is_cut_and_a_live_idle_one_is_kept(self):
        board = self.board("frozen-board")
        local = self.local(echo)
        service = self.open_service(board, local.port)
        with self.connect(service) as idle:
            idle.sendall(b"ping?")
            idle.settimeout(10)
            self.assertEqual(idle.recv(100), b"ping?")
            time.sleep(2.0)  # ~7 intervals, idle: pongs keep it
            idle.sendall(b"still here")
            self.assertEqual(idle.recv(100), b"still here")
            agent = self.agents["frozen-board"]
            os.kill(agent.proc.pid, signal.SIGSTOP)
            try:
                started = time.monotonic()
                self.assertEqual(recv_all(idle, timeout=10), b"")  # EOF: the conductor closed it
                took = time.monotonic() - started
            finally:
                os.kill(agent.proc.pid, signal.SIGCONT)
        self.assertLess(took, 3 * 0.3 + 0.6, f"closed after {took:.2f} s")
        wait_until(lambda: "no answer to a ping within 300 ms" in self.log(), what="the reason in the log")
        wait_until(lambda: self.service_state(service["id"])["liveConnections"] == 0, what="books closed")


    def test_a_frozen_boards_proxied_websocket_is_cut(self):
        # The conductor's side of a proxied request (the same WsSplice) pings the board's leg too: an
        # upgraded WebSocket to a board's web UI ends when the board freezes.
        board = self.board("frozen-web")
        app = self.local(http_app)
        with socket.create_connection(("127.0.0.1", self.conductor.port), timeout=15) as sock:
            sock.sendall((f"GET /v1/boards/{board}/proxy/{app.port}/ws HTTP/1.1\r\nHost: x\r\n"
                          f"Upgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Version: 13\r\n"
                          f"Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nX-Auth-Token: {self.token}\r\n\r\n").encode())
            got = b""
            while b"\r\n\r\n" not in got:
                got += sock.recv(4096)
            self.assertTrue(got.startswith(b"HTTP/1.1 101"), got)
            time.sleep(1.5)  # idle through several intervals: the live board answers the pings
            sock.sendall(b"alive")
            echoed = b""
            while len(echoed) < 5:
                echoed += sock.recv(100)
            self.assertEqual(echoed, b"alive")
            agent = self.agents["frozen-web"]
            os.kill(agent.proc.pid, signal.SIGSTOP)
            try:
                started = time.monotonic()
                self.assertEqual(recv_all(sock, timeout=10), b"")
                took = time.monotonic() - started
            finally:
                os.kill(agent.proc.pid, signal.SIGCONT)
        self.assertLess(took, 3 * 0.3 + 0.6, f"closed after {took:.2f} s")
        wait_until(lambda: re.search(r"proxied connection \d+ .* ended: no answer to a ping within 300 ms", self.log()),
                   what="the reason in the log")


class TunnelAddressCapTest(TunnelTestCase):
    """A board's tunnel WebSockets leave the per-address cap once their token is redeemed: one
    board (one address) holds more tunnels than [server] max_connections_per_address, while a
    plain flood from one address is still capped, and [tunnels] max_per_board bounds the board."""

    conductor_server = "max_connections_per_address = 8\n"
    conductor_extra = "max_per_board = 20\n"

    def test_more_tunnels_than_the_address_cap_and_a_flood_still_capped(self):
        board = self.board("nat-board")
        local = self.local(echo)
        service = self.open_service(board, local.port, maxConnections=30)
        socks = []
        try:
            # The board's 20 tunnel WebSockets (2.5x the address cap) all come from 127.0.0.1; the
            # clients, which take places under the caps like any connection, each from an
            # address of their own (as a board's users would be).
            def client(i):
                sock = socket.create_connection(("127.0.0.1", service["conductorPort"]), timeout=30,
                                                source_address=(f"127.0.1.{i + 1}", 0))
                sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
                return sock
            for i in range(20):
                sock = client(i)
                socks.append(sock)
                sock.sendall(f"tunnel {i}".encode())
                sock.settimeout(15)
                self.assertEqual(sock.recv(100), f"tunnel {i}".encode())
            self.assertEqual(self.service_state(service["id"])["liveConnections"], 20)
            # The board's limit: a 21st connection is closed at once.
            with client(20) as extra:
                self.assertEqual(recv_all(extra, timeout=5), b"")
            wait_until(lambda: "tunnels open, the conductor's limit per board" in self.log(), what="per-board refusal")
            refused_before = self.conductor.metric('ew_server_connections_refused_total{reason="address_cap"}') or 0
            # A plain flood from the same address: past the cap (8 less the agent's session) refused.
            flood = []
            try:
                for _ in range(20):
                    flood.append(socket.create_connection(("127.0.0.1", self.conductor.port), timeout=5))
                closed = 0
                for f in flood:
                    f.settimeout(0.5)
                    try:
                        if f.recv(1) == b"":
                            closed += 1
                    except socket.timeout:
                        pass
                    except ConnectionResetError:
                        closed += 1
                self.assertGreaterEqual(closed, 20 - 7, "the flood was not capped")
            finally:
                for f in flood:
                    f.close()
            refused = self.conductor.metric('ew_server_connections_refused_total{reason="address_cap"}')
            self.assertGreaterEqual(refused - refused_before, 13)
            # The tunnels carried on through the flood.
            for i, sock in enumerate(socks):
                sock.sendall(b"after")
                self.assertEqual(sock.recv(100), b"after")
        finally:
            for sock in socks:
                sock.close()


class TunnelTlsTest(TunnelTestCase):
    """The conductor serving its own TLS ([server] tls_cert, the harness's TLS conductor): the
    agent's session and its tunnel WebSockets are wss, checked against the enrolment CA file."""

    workdir_prefix = "ew-tunnel-tls-"
    conductor_tls = True

    def test_echo_and_bulk_over_wss(self):
        board_id = self.board("tls-tunnel")
        self.assertTrue(self.agents["tls-tunnel"].read_credential()["wamp_url"].startswith("wss://"))
        local = self.local(echo)
        service = self.open_service(board_id, local.port)
        size = 20 * 1024 * 1024
        data = pattern(size, "tls")
        with self.connect(service) as sock:
            def send():
                sock.sendall(data)
                sock.shutdown(socket.SHUT_WR)
            sender = threading.Thread(target=send)
            sender.start()
            got = recv_all(sock)
            sender.join()
        self.assertEqual(hashlib.sha256(got).hexdigest(), hashlib.sha256(data).hexdigest())
        # The tunnel WebSocket went over TLS: the agent dialled wss to the conductor's port.
        with open(self.agents["tls-tunnel"].log_path) as f:
            self.assertNotIn("tunnel to", f.read())  # no failed dial
        status, body = ws_upgrade(self.conductor.port, "/v1/tunnel/" + "B" * 43, board_id, use_tls=True,
                                  ca=self.conductor.tls.ca)
        self.assertEqual(status, 403, body)

    def test_browser_login_cookie_is_secure_over_https(self):
        board_id = self.board("tls-web")
        app = self.local(http_app)
        status, login = self.rest("POST", f"/v1/boards/{board_id}/proxy-logins", {"port": app.port})
        self.assertEqual(status, 201, login)
        conn = http.client.HTTPSConnection("127.0.0.1", self.conductor.port, timeout=15,
                                           context=self.conductor.tls.context())
        try:
            conn.request("GET", login["url"])
            resp = conn.getresponse()
            resp.read()
            self.assertEqual(resp.status, 303)
            self.assertIn("; Secure", resp.getheader("Set-Cookie"))
        finally:
            conn.close()



# ---- security review of the tunnels (issue 17 follow-up) ----

def upgrade_through_proxy(port, path, headers):
    """A socket whose proxied WebSocket upgrade got its 101 (the board's http_app echoes after it)."""
    sock = socket.create_connection(("127.0.0.1", port), timeout=15)
    extra = "".join(f"{k}: {v}\r\n" for k, v in headers.items())
    sock.sendall((f"GET {path} HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
                  f"Sec-WebSocket-Version: 13\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n{extra}\r\n").encode())
    got = b""
    while b"\r\n\r\n" not in got:
        chunk = sock.recv(4096)
        if not chunk:
            break
        got += chunk
    if not got.startswith(b"HTTP/1.1 101"):
        sock.close()
        raise AssertionError(got)
    return sock


def closed_within(sock, seconds):
    """Seconds until the peer closed `sock` (EOF or reset), or None if it stayed open."""
    started = time.monotonic()
    sock.settimeout(0.2)
    while time.monotonic() - started < seconds:
        try:
            if sock.recv(4096) == b"":
                return time.monotonic() - started
        except socket.timeout:
            continue
        except OSError:
            return time.monotonic() - started
    return None


class TunnelExposureTest(TunnelTestCase):
    """H1: off loopback, a service needs allowCidrs unless an admin opens it."""

    conductor_extra = 'listen_address = "0.0.0.0"\n'

    def test_a_network_facing_service_needs_allow_cidrs_or_an_admin(self):
        project, op = self.project_operator("exposed")
        board = self.board("exposed-board", start=False, project=project["id"])
        status, body = self.conductor.rest("POST", "/v1/services", {"boardId": board, "boardPort": 22}, op)
        self.assertEqual(status, 403, body)
        self.assertIn("allowCidrs", body["error"]["message"])
        _, listed = self.rest("GET", "/v1/services")
        self.assertEqual(listed["services"], [])
        self.open_service(board, 22, token=op, allowCidrs=["127.0.0.0/16"])
        self.open_service(board, 23)  # the admin decides

    def test_issue17_a_non_admins_wide_allow_cidrs_are_refused(self):
        """Review 2, finding 2: "0.0.0.0/0" (or ::/0, or a /8 of public addresses) is no
        allowlist; a non-admin gets a JSON 403 that changes nothing."""
        project, op = self.project_operator("wide")
        board = self.board("wide-board", start=False, project=project["id"])
        for wide in (["0.0.0.0/0"], ["::/0"], ["127.0.0.0/8", "0.0.0.0/1", "128.0.0.0/1"], ["8.0.0.0/8"],
                     ["2000::/3"], ["192.0.0.0/8"],
                     ["10.0.0.0/8"], ["172.16.0.0/12"]):  # review L3: private IPv4 up to /16
            status, body = self.conductor.rest("POST", "/v1/services",
                                               {"boardId": board, "boardPort": 22, "allowCidrs": wide}, op)
            self.assertEqual(status, 403, (wide, body))
            self.assertEqual(body["error"]["code"], "permission_denied", body)
            self.assertIn("allowCidrs", body["error"]["message"])
            self.assertIn("admin", body["error"]["message"])
        _, listed = self.rest("GET", "/v1/services")
        self.assertEqual(listed["services"], [])
        # Narrow public networks and private ranges are the user's to list; an admin may open wide.
        self.open_service(board, 22, token=op, allowCidrs=["203.0.113.0/24", "2001:db8:5::/48", "10.1.0.0/16"])
        self.open_service(board, 23, allowCidrs=["0.0.0.0/0"])
        _, listed = self.rest("GET", "/v1/services")
        self.assertEqual(len(listed["services"]), 2)


class TunnelBoardDeletionTest(TunnelTestCase):
    """M1: deleting a board closes its services' ports and live connections; services per
    project are capped."""

    conductor_extra = "max_services_per_project = 2\n"

    def test_deleting_a_board_closes_its_services_and_projects_are_capped(self):
        board = self.board("doomed-board")
        local = self.local(echo)
        service = self.open_service(board, local.port)
        self.open_service(board, local.port)
        status, body = self.rest("POST", "/v1/services", {"boardId": board, "boardPort": local.port})
        self.assertEqual(status, 429, body)
        with self.connect(service) as live:
            live.sendall(b"before")
            live.settimeout(10)
            self.assertEqual(live.recv(100), b"before")
            status, _ = self.rest("DELETE", f"/v1/boards/{board}")
            self.assertEqual(status, 204)
            self.assertIsNotNone(closed_within(live, 5), "the live connection outlived its board")
        with self.assertRaises(OSError):
            socket.create_connection(("127.0.0.1", service["conductorPort"]), timeout=5).close()
        wait_until(lambda: "was deleted" in self.log(), what="the closing in the log")


class ProxyLifetimeTest(TunnelTestCase):
    """H2: a proxied connection ends with the token or browser session that opened it, and when idle."""

    conductor_extra = "proxy_session_ttl_s = 3\nproxy_idle_timeout_s = 2\n"

    def test_revocation_expiry_and_idleness_end_proxied_websockets(self):
        project, op = self.project_operator("life")
        board = self.board("life-board", project=project["id"])
        app = self.local(http_app)
        base = f"/v1/boards/{board}/proxy/{app.port}/ws"
        # Token revoked (logout): the open WebSocket ends at once.
        with upgrade_through_proxy(self.conductor.port, base, {"X-Auth-Token": op}) as sock:
            sock.sendall(b"hi")
            self.assertEqual(sock.recv(10), b"hi")
            status, _ = self.conductor.rest("DELETE", "/v1/auth/tokens/current", token=op)
            self.assertIn(status, (200, 204))
            took = closed_within(sock, 1.5)
            self.assertIsNotNone(took, "the proxied WebSocket outlived its revoked token")
        # Browser session: ends when the session expires (3 s), though busy.
        op2 = self.operator("op-life2", project["id"])
        status, link = self.conductor.rest("POST", f"/v1/boards/{board}/proxy-logins", {"port": app.port}, token=op2)
        self.assertEqual(status, 201, link)
        status, headers, _ = proxy_request(self.conductor.port, "GET", link["url"])
        self.assertEqual(status, 303)
        pair = headers["set-cookie"].split(";", 1)[0]
        started = time.monotonic()
        with upgrade_through_proxy(self.conductor.port, base, {"Cookie": pair}) as sock:
            closed = None
            while closed is None and time.monotonic() - started < 8:
                try:
                    sock.sendall(b"busy")
                except OSError:
                    closed = time.monotonic() - started
                    break
                closed = closed_within(sock, 0.5)
                if closed is not None:
                    closed = time.monotonic() - started
            self.assertIsNotNone(closed, "the proxied WebSocket outlived its browser session")
            self.assertLess(closed, 6)
        # Idle: nothing either way for proxy_idle_timeout_s (2 s) closes it.
        op3 = self.operator("op-life3", project["id"])
        with upgrade_through_proxy(self.conductor.port, base, {"X-Auth-Token": op3}) as sock:
            took = closed_within(sock, 6)
            self.assertIsNotNone(took, "an idle proxied WebSocket stayed open")
            self.assertGreater(took, 1.0)
        wait_until(lambda: "idle for 2 s" in self.log(), what="the idle close in the log")


class ProxyPendingRevocationTest(TunnelTestCase):
    """Review 2, finding 1: a token or browser session revoked (or expiring) while its proxied
    connection waits for the board's tunnel WebSocket ends that connection at once, and the
    board's late tunnel is refused. The board is played by a WAMP client holding its secret: it
    registers tunnel.open and keeps the tokens, dialling back only when the test says."""

    conductor_extra = "proxy_session_ttl_s = 2\n"  # [tunnels]; open_timeout_ms is 5000

    def browser_cookie(self, board, port, token):
        status, link = self.conductor.rest("POST", f"/v1/boards/{board}/proxy-logins", {"port": port}, token=token)
        self.assertEqual(status, 201, link)
        status, headers, _ = proxy_request(self.conductor.port, "GET", link["url"])
        self.assertEqual(status, 303)
        return headers["set-cookie"].split(";", 1)[0]

    def test_issue17_revocation_and_expiry_end_connections_still_waiting_for_the_board(self):
        import json
        _, project = self.rest("POST", "/v1/projects", {"name": "proj-pending"})
        board, secret = self.enrolled_board("pending-board", project["id"])
        port = self.conductor.port
        opens = []  # the board's tunnel.open calls
        cases = {}

        def request(headers):
            sock = socket.create_connection(("127.0.0.1", port), timeout=15)
            extra = "".join(f"{k}: {v}\r\n" for k, v in headers.items())
            sock.sendall(f"GET /v1/boards/{board}/proxy/8080/ui HTTP/1.1\r\nHost: x\r\n{extra}\r\n".encode())
            return sock

        def revoke(token):
            status, _ = self.conductor.rest("DELETE", "/v1/auth/tokens/current", token=token)
            self.assertIn(status, (200, 204))

        async def case(name, headers, revoke_token=None):
            loop = asyncio.get_running_loop()
            asked = len(opens)
            sock = await loop.run_in_executor(None, request, headers)
            await wait_for_async(lambda: len(opens) == asked + 1)  # waiting for the board's tunnel now
            started = time.monotonic()
            if revoke_token:
                await loop.run_in_executor(None, revoke, revoke_token)
            answer = await loop.run_in_executor(None, recv_all, sock, 10)
            took = time.monotonic() - started
            sock.close()
            # The board dials back late with the token it was given.
            late = await loop.run_in_executor(None, ws_upgrade, port, "/v1/tunnel/" + opens[-1]["token"], board)
            cases[name] = (answer, took, late)

        async def scenario():
            session = await self.token_keeper(board, secret, opens)
            op = self.operator("op-pending", project["id"])
            await case("api token revoked", {"X-Auth-Token": op}, revoke_token=op)
            op2 = self.operator("op-pending2", project["id"])
            cookie = await asyncio.get_running_loop().run_in_executor(None, self.browser_cookie, board, 8080, op2)
            await case("browser session revoked", {"Cookie": cookie}, revoke_token=op2)
            op3 = self.operator("op-pending3", project["id"])
            cookie = await asyncio.get_running_loop().run_in_executor(None, self.browser_cookie, board, 8080, op3)
            await case("browser session expired", {"Cookie": cookie})
            session.leave()

        asyncio.run(scenario())
        for name, (answer, took, late) in cases.items():
            self.assertTrue(answer.startswith(b"HTTP/1.1 403"), (name, answer))
            body = json.loads(answer.split(b"\r\n\r\n", 1)[1])
            self.assertEqual(body["error"]["code"], "permission_denied", (name, body))
            # Well before [tunnels] open_timeout_ms (5 s), which is all that ended it before.
            self.assertLess(took, 3.0, (name, took))
            self.assertEqual(late[0], 403, (name, late))
            self.assertIn("unknown or already used", late[1], name)
        self.assertIn("expired", json.loads(cases["browser session expired"][0].split(b"\r\n\r\n", 1)[1])
                      ["error"]["message"])
        for token in (o["token"] for o in opens):
            self.assertNotIn(token, self.log())


class ProxyRequestHygieneTest(TunnelTestCase):
    """M2, L1, L5: one request per board connection, forwarding headers the conductor's own,
    one parser for the proxy path, an audit line per proxied session."""

    def test_pipelined_requests_forged_forwarding_and_encoded_ports(self):
        received = []

        def recorder(conn):
            data = b""
            while b"\r\n\r\n" not in data:
                chunk = conn.recv(65536)
                if not chunk:
                    break
                data += chunk
            conn.sendall(b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok")
            conn.settimeout(1.0)
            try:
                while True:
                    chunk = conn.recv(65536)
                    if not chunk:
                        break
                    data += chunk
            except OSError:
                pass
            received.append(data)

        board = self.board("hygiene-board")
        app = self.local(recorder)
        base = f"/v1/boards/{board}/proxy/{app.port}"
        with socket.create_connection(("127.0.0.1", self.conductor.port), timeout=15) as sock:
            sock.sendall((f"GET {base}/first HTTP/1.1\r\nHost: x\r\nX-Auth-Token: {self.token}\r\n"
                          f"Forwarded: for=6.6.6.6;host=evil.example\r\nX-Forwarded-Host: evil.example\r\n"
                          f"X-Forwarded-Port: 1\r\nX-Forwarded-For: 6.6.6.6\r\nX-Real-IP: 6.6.6.6\r\n\r\n"
                          f"GET /second HTTP/1.1\r\nHost: evil.example\r\nX-Auth-Token: {self.token}\r\n"
                          f"X-Forwarded-For: 6.6.6.6\r\n\r\n").encode())
            answer = recv_all(sock, timeout=15)
        self.assertTrue(answer.startswith(b"HTTP/1.1 200"), answer)
        wait_until(lambda: received, what="the board's request")
        raw = received[0].decode(errors="replace")
        self.assertEqual(raw.count("HTTP/1.1\r\n"), 1, raw)
        self.assertNotIn("/second", raw)
        self.assertNotIn(self.token, raw)
        self.assertNotIn("evil", raw)
        self.assertNotIn("6.6.6.6", raw)
        self.assertNotIn("X-Forwarded-Port", raw)
        self.assertIn("X-Forwarded-For: 127.0.0.1\r\n", raw)
        # A body is carried up to its Content-Length, nothing after it.
        received.clear()
        with socket.create_connection(("127.0.0.1", self.conductor.port), timeout=15) as sock:
            sock.sendall((f"POST {base}/post HTTP/1.1\r\nHost: x\r\nX-Auth-Token: {self.token}\r\n"
                          f"Content-Length: 5\r\n\r\nhelloGET /smuggled HTTP/1.1\r\nHost: y\r\n\r\n").encode())
            recv_all(sock, timeout=15)
        wait_until(lambda: received, what="the board's request")
        self.assertTrue(received[0].endswith(b"\r\n\r\nhello"), received[0])
        # Chunked bodies are not proxied (their end is the conductor's to find): 411.
        status, _, text = proxy_request(self.conductor.port, "POST", base + "/c",
                                        {"X-Auth-Token": self.token, "Transfer-Encoding": "chunked"},
                                        body=iter([b"abc"]))
        self.assertEqual(status, 411, text)
        # L1: a percent-encoded port or board is refused, never read two ways.
        encoded = "".join(f"%{ord(c):02X}" for c in str(app.port))
        for path in (f"/v1/boards/{board}/proxy/{encoded}/", f"/v1/boards/%{ord(board[0]):02X}{board[1:]}/proxy/{app.port}/"):
            status, _, text = proxy_request(self.conductor.port, "GET", path, {"X-Auth-Token": self.token})
            self.assertEqual(status, 400, (path, text))
        # L5: one info line per proxied session: who, from where, which board and port; no secret.
        log = self.log()
        self.assertRegex(log, rf"proxy: user admin \(\S+\) from 127\.0\.0\.1:\d+ to board {board} port {app.port}")
        self.assertNotIn(self.token, log)


    def test_issue17_underscore_spellings_of_forwarding_headers_do_not_reach_the_board(self):
        """Review 2, finding 3: X_Forwarded_For and friends are read as X-Forwarded-For by many
        servers (CGI, PHP, WSGI); the conductor drops them in every spelling."""
        received = []

        def recorder(conn):
            received.append(read_head(conn) or b"")
            conn.sendall(b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok")

        board = self.board("underscore-board")
        app = self.local(recorder)
        forged = ["X_Forwarded_For: 6.6.6.6", "x_forwarded_host: evil.example", "X-Forwarded_Proto: gopher",
                  "X_FORWARDED_PORT: 6666", "forwarded: for=6.6.6.6", "FORWARDED: host=evil.example",
                  "X_Real_IP: 6.6.6.6", "True_Client_IP: 6.6.6.6", "X_Auth_Token: " + self.token,
                  "X_Forwarded: 6.6.6.6"]
        with socket.create_connection(("127.0.0.1", self.conductor.port), timeout=15) as sock:
            sock.sendall((f"GET /v1/boards/{board}/proxy/{app.port}/u HTTP/1.1\r\nHost: x\r\n"
                          f"X-Auth-Token: {self.token}\r\nX-Kept_Header: yes\r\n" + "".join(h + "\r\n" for h in forged)
                          + "\r\n").encode())
            answer = recv_all(sock, timeout=15)
        self.assertTrue(answer.startswith(b"HTTP/1.1 200"), answer)
        wait_until(lambda: received, what="the board's request")
        raw = received[0].decode(errors="replace")
        for needle in ("6.6.6.6", "evil", "gopher", "6666", self.token):
            self.assertNotIn(needle, raw)
        lowered = raw.lower().replace("_", "-")
        self.assertEqual(lowered.count("x-forwarded-for:"), 1, raw)
        self.assertIn("X-Forwarded-For: 127.0.0.1\r\n", raw)
        self.assertIn("X-Kept_Header: yes\r\n", raw)  # other underscore names pass


class TunnelConnectionCapTest(TunnelTestCase):
    """M4: services' client connections count under the conductor port's caps (global and per
    source address), like any connection to the conductor."""

    conductor_server = "max_connections_per_address = 5\n"

    def open_connections(self):
        _, metrics = self.conductor.rest("GET", "/metrics")
        m = re.search(r"^ew_server_connections_open (\d+)", metrics, re.M)
        self.assertTrue(m, metrics[:500])
        return int(m.group(1))

    def test_service_clients_take_places_under_the_server_caps(self):
        board = self.board("capped-board")
        local = self.local(echo)
        service = self.open_service(board, local.port, maxConnections=30)
        before = self.open_connections()
        held = []
        try:
            for i in range(3):  # the agent's session + 3 clients = 4 of 127.0.0.1's 5 places
                sock = self.connect(service)
                held.append(sock)
                sock.sendall(b"x%d" % i)
                sock.settimeout(10)
                self.assertEqual(sock.recv(10), b"x%d" % i)
            # Each client and its tunnel WebSocket count in the global gauge (the tunnel left
            # only the per-address count).
            self.assertGreaterEqual(self.open_connections() - before, 5)  # 6; 3 before the fix
            # More clients from the same address: past its places one is closed on accept by
            # the tunnel's own check (not only its board's dial refused by the server's).
            for _ in range(5):
                held.append(self.connect(service))
                time.sleep(0.2)
                if "max_connections_per_address) is reached" in self.log():
                    break
            self.assertIsNotNone(closed_within(held[-1], 3))
        finally:
            for sock in held:
                sock.close()
        wait_until(lambda: "max_connections_per_address) is reached" in self.log(), what="the cap in the log")


def upgrade_by_hand(port, target, headers, timeout=10):
    """(socket, answer head) of a WebSocket upgrade to `target` sent by hand on the conductor's
    plain port with `headers` added; AssertionError unless the answer is 101."""
    sock = socket.create_connection(("127.0.0.1", port), timeout=timeout)
    key = base64.b64encode(os.urandom(16)).decode()
    extra = "".join(f"{name}: {value}\r\n" for name, value in headers.items())
    sock.sendall((f"GET {target} HTTP/1.1\r\nHost: 127.0.0.1\r\nUpgrade: websocket\r\n"
                  f"Connection: Upgrade\r\nSec-WebSocket-Version: 13\r\nSec-WebSocket-Key: {key}\r\n"
                  f"{extra}\r\n").encode())
    got = b""
    while b"\r\n\r\n" not in got:
        chunk = sock.recv(4096)
        if not chunk:
            break
        got += chunk
    if not got.startswith(b"HTTP/1.1 101"):
        sock.close()
        raise AssertionError(got)
    return sock, got


def dial_tunnel(port, token, board):
    """A board's tunnel WebSocket dialled by hand: the socket after the conductor's 101."""
    sock, dial_tunnel.last_answer = upgrade_by_hand(port, f"/v1/tunnel/{token}", {"X-Edgewire-Board": board})
    return sock


def masked_frame(opcode, payload):
    """One client (masked, with a zero key) WebSocket frame: opcode 1 text, 2 binary."""
    n = len(payload)
    if n < 126:
        length = bytes([0x80 | n])
    elif n < 65536:
        length = bytes([0x80 | 126]) + n.to_bytes(2, "big")
    else:
        length = bytes([0x80 | 127]) + n.to_bytes(8, "big")
    return bytes([0x80 | opcode]) + length + b"\0\0\0\0" + payload


def masked_binary_frame(payload):
    return masked_frame(2, payload)


def read_frame(sock):
    """(opcode, payload) of the next unmasked (server) WebSocket frame on `sock`."""
    def exact(n):
        got = b""
        while len(got) < n:
            chunk = sock.recv(n - len(got))
            if not chunk:
                raise EOFError("connection closed")
            got += chunk
        return got
    head = exact(2)
    n = head[1] & 0x7F
    if n == 126:
        n = int.from_bytes(exact(2), "big")
    elif n == 127:
        n = int.from_bytes(exact(8), "big")
    return head[0] & 0x0F, exact(n)


class TunnelMessageLimitTest(TunnelTestCase):
    """L3: the conductor takes messages of at most one chunk (256 KiB, the limit its handshake
    answer tells the agent) on a board's tunnel WebSocket; a larger one ends the tunnel instead
    of being buffered."""

    def test_a_board_message_over_one_chunk_ends_the_tunnel(self):
        board_c, secret = self.enrolled_board("big-message-board")
        service = self.open_service(board_c, 4242)
        opens = []  # the board's tunnel.open calls

        async def scenario():
            session = await self.token_keeper(board_c, secret, opens)
            loop = asyncio.get_running_loop()
            client = await loop.run_in_executor(None, self.connect, service)
            await wait_for_async(lambda: len(opens) == 1)
            ws = await loop.run_in_executor(None, dial_tunnel, self.conductor.port, opens[0]["token"], board_c)
            ws.sendall(masked_binary_frame(b"a" * 200_000))   # within a chunk: carried
            ws.sendall(masked_binary_frame(b"b" * 300_000))   # over it: the tunnel ends
            got = await loop.run_in_executor(None, recv_all, client, 10)
            session.leave()
            ws.close()
            client.close()
            return got

        got = asyncio.run(scenario())
        self.assertEqual(got, b"a" * 200_000)
        self.assertIn(b"\r\nX-Edgewire-Tunnel-Max-Message: 262144\r\n", dial_tunnel.last_answer)


class ProxyReview3Test(TunnelTestCase):
    """Security review 3 of issue 17: requests the proxy refuses before they reach a board."""

    def recording_board(self, name):
        """(board id, its HTTP app's port, the heads the app received)."""
        received = []

        def recorder(conn):
            received.append(read_head(conn) or b"")
            conn.sendall(b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok")

        board = self.board(name)
        return board, self.local(recorder).port, received

    def raw(self, request):
        with socket.create_connection(("127.0.0.1", self.conductor.port), timeout=15) as sock:
            sock.sendall(request.encode())
            return recv_all(sock, timeout=15).decode(errors="replace")

    def test_h1_service_worker_script_fetches_are_refused(self):
        """H1: a board's page registering a service worker (scope "/" with the board's
        Service-Worker-Allowed: /) would control every page of the conductor's origin."""
        board, port, received = self.recording_board("sw-board")
        base = f"/v1/boards/{board}/proxy/{port}"
        answer = self.raw(f"GET {base}/ok.js HTTP/1.1\r\nHost: x\r\nX-Auth-Token: {self.token}\r\n\r\n")
        self.assertTrue(answer.startswith("HTTP/1.1 200"), answer)
        wait_until(lambda: received, what="the board's request")
        for spelling in ("Service-Worker: script", "service-worker: script", "Service_Worker: script"):
            answer = self.raw(f"GET {base}/sw.js HTTP/1.1\r\nHost: x\r\nX-Auth-Token: {self.token}\r\n"
                              f"{spelling}\r\n\r\n")
            self.assertTrue(answer.startswith("HTTP/1.1 403"), (spelling, answer))
            self.assertIn('"code":"permission_denied"', answer.replace(" ", ""))
            self.assertIn("service worker", answer)
        # The app sees the next allowed request and none of the refused ones.
        answer = self.raw(f"GET {base}/after HTTP/1.1\r\nHost: x\r\nX-Auth-Token: {self.token}\r\n\r\n")
        self.assertTrue(answer.startswith("HTTP/1.1 200"), answer)
        wait_until(lambda: len(received) == 2, what="the board's second request")
        self.assertNotIn(b"sw.js", b"".join(received))

    def test_l1_any_transfer_encoding_is_refused(self):
        """L1: a Transfer-Encoding in any case or spelling (X_Y read as X-Y by CGI-style servers),
        with any coding, is refused: the body's end is the conductor's to find."""
        board, port, received = self.recording_board("te-board")
        base = f"/v1/boards/{board}/proxy/{port}"
        for te in ("Transfer-Encoding: chunked", "transfer-encoding: identity", "TRANSFER-ENCODING: gzip",
                   "Transfer_Encoding: chunked", "transfer_encoding: chunked"):
            answer = self.raw(f"POST {base}/te HTTP/1.1\r\nHost: x\r\nX-Auth-Token: {self.token}\r\n"
                              f"Content-Length: 5\r\n{te}\r\n\r\n5\r\nhello\r\n0\r\n\r\n")
            self.assertRegex(answer, r"^HTTP/1.1 (411|400) ", (te, answer))
            self.assertIn('"error"', answer, te)
        answer = self.raw(f"POST {base}/plain HTTP/1.1\r\nHost: x\r\nX-Auth-Token: {self.token}\r\n"
                          f"Content-Length: 5\r\n\r\nhello")
        self.assertTrue(answer.startswith("HTTP/1.1 200"), answer)
        wait_until(lambda: received, what="the board's request")
        self.assertEqual(len(received), 1, received)
        self.assertIn(b"/plain", received[0])

    def test_l4_only_the_conductor_calls_tunnel_open(self):
        """L4: tunnel.* is the conductor's: an operator of the board's project, or an admin, calling
        tunnel.open over REST or WAMP is refused, and the board dials nothing."""
        _, project = self.rest("POST", "/v1/projects", {"name": "l4-project"})
        board = self.board("l4-board", project=project["id"])
        operator = self.operator("l4-operator", project["id"])
        dialled = []
        app = self.local(lambda conn: dialled.append(conn.recv(1)))
        body = {"kwargs": {"token": "A" * 43, "port": app.port, "service": "svc-forged"}}
        for who, token in (("operator", operator), ("admin", self.token)):
            for procedure in ("tunnel.open", "tunnel"):
                status, answer = self.conductor.rest("POST", f"/v1/boards/{board}/calls/{procedure}", body, token)
                self.assertEqual(status, 403, (who, procedure, answer))
                self.assertEqual(answer["error"]["code"], "permission_denied", answer)
            status, answer = self.conductor.rest("POST", f"/v1/boards/{board}/calls/sys.ping", {}, token)
            self.assertEqual(status, 200, (who, answer))

        async def wamp_call(ticket):
            session = await wamp_client.connect(self.conductor.ws_url, {"method": "ticket", "ticket": ticket})
            try:
                await session.call(f"ew.board.{board}.tunnel.open", token="A" * 43, port=app.port, service="x")
                return "allowed"
            except ApplicationError as e:
                return e.error
            finally:
                session.leave()

        for ticket in (operator, self.token):
            self.assertEqual(asyncio.run(wamp_call(ticket)), "wamp.error.not_authorized")
        # The conductor's own tunnels still work for the operator: one connection reaches the app.
        service = self.open_service(board, app.port, token=operator)
        with self.connect(service) as sock:
            sock.sendall(b"x")
            wait_until(lambda: dialled, what="the app's one connection")
        self.assertEqual(dialled, [b"x"])

    def test_l5_without_a_port_range_only_an_admin_picks_the_conductor_port(self):
        """L5: with port_first = 0 (this suite's config) a non-admin's conductorPort is a 403 and
        nothing listens there; without it they get a free port; an admin may still choose one."""
        _, project = self.rest("POST", "/v1/projects", {"name": "l5-project"})
        board = self.board("l5-board", start=False, project=project["id"])
        operator = self.operator("l5-operator", project["id"])
        with socket.socket() as probe:
            probe.bind(("127.0.0.1", 0))
            free = probe.getsockname()[1]
        status, body = self.conductor.rest("POST", "/v1/services",
                                           {"boardId": board, "boardPort": 22, "conductorPort": free}, operator)
        self.assertEqual(status, 403, body)
        self.assertIn("conductorPort", body["error"]["message"])
        with self.assertRaises(ConnectionRefusedError):
            socket.create_connection(("127.0.0.1", free), timeout=2).close()
        status, listed = self.conductor.rest("GET", "/v1/services", token=operator)
        self.assertEqual((status, listed["services"]), (200, []))
        allocated = self.open_service(board, 22, token=operator)
        self.assertGreater(allocated["conductorPort"], 0)
        chosen = self.open_service(board, 23, conductorPort=free)  # the admin
        self.assertEqual(chosen["conductorPort"], free)


class TunnelReview3CapTest(TunnelTestCase):
    """Security review 3, M1-M3: proxied connections are capped in all and per user, tunnelled
    connections per project, and login links and sessions per user (small caps here)."""

    conductor_extra = ("max_proxied = 3\nmax_proxied_per_user = 2\nmax_connections_per_project = 4\n"
                       "proxy_sessions_per_user = 2\n")

    def test_proxied_per_user_and_in_all_and_tunnels_per_project_are_capped(self):
        _, project = self.rest("POST", "/v1/projects", {"name": "cap-project"})
        board = self.board("cap-board", project=project["id"])
        op_a = self.operator("cap-op-a", project["id"])
        op_b = self.operator("cap-op-b", project["id"])
        accepted = []

        def hold(conn):
            accepted.append(conn)
            try:
                while conn.recv(65536):
                    pass
            except OSError:
                pass

        app = self.local(hold)
        path = f"/v1/boards/{board}/proxy/{app.port}/held"
        held = []

        def hold_request(token):
            sock = socket.create_connection(("127.0.0.1", self.conductor.port), timeout=15)
            sock.sendall(f"GET {path} HTTP/1.1\r\nHost: x\r\nX-Auth-Token: {token}\r\n\r\n".encode())
            held.append(sock)
            return sock

        def refused(token, needle):
            status, _, text = proxy_request(self.conductor.port, "GET", path, {"X-Auth-Token": token})
            self.assertEqual(status, 429, text)
            self.assertIn(needle, text)
            self.assertIn('"resource_exhausted"', text)

        try:
            a_socks = [hold_request(op_a), hold_request(op_a)]
            wait_until(lambda: len(accepted) == 2, what="operator A's two proxied connections")
            refused(op_a, "max_proxied_per_user")       # M1: A's own cap
            hold_request(op_b)                          # B is not held back by A
            wait_until(lambda: len(accepted) == 3, what="operator B's proxied connection")
            refused(op_b, "([tunnels] max_proxied)")    # M1: the conductor's cap, all users
            # M2: the project's fourth tunnelled connection is a service client; the fifth is closed.
            service = self.open_service(board, app.port, token=op_a)
            client = self.connect(service)
            held.append(client)
            wait_until(lambda: len(accepted) == 4, what="the service client's connection")
            with self.connect(service) as over:
                self.assertEqual(recv_all(over, timeout=10), b"")
            wait_until(lambda: "max_connections_per_project" in self.log(), what="the project cap's log line")
            self.assertEqual(len(accepted), 4)
            # Places come back when connections end: the app ends one of A's two, A may again.
            accepted[0].shutdown(socket.SHUT_RDWR)
            # The conductor ends the client's connection after the board's end (it waits up to
            # handshake_timeout for the client to close): the client closes the one that ended.
            ended = []

            def one_ended():
                readable, _, _ = select.select(a_socks, [], [], 0.2)
                for sock in readable:
                    try:
                        data = sock.recv(65536)
                    except OSError:
                        data = b""
                    if not data:
                        ended.append(sock)
                return ended
            wait_until(one_ended, what="the client connection whose board side ended")
            ended[0].close()
            wait_until(lambda: self.try_hold(path, op_a, held), what="operator A's place back")
            wait_until(lambda: len(accepted) == 5, what="operator A's new proxied connection")
        finally:
            for sock in held:
                sock.close()

    def try_hold(self, path, token, held):
        """True when a proxied request is taken (no 429 within a moment), keeping its socket."""
        sock = socket.create_connection(("127.0.0.1", self.conductor.port), timeout=15)
        sock.sendall(f"GET {path} HTTP/1.1\r\nHost: x\r\nX-Auth-Token: {token}\r\n\r\n".encode())
        sock.settimeout(1.0)
        try:
            answer = sock.recv(100)
        except socket.timeout:
            held.append(sock)
            return True
        sock.close()
        self.assertIn(b"429", answer)
        return False

    def test_login_links_per_user_are_capped(self):
        """M3: one user's outstanding login links and sessions are capped (429); another user's are not."""
        _, project = self.rest("POST", "/v1/projects", {"name": "cap-login-project"})
        board = self.board("cap-login-board", start=False, project=project["id"])
        op_a = self.operator("cap-login-a", project["id"])
        op_b = self.operator("cap-login-b", project["id"])
        for _ in range(2):
            status, body = self.conductor.rest("POST", f"/v1/boards/{board}/proxy-logins", {"port": 80}, op_a)
            self.assertEqual(status, 201, body)
        status, body = self.conductor.rest("POST", f"/v1/boards/{board}/proxy-logins", {"port": 80}, op_a)
        self.assertEqual(status, 429, body)
        self.assertEqual(body["error"]["code"], "resource_exhausted", body)
        self.assertIn("proxy_sessions_per_user", body["error"]["message"])
        status, body = self.conductor.rest("POST", f"/v1/boards/{board}/proxy-logins", {"port": 80}, op_b)
        self.assertEqual(status, 201, body)


def upgrade_status(port, path, headers):
    """(status, body) of a WebSocket upgrade to the conductor (the connection is closed after)."""
    sock = socket.create_connection(("127.0.0.1", port), timeout=15)
    try:
        extra = "".join(f"{k}: {v}\r\n" for k, v in headers.items())
        sock.sendall((f"GET {path} HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
                      f"Sec-WebSocket-Version: 13\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n{extra}\r\n").encode())
        got = b""
        sock.settimeout(15)
        while b"\r\n\r\n" not in got:
            chunk = sock.recv(4096)
            if not chunk:
                break
            got += chunk
        status = int(got.split(b" ", 2)[1]) if got.startswith(b"HTTP/1.1 ") else 0
        return status, got.decode(errors="replace")
    finally:
        sock.close()


class ServiceConnectTest(TunnelTestCase):
    """Issue 17 (review M4): a service reached with the user's token through GET
    /v1/services/{id}/connect and `edgewire tunnel connect`, not through the raw conductor port."""

    def connector(self, service_id, token, *extra):
        """A running `edgewire tunnel connect SERVICE` and the local port it printed."""
        env = dict(os.environ, EDGEWIRE_URL=self.conductor.url, EDGEWIRE_TOKEN=token)
        if self.conductor.tls:
            env["EDGEWIRE_CA_FILE"] = self.conductor.tls.ca
        proc = subprocess.Popen([CLI, "tunnel", "connect", service_id, *extra], stdout=subprocess.PIPE,
                                stderr=subprocess.PIPE, text=True, env=env)
        self.addCleanup(lambda: (proc.kill(), proc.wait(), proc.stdout.close(), proc.stderr.close()))
        line = proc.stdout.readline()
        m = re.match(r"listening on 127\.0\.0\.1:(\d+) -> service " + re.escape(service_id), line)
        self.assertTrue(m, line + (proc.stderr.read() if proc.poll() is not None else ""))
        return proc, int(m.group(1))

    def local_round_trip(self, port, message):
        with socket.create_connection(("127.0.0.1", port), timeout=30) as sock:
            sock.sendall(message)
            sock.shutdown(socket.SHUT_WR)
            return recv_all(sock)

    def test_echo_through_tunnel_connect_listen_and_stdio(self):
        project, op = self.project_operator("connect")
        board = self.board("connect-board", project=project["id"])
        local = self.local(echo)
        service = self.open_service(board, local.port, token=op)
        _, port = self.connector(service["id"], op)
        self.assertEqual(self.local_round_trip(port, b"hello over the authenticated route"),
                         b"hello over the authenticated route")
        # Half-close and bulk: everything the board sends after the client's FIN still arrives.
        big = pattern(3_000_000, "connect")
        self.assertEqual(self.local_round_trip(port, big), big)
        # --stdio (ssh's ProxyCommand): stdin to the service, its answer on stdout.
        env = dict(os.environ, EDGEWIRE_URL=self.conductor.url, EDGEWIRE_TOKEN=op)
        started = time.monotonic()
        done = subprocess.run([CLI, "tunnel", "connect", service["id"], "--stdio"], input=b"over stdio\n" * 1000,
                              capture_output=True, env=env, timeout=60)
        self.assertEqual(done.returncode, 0, done.stderr)
        self.assertEqual(done.stdout, b"over stdio\n" * 1000)
        # Both ends finished: one closing handshake, not a wait for the 5 s close timeout (when
        # the board's side also started one, the connector lingered that long).
        self.assertLess(time.monotonic() - started, 3.0)
        # The proxy's audit line names the user and the board's port.
        self.assertRegex(self.log(), rf"proxy: user op-connect \(\S+\) from \S+ to board {board} port {local.port}")

    def test_a_client_that_never_closes_still_frees_the_boards_tunnel_at_once(self):
        """Once both half-closes passed the relay, the conductor closes the board's leg itself (it
        is that leg's closing side): a client of the route that never sends its close frame holds
        only its own leg, until the close timeout, not the board's tunnel as well."""
        board = self.board("relay-board")
        local = self.local(echo)
        service = self.open_service(board, local.port)
        sock, _ = upgrade_by_hand(self.conductor.port, f"/v1/services/{service['id']}/connect",
                                  {"X-Auth-Token": self.token}, timeout=20)
        self.addCleanup(sock.close)
        sock.sendall(masked_frame(2, b"hi") + masked_frame(1, b"FIN"))
        frames = []
        while (1, b"FIN") not in frames:
            frames.append(read_frame(sock))
        self.assertEqual(b"".join(p for op, p in frames if op == 2), b"hi")
        # The board's splice answered the relay's close: its tunnel ended "closed", well inside
        # the 5 s after which it would end by itself ("closing handshake timed out").
        agent_log = self.agents["relay-board"].log_path
        ended = re.compile(rf"tunnel proxy to {board} port {local.port} ended: (.*)")

        def board_end():
            with open(agent_log) as f:
                found = ended.findall(f.read())
            return found[-1] if found else None
        self.assertEqual(wait_until(board_end, timeout=3, what="the board's tunnel ended"), "closed")
        # The client's own leg waits for its close frame (a well-behaved client's arrives at once:
        # `edgewire tunnel connect` sends it) and is cut at the close timeout without one.
        sock.settimeout(30)
        with self.assertRaises(EOFError):
            read_frame(sock)

    def test_other_project_and_missing_token_are_refused_before_the_upgrade(self):
        a, op_a = self.project_operator("ca")
        _, op_b = self.project_operator("cb")
        board = self.board("connect-iso", project=a["id"])
        local = self.local(echo)
        service = self.open_service(board, local.port, token=op_a)
        path = f"/v1/services/{service['id']}/connect"
        status, text = upgrade_status(self.conductor.port, path, {"X-Auth-Token": op_b})
        self.assertEqual(status, 403, text)
        self.assertIn("another project", text)
        status, text = upgrade_status(self.conductor.port, path, {})
        self.assertEqual(status, 401, text)
        status, text = upgrade_status(self.conductor.port, path, {"Authorization": "Bearer not-a-token"})
        self.assertEqual(status, 401, text)
        status, text = upgrade_status(self.conductor.port, "/v1/services/svc-0000/connect", {"X-Auth-Token": op_a})
        self.assertEqual(status, 404, text)
        # The project's own operator (Bearer) and an admin are let in.
        for token in (op_a, self.token):
            status, text = upgrade_status(self.conductor.port, path, {"Authorization": f"Bearer {token}"})
            self.assertEqual(status, 101, text)
        # The CLI says why and fails.
        env = dict(os.environ, EDGEWIRE_URL=self.conductor.url, EDGEWIRE_TOKEN=op_b)
        refused = subprocess.run([CLI, "tunnel", "connect", service["id"], "--stdio"], input=b"x",
                                 capture_output=True, env=env, timeout=60)
        self.assertNotEqual(refused.returncode, 0)
        self.assertIn(b"another project", refused.stderr)

    def test_revoking_the_token_ends_a_live_connection(self):
        project, op = self.project_operator("crevoke")
        board = self.board("connect-revoke", project=project["id"])
        local = self.local(echo)
        service = self.open_service(board, local.port, token=op)
        _, port = self.connector(service["id"], op)
        with socket.create_connection(("127.0.0.1", port), timeout=15) as sock:
            sock.sendall(b"ping")
            got = b""
            while len(got) < 4:
                got += sock.recv(4)
            self.assertEqual(got, b"ping")
            status, _ = self.conductor.rest("DELETE", "/v1/auth/tokens/current", token=op)
            self.assertIn(status, (200, 204))
            took = closed_within(sock, 3)
            self.assertIsNotNone(took, "the service connection outlived its revoked token")

    def test_deleting_the_service_ends_its_authenticated_connections(self):
        board = self.board("connect-delete")
        local = self.local(echo)
        service = self.open_service(board, local.port)
        _, port = self.connector(service["id"], self.token)
        with socket.create_connection(("127.0.0.1", port), timeout=15) as sock:
            sock.sendall(b"ping")
            got = b""
            while len(got) < 4:
                got += sock.recv(4)
            self.assertEqual(got, b"ping")
            self.assertEqual(self.rest("DELETE", f"/v1/services/{service['id']}")[0], 204)
            self.assertIsNotNone(closed_within(sock, 3), "the connection outlived its service")
        self.assertIn(f"service {service['id']} was deleted", self.log())



class ServiceConnectTlsTest(ServiceConnectTest):
    """The same over the conductor's own TLS: `tunnel connect` checks its certificate (--ca-file)."""

    conductor_tls = True

    def test_echo_over_tls_and_an_unknown_ca_is_refused(self):
        board = self.board("connect-tls")
        local = self.local(echo)
        service = self.open_service(board, local.port)
        _, port = self.connector(service["id"], self.token)
        self.assertEqual(self.local_round_trip(port, b"over wss"), b"over wss")
        env = dict(os.environ, EDGEWIRE_URL=self.conductor.url, EDGEWIRE_TOKEN=self.token)  # system CAs only
        refused = subprocess.run([CLI, "tunnel", "connect", service["id"], "--stdio"], input=b"x",
                                 capture_output=True, env=env, timeout=60)
        self.assertNotEqual(refused.returncode, 0)
        self.assertIn(b"TLS", refused.stderr)

    # The plain-HTTP cases are not run again here (ctest runs each class's own tests only; this
    # keeps `python3 -m unittest test_tunnels` the same).
    test_echo_through_tunnel_connect_listen_and_stdio = None
    test_other_project_and_missing_token_are_refused_before_the_upgrade = None
    test_a_client_that_never_closes_still_frees_the_boards_tunnel_at_once = None
    test_revoking_the_token_ends_a_live_connection = None
    test_deleting_the_service_ends_its_authenticated_connections = None


def listening_ports(pid):
    """The TCP ports process `pid` listens on: its sockets' inodes (/proc/PID/fd) matched with the
    LISTEN rows (state 0A) of /proc/PID/net/tcp and tcp6."""
    inodes = set()
    for fd in os.listdir(f"/proc/{pid}/fd"):
        try:
            target = os.readlink(f"/proc/{pid}/fd/{fd}")
        except OSError:
            continue  # closed meanwhile
        if target.startswith("socket:["):
            inodes.add(target[len("socket:["):-1])
    ports = set()
    for table in ("tcp", "tcp6"):
        with open(f"/proc/{pid}/net/{table}") as f:
            next(f)
            for row in f:
                cols = row.split()
                if cols[3] == "0A" and cols[9] in inodes:
                    ports.add(int(cols[1].rsplit(":", 1)[1], 16))
    return ports


class ConnectOnlyServiceTest(TunnelTestCase):
    """Issue 17: a service created with "listen": false opens no raw conductor port (the
    unauthenticated one, review M4) and is reachable only through GET /v1/services/{id}/connect."""

    connector = ServiceConnectTest.connector
    local_round_trip = ServiceConnectTest.local_round_trip

    def stdio(self, service_id, token, data):
        env = dict(os.environ, EDGEWIRE_URL=self.conductor.url, EDGEWIRE_TOKEN=token)
        return subprocess.run([CLI, "tunnel", "connect", service_id, "--stdio"], input=data, capture_output=True,
                              env=env, timeout=60)

    def test_connect_only_service_opens_no_port_and_is_reached_with_the_token(self):
        a, op = self.project_operator("conly")
        _, other = self.project_operator("cother")
        board = self.board("conly-board", project=a["id"])
        local = self.local(echo)
        pid = self.conductor.proc.pid
        before = listening_ports(pid)
        self.assertIn(self.conductor.port, before)  # the helper sees the conductor's own port
        service = self.open_service(board, local.port, token=op, listen=False)
        self.assertIs(service["listen"], False)
        self.assertIsNone(service["conductorPort"])
        self.assertEqual(service["state"], "connect-only")
        self.assertEqual(listening_ports(pid), before)
        # Shown the same way by GET and the list; a listening service says listen true.
        shown = self.service_state(service["id"])
        self.assertEqual((shown["listen"], shown["conductorPort"], shown["state"]), (False, None, "connect-only"))
        raw = self.open_service(board, local.port, token=op)
        self.assertIs(raw["listen"], True)
        self.assertIsInstance(raw["conductorPort"], int)
        self.assertEqual(listening_ports(pid), before | {raw["conductorPort"]})
        _, listed = self.conductor.rest("GET", "/v1/services", token=op)
        by_id = {s["id"]: s for s in listed["services"]}
        self.assertEqual(by_id[service["id"]]["conductorPort"], None)
        self.assertEqual(by_id[service["id"]]["state"], "connect-only")

        done = self.stdio(service["id"], op, b"connect-only\n" * 1000)
        self.assertEqual(done.returncode, 0, done.stderr)
        self.assertEqual(done.stdout, b"connect-only\n" * 1000)
        _, port = self.connector(service["id"], op)
        self.assertEqual(self.local_round_trip(port, b"through --listen"), b"through --listen")

        # Another project's user: refused as for any service.
        path = f"/v1/services/{service['id']}/connect"
        status, text = upgrade_status(self.conductor.port, path, {"X-Auth-Token": other})
        self.assertEqual(status, 403, text)
        for method in ("GET", "DELETE"):
            status, _ = self.conductor.rest(method, f"/v1/services/{service['id']}", token=other)
            self.assertEqual(status, 403, method)
        _, theirs = self.conductor.rest("GET", "/v1/services", token=other)
        self.assertEqual(theirs["services"], [])

        # Delete ends its live authenticated connection.
        with socket.create_connection(("127.0.0.1", port), timeout=15) as sock:
            sock.sendall(b"ping")
            got = b""
            while len(got) < 4:
                got += sock.recv(4)
            self.assertEqual(got, b"ping")
            self.assertEqual(self.conductor.rest("DELETE", f"/v1/services/{service['id']}", token=op)[0], 204)
            self.assertIsNotNone(closed_within(sock, 3), "the connection outlived its service")
        self.assertEqual(self.rest("GET", f"/v1/services/{service['id']}")[0], 404)
        self.assertEqual(listening_ports(pid), before | {raw["conductorPort"]})

    def test_bad_connect_only_requests_change_nothing(self):
        board = self.board("conly-bad", start=False)
        cases = (({"conductorPort": 20500, "listen": False}, "conductorPort"),
                 ({"allowCidrs": ["127.0.0.0/8"], "listen": False}, "allowCidrs"),
                 ({"maxConnections": 5, "listen": False}, "maxConnections"),
                 ({"listen": "false"}, "listen"), ({"listen": 0}, "listen"), ({"listen": None}, "listen"))
        for extra, field in cases:
            status, resp = self.rest("POST", "/v1/services", {"boardId": board, "boardPort": 22, **extra})
            self.assertEqual(status, 400, (extra, resp))
            self.assertEqual(resp["error"]["code"], "invalid_argument", resp)
            self.assertTrue(resp["error"]["message"].startswith(field + ":"), resp)
        _, listed = self.rest("GET", "/v1/services")
        self.assertEqual(listed["services"], [])
        # "listen": true is today's service.
        self.assertIsInstance(self.open_service(board, 22, listen=True)["conductorPort"], int)

    def test_cli_no_listen_and_a_restart_keeps_it(self):
        board = self.board("conly-cli")
        local = self.local(echo)
        # The raw port's options with --no-listen: refused by the CLI, naming the flags.
        for extra in (["--conductor-port", "20022"], ["--max-connections", "5"], ["--allow", "10.0.0.0/8"]):
            refused = cli(self.conductor, "tunnel", "open", board, str(local.port), "--no-listen", *extra,
                          token=self.token)
            self.assertNotEqual(refused.returncode, 0, refused.stdout)
            self.assertIn(extra[0], refused.stderr)
        _, listed = self.rest("GET", "/v1/services")
        self.assertEqual(listed["services"], [])
        opened = cli(self.conductor, "tunnel", "open", board, str(local.port), "--no-listen", token=self.token)
        self.assertEqual(opened.returncode, 0, opened.stdout + opened.stderr)
        m = re.search(r"service (svc-[0-9a-f]+): connect-only -> ", opened.stdout)
        self.assertTrue(m, opened.stdout)
        service_id = m.group(1)
        listed = cli(self.conductor, "tunnel", "ls", token=self.token)
        self.assertEqual(listed.returncode, 0, listed.stderr)
        row = next(line for line in listed.stdout.splitlines() if service_id in line)
        self.assertEqual(row.split()[3:5], ["-", "connect-only"], listed.stdout)

        self.conductor.stop()
        self.conductor.start()
        self.token = self.conductor.login()
        wait_until(lambda: self.conductor.status_of(self.token, board) == "online", timeout=15, what="board back")
        state = self.service_state(service_id)
        self.assertEqual((state["listen"], state["conductorPort"], state["state"]), (False, None, "connect-only"))
        self.assertNotIn("error", state)
        self.assertEqual(listening_ports(self.conductor.proc.pid), {self.conductor.port})
        done = self.stdio(service_id, self.token, b"after restart")
        self.assertEqual(done.returncode, 0, done.stderr)
        self.assertEqual(done.stdout, b"after restart")
        closed = cli(self.conductor, "tunnel", "close", service_id, token=self.token)
        self.assertEqual(closed.returncode, 0, closed.stderr)
        self.assertEqual(self.rest("GET", f"/v1/services/{service_id}")[0], 404)


class ConnectOnlyExposureTest(TunnelTestCase):
    """Off loopback a raw port needs allowCidrs (H1); a connect-only service opens none, so an
    operator needs none."""

    conductor_extra = 'listen_address = "0.0.0.0"\n'

    def test_a_connect_only_service_needs_no_allow_cidrs_off_loopback(self):
        project, op = self.project_operator("conly-net")
        board = self.board("conly-net", start=False, project=project["id"])
        before = listening_ports(self.conductor.proc.pid)
        service = self.open_service(board, 22, token=op, listen=False)
        self.assertEqual((service["conductorPort"], service["state"]), (None, "connect-only"))
        self.assertEqual(listening_ports(self.conductor.proc.pid), before)

if __name__ == "__main__":
    unittest.main()
