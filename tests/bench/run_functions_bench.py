#!/usr/bin/python3
"""Functions benchmark (docs/BENCHMARKS.md, "Functions"): a real conductor and one real agent on
127.0.0.1 running a sh function in real containers, against the bare runtime on the same bundle.

  (a) cold: bare `runc run --bundle B ID` (and bare `bwrap` with the same sandbox flags) vs an
      Edgewire cold invoke REST → conductor → WAMP → agent → container → back, interleaved
      one for one so both see the same machine;
  (b) warm: sequential invocations of a warm-mode function through REST, p50/p99;
  (c) 100 invocations at once on one board, cold and warm, p50/p99 per call;
  (d) the agent's VmRSS idle and its peak while serving 10 cold invocations/s (sampled by a
      thread every 2 ms during the calls, and the kernel's VmHWM high-water mark).

  EW_BIN_DIR=build /usr/bin/python3 tests/bench/run_functions_bench.py [--runs 40]

Burst comparison (issue 15): one agent (board) per variant, each with its own [functions]
settings, the same cold function deployed to all, and bursts of --concurrent cold invocations
released at once, alternating between the variants round after round (an interleaved baseline:
both see the same machine):

  EW_BIN_DIR=build /usr/bin/python3 tests/bench/run_functions_bench.py --only burst --rounds 5 \
      --variant runc:runtime=runc,sandbox_pool=0 --variant bwrap:runtime=bwrap,sandbox_pool=0 \
      --variant bwrap+pool:runtime=bwrap

A variant is LABEL:key=value,... with keys of the agent's [functions] section (runtime,
max_running, sandbox_pool, ...) and bin=PATH for another agent binary (a build of an older
commit). Keys left out keep the agent's defaults.

Prints markdown tables and, with --json PATH, writes the raw figures. Everything it starts binds
127.0.0.1 and stops on exit.
"""

import argparse
import concurrent.futures
import http.client
import io
import json
import os
import shutil
import signal
import statistics
import subprocess
import sys
import tarfile
import tempfile
import threading
import time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "integration"))
import harness  # noqa: E402

ECHO_SH = """#!/bin/sh
read -r event
echo "{\\"echo\\": $event}"
"""
# Warm mode in sh: one process answers line after line.
WARM_SH = """#!/bin/sh
while read -r event; do
  echo "{\\"echo\\": $event}"
done
"""


def package(spec, files):
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w:gz") as tar:
        entries = {"function.json": json.dumps(spec).encode()}
        entries.update({k: v.encode() for k, v in files.items()})
        for path, data in sorted(entries.items()):
            info = tarfile.TarInfo(path)
            info.size = len(data)
            info.mode = 0o755
            tar.addfile(info, io.BytesIO(data))
    return buf.getvalue()


def pct(values, p):
    values = sorted(values)
    if not values:
        return float("nan")
    k = min(len(values) - 1, max(0, int(round(p / 100.0 * (len(values) - 1)))))
    return values[k]


def ms(seconds):
    return seconds * 1000.0


class Rest:
    """One keep-alive HTTP connection to the conductor (what a real client would hold)."""

    def __init__(self, port, token):
        self.conn = http.client.HTTPConnection("127.0.0.1", port, timeout=120)
        self.token = token

    def call(self, method, path, body=None, raw=None, content_type="application/json"):
        data = raw if raw is not None else (json.dumps(body).encode() if body is not None else None)
        headers = {"Content-Type": content_type, "X-Auth-Token": self.token}
        try:
            self.conn.request(method, path, body=data, headers=headers)
            resp = self.conn.getresponse()
        except (BrokenPipeError, ConnectionResetError, http.client.RemoteDisconnected):
            # The server closed the connection while it idled (between phases): once more on a
            # new one.
            self.conn.close()
            self.conn = http.client.HTTPConnection(self.conn.host, self.conn.port, timeout=120)
            self.conn.request(method, path, body=data, headers=headers)
            resp = self.conn.getresponse()
        text = resp.read().decode()
        return resp.status, (json.loads(text) if text else None)


