#!/usr/bin/python3
"""Board footprint benchmark (issue 16, docs/BENCHMARKS.md "The agent on a Pi"): a real conductor
and one real agent on 127.0.0.1; the agent's binary size, start-up time to READY=1 (a real
NOTIFY_SOCKET listener, as under systemd), VmRSS idle (plain and with $NOTIFY_SOCKET set, as under
systemd), and its CPU and VmRSS while serving 10 cold function invocations/s and
10 sys.ping/s. Memory at each point also as PSS (smaps_rollup: libc's shared pages divided among
the processes that map them) with the thread count, and idle again after 10 cold invocations.

  EW_BIN_DIR=build /usr/bin/python3 tests/bench/run_pi_bench.py [--seconds 30] [--rate 10]
  # the arm64 agent under qemu-user (RSS and CPU are then qemu's, emulator included):
  EW_BIN_DIR=build /usr/bin/python3 tests/bench/run_pi_bench.py \
      --agent build-arm64/device-agent/edgewire-agent --qemu build-arm64-sysroot

  # memory only (no CPU phases), with the idle agent's memory per mapping:
  EW_BIN_DIR=build /usr/bin/python3 tests/bench/run_pi_bench.py --quick --breakdown

Prints markdown tables; --json PATH writes the raw figures.
"""

import argparse
import json
import os
import shutil
import socket
import subprocess
import sys
import tempfile
import threading
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "integration"))
sys.path.insert(0, HERE)
import harness  # noqa: E402
from run_functions_bench import ECHO_SH, Rest, invoke, package, status_kb  # noqa: E402


def rss_kb(pid, field="VmRSS"):
    """A /proc/PID/status memory field in kB (run_functions_bench renamed its rss_kb to status_kb)."""
    return status_kb(pid, field)

CLK_TCK = os.sysconf("SC_CLK_TCK")


def cpu_seconds(pid):
    with open(f"/proc/{pid}/stat") as f:
        fields = f.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / CLK_TCK  # utime + stime


def smaps_rollup(pid):
    """Rss, Pss, Pss_Anon, Pss_File, Private_Dirty... of the whole process, in kB."""
    out = {}
    with open(f"/proc/{pid}/smaps_rollup") as f:
        for line in f:
            parts = line.split()
            if len(parts) == 3 and parts[2] == "kB":
                out[parts[0].rstrip(":")] = int(parts[1])
    return out


def threads(pid):
    return len(os.listdir(f"/proc/{pid}/task"))


def smaps_breakdown(pid):
    """Rss/Pss/Private_Dirty per named mapping (the binary, each library, [heap], [stack],
    anonymous), summed over its segments, in kB; largest Rss first."""
    rows = {}
    name = None
    with open(f"/proc/{pid}/smaps") as f:
        for line in f:
            head = line.split()
            if head and "-" in head[0] and not head[0].endswith(":"):
                name = os.path.basename(head[5]) if len(head) > 5 else "[anon]"
                rows.setdefault(name, {"Rss": 0, "Pss": 0, "Private_Dirty": 0, "Size": 0})
            elif head and head[0].rstrip(":") in ("Rss", "Pss", "Private_Dirty", "Size"):
                rows[name][head[0].rstrip(":")] += int(head[1])
    return sorted(rows.items(), key=lambda kv: -kv[1]["Rss"])


def memory(pid):
    """The memory figures recorded at each point: VmRSS, RssAnon, Pss (whole process) and threads."""
    roll = smaps_rollup(pid)
    return {"rss_kb": rss_kb(pid), "rss_anon_kb": rss_kb(pid, "RssAnon"), "pss_kb": roll.get("Pss", 0),
            "pss_anon_kb": roll.get("Pss_Anon", 0), "pss_file_kb": roll.get("Pss_File", 0),
            "private_dirty_kb": roll.get("Private_Dirty", 0), "threads": threads(pid)}


def git_commit():
    out = subprocess.run(["git", "-C", HERE, "rev-parse", "--short", "HEAD"], capture_output=True, text=True)
    dirty = subprocess.run(["git", "-C", HERE, "status", "--porcelain", "--untracked-files=no"],
                           capture_output=True, text=True).stdout.strip()
    return out.stdout.strip() + ("+dirty" if dirty else "")


