"""Issue 11, TLS on the client side: the agent enrols over https and keeps its session over wss,
the CLI and the Python WAMP client speak https/wss, and each refuses a conductor it cannot trust
(another CA, a wrong pin, an expired certificate) with a clear error.

Real TLS: a CA and server certificates made here with the openssl CLI, and socat terminating TLS
in front of a plain conductor (TlsClientsTest) or the conductor's own TLS (NativeTlsTest)."""

import asyncio
import json
import os
import shutil
import signal
import socket
import ssl
import subprocess
import unittest

from harness import AGENT, CLI, Agent, ConductorTestCase, Pki, wait_until  # noqa: F401 (Pki: benches import it)
import wamp_client


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class TlsFront:
    """socat terminating TLS on 127.0.0.1:<port> with `cert`, forwarding to the plain conductor."""

    def __init__(self, workdir, pki, backend_port, cert="server.pem"):
        self.port = free_port()
        self.log_path = os.path.join(workdir, "socat.log")
        with open(self.log_path, "a") as log:
            self.proc = subprocess.Popen(
                ["socat", f"OPENSSL-LISTEN:{self.port},bind=127.0.0.1,reuseaddr,fork,cert={pki.path(cert)},"
                          f"key={pki.path('server.key')},verify=0", f"TCP:127.0.0.1:{backend_port}"],
                stdout=log, stderr=log)
        wait_until(self.listening, what=f"socat on {self.port}")

    def listening(self):
        try:
            socket.create_connection(("127.0.0.1", self.port), timeout=0.5).close()
            return True
        except OSError:
            return False

    @property
    def url(self):
        return f"https://127.0.0.1:{self.port}"

    def stop(self):
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            self.proc.wait(timeout=10)


