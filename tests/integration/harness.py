"""Runs real Edgewire processes on 127.0.0.1 for integration tests: a conductor (its own SQLite
file, port 0 unless told), agents enrolled through the REST API, and the edgewire CLI.
Everything stops by itself when a test ends (each process is killed in tearDown)."""

import json
import os
import shutil
import signal
import ssl
import subprocess
import tempfile
import time
import unittest
import urllib.error
import urllib.request

BIN = os.environ.get("EW_BIN_DIR", os.path.join(os.path.dirname(__file__), "../../build"))
CONDUCTOR = os.path.join(BIN, "cloud-conductor", "edgewire-conductor")
AGENT = os.path.join(BIN, "device-agent", "edgewire-agent")
CLI = os.path.join(BIN, "cloud-conductor", "cli", "edgewire")

ADMIN_PASSWORD = "integration-admin-pw"


def wait_until(predicate, timeout=10.0, interval=0.05, what="condition"):
    deadline = time.monotonic() + timeout
    last = None
    while time.monotonic() < deadline:
        last = predicate()
        if last:
            return last
        time.sleep(interval)
    raise AssertionError(f"timed out after {timeout}s waiting for {what} (last: {last!r})")


def openssl(*args, cwd):
    subprocess.run(["openssl", *args], cwd=cwd, check=True, capture_output=True, timeout=30)


class Pki:
    """A test CA with a certificate for 127.0.0.1/localhost, another CA with its own, and an expired
    certificate from the test CA, all in `directory` (made with the openssl CLI)."""

    def __init__(self, directory):
        self.dir = directory
        for ca in ("ca", "other-ca"):
            openssl("req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes",
                    "-keyout", f"{ca}.key", "-out", f"{ca}.pem", "-days", "2", "-subj", f"/CN=Edgewire {ca}",
                    cwd=directory)
        openssl("req", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes", "-keyout", "server.key",
                "-out", "server.csr", "-subj", "/CN=conductor", cwd=directory)
        with open(os.path.join(directory, "san.ext"), "w") as f:
            f.write("subjectAltName=IP:127.0.0.1,DNS:localhost\n")
        self.sign("server.pem", "ca", days="2")
        self.sign("expired.pem", "ca", days="-1")
        self.sign("other.pem", "other-ca", days="2")

    def sign(self, out, ca, days):
        openssl("x509", "-req", "-in", "server.csr", "-CA", f"{ca}.pem", "-CAkey", f"{ca}.key", "-CAcreateserial",
                "-days", days, "-extfile", "san.ext", "-out", out, cwd=self.dir)

    def path(self, name):
        return os.path.join(self.dir, name)

    @property
    def ca(self):
        return self.path("ca.pem")

    def context(self):
        """An SSL context for clients that trusts the test CA."""
        return ssl.create_default_context(cafile=self.ca)

    def fingerprint(self, cert="server.pem"):
        out = subprocess.run(["openssl", "x509", "-in", self.path(cert), "-noout", "-fingerprint", "-sha256"],
                             check=True, capture_output=True, text=True).stdout
        return "sha256:" + out.strip().split("=", 1)[1]


