#!/usr/bin/python3
"""Tunnel benchmark (docs/BENCHMARKS.md → Tunnels, issue 17): the same service on a board's
loopback reached through each path, in one run on 127.0.0.1:

  - direct TCP (the limit);
  - a socat TCP relay (`socat TCP-LISTEN:R,fork TCP:127.0.0.1:P`);
  - an OpenSSH reverse tunnel (`ssh -R`, what people use today to reach a board behind NAT): our
    own sshd (Debian openssh-server's binary, a config, host key and authorized_keys of this run
    in a temporary directory, listening on 127.0.0.1 only, key authentication only; the system's
    sshd configuration is not used or changed), and `ssh -N -R` from the "board";
  - Edgewire's tunnel with the board's leg over plain ws (conductor on loopback) and over wss
    (the conductor serving TLS with a certificate from a CA made here; the agent enrolled with
    --ca-file), as in production.

For each path: iperf3 throughput both ways (client → board, and -R board → client), TCP
connection setup to first byte (connect, send one byte, read its echo) p50/p99, and the round trip
of 64-byte messages on an open connection p50/p99 (echo service on the board). For Edgewire:
the conductor's memory per idle tunnelled connection (VmRSS growth over --idle connections).

  EW_BIN_DIR=build /usr/bin/python3 tests/bench/run_tunnel_bench.py [--seconds 5] [--connects 300]
      [--pings 3000] [--idle 200]
"""

import argparse
import json
import os
import shutil
import socket
import socketserver
import ssl
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import urllib.error
import urllib.request

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "integration"))
from harness import ADMIN_PASSWORD, AGENT, CONDUCTOR, Agent, wait_until  # noqa: E402
from harness import Pki  # noqa: E402


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def rss_kib(pid):
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    return 0


class _Echo(socketserver.BaseRequestHandler):
    def handle(self):
        self.request.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        while True:
            data = self.request.recv(65536)
            if not data:
                return
            self.request.sendall(data)


class EchoServer(socketserver.ThreadingTCPServer):
    daemon_threads = True
    allow_reuse_address = True
    request_queue_size = 1024

    def __init__(self):
        super().__init__(("127.0.0.1", 0), _Echo)
        threading.Thread(target=self.serve_forever, daemon=True).start()


class ConductorSide:
    """A conductor (plain or TLS) with one enrolled agent and two services: iperf3 and echo."""

    def __init__(self, workdir, tls, pki, iperf_port, echo_port):
        self.dir = os.path.join(workdir, "tls" if tls else "plain")
        os.makedirs(self.dir)
        self.tls = tls
        self.ca = pki.path("ca.pem")
        pw = os.path.join(self.dir, "pw.txt")
        with open(pw, "w") as f:
            f.write(ADMIN_PASSWORD + "\n")
        tls_lines = f'tls_cert = "{pki.path("server.pem")}"\ntls_key = "{pki.path("server.key")}"\n' if tls else ""
        config = os.path.join(self.dir, "conductor.toml")
        with open(config, "w") as f:
            f.write(f"""[server]
listen_address = "127.0.0.1"
port = 0
{tls_lines}[store]
path = "{self.dir}/c.db"
[auth]
bootstrap_password_file = "{pw}"
[log]
level = "warn"
[tunnels]
port_first = 0
max_connections = 4096
""")
        self.log = open(os.path.join(self.dir, "conductor.log"), "a")
        self.proc = subprocess.Popen([CONDUCTOR, "--config", config], stdout=subprocess.PIPE, stderr=self.log, text=True)
        line = self.proc.stdout.readline()
        assert "listening on" in line, line
        self.port = int(line.strip().rsplit(":", 1)[1])
        self.url = f"{'https' if tls else 'http'}://127.0.0.1:{self.port}"
        self.token = self.rest("POST", "/v1/auth/tokens", {"username": "admin", "password": ADMIN_PASSWORD})["token"]
        created = self.rest("POST", "/v1/boards", {"name": "bench-board"})
        self.board = created["board"]["id"]
        self.agent = Agent(self.dir, "bench-board", log_level="warn")
        extra = ["--ca-file", self.ca] if tls else []
        enrolled = subprocess.run([AGENT, "enrol", "--conductor", self.url, "--code", created["enrolmentCode"],
                                   "--credential", self.agent.credential, *extra],
                                  capture_output=True, text=True, timeout=30)
        assert enrolled.returncode == 0, enrolled.stderr
        self.agent.start()
        wait_until(lambda: self.rest("GET", f"/v1/boards/{self.board}").get("status") == "online", timeout=20,
                   what="board online")
        # A service asks for at most 1024 connections (POST /v1/services); the run needs --idle + a few.
        self.iperf = self.rest("POST", "/v1/services", {"boardId": self.board, "boardPort": iperf_port,
                                                       "maxConnections": 1024})["conductorPort"]
        self.echo = self.rest("POST", "/v1/services", {"boardId": self.board, "boardPort": echo_port,
                                                      "maxConnections": 1024})["conductorPort"]

    def rest(self, method, path, body=None):
        req = urllib.request.Request(self.url + path, data=json.dumps(body).encode() if body is not None else None,
                                     method=method, headers={"Content-Type": "application/json"})
        if getattr(self, "token", None):
            req.add_header("X-Auth-Token", self.token)
        context = ssl.create_default_context(cafile=self.ca) if self.tls else None
        with urllib.request.urlopen(req, timeout=30, context=context) as resp:
            return json.loads(resp.read() or b"null")

    def stop(self):
        self.agent.stop()
        self.proc.terminate()
        self.proc.wait(10)
        self.proc.stdout.close()
        self.log.close()


