#!/usr/bin/python3
"""TLS benchmark (docs/BENCHMARKS.md, issue 11): what TLS costs a board's RPC path and an idle
board session, side by side in one run on 127.0.0.1.

Two real conductors run at once on the same build: one plain (ws://, loopback) and one serving
HTTPS/WSS with a certificate from a CA this script makes with the openssl CLI. Each has one real
agent (enrolled over http or https with --ca-file, dialing ws or wss). The rounds interleave:
plain, TLS, plain, TLS, ... each measuring

  - board RPC round trip, caller → conductor → agent → back (ew.board.<id>.sys.ping), one call in
    flight: p50 and p99 (ew_bench_wamp_call, the foundation benchmark's caller);
  - calls/s with 64 in flight;

and then the conductor's memory per idle board session: --sessions board sessions (WAMP-CRA,
msgpack, heartbeat on) held by ew_bench_session_load against each conductor, VmRSS before and
after all joined. Goals (issue 11): TLS adds <= 30 % to p50, keeps >= 20,000 calls/s, and an idle
TLS board session costs the conductor <= 32 KB.

  EW_BIN_DIR=build /usr/bin/python3 tests/bench/run_tls_bench.py [--rounds 3] [--calls 5000]
      [--sessions 1000]
"""

import argparse
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.request
import ssl

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "integration"))
from harness import ADMIN_PASSWORD, AGENT, BIN, CONDUCTOR, wait_until  # noqa: E402
from harness import Pki  # noqa: E402

CALL = os.path.join(BIN, "tests", "bench", "ew_bench_wamp_call")
LOAD = os.path.join(BIN, "tests", "bench", "ew_bench_session_load")


def rss_kb(pid):
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    return 0


