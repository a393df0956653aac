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
import shutil
import socket
import socketserver
import ssl
import subprocess
import tempfile
import threading
import time
import unittest

import test_tls_clients
import wamp_client
from harness import ADMIN_PASSWORD, AGENT, CONDUCTOR, Agent, Conductor, ConductorTestCase, cli, wait_until

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
    conductor_extra = ""

    def setUp(self):
        self.workdir = tempfile.mkdtemp(prefix=self.workdir_prefix)
        self.conductor = Conductor(self.workdir, extra_config=TUNNEL_CONFIG + self.conductor_extra).start()
        self.token = self.conductor.login()
        self.agents = {}
        self.services = []

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
        agent = Agent(self.workdir, name)
        enrol = agent.enrol(self.conductor.url, code)
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
        _, a = self.rest("POST", "/v1/projects", {"name": "proj-a"})
        _, b = self.rest("POST", "/v1/projects", {"name": "proj-b"})
        for name, project in (("op-a", a["id"]), ("op-b", b["id"])):
            status, body = self.rest("POST", "/v1/users", {"name": name, "password": "tunnel-operator-pw",
                                                          "projectId": project})
            self.assertEqual(status, 201, body)
        op_a = self.conductor.login("op-a", "tunnel-operator-pw")
        op_b = self.conductor.login("op-b", "tunnel-operator-pw")
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
        board_c, code = self.conductor.create_board(self.token, "token-board")
        status, enrolled = self.conductor.rest("POST", "/v1/enrol", {"code": code, "hostname": "t"})
        self.assertIn(status, (200, 201), enrolled)
        board_d = self.board("other-board", start=False)
        port = self.conductor.port
        service = self.open_service(board_c, 4242)
        tokens = []

        async def scenario():
            session = await wamp_client.connect(self.conductor.ws_url, {
                "method": "wampcra", "authid": board_c, "secret": enrolled["secret"]})

            def tunnel_open(**kwargs):
                tokens.append(kwargs["token"])
                self.assertEqual(kwargs["port"], 4242)
                return None
            await session.register(tunnel_open, f"ew.board.{board_c}.tunnel.open")
            loop = asyncio.get_running_loop()
            first = await loop.run_in_executor(None, self.connect, service)
            await wait_for(lambda: len(tokens) == 1)
            second = await loop.run_in_executor(None, self.connect, service)
            await wait_for(lambda: len(tokens) == 2)
            results = {}
            # Forged: never issued.
            results["forged"] = await loop.run_in_executor(
                None, ws_upgrade, port, "/v1/tunnel/" + "A" * 43, board_c)
            # Foreign: a real token, presented for another board (and then spent).
            results["foreign"] = await loop.run_in_executor(
                None, ws_upgrade, port, "/v1/tunnel/" + tokens[1], board_d)
            results["foreign again"] = await loop.run_in_executor(
                None, ws_upgrade, port, "/v1/tunnel/" + tokens[1], board_c)
            # Genuine, then reused.
            results["genuine"] = await loop.run_in_executor(
                None, ws_upgrade, port, "/v1/tunnel/" + tokens[0], board_c)
            results["reused"] = await loop.run_in_executor(
                None, ws_upgrade, port, "/v1/tunnel/" + tokens[0], board_c)
            results["malformed"] = await loop.run_in_executor(
                None, ws_upgrade, port, "/v1/tunnel/../ws", board_c)
            session.leave()
            first.close()
            second.close()
            return results

        async def wait_for(predicate, timeout=10):
            deadline = time.monotonic() + timeout
            while not predicate():
                if time.monotonic() > deadline:
                    raise AssertionError("timed out")
                await asyncio.sleep(0.02)

        results = asyncio.run(scenario())
        self.assertEqual(results["genuine"][0], 101, results)
        for key in ("forged", "foreign", "foreign again", "reused", "malformed"):
            self.assertEqual(results[key][0], 403, (key, results[key]))
        self.assertIn("unknown or already used", results["reused"][1])
        self.assertIn("not the board it was issued to", results["foreign"][1])
        # No log line carries a token.
        log = self.log()
        for token in tokens:
            self.assertNotIn(token, log)


def http_app(conn):
    """A tiny HTTP/1.1 service on the board: answers with what it saw; an Upgrade request gets
    101 and then an echo of raw bytes (a stand-in for a WebSocket)."""
    data = b""
    while b"\r\n\r\n" not in data:
        chunk = conn.recv(65536)
        if not chunk:
            return
        data += chunk
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
        _, b = self.rest("POST", "/v1/projects", {"name": "proj-other"})
        self.rest("POST", "/v1/users", {"name": "op-other", "password": "tunnel-operator-pw", "projectId": b["id"]})
        other = self.conductor.login("op-other", "tunnel-operator-pw")
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


