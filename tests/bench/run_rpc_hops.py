#!/usr/bin/python3
"""Where a lone board call's time goes, hop by hop (docs/BENCHMARKS.md, "The lone call's hops").

A real conductor and one real agent (tests/integration/harness.py, log level warn) on 127.0.0.1,
pinned as run_foundation_bench.sh pins them (conductor and echo server on core 1; agent, caller
and echo client on core 0), in the "awake" regime (a nice-19 busy loop per core) unless --idle.
It runs `ew_bench_wamp_call --in-flight 1` (sys.ping), then the websocketpp echo of the
baseline, each while `perf record -a` records four syscall tracepoints for --seconds:
epoll_wait's return, recvmsg/recvfrom's return and sendmsg's entry. For every hop of a round
trip it prints two medians:

  wake            the previous process's sendmsg entry to this process's first sign of data
                  (epoll_wait returning events, or a blocking recvmsg returning bytes): the
                  kernel's loopback delivery and the wake-up;
  in the process  that moment to this process's own sendmsg entry: its read, its work, and
                  whatever else it does before writing (another read that finds nothing, a
                  poll of its event loop).

A round trip is the sum of its hops: four for a board call (caller → conductor → agent →
conductor → caller), two for the echo. Each tracepoint costs ~0.5 µs, so absolute figures are
inflated; compare builds and processes, not with the untraced benchmark. Then it counts the
conductor's and the agent's malloc calls per board call over 20,000 more calls (a perf uprobe on
libc's malloc, counted, removed afterwards). Needs root (perf).

  EW_BIN_DIR=build /usr/bin/python3 tests/bench/run_rpc_hops.py [--seconds 0.5] [--idle] [--json FILE]
                                                                 [--skip-mallocs]
"""

import argparse
import collections
import json
import os
import re
import shutil
import statistics
import subprocess
import sys
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "integration"))
from harness import BIN, Agent, Conductor, wait_until  # noqa: E402

EVENTS = ",".join(["syscalls:sys_exit_epoll_wait", "syscalls:sys_enter_sendmsg", "syscalls:sys_exit_recvmsg",
                   "syscalls:sys_exit_recvfrom"])


def pin(pid, core):
    subprocess.run(["taskset", "-pc", str(core), str(pid)], capture_output=True, check=False)


def record(path, seconds):
    subprocess.run(["perf", "record", "-q", "-a", "-e", EVENTS, "-o", path, "--", "sleep", str(seconds)],
                   stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, check=True)


def hops(path, names):
    """{hop: (n, wake p50, in-process p50)} from a perf.data; `names` maps pid → process label.
    A hop is named by its process and where its sendmsg goes ("conductor → agent")."""
    out = subprocess.run(["perf", "script", "-i", path, "--ns", "-F", "comm,pid,time,event,trace"],
                         capture_output=True, text=True, check=True).stdout
    events = []
    for line in out.splitlines():
        m = re.match(r"\s*(.+?)\s+(\d+)\s+([\d.]+):\s+syscalls:sys_(\w+):\s*(.*)", line)
        if m and int(m.group(2)) in names:
            events.append((float(m.group(3)) * 1e6, names[int(m.group(2))], m.group(4), m.group(5).strip()))
    events.sort()
    woken, last_send = {}, None
    wake, inside = collections.defaultdict(list), collections.defaultdict(list)
    goes_to = collections.defaultdict(collections.Counter)  # (process, fd) → processes its sendmsg woke
    for t, who, name, rest in events:
        if name == "enter_sendmsg":
            fd = int(re.search(r"fd: (0x[0-9a-f]+)", rest).group(1), 16)
            if who in woken and last_send and last_send[1] != who:
                wake[(who, fd)].append(woken[who] - last_send[0])
                inside[(who, fd)].append(t - woken[who])
            last_send = (t, who, fd)
            woken.pop(who, None)
        elif rest.startswith("0x") and rest != "0x0" and not rest.startswith("0xffffffff") and who not in woken:
            woken[who] = t  # events returned, or bytes read
            if last_send and last_send[1] != who:
                goes_to[last_send[1:]][who] += 1
    def dest(key):
        return goes_to[key].most_common(1)[0][0] if goes_to[key] else "?"
    return {f"{who} → {dest((who, fd))}": (len(inside[(who, fd)]), statistics.median(wake[(who, fd)]),
                                                    statistics.median(inside[(who, fd)]))
            for (who, fd) in inside if len(inside[(who, fd)]) > 100}