class AgentRun:
    """The agent started with `prefix` (qemu) and, when `notify`, a NOTIFY_SOCKET listener."""

    def __init__(self, work, name, agent_binary, prefix, notify, extra_env=None, startup_trim=True, journal=False):
        self.extra_env = extra_env or {}
        # journal: stdout and stderr on a stream socket named by $JOURNAL_STREAM, as systemd
        # connects a service to journald (StandardError=journal); a thread drains it as journald would.
        self.journal = journal
        self.journal_lines = 0
        self.agent = harness.Agent(work, name, log_level="warn", extra_config="")
        if not startup_trim:
            with open(self.agent.config) as f:
                text = f.read()
            with open(self.agent.config, "w") as f:
                f.write(text.replace("[agent]\n", "[agent]\nstartup_trim = false\n", 1))
        self.binary = agent_binary
        self.prefix = prefix
        self.notify_path = os.path.join(work, name + ".notify") if notify else None
        self.sock = None
        self.proc = None
        self.ready_after = None

    def enrol(self, conductor, code):
        out = subprocess.run([*self.prefix, self.binary, "enrol", "--conductor", conductor.url, "--code", code,
                              "--credential", self.agent.credential], capture_output=True, text=True, timeout=120)
        assert out.returncode == 0, out.stdout + out.stderr

    def start(self):
        env = dict(os.environ, **self.extra_env)
        if self.notify_path:
            self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
            self.sock.bind(self.notify_path)
            self.sock.settimeout(60)
            env.update(NOTIFY_SOCKET=self.notify_path, WATCHDOG_USEC="30000000")
        log = open(self.agent.log_path, "a")
        if self.journal:
            ours, theirs = socket.socketpair(socket.AF_UNIX, socket.SOCK_STREAM)
            st = os.fstat(theirs.fileno())
            env.update(JOURNAL_STREAM=f"{st.st_dev}:{st.st_ino}")
            log = theirs

            def drain():
                with ours:
                    while True:
                        chunk = ours.recv(65536)
                        if not chunk:
                            return
                        self.journal_lines += chunk.count(b"\n")
            threading.Thread(target=drain, daemon=True).start()
        started = time.monotonic()
        self.proc = subprocess.Popen([*self.prefix, self.binary, "run", "--config", self.agent.config],
                                     stdout=log, stderr=log, env=env)
        log.close()
        if self.sock:
            while True:
                if b"READY=1" in self.sock.recv(4096):
                    self.ready_after = time.monotonic() - started
                    break
        return self

    def stop(self):
        if self.proc and self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(timeout=15)
            except subprocess.TimeoutExpired:
                self.proc.kill()
        if self.sock:
            self.sock.close()


