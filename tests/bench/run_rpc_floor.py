#!/usr/bin/python3
"""The floor of a board call: what the lone call costs when the agent does less than the real path
(docs/BENCHMARKS.md, "The floor of a board call").

The goal "a board call's p50 within 2.0x the echo's" holds only if each of the call's four
WebSocket hops costs what one of the echo's two does. The conductor's two hops do
(run_rpc_hops.py); this script asks how close the agent's can come. It builds a second agent
from the source tree with tests/bench/floor/agent_floor.patch applied (a temporary git worktree of
HEAD, its own build directory, ccache), which, when EW_BENCH_AGENT_FLOOR is set, answers every
INVOCATION of a registered procedure early:

  canned  a fixed YIELD, packed by msgpack-cxx: the agent's transport, its WAMP decode and the
          registration lookup, nothing else;
  json    args and kwargs converted to JSON and a one-element reply encoded by EncodeReply, as
          every procedure's arguments and answer are: no Invoke, no handler.

Then, for --rounds rounds, it runs run_rpc_hops.py (awake, pinned, traced for --seconds; no malloc
count) three times, interleaved: the real agent of EW_BIN_DIR (sys.ping through the whole path),
the patched agent with `json`, and with `canned`. The conductor, caller and echo binaries are
EW_BIN_DIR's in all three. It prints, per variant, the medians over the rounds of: the agent's own
time per hop, the echo server's in the same run, and the untraced p50 ratio (board call p50 ÷
echo p50, as the foundation bench computes it). Needs root (perf) and git; takes ~1 minute per
round plus the build (~1 minute with a warm ccache, up to ~10 without).

  EW_BIN_DIR=build /usr/bin/python3 tests/bench/run_rpc_floor.py [--rounds 3] [--seconds 0.3] [--keep]
"""

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.abspath(os.path.join(HERE, "..", ".."))
sys.path.insert(0, os.path.join(HERE, "..", "integration"))
from harness import BIN  # noqa: E402

PATCH = os.path.join(HERE, "floor", "agent_floor.patch")
VARIANTS = ("real", "json", "canned")


def git(*args, cwd=ROOT):
    return subprocess.run(["git", "-C", cwd, *args], capture_output=True, text=True, check=True).stdout.strip()


def build_patched_agent(tree):
    """A worktree of HEAD at `tree` with the patch applied, and its agent built; returns the binary."""
    if not os.path.isdir(tree):
        git("worktree", "add", "--detach", tree, "HEAD")
        applied = subprocess.run(["git", "-C", tree, "apply", PATCH], capture_output=True, text=True)
        if applied.returncode != 0:
            sys.exit(f"{PATCH} does not apply to HEAD (session_connect.cpp changed?): {applied.stderr.strip()}")
    env = dict(os.environ, BUILD_DIR="build", TARGETS="edgewire-agent", CCACHE_BASEDIR=tree, CCACHE_NOHASHDIR="1")
    print(f"building the patched agent in {tree}/build ...", flush=True)
    built = subprocess.run(["bash", "deploy/scripts/build.sh"], cwd=tree, env=env, capture_output=True, text=True)
    if built.returncode != 0:
        sys.exit("the patched agent did not build:\n" + built.stdout[-3000:] + built.stderr[-3000:])
    return os.path.join(tree, "build", "device-agent", "edgewire-agent")


def mixed_bin_dir(agent):
    """A directory laid out as EW_BIN_DIR: the patched agent, everything else EW_BIN_DIR's."""
    mixed = tempfile.mkdtemp(prefix="ew-rpc-floor-bin-")
    os.makedirs(os.path.join(mixed, "device-agent"))
    os.makedirs(os.path.join(mixed, "tests"))
    os.symlink(os.path.abspath(os.path.join(BIN, "cloud-conductor")), os.path.join(mixed, "cloud-conductor"))
    os.symlink(os.path.abspath(os.path.join(BIN, "tests", "bench")), os.path.join(mixed, "tests", "bench"))
    os.symlink(agent, os.path.join(mixed, "device-agent", "edgewire-agent"))
    return mixed


def run_hops(bin_dir, floor, seconds):
    env = dict(os.environ, EW_BIN_DIR=bin_dir)
    env.pop("EW_BENCH_AGENT_FLOOR", None)
    if floor:
        env["EW_BENCH_AGENT_FLOOR"] = floor
    with tempfile.NamedTemporaryFile(suffix=".json") as out:
        subprocess.run([sys.executable, os.path.join(HERE, "run_rpc_hops.py"), "--seconds", str(seconds), "--json",
                        out.name, "--skip-mallocs"], env=env, stdout=subprocess.DEVNULL, check=True)
        with open(out.name) as f:
            return json.load(f)


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--seconds", type=float, default=0.3, help="traced window per run")
    parser.add_argument("--keep", action="store_true", help="keep the worktree and its build for the next run")
    args = parser.parse_args()
    head = git("rev-parse", "--short", "HEAD")
    tree = os.path.join(tempfile.gettempdir(), f"ew-rpc-floor-{head}")
    mixed = None
    try:
        mixed = mixed_bin_dir(build_patched_agent(tree))
        runs = {variant: [] for variant in VARIANTS}
        for round_ in range(args.rounds):
            for variant in VARIANTS:
                result = run_hops(BIN if variant == "real" else mixed, None if variant == "real" else variant,
                                  args.seconds)
                runs[variant].append(result)
                hops = result["hops"]
                print(f"round {round_ + 1} {variant}: agent {hops['agent → conductor']['inside_us']:.2f} µs, "
                      f"echo server {hops['echo server → echo client']['inside_us']:.2f} µs, p50 ratio "
                      f"{result['wamp_p50_us'] / result['echo_p50_us']:.2f}", flush=True)
        print(f"\nThe floor of a board call: binaries in {BIN} and the patched agent of {head} (say which commit "
              f"EW_BIN_DIR was built from), awake, {args.seconds} s traced per run, medians of {args.rounds} rounds\n")
        print("| agent | its own time per hop | echo server's (same runs) | beyond the echo server | "
              "p50 ÷ echo p50 (untraced) |")
        print("|---|---|---|---|---|")
        names = {"real": "real: sys.ping through Invoke and its handler", "json": "json: JSON in and out, no handler",
                 "canned": "canned: a fixed YIELD"}
        for variant in VARIANTS:
            agent = statistics.median(r["hops"]["agent → conductor"]["inside_us"] for r in runs[variant])
            echo = statistics.median(r["hops"]["echo server → echo client"]["inside_us"] for r in runs[variant])
            ratio = [r["wamp_p50_us"] / r["echo_p50_us"] for r in runs[variant]]
            print(f"| {names[variant]} | {agent:.2f} µs | {echo:.2f} µs | {agent - echo:+.2f} µs | "
                  f"{statistics.median(ratio):.2f} ({min(ratio):.2f}–{max(ratio):.2f}) |")
    finally:
        if mixed:
            subprocess.run(["rm", "-rf", mixed], check=False)
        if not args.keep and os.path.isdir(tree):
            subprocess.run(["git", "-C", ROOT, "worktree", "remove", "--force", tree], capture_output=True, check=False)


if __name__ == "__main__":
    main()