class TlsClientsTest(ConductorTestCase):
    workdir_prefix = "ew-tls-"

    def setUp(self):
        super().setUp()
        self.pki = Pki(self.workdir)
        self.fronts = []

    def tearDown(self):
        for front in self.fronts:
            front.stop()
        super().tearDown()

    def front(self, cert="server.pem"):
        front = TlsFront(self.workdir, self.pki, self.conductor.port, cert)
        self.fronts.append(front)
        return front

    def new_board(self, name):
        status, resp = self.rest("POST", "/v1/boards", {"name": name})
        self.assertEqual(status, 201, resp)
        agent = Agent(self.workdir, name)
        self.agents[name] = agent
        return resp["board"]["id"], resp["enrolmentCode"], agent

    def enrol(self, agent, url, code, *extra):
        return subprocess.run([AGENT, "enrol", "--conductor", url, "--code", code, "--credential", agent.credential,
                               *extra], capture_output=True, text=True, timeout=30)

    def cli(self, url, *args, ca_file=None):
        env = dict(os.environ, EDGEWIRE_URL=url, EDGEWIRE_TOKEN=self.token, XDG_CONFIG_HOME=self.workdir)
        env.pop("EDGEWIRE_CA_FILE", None)
        ca = ["--ca-file", ca_file] if ca_file else []
        return subprocess.run([CLI, *ca, *args], capture_output=True, text=True, env=env, timeout=60)

    def wait_status(self, board_id, status, timeout=15.0):
        wait_until(lambda: self.conductor.status_of(self.token, board_id) == status, timeout=timeout,
                   what=f"board {board_id} {status}")

    def log_of(self, agent):
        with open(agent.log_path) as f:
            return f.read()

    def test_enrol_https_run_wss_and_cli_over_https(self):
        front = self.front()
        board_id, code, agent = self.new_board("tls-board")
        enrolled = self.enrol(agent, front.url, code, "--ca-file", self.pki.path("ca.pem"))
        self.assertEqual(enrolled.returncode, 0, enrolled.stderr)
        credential = agent.read_credential()
        # The conductor behind the proxy says ws://; an https enrolment keeps the session on TLS.
        self.assertEqual(credential["wamp_url"], f"wss://127.0.0.1:{front.port}/ws")
        with open(self.pki.path("ca.pem")) as f:
            self.assertEqual(credential["tls"]["ca_pem"], f.read())
        self.assertEqual(credential["tls"]["pin"], "")

        os.remove(self.pki.path("ca.pem"))  # `run` uses the CA kept in the credential
        agent.start()
        self.wait_status(board_id, "online")
        self.assertIn(f"conductor=wss://127.0.0.1:{front.port}/ws (certificate checked against the CA file",
                      self.log_of(agent))

        # The CLI over https with the CA file; `board ping` goes CLI -> https -> conductor -> wss -> agent.
        ca = os.path.join(self.workdir, "cli-ca.pem")
        with open(ca, "w") as f:
            f.write(credential["tls"]["ca_pem"])
        ping = self.cli(front.url, "board", "ping", board_id, ca_file=ca)
        self.assertEqual(ping.returncode, 0, ping.stderr)
        self.assertIn(f"pong from {board_id}", ping.stdout)

        # The Python WAMP client over wss with an SSL context that trusts the test CA.
        async def call_ping():
            context = ssl.create_default_context(cafile=ca)
            session = await wamp_client.connect(f"wss://127.0.0.1:{front.port}/ws",
                                                {"method": "ticket", "ticket": self.token}, ssl_context=context)
            try:
                return await session.call(f"ew.board.{board_id}.sys.ping")
            finally:
                session.leave()
        self.assertIsNotNone(asyncio.run(asyncio.wait_for(call_ping(), 20)))

    def test_untrusted_conductors_are_refused_with_the_reason(self):
        front = self.front()
        board_id, code, agent = self.new_board("tls-refused")

        wrong_ca = self.enrol(agent, front.url, code, "--ca-file", self.pki.path("other-ca.pem"))
        self.assertEqual(wrong_ca.returncode, 1)
        self.assertIn("enrolment failed: TLS handshake with", wrong_ca.stderr)
        self.assertIn("unable to get local issuer certificate", wrong_ca.stderr)
        self.assertIn("other-ca.pem", wrong_ca.stderr)

        system_cas = self.enrol(agent, front.url, code)
        self.assertEqual(system_cas.returncode, 1)
        self.assertIn("checked against the system CAs", system_cas.stderr)

        wrong_pin = self.enrol(agent, front.url, code, "--pin", "sha256:" + "ab" * 32)
        self.assertEqual(wrong_pin.returncode, 1)
        self.assertIn("pin mismatch", wrong_pin.stderr)
        self.assertIn(self.pki.fingerprint().replace(":", "").lower()[len("sha256"):], wrong_pin.stderr)

        self.assertFalse(os.path.exists(agent.credential))  # nothing stored, and the code is still unused

        # CLI: the system CAs and another CA both refuse the test CA's certificate.
        for ca_file in (None, self.pki.path("other-ca.pem")):
            refused = self.cli(front.url, "board", "list", ca_file=ca_file)
            self.assertEqual(refused.returncode, 1, refused.stdout)
            self.assertIn(f"the conductor's certificate at {front.url} was refused", refused.stderr)
            self.assertIn("unable to get local issuer certificate", refused.stderr)

        # The right pin (openssl's own fingerprint format) is enough on its own.
        pinned = self.enrol(agent, front.url, code, "--pin", self.pki.fingerprint())
        self.assertEqual(pinned.returncode, 0, pinned.stderr)
        self.assertTrue(agent.read_credential()["tls"]["pin"].startswith("sha256:"))
        agent.start()
        self.wait_status(board_id, "online")

    def test_expired_certificate_is_refused(self):
        front = self.front("expired.pem")
        _, code, agent = self.new_board("tls-expired")
        expired = self.enrol(agent, front.url, code, "--ca-file", self.pki.path("ca.pem"))
        self.assertEqual(expired.returncode, 1)
        self.assertIn("certificate has expired", expired.stderr)
        cli = self.cli(front.url, "board", "list", ca_file=self.pki.path("ca.pem"))
        self.assertEqual(cli.returncode, 1)
        self.assertIn("certificate has expired", cli.stderr)

    def test_running_agent_refuses_a_conductor_that_changed_certificate(self):
        front = self.front()
        board_id, code, agent = self.new_board("tls-swap")
        self.assertEqual(self.enrol(agent, front.url, code, "--ca-file", self.pki.path("ca.pem")).returncode, 0)
        agent.start()
        self.wait_status(board_id, "online")
        # Someone else's certificate on the same address: the agent must not talk to it.
        agent.stop()
        port = front.port
        front.stop()
        self.fronts.remove(front)
        impostor = TlsFront.__new__(TlsFront)
        impostor.port = port
        impostor.log_path = front.log_path
        with open(impostor.log_path, "a") as log:
            impostor.proc = subprocess.Popen(
                ["socat", f"OPENSSL-LISTEN:{port},bind=127.0.0.1,reuseaddr,fork,cert={self.pki.path('other.pem')},"
                          f"key={self.pki.path('server.key')},verify=0", f"TCP:127.0.0.1:{self.conductor.port}"],
                stdout=log, stderr=log)
        self.fronts.append(impostor)
        wait_until(impostor.listening, what="impostor socat")
        self.wait_status(board_id, "offline")
        agent.start()
        wait_until(lambda: "unable to get local issuer certificate" in self.log_of(agent), timeout=15,
                   what="the agent's refusal in its log")
        log = self.log_of(agent)
        self.assertIn(f"TLS handshake with wss://127.0.0.1:{port}/ws failed", log)
        self.assertEqual(self.conductor.status_of(self.token, board_id), "offline")
        self.assertIsNone(agent.proc.poll())  # it keeps retrying, it does not crash

    def test_plain_ws_to_another_host_needs_insecure(self):
        board_id, code, agent = self.new_board("tls-plain")
        self.assertEqual(agent.enrol(self.conductor.url, code).returncode, 0)  # loopback: plain is fine
        refused = subprocess.run([AGENT, "run", "--config", agent.config, "--conductor-url", "ws://192.0.2.1:8080/ws"],
                                 capture_output=True, text=True, timeout=30)
        self.assertEqual(refused.returncode, 2)  # a configuration error (common/exit/exit_code.hpp)
        self.assertIn("give --insecure", refused.stdout + refused.stderr)
        enrol = subprocess.run([AGENT, "enrol", "--conductor", "http://192.0.2.1:8080", "--code", "x",
                                "--credential", os.path.join(self.workdir, "x.json")],
                               capture_output=True, text=True, timeout=30)
        self.assertEqual(enrol.returncode, 2)
        self.assertIn("--insecure", enrol.stderr)


