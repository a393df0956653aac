#!/usr/bin/python3
"""Which code of edgewire-agent runs when it starts, idles, answers sys.ping and serves cold
function invocations (issue 16, footprint): writes device-agent/hot_text.ld, the linker script
that puts those input sections first in the agent's text (device-agent/agent.cmake): what the idle
agent runs, then what serving invocations adds, then what only start-up runs.

Why: an idle agent's RSS is mostly the binary's code pages, and the kernel maps 64 kB around each
page it faults in. Spread over 9 MB of text, the 1.3 MB that start-up, the idle loop and an invocation
run kept 4 MB resident; packed together, they keep about their own size (docs/BENCHMARKS.md, Pi).

How: the agent (linked with -Wl,-Map) runs under valgrind's callgrind against a real conductor on
127.0.0.1; every instruction address it executed is mapped through the link map to the input
section that holds it (archive member and section name); the script lists those sections.

  # a build configured with -DEW_AGENT_LINK_MAP=ON -DEW_AGENT_HOT_TEXT=OFF: valgrind names only the
  # code in the .text section after the program, so the profiled binary has no .text.ew_hot
  cmake --build build-profile --target edgewire-agent   # writes device-agent/edgewire-agent.map too
  EW_BIN_DIR=build-profile /usr/bin/python3 tests/bench/agent_text_profile.py --out device-agent/hot_text.ld

Needs valgrind (`apt-get install valgrind`; a profiling tool only, not in the build, the tests or deploy/debian-packages.txt). Sections that no longer
exist are ignored by the linker, so a stale list costs RSS, never correctness; rerun after large
changes to the agent's start-up or idle path.
"""

import argparse
import bisect
import glob
import os
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.normpath(os.path.join(HERE, "..", ".."))
sys.path.insert(0, os.path.join(HERE, "..", "integration"))
sys.path.insert(0, HERE)
import harness  # noqa: E402
from run_functions_bench import ECHO_SH, Rest, invoke, package  # noqa: E402


def run_workload(agent, out_dir, idle_s):
    """Runs the agent under callgrind through start-up, idle, pings and cold invocations; returns
    the callgrind files of start-up (up to the board online), of idle and pings, and of serving
    invocations (callgrind_control dumps between the phases)."""
    work = tempfile.mkdtemp(prefix="ew-text-profile-")
    conductor = harness.Conductor(work, log_level="warn").start()
    proc = None
    try:
        token = conductor.login()
        rest = Rest(conductor.port, token)
        board_id, code = conductor.create_board(token, "profile")
        # No start-up trim: valgrind loses the program's symbols when its pages are advised away.
        a = harness.Agent(work, "profile", log_level="warn", extra_config="")
        with open(a.config) as f:
            text = f.read()
        with open(a.config, "w") as f:
            f.write(text.replace("[agent]\n", "[agent]\nstartup_trim = false\n", 1))
        out = subprocess.run([agent, "enrol", "--conductor", conductor.url, "--code", code,
                              "--credential", a.credential], capture_output=True, text=True, timeout=60)
        assert out.returncode == 0, out.stdout + out.stderr
        log = open(a.log_path, "a")
        proc = subprocess.Popen(["valgrind", "--tool=callgrind", "--dump-instr=yes", "--compress-pos=no",
                                 "--compress-strings=no", f"--callgrind-out-file={out_dir}/callgrind.out",
                                 "--trace-children=no", agent, "run", "--config", a.config],
                                stdout=log, stderr=log)
        harness.wait_until(lambda: conductor.status_of(token, board_id) == "online", timeout=180, what="online")
        # Start-up ends here: dump and zero the counts, so that what follows is the steady state.
        # (callgrind.out.1, then idle in callgrind.out.2; serving is written to callgrind.out at exit).
        subprocess.run(["callgrind_control", "--dump=start-up", str(proc.pid)], check=True, capture_output=True)
        time.sleep(idle_s)
        for _ in range(5):
            status, body = rest.call("POST", f"/v1/boards/{board_id}/calls/sys.ping", {})
            assert status == 200, (status, body)
        subprocess.run(["callgrind_control", "--dump=idle", str(proc.pid)], check=True, capture_output=True)
        status, fn = rest.call("POST", "/v1/functions", raw=package(
            {"name": "echo", "version": "1", "runtime": "sh", "entrypoint": "main.sh"},
            {"main.sh": ECHO_SH}), content_type="application/gzip")
        assert status == 201, (status, fn)
        status, body = rest.call("POST", f"/v1/functions/{fn['id']}/deployments", {"boardIds": [board_id]})
        assert status == 202, (status, body)

        def deployed():
            _, body = rest.call("GET", f"/v1/functions/{fn['id']}/deployments")
            return any(d["boardId"] == board_id and d["state"] == "deployed" for d in body["deployments"])
        harness.wait_until(deployed, timeout=180, what="deployed")
        for n in range(10):
            invoke(rest, fn["id"], board_id, {"n": n})
        time.sleep(idle_s)
    finally:
        if proc:
            proc.send_signal(signal.SIGTERM)
            proc.wait(timeout=120)
        conductor.stop()
        shutil.rmtree(work, ignore_errors=True)
    final = f"{out_dir}/callgrind.out"
    return [f"{final}.1"], [f"{final}.2"], [final]