def paced(rate, seconds, fn):
    """Calls fn() `rate` times a second for `seconds`, each on its own thread; returns failures."""
    failures = []
    threads = []
    start = time.monotonic()
    for i in range(int(rate * seconds)):
        delay = start + i / rate - time.monotonic()
        if delay > 0:
            time.sleep(delay)

        def one():
            try:
                fn()
            except Exception as e:  # noqa: BLE001 - counted and reported
                failures.append(str(e))
        t = threading.Thread(target=one)
        t.start()
        threads.append(t)
    for t in threads:
        t.join()
    return failures


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--agent", default=harness.AGENT)
    ap.add_argument("--qemu", metavar="SYSROOT", help="run the agent under qemu-aarch64 -L SYSROOT")
    ap.add_argument("--seconds", type=float, default=30)
    ap.add_argument("--rate", type=float, default=10)
    ap.add_argument("--idle", type=float, default=6)
    ap.add_argument("--env", action="append", default=[], metavar="KEY=VALUE",
                    help="extra environment for the agent (e.g. MALLOC_ARENA_MAX=1)")
    ap.add_argument("--breakdown", action="store_true",
                    help="also print the idle agent's memory per mapping (/proc/PID/smaps)")
    ap.add_argument("--quick", action="store_true",
                    help="memory only: skip the CPU phases (idle CPU, pings, the paced invocation load)")
    ap.add_argument("--no-startup-trim", action="store_true",
                    help="[agent] startup_trim = false: keep the start-up pages (to measure what the trim buys)")
    ap.add_argument("--journal-stream", action="store_true",
                    help="in the $NOTIFY_SOCKET run, also connect stderr to a stream socket named by $JOURNAL_STREAM")
    ap.add_argument("--json")
    args = ap.parse_args()
    extra_env = dict(e.split("=", 1) for e in args.env)
    prefix = []
    if args.qemu:
        qemu = shutil.which("qemu-aarch64") or shutil.which("qemu-aarch64-static")
        if not qemu:
            sys.exit("qemu-aarch64 is missing (apt-get install qemu-user-static)")
        prefix = [qemu, "-L", args.qemu]
    # Written just now by the linker, the binary's pages would count as dirty in smaps.
    with open(args.agent, "rb") as f:
        os.fsync(f.fileno())
    results = {"command": " ".join([os.path.basename(sys.argv[0])] + sys.argv[1:]), "commit": git_commit(), "env": args.env,
               "agent": os.path.relpath(args.agent), "host": os.uname().machine, "cpus": os.cpu_count()}
    results["binary_bytes"] = os.path.getsize(args.agent)
    stripped = tempfile.NamedTemporaryFile(delete=False)
    strip = "aarch64-linux-gnu-strip" if args.qemu else "strip"
    subprocess.run([strip, "-o", stripped.name, args.agent], check=True)
    results["binary_stripped_bytes"] = os.path.getsize(stripped.name)
    os.unlink(stripped.name)

    work = tempfile.mkdtemp(prefix="ew-pi-bench-")
    conductor = harness.Conductor(work, log_level="warn").start()
    runs = []
    try:
        token = conductor.login()
        rest = Rest(conductor.port, token)

        # Under a service manager: start-up to READY=1 and idle RSS as under systemd. Not a real
        # systemd (this benchmark runs where PID 1 may be anything): the environment the unit gives
        # the agent is played here, the notify socket with the watchdog and, with --journal-stream,
        # stderr on a socket named by $JOURNAL_STREAM.
        board_id, code = conductor.create_board(token, "pi-notify")
        run = AgentRun(work, "pi-notify", args.agent, prefix, notify=True, extra_env=extra_env,
                       startup_trim=not args.no_startup_trim, journal=args.journal_stream)
        runs.append(run)
        run.enrol(conductor, code)
        run.start()
        results["ready_s"] = run.ready_after
        harness.wait_until(lambda: conductor.status_of(token, board_id) == "online", timeout=60, what="online")
        time.sleep(args.idle)
        results["rss_idle_systemd_kb"] = rss_kb(run.proc.pid)
        results["idle_systemd"] = memory(run.proc.pid)
        results["breakdown_systemd"] = smaps_breakdown(run.proc.pid)
        # libsystemd and the six libraries it pulls in (what sd_notify used to cost, +1.2 MB).
        results["systemd_libs_mapped"] = sorted(
            name for name, _ in results["breakdown_systemd"]
            if name.startswith(("libsystemd", "libgcrypt", "libgpg-error", "libzstd", "liblzma", "liblz4", "libcap")))
        results["journal_stream"] = args.journal_stream
        run.stop()

        # Plain: idle, then serving.
        board_id, code = conductor.create_board(token, "pi-plain")
        run = AgentRun(work, "pi-plain", args.agent, prefix, notify=False, extra_env=extra_env,
                       startup_trim=not args.no_startup_trim)
        runs.append(run)
        run.enrol(conductor, code)
        run.start()
        harness.wait_until(lambda: conductor.status_of(token, board_id) == "online", timeout=60, what="online")
        time.sleep(args.idle)
        pid = run.proc.pid
        results["rss_idle_kb"] = rss_kb(pid)
        results["rss_anon_idle_kb"] = rss_kb(pid, "RssAnon")
        results["idle"] = memory(pid)
        results["breakdown"] = smaps_breakdown(pid)
        if not args.quick:
            c0, t0 = cpu_seconds(pid), time.monotonic()
            time.sleep(args.seconds)
            results["cpu_idle_pct"] = 100 * (cpu_seconds(pid) - c0) / (time.monotonic() - t0)

        def ping():
            status, body = Rest(conductor.port, token).call("POST", f"/v1/boards/{board_id}/calls/sys.ping", {})
            if status != 200:
                raise RuntimeError(f"{status} {body}")
        if not args.quick:
            c0, t0 = cpu_seconds(pid), time.monotonic()
            failures = paced(args.rate, args.seconds, ping)
            results["ping"] = {"rate": args.rate, "failures": len(failures),
                               "cpu_pct": 100 * (cpu_seconds(pid) - c0) / (time.monotonic() - t0),
                               "rss_kb": rss_kb(pid)}

        status, fn = rest.call("POST", "/v1/functions", raw=package(
            {"name": "echo", "version": "1", "runtime": "sh", "entrypoint": "main.sh", "maxConcurrency": 64},
            {"main.sh": ECHO_SH}), content_type="application/gzip")
        assert status == 201, (status, fn)
        status, body = rest.call("POST", f"/v1/functions/{fn['id']}/deployments", {"boardIds": [board_id]})
        assert status == 202, (status, body)

        def deployed():
            _, body = rest.call("GET", f"/v1/functions/{fn['id']}/deployments")
            return any(d["boardId"] == board_id and d["state"] == "deployed" for d in body["deployments"])
        harness.wait_until(deployed, timeout=120, what="deployed")
        invoke(rest, fn["id"], board_id, {"n": 0})
        # Ten cold invocations one after the other, then idle again: what serving leaves resident.
        for n in range(10):
            invoke(rest, fn["id"], board_id, {"n": n})
        time.sleep(args.idle)
        results["after_10_cold"] = memory(pid)
        peak = [0]

        def one_invocation():
            invoke(Rest(conductor.port, token), fn["id"], board_id, {"n": 1})
            peak[0] = max(peak[0], rss_kb(pid))
        if not args.quick:
            c0, t0 = cpu_seconds(pid), time.monotonic()
            failures = paced(args.rate, args.seconds, one_invocation)
            results["invocations"] = {"rate": args.rate, "failures": len(failures), "first_failure": failures[:1],
                                      "cpu_pct": 100 * (cpu_seconds(pid) - c0) / (time.monotonic() - t0),
                                      "rss_kb_after": rss_kb(pid), "rss_kb_peak": peak[0]}
            time.sleep(args.idle)
            results["rss_idle_after_load_kb"] = rss_kb(pid)
    finally:
        for run in runs:
            run.stop()
        conductor.stop()
        shutil.rmtree(work, ignore_errors=True)

    mb = lambda kb: f"{kb / 1024:.1f} MB"  # noqa: E731
    print(f"commit {results['commit']}, {results['host']}, {results['cpus']} CPUs, agent {results['agent']}"
          f"{' under qemu-aarch64' if args.qemu else ''}\n")
    print("| figure | value |\n|---|---|")
    print(f"| binary size (as built, -g1) | {results['binary_bytes'] / 1e6:.2f} MB |")
    print(f"| binary size (stripped, as packaged) | {results['binary_stripped_bytes'] / 1e6:.2f} MB |")
    print(f"| start-up to READY=1 | {results['ready_s'] * 1000:.0f} ms |")
    def mem(m):
        return (f"{mb(m['rss_kb'])} (RssAnon {mb(m['rss_anon_kb'])}) | {mb(m['pss_kb'])} "
                f"(anon {mb(m['pss_anon_kb'])}, file {mb(m['pss_file_kb'])}) | {m['threads']} |")
    print(f"| VmRSS idle, connected | {mb(results['rss_idle_kb'])} (RssAnon {mb(results['rss_anon_idle_kb'])}) |")
    print(f"| VmRSS idle, $NOTIFY_SOCKET set (as under systemd{', $JOURNAL_STREAM too' if args.journal_stream else ''}) "
          f"| {mb(results['rss_idle_systemd_kb'])} |")
    print(f"| libsystemd (and its libraries) mapped in that run | {', '.join(results['systemd_libs_mapped']) or 'no'} |")
    if not args.quick:
        print(f"| CPU idle | {results['cpu_idle_pct']:.2f} % of a core |")
        p = results["ping"]
        print(f"| CPU at {p['rate']:g} sys.ping/s | {p['cpu_pct']:.2f} % of a core ({p['failures']} failed) |")
        i = results["invocations"]
        print(f"| CPU at {i['rate']:g} cold invocations/s | {i['cpu_pct']:.2f} % of a core ({i['failures']} failed) |")
        print(f"| VmRSS while serving invocations (peak) | {mb(i['rss_kb_peak'])} |")
        print(f"| VmRSS idle after the load | {mb(results['rss_idle_after_load_kb'])} |")
    print("\n| point | VmRSS | PSS | threads |\n|---|---|---|---|")
    print(f"| idle, connected | {mem(results['idle'])}")
    print(f"| idle, $NOTIFY_SOCKET set | {mem(results['idle_systemd'])}")
    print(f"| idle after 10 cold invocations | {mem(results['after_10_cold'])}")
    if args.breakdown:
        for title, rows in (("idle, connected", results["breakdown"]),
                            ("idle, $NOTIFY_SOCKET set", results["breakdown_systemd"])):
            print(f"\n| mapping ({title}) | Rss | Pss | Private_Dirty | mapped |\n|---|---|---|---|---|")
            for name, r in rows:
                if r["Rss"] >= 16:
                    print(f"| `{name}` | {r['Rss']} kB | {r['Pss']} kB | {r['Private_Dirty']} kB | {r['Size']} kB |")
    if args.json:
        with open(args.json, "w") as f:
            json.dump(results, f, indent=2)


if __name__ == "__main__":
    main()