class Conductor:
    """generated_password: leave [auth] bootstrap_password_file out, so that the conductor
    generates the admin password and writes it to <workdir>/admin-password (mode 0600); it is
    read from there. extra_auth: more [auth] lines. stdout_lines: what it printed before
    "listening on". tls: a Pki: the conductor serves its own TLS ([server] tls_cert/tls_key) with
    the Pki's server certificate; url and ws_url are https/wss and rest() trusts the Pki's CA."""

    def __init__(self, workdir, port=0, heartbeat_timeout_ms=1500, log_level="debug", generated_password=False,
                 extra_auth="", extra_config="", listen_address="127.0.0.1", extra_server="", tls=None,
                 extra_router=""):
        self.workdir = workdir
        self.tls = tls
        if tls is not None:
            extra_server = (f'tls_cert = "{tls.path("server.pem")}"\ntls_key = "{tls.path("server.key")}"\n' +
                            extra_server)
        self.extra_config = extra_config  # more tables, appended to conductor.toml
        self.generated_password = generated_password
        self.extra_auth = extra_auth
        self.listen_address = listen_address
        self.extra_server = extra_server
        self.extra_router = extra_router  # more [router] lines
        self.admin_password = ADMIN_PASSWORD
        self.stdout_lines = []
        self.log_level = log_level
        self.port = port
        self.heartbeat_timeout_ms = heartbeat_timeout_ms
        self.proc = None
        self.store = os.path.join(workdir, "conductor.db")
        self.log_path = os.path.join(workdir, "conductor.log")

    def start(self):
        pw_file = os.path.join(self.workdir, "admin-password.txt")
        with open(pw_file, "w") as f:
            f.write(ADMIN_PASSWORD + "\n")
        pw_line = "" if self.generated_password else f'bootstrap_password_file = "{pw_file}"'
        config = os.path.join(self.workdir, "conductor.toml")
        with open(config, "w") as f:
            f.write(f"""[server]
listen_address = "{self.listen_address}"
port = {self.port}
{self.extra_server}
[router]
heartbeat_interval_ms = {self.heartbeat_timeout_ms // 2}
heartbeat_timeout_ms = {self.heartbeat_timeout_ms}
{self.extra_router}
[store]
path = "{self.store}"
[auth]
{pw_line}
{self.extra_auth}
[log]
level = "{self.log_level}"
{self.extra_config}
""")
        with open(self.log_path, "a") as log:
            self.proc = subprocess.Popen([CONDUCTOR, "--config", config], stdout=subprocess.PIPE, stderr=log,
                                         text=True)
        deadline = time.monotonic() + 20
        while time.monotonic() < deadline:
            line = self.proc.stdout.readline()
            if not line:
                raise AssertionError(f"conductor exited early; see {self.log_path}:\n" + open(self.log_path).read()[-3000:])
            self.stdout_lines.append(line)
            if "listening on" in line:
                self.listening_at = time.monotonic()  # when the port accepts again (restarts)
                self.port = int(line.strip().rsplit(":", 1)[1])
                break
        if self.generated_password:
            # Written on the first start, beside the store; never printed.
            generated = os.path.join(self.workdir, "admin-password")
            if os.path.exists(generated):
                with open(generated) as f:
                    self.admin_password = f.read().strip()
        wait_until(lambda: self.healthy(), what="conductor /healthz")
        return self

    @property
    def url(self):
        return f"{'https' if self.tls else 'http'}://127.0.0.1:{self.port}"

    @property
    def ws_url(self):
        return f"{'wss' if self.tls else 'ws'}://127.0.0.1:{self.port}/ws"

    def healthy(self):
        try:
            return self.rest("GET", "/healthz")[0] == 200
        except OSError:
            return False

    def rest(self, method, path, body=None, token=None, raw=None, content_type="application/json"):
        data = raw if raw is not None else (json.dumps(body).encode() if body is not None else None)
        req = urllib.request.Request(self.url + path, data=data, method=method)
        req.add_header("Content-Type", content_type)
        if token:
            req.add_header("X-Auth-Token", token)
        try:
            context = self.tls.context() if self.tls else None
            with urllib.request.urlopen(req, timeout=30, context=context) as resp:
                text = resp.read().decode()
                return resp.status, (json.loads(text) if text and resp.headers.get_content_type() == "application/json" else text)
        except urllib.error.HTTPError as e:
            text = e.read().decode()
            try:
                return e.code, json.loads(text)
            except ValueError:
                return e.code, text

    def login(self, username="admin", password=None, ttl_seconds=None):
        if password is None:
            password = self.admin_password if username == "admin" else ADMIN_PASSWORD
        request = {"username": username, "password": password}
        if ttl_seconds is not None:
            request["ttlSeconds"] = ttl_seconds
        status, body = self.rest("POST", "/v1/auth/tokens", request)
        assert status == 201, (status, body)
        self.last_login_user = body["user"]
        return body["token"]

    def create_board(self, token, name, project=None):
        body = {"name": name}
        if project:
            body["projectId"] = project
        status, resp = self.rest("POST", "/v1/boards", body, token)
        assert status == 201, (status, resp)
        return resp["board"]["id"], resp["enrolmentCode"]

    def board(self, token, board_id):
        status, body = self.rest("GET", f"/v1/boards/{board_id}", token=token)
        assert status == 200, (status, body)
        return body

    def status_of(self, token, board_id):
        return self.board(token, board_id)["status"]

    def metric(self, name):
        status, text = self.rest("GET", "/metrics")
        total = 0.0
        found = False
        for line in text.splitlines():
            if line.startswith(name + " ") or line.startswith(name + "{"):
                total += float(line.rsplit(" ", 1)[1])
                found = True
        return total if found else None

    def stop(self, sig=signal.SIGTERM):
        if self.proc and self.proc.poll() is None:
            self.proc.send_signal(sig)
            try:
                self.proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        if self.proc and self.proc.stdout:
            self.proc.stdout.close()
        self.proc = None