def libc_of(pid):
    """The path of the libc.so.6 that process `pid` maps."""
    with open(f"/proc/{pid}/maps") as maps:
        for line in maps:
            fields = line.split()
            if len(fields) >= 6 and fields[-1].endswith("/libc.so.6"):
                return fields[-1]
    raise RuntimeError(f"process {pid} maps no libc.so.6")


def count_mallocs(pids, run_calls, calls):
    """malloc calls per call in each process of `pids` ({label: pid}) while run_calls() makes
    `calls` calls: a perf uprobe on libc's malloc, counted (not sampled) by perf stat."""
    libc = libc_of(next(iter(pids.values())))
    subprocess.run(["perf", "probe", "-q", "-d", "probe_libc:malloc"], capture_output=True, check=False)
    subprocess.run(["perf", "probe", "-q", "-x", libc, "malloc"], capture_output=True, check=True)
    counters = {}
    try:
        for label, pid in pids.items():
            counters[label] = subprocess.Popen(["perf", "stat", "-x,", "-e", "probe_libc:malloc", "-p", str(pid)],
                                               stderr=subprocess.PIPE, text=True)
        time.sleep(0.5)  # perf stat attached
        run_calls()
        out = {}
        for label, counter in counters.items():
            counter.send_signal(2)
            err = counter.communicate(timeout=10)[1]
            line = next(l for l in err.splitlines() if "probe_libc:malloc" in l)
            out[label] = int(line.split(",")[0]) / calls  # ValueError if perf says <not counted>
        return out
    finally:
        for counter in counters.values():
            if counter.poll() is None:
                counter.kill()
                counter.wait()
        subprocess.run(["perf", "probe", "-q", "-d", "probe_libc:malloc"], capture_output=True, check=False)


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--seconds", type=float, default=0.5, help="traced window per run")
    parser.add_argument("--idle", action="store_true", help="no busy loops (vCPUs halt between hops)")
    parser.add_argument("--json", metavar="FILE", help="also write the tables and p50s to FILE as JSON")
    parser.add_argument("--skip-mallocs", action="store_true", help="do not count malloc calls per board call")
    args = parser.parse_args()
    call = os.path.join(BIN, "tests/bench/ew_bench_wamp_call")
    echo = os.path.join(BIN, "tests/bench/ew_bench_ws_echo")
    work = tempfile.mkdtemp(prefix="ew-rpc-hops-")
    procs, spinners = [], []
    try:
        conductor = Conductor(work, log_level="warn", heartbeat_timeout_ms=30000).start()
        pin(conductor.proc.pid, 1)
        token = conductor.login()
        board, code = conductor.create_board(token, "hops")
        agent = Agent(work, "hops", log_level="warn")
        enrol = agent.enrol(conductor.url, code)
        if enrol.returncode != 0:
            sys.exit(enrol.stdout + enrol.stderr)
        agent.start()
        pin(agent.proc.pid, 0)
        wait_until(lambda: conductor.status_of(token, board) == "online", timeout=20, what="agent online")
        server = subprocess.Popen(["taskset", "-c", "1", echo, "server", "--port", "0"], stdout=subprocess.PIPE, text=True)
        procs.append(server)
        echo_url = "ws://" + server.stdout.readline().strip().rsplit(" ", 1)[-1]
        if not args.idle:
            spinners = [subprocess.Popen(["nice", "-n", "19", "taskset", "-c", str(c), "sh", "-c", "while :; do :; done"])
                        for c in range(min(os.cpu_count() or 1, 2))]

        results = {}
        caller = subprocess.Popen(["taskset", "-c", "0", call, "--url", conductor.ws_url, "--token", token,
                                   "--procedure", f"ew.board.{board}.sys.ping", "--size", "16", "--calls",
                                   str(int(100_000 * max(args.seconds, 0.5))), "--in-flight", "1", "--warmup", "300"],
                                  stdout=subprocess.PIPE, text=True)
        procs.append(caller)
        time.sleep(1.0)
        record(os.path.join(work, "wamp.data"), args.seconds)
        wamp = hops(os.path.join(work, "wamp.data"),
                    {conductor.proc.pid: "conductor", agent.proc.pid: "agent", caller.pid: "caller (Beast)"})
        caller.wait()
        results["wamp"] = json.loads(caller.stdout.read())

        client = subprocess.Popen(["taskset", "-c", "0", echo, "client", "--url", echo_url, "--messages",
                                   str(int(200_000 * max(args.seconds, 0.5))), "--in-flight", "1", "--size", "100"],
                                  stdout=subprocess.PIPE, text=True)
        procs.append(client)
        time.sleep(1.0)
        record(os.path.join(work, "echo.data"), args.seconds)
        baseline = hops(os.path.join(work, "echo.data"), {server.pid: "echo server", client.pid: "echo client"})
        client.wait()
        results["echo"] = json.loads(client.stdout.read())

        rev = subprocess.run(["git", "-C", HERE, "rev-parse", "--short", "HEAD"], capture_output=True, text=True).stdout.strip()
        print(f"RPC hops, {time.strftime('%Y-%m-%dT%H:%MZ', time.gmtime())}, binaries in {BIN} (source tree at "
              f"{rev or 'unknown'}: say which commit they were built from), "
              f"{'idle' if args.idle else 'awake'} vCPUs, {args.seconds} s traced per run")
        print(f"(untraced outside the window) WAMP p50 {results['wamp']['p50_us']:.1f} µs, "
              f"echo p50 {results['echo']['p50_us']:.1f} µs\n")
        print("| process | hops | wake p50 | in the process p50 |")
        print("|---|---|---|---|")
        for table in (wamp, baseline):
            for who, (n, w, inside) in sorted(table.items()):
                print(f"| {who} | {n} | {w:.2f} µs | {inside:.2f} µs |")
        total_w = sum(v[1] + v[2] for v in wamp.values())
        total_e = sum(v[1] + v[2] for v in baseline.values())
        print(f"\nsum of hops (traced, so inflated: compare builds with it, not the benchmark): board call "
              f"{total_w:.1f} µs, echo {total_e:.1f} µs, ratio {total_w / total_e:.2f}")
        sys.stdout.flush()
        if args.json:
            with open(args.json, "w") as out:
                with open(agent.log_path, errors="replace") as log:
                    agent_log = log.read()
                json.dump({"wamp_p50_us": results["wamp"]["p50_us"], "echo_p50_us": results["echo"]["p50_us"],
                           "agent_log_lines": agent_log.splitlines()[:200],  # its start-up lines
                           "hops": {who: {"n": n, "wake_us": w, "inside_us": inside}
                                    for table in (wamp, baseline) for who, (n, w, inside) in table.items()}}, out)
        if args.skip_mallocs:
            return

        # Allocations per call: the same calls, untraced but for a counted uprobe on malloc; after
        # the tables, so that a perf without uprobes loses only this line.
        alloc_calls = 20_000
        def run_calls():
            subprocess.run(["taskset", "-c", "0", call, "--url", conductor.ws_url, "--token", token, "--procedure",
                            f"ew.board.{board}.sys.ping", "--size", "16", "--calls", str(alloc_calls), "--in-flight",
                            "1", "--warmup", "0"], stdout=subprocess.DEVNULL, check=True)
        try:
            mallocs = count_mallocs({"conductor": conductor.proc.pid, "agent": agent.proc.pid}, run_calls, alloc_calls)
            print(f"malloc calls per board call ({alloc_calls} calls, perf uprobe count; heartbeats included): "
                  + ", ".join(f"{label} {n:.1f}" for label, n in mallocs.items()))
        except (OSError, RuntimeError, ValueError, StopIteration, subprocess.CalledProcessError) as e:
            print(f"malloc calls per board call: not counted ({e!r})")
    finally:
        for p in spinners + procs:
            if p.poll() is None:
                p.kill()
                p.wait()
        for name in ("agent", "conductor"):
            obj = locals().get(name)
            if obj is not None:
                obj.stop()
        shutil.rmtree(work, ignore_errors=True)  # perf data, the database, the logs


if __name__ == "__main__":
    main()