def deploy_package(rest, spec, files, targets):
    """Uploads a package (function.json `spec` and `files`) and deploys it to the Boards
    `targets`; returns the function once every one of them has it deployed."""
    status, fn = rest.call("POST", "/v1/functions", raw=package(spec, files), content_type="application/gzip")
    assert status == 201, (status, fn)
    ids = [t.board_id for t in targets]
    status, body = rest.call("POST", f"/v1/functions/{fn['id']}/deployments", {"boardIds": ids})
    assert status == 202, (status, body)

    def deployed():
        _, body = rest.call("GET", f"/v1/functions/{fn['id']}/deployments")
        states = {d["boardId"]: d["state"] for d in body["deployments"]}
        if any(states.get(i) == "failed" for i in ids):
            raise RuntimeError(f"deployment failed: {body}")
        return all(states.get(i) == "deployed" for i in ids)
    harness.wait_until(deployed, timeout=60, what="deployed")
    return fn


def invoke(rest, fn_id, board_id, event):
    status, body = rest.call("POST", f"/v1/functions/{fn_id}/invocations", {"boardId": board_id, "event": event})
    if status != 200:
        raise RuntimeError(f"invocation failed: {status} {body}")
    return body


def timed(fn):
    start = time.perf_counter()
    result = fn()
    return time.perf_counter() - start, result


def bare_oci(binary, root, bundle, run_id, event):
    """`runc run` or `crun run` on a bundle (same command line for both)."""
    cmd = [binary, "--root", root, "run", "--bundle", bundle, run_id]
    out = subprocess.run(cmd, input=json.dumps(event).encode(), capture_output=True, timeout=60)
    if out.returncode != 0:
        raise RuntimeError(f"bare {os.path.basename(binary)} failed: {out.stderr.decode()[-500:]}")
    return out.stdout


def bare_bwrap(code_dir, event):
    """bwrap with the sandbox Edgewire's bwrap driver sets up (namespaces, read-only /usr, code at
    /fn, tmpfs /tmp, uid 65534, no capabilities), minus its seccomp program."""
    cmd = ["bwrap", "--unshare-all", "--unshare-user", "--die-with-parent", "--new-session",
           "--ro-bind", "/usr", "/usr"]
    for name in ("bin", "lib", "lib64", "sbin"):
        path = "/" + name
        if os.path.islink(path):
            cmd += ["--symlink", os.readlink(path), path]
    cmd += ["--ro-bind", code_dir, "/fn", "--tmpfs", "/tmp", "--proc", "/proc", "--dev", "/dev",
            "--remount-ro", "/", "--uid", "65534", "--gid", "65534", "--cap-drop", "ALL", "--chdir", "/tmp",
            "--", "/bin/sh", "/fn/main.sh"]
    env = {"PATH": "/usr/bin:/bin", "HOME": "/tmp", "EW_MODE": "cold"}
    out = subprocess.run(cmd, input=json.dumps(event).encode(), capture_output=True, timeout=60, env=env)
    if out.returncode != 0:
        raise RuntimeError(f"bare bwrap failed: {out.stderr.decode()[-500:]}")
    return out.stdout


def status_kb(pid, field):
    """A field of /proc/PID/status in kB (VmRSS, VmHWM), 0 when absent."""
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith(field + ":"):
                return int(line.split()[1])
    return 0


class MemorySampler(threading.Thread):
    """Polls a process's VmRSS every `period` seconds while the calls run: a peak read only
    between calls misses what the agent holds while containers are being started and reaped."""

    def __init__(self, pid, period=0.002):
        super().__init__(daemon=True)
        self.pid, self.period = pid, period
        self.peak_kb, self.samples = 0, 0
        self._stopping = threading.Event()

    def run(self):
        while not self._stopping.is_set():
            self.peak_kb = max(self.peak_kb, status_kb(self.pid, "VmRSS"))
            self.samples += 1
            self._stopping.wait(self.period)

    def stop(self):
        self._stopping.set()
        self.join()
        return self.peak_kb


def parse_variant(text):
    """LABEL:key=value,...  ->  (label, {[functions] key: value}, agent binary or None)."""
    label, _, rest = text.partition(":")
    config, binary = {}, None
    for item in filter(None, rest.split(",")):
        key, _, value = item.partition("=")
        if key == "bin":
            binary = os.path.abspath(value)
        else:
            config[key] = value
    return label, config, binary


def toml_value(value):
    return value if value.lstrip("-").isdigit() else json.dumps(value)