class SshTunnel:
    """Our own sshd on 127.0.0.1 and `ssh -N -R` forwarding R → 127.0.0.1:<port> for each port."""

    def __init__(self, workdir, ports):
        self.dir = os.path.join(workdir, "ssh")
        os.makedirs(self.dir)
        run = lambda *a: subprocess.run(a, check=True, capture_output=True, timeout=60)
        run("ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-f", os.path.join(self.dir, "host"))
        run("ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-f", os.path.join(self.dir, "user"))
        shutil.copy(os.path.join(self.dir, "user.pub"), os.path.join(self.dir, "authorized_keys"))
        self.port = free_port()
        config = os.path.join(self.dir, "sshd_config")
        with open(config, "w") as f:
            f.write(f"""Port {self.port}
ListenAddress 127.0.0.1
HostKey {self.dir}/host
PidFile {self.dir}/sshd.pid
AuthorizedKeysFile {self.dir}/authorized_keys
PasswordAuthentication no
KbdInteractiveAuthentication no
UsePAM no
PermitRootLogin prohibit-password
StrictModes no
AllowTcpForwarding yes
GatewayPorts no
""")
        # sshd's privilege separation directory (tmpfs; the openssh-server package's init script
        # makes it when it starts the system sshd, which never runs here).
        os.makedirs("/run/sshd", mode=0o755, exist_ok=True)
        self.sshd = subprocess.Popen(["/usr/sbin/sshd", "-D", "-e", "-f", config],
                                     stdout=subprocess.DEVNULL, stderr=open(os.path.join(self.dir, "sshd.log"), "w"))
        wait_until(lambda: _can_connect(self.port), what="sshd listening")
        self.forwards = {p: free_port() for p in ports}
        args = ["ssh", "-N", "-i", os.path.join(self.dir, "user"), "-p", str(self.port),
                "-o", "StrictHostKeyChecking=no", "-o", "UserKnownHostsFile=/dev/null", "-o", "ExitOnForwardFailure=yes",
                "-o", "BatchMode=yes", "-o", "LogLevel=ERROR"]
        for local, remote in self.forwards.items():
            args += ["-R", f"127.0.0.1:{remote}:127.0.0.1:{local}"]
        self.ssh = subprocess.Popen(args + [f"{os.environ.get('USER', 'root')}@127.0.0.1"],
                                    stdout=subprocess.DEVNULL, stderr=open(os.path.join(self.dir, "ssh.log"), "w"))
        for remote in self.forwards.values():
            wait_until(lambda: _can_connect(remote), what="ssh -R forward listening")
        self.version = subprocess.run(["ssh", "-V"], capture_output=True, text=True).stderr.strip()

    def stop(self):
        for p in (self.ssh, self.sshd):
            p.terminate()
            p.wait(10)