class Side:
    """One conductor (plain or TLS) with one enrolled agent."""

    def __init__(self, workdir, pki, tls):
        self.workdir = os.path.join(workdir, "tls" if tls else "plain")
        os.makedirs(self.workdir)
        self.tls = tls
        self.ca = pki.path("ca.pem")
        self.context = ssl.create_default_context(cafile=self.ca) if tls else None
        pw = os.path.join(self.workdir, "pw.txt")
        with open(pw, "w") as f:
            f.write(ADMIN_PASSWORD + "\n")
        config = os.path.join(self.workdir, "conductor.toml")
        tls_lines = f'tls_cert = "{pki.path("server.pem")}"\ntls_key = "{pki.path("server.key")}"\n' if tls else ""
        with open(config, "w") as f:
            # All sessions come from 127.0.0.1: lift the per-address cap for the measure (not the default).
            f.write(f'[server]\nlisten_address = "127.0.0.1"\nport = 0\nmax_connections_per_address = 100000\n{tls_lines}'
                    f'[store]\npath = "{self.workdir}/c.db"\n[auth]\nbootstrap_password_file = "{pw}"\n'
                    f'[log]\nlevel = "warn"\n')
        self.log = open(os.path.join(self.workdir, "conductor.log"), "a")
        self.proc = subprocess.Popen([CONDUCTOR, "--config", config], stdout=subprocess.PIPE, stderr=self.log,
                                     text=True)
        line = self.proc.stdout.readline()
        if "listening on" not in line:
            sys.exit(f"conductor did not start; see {self.workdir}/conductor.log")
        self.port = int(line.strip().rsplit(":", 1)[1])
        scheme = "https" if tls else "http"
        self.url = f"{scheme}://127.0.0.1:{self.port}"
        self.ws_url = f"{'wss' if tls else 'ws'}://127.0.0.1:{self.port}/ws"
        self.token = self.rest("POST", "/v1/auth/tokens", {"username": "admin", "password": ADMIN_PASSWORD})["token"]
        self.agent = None

    def rest(self, method, path, body=None):
        req = urllib.request.Request(self.url + path, data=None if body is None else json.dumps(body).encode(),
                                     method=method, headers={"Content-Type": "application/json"})
        if getattr(self, "token", None):
            req.add_header("X-Auth-Token", self.token)
        with urllib.request.urlopen(req, timeout=30, context=self.context) as resp:
            return json.loads(resp.read().decode() or "null")

    def start_agent(self):
        created = self.rest("POST", "/v1/boards", {"name": "bench-pi"})
        self.board = created["board"]["id"]
        cred = os.path.join(self.workdir, "agent.json")
        enrol = [AGENT, "enrol", "--conductor", self.url, "--code", created["enrolmentCode"], "--credential", cred]
        if self.tls:
            enrol += ["--ca-file", self.ca]
        subprocess.run(enrol, check=True, capture_output=True, timeout=30)
        agent_config = os.path.join(self.workdir, "agent.toml")
        with open(agent_config, "w") as f:
            f.write(f'[agent]\ncredential_path = "{cred}"\n[functions]\nruntime = "none"\n[spool]\ndir = "{cred}.spool"\n[log]\nlevel = "warn"\n')
        self.agent = subprocess.Popen([AGENT, "run", "--config", agent_config], stdout=self.log, stderr=self.log)
        wait_until(lambda: self.rest("GET", f"/v1/boards/{self.board}")["status"] == "online", timeout=30,
                   what=f"agent online on the {'TLS' if self.tls else 'plain'} conductor")

    def call(self, calls, in_flight):
        cmd = [CALL, "--url", self.ws_url, "--token", self.token, "--procedure", f"ew.board.{self.board}.sys.ping",
               "--calls", str(calls), "--in-flight", str(in_flight), "--warmup", str(min(1000, calls))]
        if self.tls:
            cmd += ["--ca-file", self.ca]
        out = subprocess.run(cmd, check=True, capture_output=True, text=True, timeout=300).stdout
        return json.loads(out)

    def session_memory(self, count):
        """kB of conductor VmRSS per idle board session, with `count` sessions held."""
        creds = []
        for i in range(count):
            created = self.rest("POST", "/v1/boards", {"name": f"idle-{i:05d}"})
            e = self.rest("POST", "/v1/enrol", {"code": created["enrolmentCode"], "hostname": f"idle-{i}"})
            creds.append({k: e[k] for k in ("boardId", "secret", "salt", "iterations", "keylen")})
        path = os.path.join(self.workdir, "boards.json")
        with open(path, "w") as f:
            json.dump(creds, f)
        time.sleep(1)
        before = rss_kb(self.proc.pid)
        cmd = [LOAD, "--url", self.ws_url, "--credentials", path]
        if self.tls:
            cmd += ["--ca-file", self.ca]
        load = subprocess.Popen(cmd, stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=self.log, text=True)
        line = load.stdout.readline()
        joined = int(line.split()[1]) if line.startswith("joined") else 0
        time.sleep(3)  # a few heartbeats
        after = rss_kb(self.proc.pid)
        load.stdin.close()
        load.wait(timeout=60)
        if joined != count:
            sys.exit(f"only {joined} of {count} sessions joined the {'TLS' if self.tls else 'plain'} conductor")
        return (after - before) / count

    def stop(self):
        for p in (self.agent, self.proc):
            if p and p.poll() is None:
                p.terminate()
                try:
                    p.wait(timeout=10)
                except subprocess.TimeoutExpired:
                    p.kill()


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--calls", type=int, default=5000)
    parser.add_argument("--sessions", type=int, default=1000)
    parser.add_argument("--keep", action="store_true", help="keep the work directory")
    args = parser.parse_args()
    for binary in (CONDUCTOR, AGENT, CALL, LOAD):
        if not os.access(binary, os.X_OK):
            sys.exit(f"missing {binary}: build it first (cmake --build build)")
    workdir = tempfile.mkdtemp(prefix="ew-tls-bench-")
    sides = []
    try:
        pki = Pki(workdir)
        plain, tls = Side(workdir, pki, False), Side(workdir, pki, True)
        sides = [plain, tls]
        for side in sides:
            side.start_agent()
        results = {"plain": {"p50": [], "p99": [], "cps": []}, "tls": {"p50": [], "p99": [], "cps": []}}
        for r in range(args.rounds):
            for name, side in (("plain", plain), ("tls", tls)):
                one = side.call(args.calls, 1)
                many = side.call(args.calls * 4, 64)
                results[name]["p50"].append(one["p50_us"])
                results[name]["p99"].append(one["p99_us"])
                results[name]["cps"].append(many["calls_per_s"])
                print(f"round {r + 1} {name}: p50 {one['p50_us']:.0f} µs, p99 {one['p99_us']:.0f} µs, "
                      f"{many['calls_per_s']:.0f} calls/s", file=sys.stderr)
        memory = {"plain": plain.session_memory(args.sessions), "tls": tls.session_memory(args.sessions)}
        med = statistics.median
        p50 = {k: med(v["p50"]) for k, v in results.items()}
        p99 = {k: med(v["p99"]) for k, v in results.items()}
        cps = {k: med(v["cps"]) for k, v in results.items()}
        commit = subprocess.run(["git", "-C", HERE, "rev-parse", "--short", "HEAD"], capture_output=True,
                                text=True).stdout.strip()
        print(f"TLS benchmark, commit {commit}, {args.rounds} interleaved rounds, medians; "
              f"{args.calls} calls at 1 in flight, {args.calls * 4} at 64; {args.sessions} idle sessions")
        print()
        print("| measure | ws (plain) | wss (TLS) | TLS / plain | goal |")
        print("|---|---|---|---|---|")
        print(f"| board RPC p50, 1 in flight | {p50['plain']:.0f} µs | {p50['tls']:.0f} µs | "
              f"{p50['tls'] / p50['plain']:.2f}× | ≤ 1.30× |")
        print(f"| board RPC p99, 1 in flight | {p99['plain']:.0f} µs | {p99['tls']:.0f} µs | "
              f"{p99['tls'] / p99['plain']:.2f}× | — |")
        print(f"| calls/s, 64 in flight | {cps['plain']:,.0f} | {cps['tls']:,.0f} | "
              f"{cps['tls'] / cps['plain']:.2f}× | TLS ≥ 20,000 |")
        print(f"| conductor VmRSS per idle board session | {memory['plain']:.1f} KB | {memory['tls']:.1f} KB | "
              f"{memory['tls'] / memory['plain']:.2f}× | TLS ≤ 32 KB |")
    finally:
        for side in sides:
            side.stop()
        if args.keep:
            print(f"work directory kept: {workdir}", file=sys.stderr)
        else:
            shutil.rmtree(workdir, ignore_errors=True)


if __name__ == "__main__":
    main()