class Board:
    """One enrolled agent with its own [functions] settings (and binary, for an older build)."""

    def __init__(self, conductor, token, work, label, functions_config, binary):
        self.label, self.binary = label, binary
        name = "bench-" + "".join(c if c.isalnum() else "-" for c in label)
        self.board_id, code = conductor.create_board(token, name)
        self.agent = harness.Agent(work, name, log_level="warn")
        if functions_config:
            with open(self.agent.config) as f:
                text = f.read()
            extra = "".join(f"{k} = {toml_value(v)}\n" for k, v in functions_config.items())
            with open(self.agent.config, "w") as f:
                f.write(text.replace("[functions]\n", "[functions]\n" + extra, 1))
        saved = harness.AGENT
        harness.AGENT = binary or saved
        try:
            enrol = self.agent.enrol(conductor.url, code)
            assert enrol.returncode == 0, enrol.stderr
            self.agent.start()
        finally:
            harness.AGENT = saved
        try:
            harness.wait_until(lambda: conductor.status_of(token, self.board_id) == "online", what=f"{label} online")
        except BaseException:
            self.agent.stop()  # the caller never gets this Board to stop
            raise


def cpu_times():
    """(busy, total) jiffies of the whole machine, from /proc/stat."""
    with open("/proc/stat") as f:
        fields = [int(x) for x in f.readline().split()[1:]]
    idle = fields[3] + fields[4]  # idle + iowait
    return sum(fields) - idle, sum(fields)


def proc_cpu(pid):
    """(own, reaped children's) CPU seconds of a process, from /proc/PID/stat."""
    with open(f"/proc/{pid}/stat") as f:
        fields = f.read().rsplit(")", 1)[1].split()
    tick = os.sysconf("SC_CLK_TCK")
    return (int(fields[11]) + int(fields[12])) / tick, (int(fields[13]) + int(fields[14])) / tick


def descendants_memory(root):
    """(processes, total Pss in kB) of `root`'s descendants: what the agent's ready sandboxes
    (bwrap, the sandbox's init, the gate) hold between bursts."""
    children = {}
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            with open(f"/proc/{entry}/stat") as f:
                ppid = int(f.read().rsplit(")", 1)[1].split()[1])
        except (OSError, ValueError, IndexError):
            continue
        children.setdefault(ppid, []).append(int(entry))
    todo, found = list(children.get(root, [])), []
    while todo:
        pid = todo.pop()
        found.append(pid)
        todo.extend(children.get(pid, []))
    pss = 0
    for pid in found:
        try:
            with open(f"/proc/{pid}/smaps_rollup") as f:
                for line in f:
                    if line.startswith("Pss:"):
                        pss += int(line.split()[1])
        except OSError:
            pass
    return len(found), pss


def burst(port, token, fn_id, board_id, n, pids=None):
    """N invocations released at once, one client thread and connection each. Every call must
    succeed; per call: latency, and the agent's queue and run time from the record."""
    barrier = threading.Barrier(n)
    conns = [Rest(port, token) for _ in range(n)]

    def one(i):
        barrier.wait()
        t, rec = timed(lambda: invoke(conns[i], fn_id, board_id, {"n": i}))
        assert rec["output"] == {"echo": {"n": i}}, rec
        return t, rec
    pids = pids or {}
    cpu0 = {k: proc_cpu(p) for k, p in pids.items()}
    client0 = time.process_time()
    busy0, total0 = cpu_times()
    start = time.perf_counter()
    with concurrent.futures.ThreadPoolExecutor(max_workers=n) as pool:
        out = list(pool.map(one, range(n)))
    wall = time.perf_counter() - start
    busy1, total1 = cpu_times()
    # Cores busy during the burst (the whole machine: client, conductor, agent, containers, and
    # whatever else runs here): well below the core count means waiting, not work, bounds it.
    busy_cores = (busy1 - busy0) / max(1, total1 - total0) * os.cpu_count()
    # CPU ms per call by whom: the client (this script), the conductor, the agent, and the
    # agent's reaped children (bwrap/runc and the sandboxes, which the agent reaps as subreaper).
    cpu = {"client": (time.process_time() - client0) * 1000 / n}
    for k, p in pids.items():
        own, children = proc_cpu(p)
        cpu[k] = (own - cpu0[k][0]) * 1000 / n
        if k == "agent":
            cpu["containers"] = (children - cpu0[k][1]) * 1000 / n
    for c in conns:
        c.conn.close()
    return {"latency": [t for t, _ in out], "wall": wall, "busy_cores": busy_cores, "cpu_ms_per_call": cpu,
            "cold": sum(1 for _, r in out if r.get("cold")),
            # Calls that found a sandbox prepared ahead (the pool's reach in this burst).
            "prepared": sum(1 for _, r in out if r.get("prepared")),
            "agent_queue_ms": [r["queueMs"] for _, r in out if "queueMs" in r],
            "agent_run_ms": [r["runMs"] for _, r in out if "runMs" in r]}