class Socat:
    def __init__(self, target):
        self.port = free_port()
        self.proc = subprocess.Popen(["socat", f"TCP-LISTEN:{self.port},bind=127.0.0.1,fork,reuseaddr,backlog=1024",
                                      f"TCP:127.0.0.1:{target},nodelay"], stderr=subprocess.DEVNULL)
        wait_until(lambda: _can_connect(self.port), what="socat listening")

    def stop(self):
        self.proc.terminate()
        self.proc.wait(10)


def _can_connect(port):
    try:
        socket.create_connection(("127.0.0.1", port), timeout=1).close()
        return True
    except OSError:
        return False


def iperf(port, seconds, reverse):
    args = ["iperf3", "-c", "127.0.0.1", "-p", str(port), "-t", str(seconds), "-J"] + (["-R"] if reverse else [])
    for _ in range(20):
        out = subprocess.run(args, capture_output=True, text=True, timeout=seconds + 60)
        report = json.loads(out.stdout)
        if "busy" in report.get("error", ""):  # the last run's teardown is still crossing a relay
            time.sleep(0.5)
            continue
        if "error" in report:
            raise RuntimeError(report["error"])
        return report["end"]["sum_received"]["bits_per_second"] / 1e9
    raise RuntimeError("iperf3 server stayed busy")


def percentile(values, p):
    values = sorted(values)
    return values[min(len(values) - 1, int(round(p / 100 * (len(values) - 1))))]


def connect_latency(port, count):
    """ms from connect() to the echo of one byte, per new connection."""
    times = []
    for _ in range(count):
        start = time.perf_counter()
        with socket.create_connection(("127.0.0.1", port), timeout=10) as s:
            s.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            s.sendall(b"x")
            if s.recv(1) != b"x":
                raise RuntimeError("no echo")
            times.append((time.perf_counter() - start) * 1000)
    return percentile(times, 50), percentile(times, 99)


def ping_latency(port, count):
    """ms per 64-byte round trip on one open connection."""
    times = []
    msg = b"p" * 64
    with socket.create_connection(("127.0.0.1", port), timeout=10) as s:
        s.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        for _ in range(count):
            start = time.perf_counter()
            s.sendall(msg)
            got = b""
            while len(got) < len(msg):
                got += s.recv(64 - len(got))
            times.append((time.perf_counter() - start) * 1000)
    return percentile(times, 50), percentile(times, 99)