class TunnelTlsTest(unittest.TestCase):
    """The conductor serving its own TLS ([server] tls_cert): the agent's session and its tunnel
    WebSockets are wss, checked against the enrolment CA file."""

    def setUp(self):
        self.workdir = tempfile.mkdtemp(prefix="ew-tunnel-tls-")
        pki = test_tls_clients.Pki(self.workdir)
        self.ca = pki.path("ca.pem")
        self.agent = None
        self.local = None
        pw_file = os.path.join(self.workdir, "pw.txt")
        with open(pw_file, "w") as f:
            f.write(ADMIN_PASSWORD + "\n")
        config = os.path.join(self.workdir, "conductor.toml")
        with open(config, "w") as f:
            f.write(f'''[server]
listen_address = "127.0.0.1"
port = 0
tls_cert = "{pki.path('server.pem')}"
tls_key = "{pki.path('server.key')}"
[store]
path = "{self.workdir}/c.db"
[auth]
bootstrap_password_file = "{pw_file}"
[log]
level = "debug"
{TUNNEL_CONFIG}''')
        self.log_path = os.path.join(self.workdir, "conductor.log")
        with open(self.log_path, "a") as log:
            self.proc = subprocess.Popen([CONDUCTOR, "--config", config], stdout=subprocess.PIPE, stderr=log, text=True)
        line = self.proc.stdout.readline()
        self.assertIn("listening on", line, "the conductor did not start with TLS")
        self.port = int(line.strip().rsplit(":", 1)[1])
        self.url = f"https://127.0.0.1:{self.port}"
        self.token = self.rest("POST", "/v1/auth/tokens", {"username": "admin", "password": ADMIN_PASSWORD})[1]["token"]

    def tearDown(self):
        if self.local:
            self.local.stop()
        if self.agent:
            self.agent.stop()
        if self.proc.poll() is None:
            self.proc.terminate()
            self.proc.wait(10)
        self.proc.stdout.close()
        if not os.environ.get("EW_KEEP_TMP"):
            shutil.rmtree(self.workdir, ignore_errors=True)

    def rest(self, method, path, body=None, token=None):
        import json
        import urllib.error
        import urllib.request
        request = urllib.request.Request(self.url + path, data=json.dumps(body).encode() if body is not None else None,
                                         method=method, headers={"Content-Type": "application/json"})
        if token:
            request.add_header("X-Auth-Token", token)
        context = ssl.create_default_context(cafile=self.ca)
        try:
            with urllib.request.urlopen(request, timeout=30, context=context) as response:
                return response.status, json.loads(response.read() or b"null")
        except urllib.error.HTTPError as e:
            return e.code, json.loads(e.read() or b"null")

    def test_echo_and_bulk_over_wss(self):
        status, created = self.rest("POST", "/v1/boards", {"name": "tls-tunnel"}, self.token)
        self.assertEqual(status, 201, created)
        board_id = created["board"]["id"]
        self.agent = Agent(self.workdir, "tls-tunnel")
        enrolled = subprocess.run([AGENT, "enrol", "--conductor", self.url, "--code", created["enrolmentCode"],
                                   "--credential", self.agent.credential, "--ca-file", self.ca],
                                  capture_output=True, text=True, timeout=30)
        self.assertEqual(enrolled.returncode, 0, enrolled.stderr)
        self.agent.start()
        wait_until(lambda: self.rest("GET", f"/v1/boards/{board_id}", token=self.token)[1].get("status") == "online",
                   timeout=15, what="board online over wss")
        self.local = LocalService(echo)
        status, service = self.rest("POST", "/v1/services", {"boardId": board_id, "boardPort": self.local.port},
                                    self.token)
        self.assertEqual(status, 201, service)
        size = 20 * 1024 * 1024
        data = pattern(size, "tls")
        with socket.create_connection(("127.0.0.1", service["conductorPort"]), timeout=30) as sock:
            def send():
                sock.sendall(data)
                sock.shutdown(socket.SHUT_WR)
            sender = threading.Thread(target=send)
            sender.start()
            got = recv_all(sock)
            sender.join()
        self.assertEqual(hashlib.sha256(got).hexdigest(), hashlib.sha256(data).hexdigest())
        # The tunnel WebSocket went over TLS: the agent dialled wss to the conductor's port.
        with open(self.agent.log_path) as f:
            self.assertNotIn("tunnel to", f.read())  # no failed dial
        status, body = ws_upgrade(self.port, "/v1/tunnel/" + "B" * 43, board_id, use_tls=True, ca=self.ca)
        self.assertEqual(status, 403, body)


if __name__ == "__main__":
    unittest.main()