class Agent:
    def __init__(self, workdir, name, log_level="debug", extra_config=""):
        self.workdir = workdir
        self.name = name
        self.credential = os.path.join(workdir, f"{name}.credential.json")
        self.config = os.path.join(workdir, f"{name}.toml")
        self.log_path = os.path.join(workdir, f"{name}.log")
        with open(self.config, "w") as f:
            f.write(f"""[agent]
credential_path = "{self.credential}"
reconnect_initial_ms = 100
reconnect_max_ms = 1000
[functions]
state_dir = "{os.path.join(workdir, name + '-functions')}"
work_dir = "{os.path.join(workdir, name + '-containers')}"
[flows]
state_dir = "{os.path.join(workdir, name + '-flows')}"
[spool]
dir = "{os.path.join(workdir, name + '-spool')}"
[log]
level = "{log_level}"
[update]
dir = "{os.path.join(workdir, name + '-update')}"
{extra_config}""")
        self.proc = None
        self.prefix = []     # e.g. ["ip", "netns", "exec", NS]: where the agent runs
        self.run_extra = []  # more `run` arguments (--insecure)

    def enrol(self, conductor_url, code, *extra):
        return subprocess.run([AGENT, "enrol", "--conductor", conductor_url, "--code", code,
                               "--credential", self.credential, *extra], capture_output=True, text=True, timeout=30)

    def read_credential(self):
        with open(self.credential) as f:
            return json.load(f)

    def start(self):
        with open(self.log_path, "a") as log:
            self.proc = subprocess.Popen(self.prefix + [AGENT, "run", "--config", self.config] + self.run_extra,
                                         stdout=log, stderr=log)
        return self

    def kill(self, sig=signal.SIGKILL):
        if self.proc and self.proc.poll() is None:
            self.proc.send_signal(sig)
            if sig in (signal.SIGKILL, signal.SIGTERM, signal.SIGINT):
                try:
                    self.proc.wait(timeout=10)
                except subprocess.TimeoutExpired:
                    self.proc.kill()
                    self.proc.wait()
                self.proc = None

    def stop(self):
        self.kill(signal.SIGTERM)


def cli(conductor, *args, token=None, stdin=None, home=None):
    env = dict(os.environ)
    env["EDGEWIRE_URL"] = conductor.url
    if token:
        env["EDGEWIRE_TOKEN"] = token
    if home:
        env["XDG_CONFIG_HOME"] = home
    return subprocess.run([CLI, *args], capture_output=True, text=True, input=stdin, env=env, timeout=60)


class ConductorTestCase(unittest.TestCase):
    """A conductor of its own per test (logged in as admin), agents in self.agents stopped after it,
    and every *.log of the work directory printed when the test fails. EW_KEEP_TMP=1 keeps it."""

    workdir_prefix = "ew-test-"
    conductor_config = ""  # more conductor.toml tables for the test case's conductor
    conductor_server = ""  # more [server] lines
    conductor_tls = False  # True: the conductor serves its own TLS with a test Pki (self.conductor.tls)

    def setUp(self):
        self.workdir = tempfile.mkdtemp(prefix=self.workdir_prefix)
        pki = Pki(self.workdir) if self.conductor_tls else None
        self.conductor = Conductor(self.workdir, extra_config=self.conductor_config, extra_server=self.conductor_server,
                                   tls=pki).start()
        self.token = self.conductor.login()
        self.agents = {}

    def tearDown(self):
        if not getattr(self._outcome, "success", True):
            for path in sorted(os.listdir(self.workdir)):
                if path.endswith(".log"):
                    with open(os.path.join(self.workdir, path)) as f:
                        print(f"==== {path}\n{f.read()[-6000:]}")
        for agent in self.agents.values():
            agent.kill(signal.SIGTERM)
        self.conductor.stop()
        if not os.environ.get("EW_KEEP_TMP"):
            shutil.rmtree(self.workdir, ignore_errors=True)

    def rest(self, method, path, body=None, **kw):
        return self.conductor.rest(method, path, body, token=self.token, **kw)