class NativeTlsTest(ConductorTestCase):
    """The same clients against the conductor's own TLS ([server] tls_cert/tls_key): no proxy
    (the harness's TLS conductor)."""

    workdir_prefix = "ew-tls-native-"
    conductor_tls = True

    def setUp(self):
        super().setUp()
        self.pki = self.conductor.tls
        self.ca = self.pki.ca
        self.port = self.conductor.port
        self.url = self.conductor.url
        self.agent = None

    def tearDown(self):
        if self.agent:
            self.agent.stop()
        super().tearDown()

    def test_board_and_cli_over_the_conductors_own_tls(self):
        status, created = self.rest("POST", "/v1/boards", {"name": "native-tls"})
        self.assertEqual(status, 201, created)
        board_id = created["board"]["id"]
        self.agent = Agent(self.workdir, "native-tls")
        enrolled = subprocess.run([AGENT, "enrol", "--conductor", self.url, "--code", created["enrolmentCode"],
                                   "--credential", self.agent.credential, "--ca-file", self.ca],
                                  capture_output=True, text=True, timeout=30)
        self.assertEqual(enrolled.returncode, 0, enrolled.stderr)
        self.assertEqual(self.agent.read_credential()["wamp_url"], f"wss://127.0.0.1:{self.port}/ws")
        self.agent.start()
        wait_until(lambda: self.rest("GET", f"/v1/boards/{board_id}")[1].get("status") == "online",
                   timeout=15, what="board online over the conductor's wss")

        env = dict(os.environ, EDGEWIRE_URL=self.url, EDGEWIRE_TOKEN=self.token, XDG_CONFIG_HOME=self.workdir,
                   EDGEWIRE_CA_FILE=self.ca)
        ping = subprocess.run([CLI, "board", "ping", board_id], capture_output=True, text=True, env=env, timeout=60)
        self.assertEqual(ping.returncode, 0, ping.stderr)
        self.assertIn(f"pong from {board_id}", ping.stdout)

        env["EDGEWIRE_CA_FILE"] = self.pki.path("other-ca.pem")
        refused = subprocess.run([CLI, "board", "list"], capture_output=True, text=True, env=env, timeout=60)
        self.assertEqual(refused.returncode, 1)
        self.assertIn("was refused: unable to get local issuer certificate", refused.stderr)

    def test_node_autobahn_over_the_conductors_own_tls(self):
        # npm autobahn (an independent WAMP client) over wss://, trusting the test CA through
        # Node's own NODE_EXTRA_CA_CERTS.
        js_dir = os.path.join(os.path.dirname(os.path.abspath(__file__)), "js")
        if not shutil.which("node") or not os.path.isdir(os.path.join(js_dir, "node_modules", "autobahn")):
            self.skipTest("npm autobahn is not installed (run npm ci in tests/integration/js)")
        status, created = self.rest("POST", "/v1/boards", {"name": "native-tls-js"})
        self.assertEqual(status, 201, created)
        board_id = created["board"]["id"]
        self.agent = Agent(self.workdir, "native-tls-js")
        enrolled = subprocess.run([AGENT, "enrol", "--conductor", self.url, "--code", created["enrolmentCode"],
                                   "--credential", self.agent.credential, "--ca-file", self.ca],
                                  capture_output=True, text=True, timeout=30)
        self.assertEqual(enrolled.returncode, 0, enrolled.stderr)
        self.agent.start()
        wait_until(lambda: self.rest("GET", f"/v1/boards/{board_id}")[1].get("status") == "online",
                   timeout=15, what="board online over the conductor's wss")
        env = dict(os.environ, NODE_EXTRA_CA_CERTS=self.ca)
        proc = subprocess.Popen(["node", "interop.js", f"wss://127.0.0.1:{self.port}/ws", self.token, board_id],
                                cwd=js_dir, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        try:
            def step():
                line = proc.stdout.readline()
                if not line:
                    self.fail("node client ended: " + proc.stderr.read())
                return json.loads(line)
            called = step()
            self.assertEqual(called["step"], "called", called)
            self.assertEqual(called["kwargs"]["boardId"], board_id)
            self.assertEqual(step()["step"], "subscribed")
            # The board goes away and comes back: the client sees it online again, then exits 0.
            self.agent.kill(signal.SIGKILL)
            self.agent.start()
            while True:
                event = step()
                self.assertEqual(event["step"], "event", event)
                if event["status"] == "online":
                    break
            self.assertEqual(proc.wait(timeout=20), 0, proc.stderr.read())
        finally:
            if proc.poll() is None:
                proc.kill()
                proc.wait()
            proc.stdout.close()
            proc.stderr.close()


if __name__ == "__main__":
    unittest.main()
