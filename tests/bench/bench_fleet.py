"""What the fleet benchmarks (run_reliability_bench.py, run_scale_bench.py) share: a conductor
started from a generated config on 127.0.0.1, a keep-alive REST client, real agents enrolled
with `edgewire-agent enrol`, and /proc readings. Benchmarks only: tests use
tests/integration/harness.py."""

import http.client
import json
import os
import resource
import signal
import socket
import subprocess
import sys
import threading
import time

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
CLK_TCK = os.sysconf("SC_CLK_TCK")


def log(*args):
    print(time.strftime("%H:%M:%S"), *args, file=sys.stderr, flush=True)


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def commit():
    return subprocess.run(["git", "-C", ROOT, "rev-parse", "--short", "HEAD"], capture_output=True,
                          text=True).stdout.strip()


def raise_nofile(want):
    """Raises this process's RLIMIT_NOFILE (inherited by every child) to `want`, or to the hard
    limit when it cannot lift that (root may); returns the soft limit now in force."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if hard != resource.RLIM_INFINITY and hard < want:
        try:
            resource.setrlimit(resource.RLIMIT_NOFILE, (want, want))
            return want
        except (ValueError, OSError):
            log(f"cannot raise the hard RLIMIT_NOFILE {hard} to {want} (not root?)")
    resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
    return hard


def proc_cpu_seconds(pid):
    with open(f"/proc/{pid}/stat") as f:
        fields = f.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / CLK_TCK  # utime, stime (fields 14, 15)


def proc_rss_kb(pid):
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    return 0


class Rest:
    """One keep-alive HTTP connection; retried `attempts` times across a reconnect (the conductor
    may be restarting). Answers >= 400 raise RuntimeError with the body."""

    def __init__(self, port, token=None, attempts=5, timeout=60):
        self.port = port
        self.conn = None
        self.token = token
        self.attempts = attempts
        self.timeout = timeout

    def call(self, method, path, body=None, token=None):
        for attempt in range(self.attempts):
            try:
                if self.conn is None:
                    self.conn = http.client.HTTPConnection("127.0.0.1", self.port, timeout=self.timeout)
                headers = {"Content-Type": "application/json"}
                if token or self.token:
                    headers["X-Auth-Token"] = token or self.token
                self.conn.request(method, path, json.dumps(body) if body is not None else None, headers)
                resp = self.conn.getresponse()
                text = resp.read().decode()
                if resp.status >= 400:
                    raise RuntimeError(f"{method} {path}: {resp.status} {text}")
                ctype = resp.getheader("Content-Type", "")
                return json.loads(text) if text and "json" in ctype else text
            except (OSError, http.client.HTTPException):
                self.conn = None
                if attempt == self.attempts - 1:
                    raise
                time.sleep(0.05)

    def login(self, password, username="admin"):
        self.token = self.call("POST", "/v1/auth/tokens", {"username": username, "password": password})["token"]
        return self.token

    def metric(self, name):
        text = self.call("GET", "/metrics")
        for line in text.splitlines():
            if line.startswith(name + " "):
                return float(line.split()[-1])
        return None


class Conductor:
    """An edgewire-conductor on 127.0.0.1:`port` with its store in `work`: functions off, log
    level warn, the admin's bootstrap password `password`, the connection caps raised to
    `max_connections` (every board of a bench comes from loopback), and `extra` appended to the
    config (further TOML sections)."""

    def __init__(self, build, work, port, password, max_connections=100000, extra="", name="conductor"):
        self.binary = os.path.join(build, "cloud-conductor", "edgewire-conductor")
        self.work = work
        self.port = port
        self.password = password
        self.proc = None
        self.listening_at = None
        self.password_file = os.path.join(work, "admin-password.txt")
        with open(self.password_file, "w") as f:
            f.write(password + "\n")
        self.config = os.path.join(work, f"{name}.toml")
        with open(self.config, "w") as f:
            f.write(f"""[server]
listen_address = "127.0.0.1"
port = {port}
# Every board of the bench comes from loopback: lift the per-address cap and the total.
max_connections_per_address = {max_connections}
max_connections = {max_connections}
[store]
path = "{os.path.join(work, 'conductor.db')}"
[functions]
runtime = "none"
[auth]
bootstrap_password_file = "{self.password_file}"
[log]
level = "warn"
{extra}""")

    def start(self, timeout=120):
        """Starts it and returns once it printed "listening on" (time in self.listening_at)."""
        log_file = open(os.path.join(self.work, "conductor.log"), "a")
        self.proc = subprocess.Popen([self.binary, "--config", self.config], stdout=subprocess.PIPE,
                                     stderr=log_file, text=True)
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            line = self.proc.stdout.readline()
            if not line:
                raise RuntimeError("conductor exited; see " + os.path.join(self.work, "conductor.log"))
            if "listening on" in line:
                self.listening_at = time.monotonic()
                break
        # Drain stdout so the conductor never blocks on it.
        threading.Thread(target=lambda out: [None for _ in out], args=(self.proc.stdout,), daemon=True).start()

    def rest(self):
        """A REST client logged in as admin."""
        client = Rest(self.port)
        client.login(self.password)
        return client

    def kill9(self):
        self.proc.send_signal(signal.SIGKILL)
        self.proc.wait()

    def stop(self):
        if self.proc and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout=60)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()


def enrol_agent(build, work, rest, name):
    """Creates board `name`, enrols a real agent for it (credential and config in `work`: no
    functions, warn level) and returns (board id, the agent's command line)."""
    agent = os.path.join(build, "device-agent", "edgewire-agent")
    created = rest.call("POST", "/v1/boards", {"name": name})
    cred = os.path.join(work, f"{name}.credential.json")
    subprocess.run([agent, "enrol", "--conductor", f"http://127.0.0.1:{rest.port}", "--code",
                    created["enrolmentCode"], "--credential", cred], check=True, capture_output=True, timeout=60)
    config = os.path.join(work, f"{name}.toml")
    with open(config, "w") as f:
        f.write(f"""[agent]
credential_path = "{cred}"
[functions]
runtime = "none"
state_dir = "{os.path.join(work, name + '-functions')}"
work_dir = "{os.path.join(work, name + '-containers')}"
[flows]
state_dir = "{os.path.join(work, name + '-flows')}"
[spool]
dir = "{os.path.join(work, name + '-spool')}"
[log]
level = "warn"
""")
    with open(cred) as f:
        stored = json.load(f)
    board_id = stored.get("boardId") or stored.get("board_id") or created.get("boardId") or created.get("id")
    return board_id, [agent, "run", "--config", config]