def executed_addresses(paths, binary):
    """Instruction addresses with a cost (executed) in the agent's own object (callgrind's `ob=`),
    as link-time addresses: callgrind reports positions relative to the object's load address."""
    addrs = set()
    binary = os.path.realpath(binary)
    for path in paths:
        in_agent = False
        with open(path, errors="replace") as f:
            for line in f:
                if line.startswith("ob="):
                    in_agent = os.path.realpath(line[3:].strip()) == binary
                elif in_agent and line.startswith("0x"):
                    addrs.add(int(line.split(None, 1)[0], 16))
    return addrs


def link_map_sections(map_path):
    """(address, size, section, file) of every input section in the text output sections of a
    GNU ld map (.text, and .text.ew_hot when the agent was linked with hot_text.ld)."""
    sections = []
    in_text = False
    pending = None
    entry = re.compile(r"^ (\.text\S*|\S+)?\s+0x([0-9a-f]+)\s+0x([0-9a-f]+)\s+(\S.*)$")
    with open(map_path, errors="replace") as f:
        for line in f:
            if line.strip() and not line.startswith(" "):  # an output section: .text, .text.ew_hot, .fini...
                in_text = line.startswith(".text")
                pending = None
                continue
            if not in_text:
                continue
            stripped = line.rstrip("\n")
            if re.match(r"^ \.text\S*$", stripped):  # long name alone, address on the next line
                pending = stripped.strip()
                continue
            m = entry.match(stripped)
            if m:
                name = m.group(1) or pending
                pending = None
                if name and name.startswith(".text") and not m.group(4).startswith("0x"):
                    sections.append((int(m.group(2), 16), int(m.group(3), 16), name, m.group(4).strip()))
    sections.sort()
    return sections


def script_pattern(section, file):
    """The linker script input-section pattern for one section of one file."""
    if section.startswith(".text.") and section not in (".text.unlikely", ".text.startup", ".text.hot", ".text.exit"):
        return f"*({section})"  # -ffunction-sections: the name says which function
    m = re.match(r"^(.*/)?([^/()]+)\(([^()]+)\)$", file)
    if m:  # a member of an archive without function sections (libcrypto.a...)
        return f"*{m.group(2)}:{m.group(3)}({section})"
    return f"*{os.path.basename(file)}({section})"


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--agent", default=harness.AGENT)
    ap.add_argument("--map", help="the agent's link map (default: AGENT.map)")
    ap.add_argument("--idle", type=float, default=8, help="seconds idle after joining and after the invocations")
    ap.add_argument("--out", default=os.path.join(ROOT, "device-agent", "hot_text.ld"))
    args = ap.parse_args()
    if shutil.which("valgrind") is None:
        sys.exit("agent_text_profile: valgrind is missing (apt-get install valgrind)")
    map_path = args.map or args.agent + ".map"
    with open(map_path, errors="replace") as f:
        if any(line.startswith(".text.ew_hot") for line in f):
            sys.exit(f"{map_path}: linked with hot_text.ld; profile a binary linked without it (EW_AGENT_HOT_TEXT=OFF)")
    tmp = tempfile.mkdtemp(prefix="ew-callgrind-")
    startup_files, idle_files, serving_files = run_workload(args.agent, tmp, args.idle)
    idle = executed_addresses(idle_files, args.agent)
    serving = executed_addresses(serving_files, args.agent)
    addrs = idle | serving | executed_addresses(startup_files, args.agent)
    if not os.environ.get('EW_KEEP_TMP'):
        shutil.rmtree(tmp, ignore_errors=True)
    else:
        print('callgrind output in', tmp)
    sections = link_map_sections(map_path)
    starts = [s[0] for s in sections]
    hot = {}  # pattern -> (0 idle / 1 serving / 2 start-up only, address, size)
    for a in addrs:
        i = bisect.bisect_right(starts, a) - 1
        if i >= 0 and a < sections[i][0] + sections[i][1]:
            addr, size, name, file = sections[i]
            pattern = script_pattern(name, file)
            phase = 0 if a in idle else 1 if a in serving else 2
            if pattern not in hot or phase < hot[pattern][0]:
                hot[pattern] = (phase, addr, size)
    hot_bytes = sum(v[2] for v in hot.values())
    idle_bytes = sum(v[2] for v in hot.values() if v[0] == 0)
    serving_bytes = sum(v[2] for v in hot.values() if v[0] == 1)
    # Idle code first, then serving, then start-up only: once the start-up pages are given back
    # (footprint/startup_trim) an idle agent faults in only the first, dense part.
    ordered = [pattern for pattern, _ in sorted(hot.items(), key=lambda kv: (kv[1][0], kv[1][1]))]
    with open(args.out, "w") as f:
        f.write("/* Generated by tests/bench/agent_text_profile.py: the input sections edgewire-agent runs at\n"
                "   start-up, idle, sys.ping and cold invocations, first in its text (device-agent/agent.cmake):\n"
                f"   {len(hot)} sections, {hot_bytes} bytes on amd64: idle and sys.ping ({idle_bytes} bytes), then\n"
                f"   serving invocations ({serving_bytes}), then start-up only. Missing sections are ignored. */\n"
                "SECTIONS\n{\n  .text.ew_hot :\n  {\n")
        for pattern in ordered:
            f.write(f"    {pattern}\n")
        f.write("  }\n}\nINSERT BEFORE .text;\n")
    print(f"{len(addrs)} executed instructions in {len(hot)} input sections ({hot_bytes / 1024:.0f} kB, "
          f"{idle_bytes / 1024:.0f} kB idle, {serving_bytes / 1024:.0f} kB serving) -> {args.out}")


if __name__ == "__main__":
    main()
