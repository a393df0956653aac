#!/usr/bin/python3
"""Groups a `perf record` profile (run_foundation_bench.sh QUICK=1 PROFILE_DIR=...) into the cost
families docs/BENCHMARKS.md reports: kernel (with its TCP/wake-up/syscall parts), WAMP codec
(nlohmann DOM, msgpack), allocation, Asio/Beast/websocketpp, router, mask RNG, other.

    tests/bench/perf_summary.py PROFILE_DIR/wamp_64.conductor.data [...more .data files]

Prints one markdown table per file: share of samples per family, and its top symbols.
"""
import collections
import re
import subprocess
import sys

# First match wins; symbols are matched as perf prints them (demangled).
FAMILIES = [
    ("mask RNG (std::random_device → RDSEED)", r"rdseed|rdrand|random_device"),
    ("kernel: TCP send/receive, loopback softirq", r"^\[k\] .*(tcp|skb|inet|ip_|__dev_|net_rx|napi|sock_|netif|loopback|"
     r"_copy_(from|to)_iter|__check_object_size|release_sock|lock_sock|__sys_|copy_msghdr)"),
    ("kernel: wake-ups, scheduling, epoll", r"^\[k\] .*(sched|wake|task|switch|ep_|epoll|futex|hrtimer|"
     r"_raw_spin|irq|ipi|queued_spin|update_|enqueue|dequeue|select_task|psi_|rcu|timer)"),
    ("kernel: syscall entry/exit, other", r"^\[k\] "),
    ("allocation (malloc/free/new)", r"malloc|_int_free|cfree|free@|operator new|operator delete|unlink_chunk|"
     r"tcache|consolidate|realloc|memalign"),
    ("WAMP codec and JSON/msgpack values", r"nlohmann|ew::json|ew::wamp|msgpack|autobahn::wamp_message|GuardedDom"),
    ("Asio / Beast / websocketpp (incl. executors, shared_ptr)", r"boost::asio|boost::beast|websocketpp|any_executor|"
     r"_Sp_counted|sp_counted|std::function|pthread_mutex|boost::detail"),
    ("router / session logic", r"ew::router|ew::agent|autobahn"),
    ("memcpy/strings/libc", r"mem(move|cpy|cmp|set)|str(len|cmp|chr)|basic_string|__libc_|pthread"),
]


def summarize(path):
    out = subprocess.run(["perf", "report", "-i", path, "--no-children", "--stdio", "--sort", "sym", "-g", "none",
                          "--percent-limit", "0"], capture_output=True, text=True, check=True).stdout
    shares = collections.Counter()
    tops = collections.defaultdict(list)
    for line in out.splitlines():
        m = re.match(r"\s*([\d.]+)%\s+(\[[k.]\] .*)$", line)
        if not m:
            continue
        pct, sym = float(m.group(1)), m.group(2).strip()
        family = "other"
        for name, pattern in FAMILIES:
            if re.search(pattern, sym):
                family = name
                break
        shares[family] += pct
        if len(tops[family]) < 3:
            tops[family].append(f"{sym[4:60]} {pct:.1f}%")
    print(f"{path}:\n")
    print("| share | family | top symbols |")
    print("|---|---|---|")
    for family, pct in shares.most_common():
        print(f"| {pct:.1f} % | {family} | {'; '.join(tops[family])} |")
    print()


if __name__ == "__main__":
    for p in sys.argv[1:]:
        summarize(p)
