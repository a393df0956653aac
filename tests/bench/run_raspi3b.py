#!/usr/bin/python3
"""Times an emulated Raspberry Pi 3B board from QEMU's start to each step (docs/BENCHMARKS.md,
"The agent on a Pi"): kernel, initramfs, USB network, enrolment, join over wss, online, sys.info,
GPIO through libgpiod, and sys.ping round trips; prints the agent's RSS as sys.info reports it
inside the guest. The steps are tests/integration/raspi3b_board.py's, which the ctest test
test_raspi3b also runs.

  EW_BIN_DIR=build /usr/bin/python3 tests/bench/run_raspi3b.py [--runs 3] [--plain] [--keep]
"""

import argparse
import os
import statistics
import sys

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "integration"))
import raspi3b_board  # noqa: E402


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--runs", type=int, default=3)
    ap.add_argument("--timeout", type=float, default=600)
    ap.add_argument("--plain", action="store_true", help="plain http/ws (agent --insecure) instead of TLS")
    ap.add_argument("--keep", action="store_true", help="keep each run's work directory")
    args = ap.parse_args()
    reason = raspi3b_board.missing()
    if reason:
        print(f"cannot run: {reason}")
        return 2
    outcomes = []
    for run in range(args.runs):
        print(f"== run {run + 1}/{args.runs}", flush=True)
        outcome = raspi3b_board.boot_and_check(timeout=args.timeout, plain=args.plain, keep=args.keep,
                                               say=lambda line: print(line, flush=True))
        if not outcome.ok:
            print(f"STOPPED: {outcome.error}")
            print("\n".join(outcome.console.splitlines()[-40:]))
            return 1
        info = outcome.facts["sysinfo"]
        print(f"           {outcome.facts['model']}, kernel {outcome.facts['kernel']}, "
              f"agent RSS {int(info['agentRssBytes']) / 1e6:.2f} MB, transport {outcome.facts['transport']}")
        outcomes.append(outcome)
    print("\nmedians over", len(outcomes), "runs (seconds since QEMU started):")
    for name in outcomes[0].steps:
        print(f"  {name:32s} {statistics.median(o.steps[name] for o in outcomes):6.1f}")
    print(f"  {'sys.ping p50 (ms)':32s} {statistics.median(o.facts['ping_ms_p50'] for o in outcomes):6.1f}")
    print(f"  {'agent RSS in the guest (MB)':32s} "
          f"{statistics.median(int(o.facts['sysinfo']['agentRssBytes']) for o in outcomes) / 1e6:6.2f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
