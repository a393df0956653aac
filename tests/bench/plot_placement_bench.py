#!/usr/bin/python3
"""Plots of the placement benchmark (run_placement_bench.py) from its per-call rows or its CSV:
one PNG per experiment in docs/. Debian's python3-matplotlib, under /usr/bin/python3.

  /usr/bin/python3 tests/bench/plot_placement_bench.py docs/placement_calls.csv docs
"""

import csv
import os
import sys

import matplotlib

matplotlib.use("Agg")  # files only, no display
import matplotlib.pyplot as plt  # noqa: E402

RUNTIMES = ("local", "cloud-1", "cloud-2")
COLOURS = {"local": "tab:green", "cloud-1": "tab:blue", "cloud-2": "tab:purple"}
FUNCTIONS = ("light", "heavy", "super-heavy", "cloud-only")


def _rows_of(rows, experiment):
    return [r for r in rows if r["experiment"] == experiment]


def _strategies(rows):
    seen = []
    for r in rows:
        if r["strategy"] not in seen:
            seen.append(r["strategy"])
    return seen


def _scatter_by_runtime(ax, rows):
    """Per-call durations, each dot coloured by the runtime that answered (x marks a failure)."""
    for runtime in RUNTIMES:
        mine = [r for r in rows if r["runtime"] == runtime and r["status"] == "succeeded"]
        ax.scatter([int(r["call"]) for r in mine], [float(r["ms"]) for r in mine], s=9, color=COLOURS[runtime],
                   label=runtime)
    failed = [r for r in rows if r["status"] != "succeeded"]
    if failed:
        ax.scatter([int(r["call"]) for r in failed], [float(r["ms"]) for r in failed], s=20, marker="x",
                   color="red", label="failed")


def plot_rounds(rows, out_dir):
    strategies = _strategies(rows)
    fig, axes = plt.subplots(len(FUNCTIONS), len(strategies), figsize=(4 * len(strategies), 2.6 * len(FUNCTIONS)),
                             sharex=True, squeeze=False)
    for i, kind in enumerate(FUNCTIONS):
        for j, strategy in enumerate(strategies):
            ax = axes[i][j]
            _scatter_by_runtime(ax, [r for r in rows if r["function"] == kind and r["strategy"] == strategy])
            if i == 0:
                ax.set_title(strategy)
            if j == 0:
                ax.set_ylabel(f"{kind}\nms (client)")
            if i == len(FUNCTIONS) - 1:
                ax.set_xlabel("round")
    axes[0][0].legend(loc="upper right", fontsize="small")
    fig.suptitle("(1) rounds, no prior knowledge: ms per call, by runtime")
    fig.tight_layout()
    path = os.path.join(out_dir, "placement_rounds.png")
    fig.savefig(path, dpi=80)
    plt.close(fig)
    return path


def plot_change(rows, out_dir, experiment, title, name):
    strategies = _strategies(rows)
    fig, axes = plt.subplots(len(strategies), 1, figsize=(10, 2.4 * len(strategies)), sharex=True, squeeze=False)
    for i, strategy in enumerate(strategies):
        ax = axes[i][0]
        _scatter_by_runtime(ax, [r for r in rows if r["strategy"] == strategy])
        ax.axvline(50, color="grey", linestyle="--", linewidth=1)
        ax.set_ylabel(f"{strategy}\nms (client)")
    axes[-1][0].set_xlabel("call (the change comes before call 50, dashed)")
    axes[0][0].legend(loc="upper right", fontsize="small")
    fig.suptitle(title)
    fig.tight_layout()
    path = os.path.join(out_dir, name)
    fig.savefig(path, dpi=80)
    plt.close(fig)
    return path


def plot(rows, out_dir):
    """Writes a PNG per experiment present in `rows`; returns their paths."""
    paths = []
    if _rows_of(rows, "rounds"):
        paths.append(plot_rounds(_rows_of(rows, "rounds"), out_dir))
    if _rows_of(rows, "slowdown"):
        paths.append(plot_change(_rows_of(rows, "slowdown"), out_dir, "slowdown",
                                 "(3) heavy calls; the links to both clouds slowed to 28/14 kbit/s before call 50",
                                 "placement_slowdown.png"))
    if _rows_of(rows, "cut"):
        paths.append(plot_change(_rows_of(rows, "cut"), out_dir, "cut",
                                 "(2) heavy calls; both cloud links cut before call 50", "placement_cut.png"))
    return paths


def main():
    if len(sys.argv) != 3:
        sys.exit("usage: plot_placement_bench.py CSV OUT_DIR")
    with open(sys.argv[1], newline="") as f:
        rows = list(csv.DictReader(f))
    for path in plot(rows, sys.argv[2]):
        print(f"wrote {path}")


if __name__ == "__main__":
    main()