def idle_memory(side, count):
    """KiB of conductor RSS per idle tunnelled connection (spliced, no bytes moving)."""
    time.sleep(1)
    before = rss_kib(side.proc.pid)
    socks = []
    for _ in range(count):
        s = socket.create_connection(("127.0.0.1", side.echo), timeout=10)
        s.sendall(b"x")
        s.recv(1)  # spliced end to end
        socks.append(s)
    time.sleep(1)
    after = rss_kib(side.proc.pid)
    for s in socks:
        s.close()
    return (after - before) / count


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--seconds", type=int, default=5)
    parser.add_argument("--connects", type=int, default=300)
    parser.add_argument("--pings", type=int, default=3000)
    # Under the agent's own limit (256 tunnels at once, TunnelServiceOptions::max_tunnels). The
    # conductor's per-address cap no longer binds here: redeemed tunnels leave it (bounded by
    # [tunnels] max_per_board instead).
    parser.add_argument("--idle", type=int, default=200)
    args = parser.parse_args()
    workdir = tempfile.mkdtemp(prefix="ew-tunnel-bench-")
    pki = Pki(workdir)
    iperf_port = free_port()
    iperf_server = subprocess.Popen(["iperf3", "-s", "-B", "127.0.0.1", "-p", str(iperf_port)],
                                    stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    wait_until(lambda: _can_connect(iperf_port), what="iperf3 server")
    echo = EchoServer()
    echo_port = echo.server_address[1]
    started = []
    try:
        socat_iperf, socat_echo = Socat(iperf_port), Socat(echo_port)
        started += [socat_iperf, socat_echo]
        ssh_note = ""
        try:
            ssh = SshTunnel(workdir, [iperf_port, echo_port])
            started.append(ssh)
            ssh_note = ssh.version
        except Exception as e:  # noqa: BLE001 - reported, the rest still runs
            ssh = None
            ssh_note = f"not measured: {e}"
        plain = ConductorSide(workdir, False, pki, iperf_port, echo_port)
        started.append(plain)
        secure = ConductorSide(workdir, True, pki, iperf_port, echo_port)
        started.append(secure)
        paths = [("direct TCP", iperf_port, echo_port),
                 ("socat relay", socat_iperf.port, socat_echo.port)]
        if ssh:
            paths.append(("ssh -R", ssh.forwards[iperf_port], ssh.forwards[echo_port]))
        paths += [("Edgewire ws", plain.iperf, plain.echo), ("Edgewire wss", secure.iperf, secure.echo)]
        rows = []
        for name, ip, ep in paths:
            up = iperf(ip, args.seconds, reverse=False)
            down = iperf(ip, args.seconds, reverse=True)
            c50, c99 = connect_latency(ep, args.connects)
            p50, p99 = ping_latency(ep, args.pings)
            rows.append((name, up, down, c50, c99, p50, p99))
            print(f"{name}: up {up:.2f} Gbit/s, down {down:.2f} Gbit/s, connect p50 {c50:.3f} ms p99 {c99:.3f} ms, "
                  f"64 B RTT p50 {p50:.3f} ms p99 {p99:.3f} ms", flush=True)
        memory = {"ws": idle_memory(plain, args.idle), "wss": idle_memory(secure, args.idle)}
        commit = subprocess.run(["git", "-C", HERE, "rev-parse", "--short", "HEAD"], capture_output=True,
                                text=True).stdout.strip()
        base = {r[0]: r for r in rows}
        direct = base["direct TCP"]
        print()
        print(f"commit {commit}; {args.seconds} s per iperf3 run; {args.connects} connects; {args.pings} pings; "
              f"ssh: {ssh_note}")
        print()
        print("| path | client → board Gbit/s | board → client Gbit/s | connect+first byte p50 / p99 ms | "
              "64 B RTT p50 / p99 ms | added RTT p50 ms |")
        print("|---|---|---|---|---|---|")
        for name, up, down, c50, c99, p50, p99 in rows:
            print(f"| {name} | {up:.2f} | {down:.2f} | {c50:.3f} / {c99:.3f} | {p50:.3f} / {p99:.3f} | "
                  f"{p50 - direct[5]:+.3f} |")
        print()
        print(f"conductor memory per idle tunnelled connection ({args.idle} connections): "
              f"ws {memory['ws']:.1f} KiB, wss {memory['wss']:.1f} KiB")
        if "ssh -R" in base and "socat relay" in base:
            ws, wss, sshr, socat = base["Edgewire ws"], base["Edgewire wss"], base["ssh -R"], base["socat relay"]
            print(f"targets: ws ≥ 2× ssh -R: {min(ws[1], ws[2]) / max(sshr[1], sshr[2]):.2f}× (worst ws direction / "
                  f"best ssh direction); ws ≥ 75 % of socat: {min(ws[1] / socat[1], ws[2] / socat[2]) * 100:.0f} %; "
                  f"wss ≥ ssh -R: {min(wss[1] / sshr[1], wss[2] / sshr[2]):.2f}×; "
                  f"added p50 ws {ws[5] - direct[5]:.3f} ms (≤ 0.2)")
    finally:
        for s in reversed(started):
            try:
                s.stop()
            except Exception:  # noqa: BLE001
                pass
        iperf_server.terminate()
        echo.shutdown()
        if not os.environ.get("EW_KEEP_TMP"):
            shutil.rmtree(workdir, ignore_errors=True)


if __name__ == "__main__":
    main()