def summarize_bursts(bursts):
    lat = [t for b in bursts for t in b["latency"]]
    per_round_p50 = [ms(pct(b["latency"], 50)) for b in bursts]
    queue = [q for b in bursts for q in b["agent_queue_ms"]]
    run = [r for b in bursts for r in b["agent_run_ms"]]
    return {"p50_ms": ms(pct(lat, 50)), "p99_ms": ms(pct(lat, 99)), "max_ms": ms(max(lat)),
            "wall_ms": statistics.median(ms(b["wall"]) for b in bursts),
            "busy_cores": statistics.median(b["busy_cores"] for b in bursts),
            "cpu_ms_per_call": {k: statistics.median(b["cpu_ms_per_call"][k] for b in bursts)
                                for k in bursts[0]["cpu_ms_per_call"]},
            "round_p50_ms": per_round_p50, "rounds": len(bursts), "n": len(lat),
            "cold_calls": sum(b["cold"] for b in bursts),
            "prepared_per_round": [b["prepared"] for b in bursts],
            "agent_queue_p50_ms": pct(queue, 50) if queue else None,
            "agent_run_p50_ms": pct(run, 50) if run else None,
            "agent_run_p99_ms": pct(run, 99) if run else None}


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--runs", type=int, default=40, help="cold runs of each kind (interleaved)")
    ap.add_argument("--warm-calls", type=int, default=500)
    ap.add_argument("--concurrent", type=int, default=100)
    ap.add_argument("--rounds", type=int, default=1, help="bursts per variant, interleaved")
    ap.add_argument("--settle", type=float, default=3.0,
                    help="seconds between bursts (the agent reaps and refills its sandbox pool)")
    ap.add_argument("--rss-seconds", type=int, default=10)
    ap.add_argument("--only", choices=["all", "cold", "warm", "burst", "rss"], default="all")
    ap.add_argument("--variant", action="append", default=[],
                    help="LABEL:key=value,... (agent [functions] keys, bin=PATH); the first serves (a), (b), (d)")
    ap.add_argument("--json", help="write the raw figures here")
    ap.add_argument("--keep", action="store_true", help="keep the work directory")
    args = ap.parse_args()
    phases = {"cold", "warm", "burst", "rss"} if args.only == "all" else {args.only}
    variants = [parse_variant(v) for v in args.variant] or [("default", {}, None)]

    bench_tool = os.path.join(harness.BIN, "tests", "bench", "ew_bench_container_bundle")
    for binary in (harness.CONDUCTOR, harness.AGENT, bench_tool):
        if not os.access(binary, os.X_OK):
            sys.exit(f"missing {binary}: build edgewire-conductor edgewire-agent ew_bench_container_bundle")
    bare_runtimes = [(name, path) for name, path in (("runc", shutil.which("runc") or "/usr/sbin/runc"),
                                                     ("crun", shutil.which("crun")))
                     if path and os.access(path, os.X_OK)]

    work = tempfile.mkdtemp(prefix="ew-fn-bench-")
    conductor = harness.Conductor(work, log_level="warn")
    # The bench measures the board's path: the conductor's per-function and per-project limits
    # (32 and 128 by default, 429 past them) are raised so that 100 at once reach the board,
    # and the conductor runs no cloud containers of its own.
    conductor.extra_config = ("[functions]\nruntime = \"none\"\nmax_running_per_function = 100000\n"
                              "max_running_per_project = 1000000\n")
    conductor.start()
    boards = []
    head = subprocess.run(["git", "-C", os.path.dirname(os.path.abspath(__file__)), "rev-parse", "--short", "HEAD"],
                          capture_output=True, text=True).stdout.strip()
    results = {"command": " ".join([os.path.basename(sys.argv[0])] + sys.argv[1:]), "commit": head,
               "loadavg_before": os.getloadavg()}
    try:
        token = conductor.login()
        rest = Rest(conductor.port, token)
        for label, config, binary in variants:
            boards.append(Board(conductor, token, work, label, config, binary))
        board = boards[0]
        results["variants"] = {}
        for b in boards:
            status, info = rest.call("POST", f"/v1/boards/{b.board_id}/calls/sys.info", {})
            kw = (info or {}).get("kwargs", {}) if status == 200 else {}
            results["variants"][b.label] = {"runtime": kw.get("containerRuntime"), "limits": kw.get("containerLimits"),
                                            "config": dict(parse_variant(args.variant[boards.index(b)])[1])
                                            if args.variant else {}, "bin": b.binary}

        cold = deploy_package(rest, {"name": "echo", "version": "1", "runtime": "sh", "entrypoint": "main.sh",
                                     "maxConcurrency": 256}, {"main.sh": ECHO_SH}, boards)
        warm = None
        if phases & {"warm", "burst"}:
            warm = deploy_package(rest, {"name": "echo-warm", "version": "1", "runtime": "sh", "entrypoint": "main.sh",
                                         "maxConcurrency": 256, "warm": {"enabled": True, "maxInstances": 16}},
                                  {"main.sh": WARM_SH}, [board])
        event = {"n": 1}
        first = invoke(rest, cold["id"], board.board_id, event)
        runtime = first.get("runtime") or results["variants"][board.label]["runtime"]
        results["runtime"] = runtime

        # (a) cold, interleaved: each bare runtime here on the same bundle, bare bwrap, Edgewire.
        if "cold" in phases:
            code_dir = os.path.join(work, board.agent.name + "-functions", "packages", cold["sha256"])
            assert os.path.isdir(code_dir), code_dir
            bundle_dir = os.path.join(work, "bare-bundles")
            usable = []
            for name, path in bare_runtimes:  # crun refuses hybrid-cgroup hosts: left out, and said so
                bundle = subprocess.run([bench_tool, "--work-dir", bundle_dir, "--code", code_dir, "--id", f"probe-{name}"],
                                        capture_output=True, text=True, check=True).stdout.strip()
                try:
                    bare_oci(path, os.path.join(work, f"bare-{name}-state"), bundle, f"probe-{name}", event)
                    usable.append((name, path))
                except RuntimeError as e:
                    results.setdefault("bare_skipped", {})[name] = str(e)[-200:]
                shutil.rmtree(bundle, ignore_errors=True)
            samples = {name: [] for name, _ in usable}
            samples.update({"bwrap": [], "edgewire": []})
            for i in range(args.runs):
                for name, path in usable:
                    bundle = subprocess.run([bench_tool, "--work-dir", bundle_dir, "--code", code_dir, "--id",
                                             f"bare-{name}-{i}"], capture_output=True, text=True, check=True).stdout.strip()
                    t, out = timed(lambda: bare_oci(path, os.path.join(work, f"bare-{name}-state"), bundle,
                                                    f"bare-{name}-{i}", event))
                    assert json.loads(out) == {"echo": event}, out
                    samples[name].append(t)
                    shutil.rmtree(bundle, ignore_errors=True)
                t, out = timed(lambda: bare_bwrap(code_dir, event))
                assert json.loads(out) == {"echo": event}, out
                samples["bwrap"].append(t)
                t, rec = timed(lambda: invoke(rest, cold["id"], board.board_id, event))
                assert rec["output"] == {"echo": event} and rec["cold"], rec
                samples["edgewire"].append(t)
            results["cold"] = {k: {"p50_ms": ms(pct(v, 50)), "p90_ms": ms(pct(v, 90)), "n": len(v)}
                               for k, v in samples.items()}
            # The ratio only against a bare run of the runtime Edgewire used; none when that
            # runtime has no bare baseline here (never another runtime's under its name).
            if runtime in samples:
                results["cold"]["baseline"] = runtime
                results["cold"]["ratio_vs_bare_same_runtime"] = pct(samples["edgewire"], 50) / pct(samples[runtime], 50)

        # (b) warm, sequential.
        if "warm" in phases:
            for _ in range(20):
                invoke(rest, warm["id"], board.board_id, event)
            lat = []
            start = time.perf_counter()
            for i in range(args.warm_calls):
                t, rec = timed(lambda: invoke(rest, warm["id"], board.board_id, {"n": i}))
                assert rec["output"] == {"echo": {"n": i}} and not rec["cold"], rec
                lat.append(t)
            wall = time.perf_counter() - start
            # Calls completed over the wall time of the loop (not 1 / mean latency).
            results["warm"] = {"p50_ms": ms(pct(lat, 50)), "p99_ms": ms(pct(lat, 99)), "n": len(lat),
                               "calls_per_s": len(lat) / wall}

        # (c) N at once, one connection per caller, released together; the variants' bursts
        # alternate round after round.
        if "burst" in phases:
            bursts = {b.label: [] for b in boards}
            for r in range(args.rounds):
                for b in (boards if r % 2 == 0 else list(reversed(boards))):
                    time.sleep(args.settle)
                    bursts[b.label].append(burst(conductor.port, token, cold["id"], b.board_id, args.concurrent,
                                                 {"conductor": conductor.proc.pid, "agent": b.agent.proc.pid}))
            results["concurrent"] = {"cold": {label: summarize_bursts(v) for label, v in bursts.items()}}
            time.sleep(args.settle)
            for b in boards:  # the pools refilled after the last burst
                procs, pss = descendants_memory(b.agent.proc.pid)
                results["concurrent"]["cold"][b.label]["idle_sandbox_processes"] = procs
                results["concurrent"]["cold"][b.label]["idle_sandbox_pss_kb"] = pss
                results["concurrent"]["cold"][b.label]["agent_vmrss_kb"] = status_kb(b.agent.proc.pid, "VmRSS")
                results["concurrent"]["cold"][b.label]["agent_fds"] = len(os.listdir(f"/proc/{b.agent.proc.pid}/fd"))
            if warm:
                time.sleep(args.settle)
                results["concurrent"]["warm"] = summarize_bursts(
                    [burst(conductor.port, token, warm["id"], board.board_id, args.concurrent,
                           {"conductor": conductor.proc.pid, "agent": board.agent.proc.pid})])

        # (d) agent RSS: idle, then its peak while serving 10 cold invocations/s, sampled during
        # the calls by a thread (VmRSS every 2 ms), and the kernel's high-water mark (VmHWM).
        if "rss" in phases:
            time.sleep(2)
            pid = board.agent.proc.pid
            idle = status_kb(pid, "VmRSS")
            hwm_before = status_kb(pid, "VmHWM")
            sampler = MemorySampler(pid)
            sampler.start()
            stop = time.monotonic() + args.rss_seconds
            n = 0
            next_at = time.monotonic()
            while time.monotonic() < stop:
                invoke(rest, cold["id"], board.board_id, {"n": n})
                n += 1
                next_at += 0.1
                time.sleep(max(0.0, next_at - time.monotonic()))
            peak = sampler.stop()
            results["agent_rss"] = {"idle_kb": idle, "peak_kb_at_10_per_s": peak, "samples": sampler.samples,
                                    "vmhwm_before_kb": hwm_before, "vmhwm_after_kb": status_kb(pid, "VmHWM"),
                                    "invocations": n, "seconds": args.rss_seconds}
        results["loadavg_after"] = os.getloadavg()
    finally:
        for b in boards:
            b.agent.kill(signal.SIGTERM)
        conductor.stop()
        if args.keep:
            print(f"work directory kept: {work}", file=sys.stderr)
        else:
            shutil.rmtree(work, ignore_errors=True)

    print(f"\ncommit {results['commit']}; runtime used by Edgewire: {results['runtime']}; "
          f"load average before/after: {results['loadavg_before'][0]:.2f} / {results['loadavg_after'][0]:.2f}\n")
    if "cold" in results:
        c = results["cold"]
        print("| cold invoke (same bundle / same sandbox) | p50 ms | p90 ms | runs |")
        print("|---|---|---|---|")
        for name in ("crun", "runc"):
            if name in c:
                print(f"| bare `{name} run` | {c[name]['p50_ms']:.1f} | {c[name]['p90_ms']:.1f} | {c[name]['n']} |")
        for name, why in results.get("bare_skipped", {}).items():
            print(f"| bare `{name} run` | — | — | fails here: {why.strip().splitlines()[-1][:80]} |")
        print(f"| bare `bwrap` | {c['bwrap']['p50_ms']:.1f} | {c['bwrap']['p90_ms']:.1f} | {c['bwrap']['n']} |")
        print(f"| Edgewire REST → conductor → agent → {results['runtime']} → back | {c['edgewire']['p50_ms']:.1f} | "
              f"{c['edgewire']['p90_ms']:.1f} | {c['edgewire']['n']} |")
        if "baseline" in c:
            print(f"\ncold ratio Edgewire ÷ bare {c['baseline']}: **{c['ratio_vs_bare_same_runtime']:.2f}×** "
                  f"(target ≤ 1.2)\n")
        else:
            print(f"\nno bare {results['runtime']} baseline in this script: no ratio\n")
    if "warm" in results:
        w = results["warm"]
        print(f"warm, sequential through REST: p50 **{w['p50_ms']:.2f} ms**, p99 {w['p99_ms']:.2f} ms "
              f"({w['calls_per_s']:.0f} calls/s completed over the wall time, {w['n']} calls; target p50 ≤ 1.5 ms)\n")
    if "concurrent" in results:
        print(f"| {args.concurrent} at once on one board | runtime | p50 ms | p99 ms | max ms | wall ms (median) | "
              f"round p50s ms | prepared ahead per round | agent queue p50 ms | agent run p50 / p99 ms | cores busy |")
        print("|---|---|---|---|---|---|---|---|---|---|---|")
        rows = [(f"cold, {label}", results["variants"][label]["runtime"], r)
                for label, r in results["concurrent"]["cold"].items()]
        if "warm" in results["concurrent"]:
            rows.append(("warm (16 instances)", results["runtime"], results["concurrent"]["warm"]))
        for name, rt, r in rows:
            rp = ", ".join(f"{x:.0f}" for x in r["round_p50_ms"])
            q = "—" if r["agent_queue_p50_ms"] is None else f"{r['agent_queue_p50_ms']:.0f}"
            run = "—" if r["agent_run_p50_ms"] is None else f"{r['agent_run_p50_ms']:.0f} / {r['agent_run_p99_ms']:.0f}"
            prepared = ", ".join(str(x) for x in r.get("prepared_per_round", []))
            print(f"| {name} | {rt} | {r['p50_ms']:.0f} | {r['p99_ms']:.0f} | {r['max_ms']:.0f} | {r['wall_ms']:.0f} | "
                  f"{rp} | {prepared} | {q} | {run} | {r['busy_cores']:.2f} of {os.cpu_count()} |")
        print("\nHeld between bursts (the agent's descendants: ready sandboxes):\n")
        for label, r in results["concurrent"]["cold"].items():
            print(f"- {label}: {r.get('idle_sandbox_processes', 0)} processes, "
                  f"{r.get('idle_sandbox_pss_kb', 0) / 1024:.1f} MB Pss; the agent's own VmRSS "
                  f"{r.get('agent_vmrss_kb', 0) / 1024:.1f} MB, {r.get('agent_fds', 0)} open descriptors")
        print("\nCPU per call in the bursts (ms; medians of the rounds):\n")
        print("| burst | client | conductor | agent | containers (reaped by the agent) |")
        print("|---|---|---|---|---|")
        for name, _, r in rows:
            c = r["cpu_ms_per_call"]
            print(f"| {name} | {c['client']:.2f} | {c.get('conductor', 0):.2f} | {c.get('agent', 0):.2f} | "
                  f"{c.get('containers', 0):.2f} |")
    if "agent_rss" in results:
        a = results["agent_rss"]
        print(f"\nagent VmRSS: idle {a['idle_kb'] / 1024:.1f} MB; peak {a['peak_kb_at_10_per_s'] / 1024:.1f} MB sampled "
              f"({a['samples']} samples) while serving {a['invocations']} cold invocations in {a['seconds']} s; "
              f"VmHWM {a['vmhwm_before_kb'] / 1024:.1f} → {a['vmhwm_after_kb'] / 1024:.1f} MB")
    if args.json:
        with open(args.json, "w") as f:
            json.dump(results, f, indent=2)


if __name__ == "__main__":
    main()
