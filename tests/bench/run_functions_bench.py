#!/usr/bin/python3
"""Functions benchmark (docs/BENCHMARKS.md, "Functions"): a real conductor and one real agent on
127.0.0.1 running a sh function in real containers, against the bare runtime on the same bundle.

  (a) cold: bare `runc run --bundle B ID` (and bare `bwrap` with the same sandbox flags) vs an
      Edgewire cold invoke REST → conductor → WAMP → agent → container → back, interleaved
      one for one so both see the same machine;
  (b) warm: sequential invocations of a warm-mode function through REST, p50/p99;
  (c) 100 invocations at once on one board, cold and warm, p50/p99 per call;
  (d) the agent's VmRSS idle and while serving 10 cold invocations/s.

  EW_BIN_DIR=build /usr/bin/python3 tests/bench/run_functions_bench.py [--runs 40]

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
        self.conn.request(method, path, body=data, headers=headers)
        resp = self.conn.getresponse()
        text = resp.read().decode()
        return resp.status, (json.loads(text) if text else None)


def invoke(rest, fn_id, board_id, event):
    status, body = rest.call("POST", f"/v1/functions/{fn_id}/invocations", {"boardId": board_id, "event": event})
    if status != 200:
        raise RuntimeError(f"invocation failed: {status} {body}")
    return body


def timed(fn):
    start = time.perf_counter()
    result = fn()
    return time.perf_counter() - start, result


def bare_runc(runc, root, bundle, run_id, event):
    cmd = [runc, "--root", root, "run", "--bundle", bundle, run_id]
    out = subprocess.run(cmd, input=json.dumps(event).encode(), capture_output=True, timeout=60)
    if out.returncode != 0:
        raise RuntimeError(f"bare runc failed: {out.stderr.decode()[-500:]}")
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


def rss_kb(pid, field="VmRSS"):
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith(field + ":"):
                return int(line.split()[1])
    return 0


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--runs", type=int, default=40, help="cold runs of each kind (interleaved)")
    ap.add_argument("--warm-calls", type=int, default=500)
    ap.add_argument("--concurrent", type=int, default=100)
    ap.add_argument("--rss-seconds", type=int, default=10)
    ap.add_argument("--json", help="write the raw figures here")
    ap.add_argument("--keep", action="store_true", help="keep the work directory")
    args = ap.parse_args()

    runc = shutil.which("runc") or "/usr/sbin/runc"
    bench_tool = os.path.join(harness.BIN, "tests", "bench", "ew_bench_container_bundle")
    for binary in (harness.CONDUCTOR, harness.AGENT, bench_tool):
        if not os.access(binary, os.X_OK):
            sys.exit(f"missing {binary}: build edgewire-conductor edgewire-agent ew_bench_container_bundle")

    work = tempfile.mkdtemp(prefix="ew-fn-bench-")
    conductor = harness.Conductor(work, log_level="warn").start()
    agent = None
    results = {"command": " ".join([os.path.basename(sys.argv[0])] + sys.argv[1:])}
    try:
        token = conductor.login()
        board_id, code = conductor.create_board(token, "bench-pi")
        agent = harness.Agent(work, "bench-pi", log_level="warn")
        enrol = agent.enrol(conductor.url, code)
        assert enrol.returncode == 0, enrol.stderr
        agent.start()
        harness.wait_until(lambda: conductor.status_of(token, board_id) == "online", what="board online")
        rest = Rest(conductor.port, token)

        status, info = rest.call("POST", f"/v1/boards/{board_id}/calls/sys.info", {})
        runtime = (info or {}).get("kwargs", {}).get("containerRuntime") if status == 200 else None

        def upload_and_deploy(spec, files):
            status, fn = rest.call("POST", "/v1/functions", raw=package(spec, files), content_type="application/gzip")
            assert status == 201, (status, fn)
            status, body = rest.call("POST", f"/v1/functions/{fn['id']}/deployments", {"boardIds": [board_id]})
            assert status == 202, (status, body)

            def deployed():
                _, body = rest.call("GET", f"/v1/functions/{fn['id']}/deployments")
                states = {d["boardId"]: d["state"] for d in body["deployments"]}
                if states.get(board_id) == "failed":
                    raise RuntimeError(f"deployment failed: {body}")
                return states.get(board_id) == "deployed"
            harness.wait_until(deployed, timeout=60, what="deployed")
            return fn

        cold = upload_and_deploy({"name": "echo", "version": "1", "runtime": "sh", "entrypoint": "main.sh",
                                  "maxConcurrency": 256}, {"main.sh": ECHO_SH})
        warm = upload_and_deploy({"name": "echo-warm", "version": "1", "runtime": "sh", "entrypoint": "main.sh",
                                  "maxConcurrency": 256, "warm": {"enabled": True, "maxInstances": 16}},
                                 {"main.sh": WARM_SH})
        code_dir = os.path.join(work, "bench-pi-functions", "packages", cold["sha256"])
        assert os.path.isdir(code_dir), code_dir

        # (a) cold, interleaved: bare runc, bare bwrap, Edgewire.
        bundle_dir = os.path.join(work, "bare-bundles")
        runc_root = os.path.join(work, "bare-runc-state")
        event = {"n": 1}
        first = invoke(rest, cold["id"], board_id, event)
        runtime = runtime or first.get("runtime")
        samples = {"runc": [], "bwrap": [], "edgewire": []}
        for i in range(args.runs):
            bundle = subprocess.run([bench_tool, "--work-dir", bundle_dir, "--code", code_dir, "--id", f"bare-{i}"],
                                    capture_output=True, text=True, check=True).stdout.strip()
            t, out = timed(lambda: bare_runc(runc, runc_root, bundle, f"bare-{i}", event))
            assert json.loads(out) == {"echo": event}, out
            samples["runc"].append(t)
            shutil.rmtree(bundle, ignore_errors=True)
            t, out = timed(lambda: bare_bwrap(code_dir, event))
            assert json.loads(out) == {"echo": event}, out
            samples["bwrap"].append(t)
            t, rec = timed(lambda: invoke(rest, cold["id"], board_id, event))
            assert rec["output"] == {"echo": event} and rec["cold"], rec
            samples["edgewire"].append(t)
        results["cold"] = {k: {"p50_ms": ms(pct(v, 50)), "p90_ms": ms(pct(v, 90)), "n": len(v)}
                           for k, v in samples.items()}
        bare = samples["runc"] if runtime in ("runc", None) else samples.get(runtime, samples["runc"])
        results["cold"]["ratio_vs_bare_same_runtime"] = pct(samples["edgewire"], 50) / pct(bare, 50)
        results["runtime"] = runtime

        # (b) warm, sequential.
        for _ in range(20):
            invoke(rest, warm["id"], board_id, event)
        lat = []
        for i in range(args.warm_calls):
            t, rec = timed(lambda: invoke(rest, warm["id"], board_id, {"n": i}))
            assert rec["output"] == {"echo": {"n": i}} and not rec["cold"], rec
            lat.append(t)
        results["warm"] = {"p50_ms": ms(pct(lat, 50)), "p99_ms": ms(pct(lat, 99)), "n": len(lat),
                           "calls_per_s": len(lat) / sum(lat)}

        # (c) N at once, one connection per caller, released together.
        def burst(fn_id):
            barrier = threading.Barrier(args.concurrent)
            conns = [Rest(conductor.port, token) for _ in range(args.concurrent)]

            def one(i):
                barrier.wait()
                t, rec = timed(lambda: invoke(conns[i], fn_id, board_id, {"n": i}))
                assert rec["output"] == {"echo": {"n": i}}, rec
                return t
            start = time.perf_counter()
            with concurrent.futures.ThreadPoolExecutor(max_workers=args.concurrent) as pool:
                lat = list(pool.map(one, range(args.concurrent)))
            wall = time.perf_counter() - start
            return {"p50_ms": ms(pct(lat, 50)), "p99_ms": ms(pct(lat, 99)), "max_ms": ms(max(lat)),
                    "wall_ms": ms(wall), "n": len(lat)}
        results["concurrent"] = {"cold": burst(cold["id"]), "warm": burst(warm["id"])}

        # (d) agent RSS: idle, then while serving 10 cold invocations/s.
        time.sleep(2)
        idle = rss_kb(agent.proc.pid)
        peak = idle
        stop = time.monotonic() + args.rss_seconds
        n = 0
        next_at = time.monotonic()
        while time.monotonic() < stop:
            invoke(rest, cold["id"], board_id, {"n": n})
            n += 1
            peak = max(peak, rss_kb(agent.proc.pid))
            next_at += 0.1
            time.sleep(max(0.0, next_at - time.monotonic()))
        results["agent_rss"] = {"idle_kb": idle, "peak_kb_at_10_per_s": peak, "invocations": n,
                                "seconds": args.rss_seconds}
    finally:
        if agent:
            agent.kill(signal.SIGTERM)
        conductor.stop()
        if args.keep:
            print(f"work directory kept: {work}", file=sys.stderr)
        else:
            shutil.rmtree(work, ignore_errors=True)

    c = results["cold"]
    print(f"\nruntime used by Edgewire: {results['runtime']}\n")
    print("| cold invoke (same bundle / same sandbox) | p50 ms | p90 ms | runs |")
    print("|---|---|---|---|")
    print(f"| bare `runc run` | {c['runc']['p50_ms']:.1f} | {c['runc']['p90_ms']:.1f} | {c['runc']['n']} |")
    print(f"| bare `bwrap` | {c['bwrap']['p50_ms']:.1f} | {c['bwrap']['p90_ms']:.1f} | {c['bwrap']['n']} |")
    print(f"| Edgewire REST → conductor → agent → {results['runtime']} → back | {c['edgewire']['p50_ms']:.1f} | "
          f"{c['edgewire']['p90_ms']:.1f} | {c['edgewire']['n']} |")
    print(f"\ncold ratio Edgewire ÷ bare {results['runtime']}: **{c['ratio_vs_bare_same_runtime']:.2f}×** (target ≤ 1.2)\n")
    w = results["warm"]
    print(f"warm, sequential through REST: p50 **{w['p50_ms']:.2f} ms**, p99 {w['p99_ms']:.2f} ms "
          f"({w['calls_per_s']:.0f} calls/s, {w['n']} calls; target p50 ≤ 2 ms)\n")
    print("| 100 at once on one board | p50 ms | p99 ms | max ms | wall ms |")
    print("|---|---|---|---|---|")
    for kind in ("cold", "warm"):
        r = results["concurrent"][kind]
        print(f"| {kind} | {r['p50_ms']:.0f} | {r['p99_ms']:.0f} | {r['max_ms']:.0f} | {r['wall_ms']:.0f} |")
    a = results["agent_rss"]
    print(f"\nagent VmRSS: idle {a['idle_kb'] / 1024:.1f} MB; peak {a['peak_kb_at_10_per_s'] / 1024:.1f} MB while "
          f"serving {a['invocations']} cold invocations in {a['seconds']} s")
    if args.json:
        with open(args.json, "w") as f:
            json.dump(results, f, indent=2)


if __name__ == "__main__":
    main()
