#!/usr/bin/env bash
# Foundation benchmark (docs/BENCHMARKS.md): a real conductor and one real agent on 127.0.0.1.
# Measures the websocketpp echo baseline, WAMP call round trips user → conductor → agent → back,
# the agent's idle RSS and the conductor's memory per idle board session, then prints a markdown
# table. Everything it starts binds 127.0.0.1 and is stopped on exit (trap). About 75 seconds.
#
#   BUILD_DIR=build tests/bench/run_foundation_bench.sh
#
# Quick mode (about 20-30 s), to run before submitting any change to the server, router, codec
# or agent session: only (a)-(c), 3 short rounds, no memory part; with BASE_BUILD_DIR the build
# before the change runs in the same rounds, interleaved, against the same echo baseline:
#
#   QUICK=1 BASE_BUILD_DIR=/tmp/build-before BUILD_DIR=build tests/bench/run_foundation_bench.sh
#
# Environment:
#   BUILD_DIR       build tree with the binaries (default "build")
#   BOARDS          idle board sessions for the memory measure (default 1000)
#   ROUNDS          rounds of the latency/throughput runs per CPU regime; medians shown (default 3)
#   WAIT_QUIET=S    first wait up to S seconds for the CPUs to be < 15 % busy (shared machines)
#   PIN=0           do not pin processes to cores (default with 2+ cores: conductor and echo
#                   server on core 1; agent, echo client, WAMP caller, load client on core 0)
#   EW_BENCH_BUILD=1  `cmake --build` the needed targets first (otherwise only when one is missing)
#   QUICK=1         quick mode (above); BASE_BUILD_DIR: a second build (needs only
#                   cloud-conductor/edgewire-conductor and device-agent/edgewire-agent in it);
#                   PROFILE_DIR=dir: perf profiles of the new build's conductor and agent;
#                   AWAKE=1: every round in the "awake" regime (nice-19 busy loop per core)
#   KEEP_WORKDIR=1  keep the temp dir (logs, raw JSON results); RESULTS_JSON=path copies the results
set -euo pipefail

SRC_DIR="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
COMMAND="${AWAKE:+AWAKE=$AWAKE }${QUICK:+QUICK=$QUICK }${BASE_BUILD_DIR:+BASE_BUILD_DIR=$BASE_BUILD_DIR }BUILD_DIR=${BUILD_DIR:-build}${BOARDS:+ BOARDS=$BOARDS}${ROUNDS:+ ROUNDS=$ROUNDS}${PIN:+ PIN=$PIN}"
COMMAND+=" $0${*:+ $*}"
BUILD_DIR="${BUILD_DIR:-build}"
BOARDS="${BOARDS:-1000}"
ROUNDS="${ROUNDS:-3}"
QUICK="${QUICK:-0}"
BASE_BUILD_DIR="${BASE_BUILD_DIR:-}"
PY=/usr/bin/python3
# Pinning makes every hop cross cores, as between hosts, and gives the conductor a core of its
# own; unpinned, the scheduler sometimes puts both ends of the echo on one core, whose hand-off
# is cheaper than any cross-core wake-up, and the baseline jumps between two values.
SERVER_CPU=()
CLIENT_CPU=()
if [[ "${PIN:-1}" == 1 && $(nproc) -ge 2 ]]; then
  SERVER_CPU=(taskset -c 1)
  CLIENT_CPU=(taskset -c 0)
fi

TARGETS=(edgewire-conductor edgewire-agent ew_bench_ws_echo ew_bench_wamp_call ew_bench_session_load)
CONDUCTOR="$BUILD_DIR/cloud-conductor/edgewire-conductor"
AGENT="$BUILD_DIR/device-agent/edgewire-agent"
ECHO="$BUILD_DIR/tests/bench/ew_bench_ws_echo"
CALL="$BUILD_DIR/tests/bench/ew_bench_wamp_call"
LOAD="$BUILD_DIR/tests/bench/ew_bench_session_load"

log() { printf '[bench %(%H:%M:%S)T] %s\n' -1 "$*" >&2; }
die() { log "error: $*"; exit 1; }

NEEDED=("$CONDUCTOR" "$AGENT" "$ECHO" "$CALL" "$LOAD")
[[ "$QUICK" == 1 ]] && NEEDED=("$CONDUCTOR" "$AGENT" "$ECHO" "$CALL") && TARGETS=("${TARGETS[@]:0:4}")
[[ -n "$BASE_BUILD_DIR" ]] && NEEDED+=("$BASE_BUILD_DIR/cloud-conductor/edgewire-conductor" \
  "$BASE_BUILD_DIR/device-agent/edgewire-agent")
missing=0
for bin in "${NEEDED[@]}"; do [[ -x "$bin" ]] || missing=1; done
if [[ "${EW_BENCH_BUILD:-0}" == 1 || $missing == 1 ]]; then
  log "building ${TARGETS[*]} in $BUILD_DIR"
  cmake --build "$BUILD_DIR" -j2 --target "${TARGETS[@]}" >&2
fi
for bin in "${NEEDED[@]}"; do [[ -x "$bin" ]] || die "missing $bin"; done

WORK="$(mktemp -d "${TMPDIR:-/tmp}/ew-foundation-bench.XXXXXX")"
RESULTS="$WORK/results"
mkdir "$RESULTS"
PIDS=()

# Stops one process: SIGTERM, then SIGKILL if it lingers past 5 s.
stop_pid() {
  local pid=$1 i
  kill -TERM "$pid" 2>/dev/null || return 0
  for ((i = 0; i < 50; i++)); do
    kill -0 "$pid" 2>/dev/null || break
    sleep 0.1
  done
  kill -KILL "$pid" 2>/dev/null || true
  wait "$pid" 2>/dev/null || true
}

cleanup() {
  local rc=$? pid
  exec 7>&-  # the load client's stdin, if still open
  for pid in "${PIDS[@]}"; do stop_pid "$pid"; done
  if [[ -n "${KEEP_WORKDIR:-}" || $rc -ne 0 ]]; then
    log "logs kept in $WORK"
  else
    rm -rf "$WORK"
  fi
}
trap cleanup EXIT
trap 'exit 130' INT TERM

# Waits up to $3 s for a line matching $2 in file $1 while process $4 lives; prints the line.
wait_for_line() {
  local file=$1 pattern=$2 timeout=$3 pid=$4 line i
  for ((i = 0; i < timeout * 10; i++)); do
    if line=$(grep -m1 -e "$pattern" "$file" 2>/dev/null); then
      printf '%s\n' "$line"
      return 0
    fi
    kill -0 "$pid" 2>/dev/null || { tail -n 20 "$file" >&2; die "process $pid exited before '$pattern'"; }
    sleep 0.1
  done
  die "no '$pattern' in $file after ${timeout}s"
}

# Memory of a process in kB: a /proc/PID/status field (VmRSS, RssAnon) or Pss from smaps_rollup.
status_kb() { awk -v f="$2:" '$1 == f {print $2}' "/proc/$1/status"; }
pss_kb() { awk '$1 == "Pss:" {print $2}' "/proc/$1/smaps_rollup"; }
# CPU time a process's live threads have run, in ns (schedstat: finer than the 10 ms ticks of
# /proc/PID/stat, which make a 0.3 s measure ±3 %).
cpu_ns() { awk '{ s += $1 } END { printf "%.0f", s }' /proc/"$1"/task/*/schedstat; }

# Percentage of CPU time spent busy over one second, all cores, whoever runs.
cpu_busy_pct() {
  local a b
  a=($(head -1 /proc/stat))
  sleep 1
  b=($(head -1 /proc/stat))
  awk -v a="${a[*]}" -v b="${b[*]}" 'BEGIN {
    n = split(a, x); split(b, y); total = 0
    for (i = 2; i <= n; i++) total += y[i] - x[i]
    idle = (y[5] - x[5]) + (y[6] - x[6])
    printf "%.0f", (total > 0 ? 100 * (total - idle) / total : 0) }'
}

# Each measure is one JSON value in $RESULTS/<key>.json; report() reads them all.
record() { printf '%s\n' "$2" > "$RESULTS/$1.json"; }
# Runs a command whose stdout is one JSON value and records it under $1; a failure ends the run.
measure() {
  local key=$1 out
  shift
  out=$("$@") || die "$key: $* failed"
  record "$key" "$out"
}

# REST and report helpers (python3 standard library only; keep-alive http.client).
cat > "$WORK/bench.py" <<'PY'
import glob, http.client, json, os, statistics, sys, time

def conn(port):
    return http.client.HTTPConnection("127.0.0.1", int(port), timeout=30)

def call(c, method, path, body=None, token=None):
    headers = {"Content-Type": "application/json"}
    if token:
        headers["X-Auth-Token"] = token
    c.request(method, path, body=None if body is None else json.dumps(body), headers=headers)
    r = c.getresponse()
    text = r.read().decode()
    data = json.loads(text) if text and r.getheader("Content-Type", "").startswith("application/json") else text
    if r.status >= 300:
        sys.exit(f"{method} {path}: HTTP {r.status}: {text[:300]}")
    return data

def login(port, password_file):
    with open(password_file) as f:
        password = f.read().strip()
    print(call(conn(port), "POST", "/v1/auth/tokens", {"username": "admin", "password": password})["token"])

def board(port, token, name):
    created = call(conn(port), "POST", "/v1/boards", {"name": name}, token)
    print(created["board"]["id"], created["enrolmentCode"])

def wait_online(port, token, board_id, timeout):
    c = conn(port)
    deadline = time.monotonic() + float(timeout)
    while time.monotonic() < deadline:
        if call(c, "GET", f"/v1/boards/{board_id}", token=token).get("status") == "online":
            return
        time.sleep(0.05)
    sys.exit(f"board {board_id} not online after {timeout}s")

# Creates `count` boards and enrols each (one keep-alive connection); writes what
# ew_bench_session_load reads and prints the seconds it took.
def boards(port, token, count, out):
    c = conn(port)
    creds = []
    start = time.monotonic()
    for i in range(int(count)):
        created = call(c, "POST", "/v1/boards", {"name": f"load-{i:05d}"}, token)
        e = call(c, "POST", "/v1/enrol", {"code": created["enrolmentCode"], "hostname": f"load-{i:05d}"})
        creds.append({k: e[k] for k in ("boardId", "secret", "salt", "iterations", "keylen")})
    with open(out, "w") as f:
        json.dump(creds, f)
    print(f"{time.monotonic() - start:.2f}")

def metric(port, name):
    for line in call(conn(port), "GET", "/metrics").splitlines():
        if line.startswith(name + " "):
            print(line.split()[-1])
            return
    print("null")

def load(results_dir):
    return {os.path.basename(p)[:-5]: json.load(open(p)) for p in glob.glob(os.path.join(results_dir, "*.json"))}

# Quick mode: one row per build, medians over the rounds (min-max of the ratio).
def quick_report(results_dir, *tags):
    r = load(results_dir)
    rounds = sorted({int(k.split(".")[1]) for k in r if k.startswith("echo_1.")})
    med = statistics.median
    echo_p50 = [r[f"echo_1.{i}"]["p50_us"] for i in rounds]
    echo_64 = [r[f"echo_64.{i}"]["msgs_per_s"] for i in rounds]
    print(f"echo baseline: p50 {med(echo_p50):.0f} µs (1 in flight), {med(echo_64):,.0f} msg/s (64 in flight)")
    print()
    print("| build | WAMP p50, 1 in flight | p50 ÷ echo p50 (min–max) | calls/s, 64 in flight | "
          "CPU per call: conductor / agent |")
    print("|---|---|---|---|---|")
    for t in tags:
        ratios = [r[f"wamp_1.{t}.{i}"]["p50_us"] / r[f"echo_1.{i}"]["p50_us"] for i in rounds]
        p50 = med([r[f"wamp_1.{t}.{i}"]["p50_us"] for i in rounds])
        calls = med([r[f"wamp_64.{t}.{i}"]["calls_per_s"] for i in rounds])
        cpu_c = med([r[f"cpu_64.{t}.{i}"]["conductor_us"] for i in rounds])
        cpu_a = med([r[f"cpu_64.{t}.{i}"]["agent_us"] for i in rounds])
        print(f"| {t} | {p50:.0f} µs | {med(ratios):.2f} ({min(ratios):.2f}–{max(ratios):.2f}) | {calls:,.0f} | "
              f"{cpu_c:.1f} / {cpu_a:.1f} µs |")

def merge(results_dir):
    print(json.dumps(load(results_dir), indent=1, sort_keys=True))

def report(results_dir):
    r = load(results_dir)
    regimes = ["idle", "awake"]
    rounds = sorted({int(k.split(".")[2]) for k in r if k.startswith("echo_1.")})
    runs = lambda kind, regime: [r[f"{kind}.{regime}.{i}"] for i in rounds]
    med = statistics.median
    def spread(values, fmt):
        return f"{fmt(med(values))} ({fmt(min(values))}–{fmt(max(values))})" if len(values) > 1 else fmt(values[0])
    us = lambda v: f"{v:.0f} µs"
    rate = lambda v: f"{v:,.0f}"
    x = lambda v: f"{v:.2f}"
    ok = lambda good: "met" if good else "**missed**"

    def column(regime):
        e1, w1, e64, w64 = (runs(k, regime) for k in ("echo_1", "wamp_1", "echo_64", "wamp_64"))
        cpu = runs("wamp_64_cpu", regime)
        ratios = [w["p50_us"] / e["p50_us"] for e, w in zip(e1, w1)]
        calls = [w["calls_per_s"] for w in w64]
        cpu_c = med([c["conductor_us"] for c in cpu])
        cpu_a = med([c["agent_us"] for c in cpu])
        cpu_u = med([w["caller_cpu_us_per_call"] for w in w64])
        return {
            "echo_p50": spread([e["p50_us"] for e in e1], us),
            "echo_p99": spread([e["p99_us"] for e in e1], us),
            "echo_64": spread([e["msgs_per_s"] for e in e64], rate) + " msg/s",
            "echo_64_prng": spread([e["msgs_per_s"] for e in runs("echo_64_prng", regime)], rate) + " msg/s",
            "wamp_p50": spread([w["p50_us"] for w in w1], us),
            "wamp_p99": spread([w["p99_us"] for w in w1], us),
            "wamp_64": spread(calls, rate) + " calls/s",
            "wamp_64_lat": f"{med([w['p50_us'] for w in w64]):.0f} / {med([w['p99_us'] for w in w64]):.0f} µs",
            "cpu": f"{cpu_c:.1f} / {cpu_a:.1f} / {cpu_u:.1f} µs",
            "ceiling": rate(1e6 / cpu_c) + " calls/s",
            "ratio": spread(ratios, x),
            "ratio_ok": ok(med(ratios) <= 2.5),
            "calls_ok": f"{ok(med(calls) >= 20000)} ({med(calls) / 20000:.0%})",
            "throughput_ratio": x(med(calls) / med([e["msgs_per_s"] for e in e64])),
        }

    c = {regime: column(regime) for regime in regimes}
    rows = [
        ("(a) ws echo round trip, 1 in flight: p50", "echo_p50", "baseline"),
        ("(a) ws echo round trip, 1 in flight: p99", "echo_p99", ""),
        ("(a) ws echo, 64 in flight", "echo_64", "baseline"),
        ("(a) ws echo, 64 in flight, client masks with a PRNG (`--mask prng`)", "echo_64_prng", ""),
        ("(b) WAMP call round trip, 1 in flight: p50", "wamp_p50", ""),
        ("(b) WAMP call round trip, 1 in flight: p99", "wamp_p99", ""),
        ("(b) WAMP calls, 64 in flight", "wamp_64", "≥ 20,000 calls/s"),
        ("(b) WAMP, 64 in flight: round trip p50 / p99", "wamp_64_lat", ""),
        ("(b) CPU per call, 64 in flight: conductor / agent / caller", "cpu", ""),
        ("(b) conductor's one-core ceiling (1 s ÷ its CPU per call)", "ceiling", ""),
        ("(c) p50(WAMP) ÷ p50(echo), same round", "ratio", "≤ 2.5"),
        ("(c) WAMP calls/s ÷ echo msg/s, 64 in flight", "throughput_ratio", ""),
    ]
    summary = f"median of {len(rounds)} rounds (min–max)" if len(rounds) > 1 else "one round"
    print(f"Latency and throughput: {summary}; idle = nothing else running, "
          "awake = vCPUs kept running by nice-19 busy loops.")
    print()
    print("| measure | idle vCPUs | awake vCPUs | target |")
    print("|---|---|---|---|")
    for label, key, target in rows:
        print(f"| {label} | {c['idle'][key]} | {c['awake'][key]} | {target} |")
    print()
    print("| target | idle vCPUs | awake vCPUs |")
    print("|---|---|---|")
    print(f"| p50(WAMP) ÷ p50(echo) ≤ 2.5 | {c['idle']['ratio_ok']} | {c['awake']['ratio_ok']} |")
    print(f"| ≥ 20,000 WAMP calls/s, 64 in flight | {c['idle']['calls_ok']} | {c['awake']['calls_ok']} |")
    print()

    mb = lambda kb: f"{kb / 1024:.1f} MB"
    joined = r["sessions_joined"]
    per_session = (r["conductor_rss_with_sessions_kb"] - r["conductor_rss_before_kb"]) / max(joined, 1)
    agent_mb = r["agent_idle_rss_kb"] / 1024
    memory = [
        ("(d) agent VmRSS after 5 s idle", mb(r["agent_idle_rss_kb"]), "≤ 8 MB", ok(agent_mb <= 8)),
        ("(d) agent idle: RssAnon (private heap, stack, data) / Pss",
         f"{mb(r['agent_idle_rss_anon_kb'])} / {mb(r['agent_idle_pss_kb'])}", "", ""),
        ("(d) agent VmRSS after all call rounds", mb(r["agent_rss_after_calls_kb"]), "", ""),
        ("(e) conductor VmRSS before the idle sessions", mb(r["conductor_rss_before_kb"]), "", ""),
        (f"(e) conductor VmRSS with {joined} idle board sessions", mb(r["conductor_rss_with_sessions_kb"]), "", ""),
        ("(e) conductor cost per idle board session", f"{per_session:.1f} KB", "", ""),
        ("(e) ew_wamp_sessions gauge while holding", str(r["wamp_sessions_gauge"]), "", ""),
        ("(e) conductor VmRSS after the sessions closed", mb(r["conductor_rss_after_close_kb"]), "", ""),
        (f"(e) {joined} sessions joined (WAMP-CRA, 64 handshakes at a time)", f"{r['join_seconds']:.2f} s", "", ""),
        (f"(e) load client VmRSS (one thread, {joined} sessions)", mb(r["load_client_rss_kb"]), "", ""),
        (f"(e) {r['boards']} boards created + enrolled over REST (keep-alive)", f"{r['rest_seconds']:.1f} s", "", ""),
    ]
    print("| memory | result | target | status |")
    print("|---|---|---|---|")
    for row in memory:
        print("| " + " | ".join(row) + " |")

if __name__ == "__main__":
    globals()[sys.argv[1].replace("-", "_")](*sys.argv[2:])
PY
bench() { "$PY" "$WORK/bench.py" "$@"; }

if [[ -n "${WAIT_QUIET:-}" ]]; then
  for ((waited = 0; waited < WAIT_QUIET; waited += 5)); do
    busy=$(cpu_busy_pct)
    ((busy < 15)) && break
    log "CPUs ${busy}% busy with other work; waiting for a quiet moment"
    sleep 4
  done
fi
BUSY_BEFORE=$(cpu_busy_pct)
log "work dir $WORK; CPUs ${BUSY_BEFORE}% busy before start"

# Starts a conductor and one enrolled agent of build $2 under $WORK/$1 (default heartbeat
# settings, log level warn) and waits until the board is online. Sets STACK_PORT, STACK_TOKEN,
# STACK_BOARD, STACK_CONDUCTOR_PID, STACK_AGENT_PID, STACK_ONLINE (the script's $SECONDS then).
start_stack() {
  local tag=$1 build=$2 dir="$WORK/$1" line created code
  mkdir -p "$dir"
  cat > "$dir/conductor.toml" <<EOF
[server]
listen_address = "127.0.0.1"
# Every idle board session comes from 127.0.0.1: lift the per-address cap for the measure.
max_connections_per_address = 1000000
port = 0
[store]
path = "$dir/conductor.db"
[auth]
bootstrap_password_file = "$dir/admin-password.txt"
[log]
level = "warn"
EOF
  head -c 18 /dev/urandom | base64 | tr -d '/+=' > "$dir/admin-password.txt"
  "${SERVER_CPU[@]}" "$build/cloud-conductor/edgewire-conductor" --config "$dir/conductor.toml" \
    > "$dir/conductor.out" 2> "$dir/conductor.log" &
  STACK_CONDUCTOR_PID=$!
  PIDS+=("$STACK_CONDUCTOR_PID")
  line=$(wait_for_line "$dir/conductor.out" "listening on" 20 "$STACK_CONDUCTOR_PID")
  STACK_PORT=${line##*:}
  log "$tag: conductor pid $STACK_CONDUCTOR_PID on 127.0.0.1:$STACK_PORT"
  STACK_TOKEN=$(bench login "$STACK_PORT" "$dir/admin-password.txt")
  created=$(bench board "$STACK_PORT" "$STACK_TOKEN" bench-agent)
  read -r STACK_BOARD code <<< "$created"
  cat > "$dir/agent.toml" <<EOF
[agent]
credential_path = "$dir/agent.credential.json"
[spool]
dir = "$dir/agent-spool"
[log]
level = "warn"
EOF
  "$build/device-agent/edgewire-agent" enrol --conductor "http://127.0.0.1:$STACK_PORT" --code "$code" \
    --credential "$dir/agent.credential.json" > "$dir/agent-enrol.log" 2>&1 \
    || { cat "$dir/agent-enrol.log" >&2; die "agent enrolment failed"; }
  "${CLIENT_CPU[@]}" "$build/device-agent/edgewire-agent" run --config "$dir/agent.toml" > "$dir/agent.log" 2>&1 &
  STACK_AGENT_PID=$!
  PIDS+=("$STACK_AGENT_PID")
  bench wait-online "$STACK_PORT" "$STACK_TOKEN" "$STACK_BOARD" 20
  STACK_ONLINE=$SECONDS
  log "$tag: agent pid $STACK_AGENT_PID online as $STACK_BOARD"
}

# The echo server of the baseline; sets ECHO_URL.
start_echo() {
  local line
  "${SERVER_CPU[@]}" "$ECHO" server --port 0 > "$WORK/echo.out" 2> "$WORK/echo.log" &
  ECHO_PID=$!
  PIDS+=("$ECHO_PID")
  line=$(wait_for_line "$WORK/echo.out" "listening on" 10 "$ECHO_PID")
  ECHO_URL="ws://127.0.0.1:${line##*:}"
}

# Records under $1 {"conductor_us", "agent_us"}: the CPU (user + system, all threads) that
# conductor $2 and agent $3 used per call since the cpu_ns readings $4 and $5, over $6 calls.
record_cpu_per_call() {
  record "$1" "$(awk -v c=$(($(cpu_ns "$2") - $4)) -v a=$(($(cpu_ns "$3") - $5)) \
    -v n="$6" 'BEGIN { printf "{\"conductor_us\": %.2f, \"agent_us\": %.2f}", c / 1e3 / n, a / 1e3 / n }')"
}

if [[ "$QUICK" == 1 ]]; then
  # Quick mode: the build under test (and BASE_BUILD_DIR's, when set) against one echo baseline,
  # interleaved per round: echo 1 in flight, WAMP 1 of each build, echo 64, WAMP 64 of each
  # build. One caller binary (BUILD_DIR's) drives both builds: only conductor and agent differ.
  TAGS=(new)
  declare -A Q_URL Q_TOKEN Q_PROC Q_CPID Q_APID
  stacks=(new "$BUILD_DIR")
  [[ -n "$BASE_BUILD_DIR" ]] && stacks=(base "$BASE_BUILD_DIR" new "$BUILD_DIR") && TAGS=(base new)
  for ((i = 0; i < ${#stacks[@]}; i += 2)); do
    t=${stacks[i]}
    start_stack "$t" "${stacks[i + 1]}"
    Q_URL[$t]="ws://127.0.0.1:$STACK_PORT/ws"
    Q_TOKEN[$t]=$STACK_TOKEN
    Q_PROC[$t]="ew.board.$STACK_BOARD.sys.ping"
    Q_CPID[$t]=$STACK_CONDUCTOR_PID
    Q_APID[$t]=$STACK_AGENT_PID
  done
  start_echo
  # PROFILE_DIR: `perf record` (cpu-clock, call graphs) of the new build's conductor and agent
  # during the first round's WAMP runs: <dir>/wamp_{1,64}.{conductor,agent}.data.
  PERF_PIDS=()
  profile_start() {
    [[ -n "${PROFILE_DIR:-}" && $round == 1 ]] || return 0
    mkdir -p "$PROFILE_DIR"
    local who pid
    for who in conductor agent; do
      pid=${Q_CPID[new]}
      [[ $who == agent ]] && pid=${Q_APID[new]}
      perf record -e cpu-clock -F 4999 -g -o "$PROFILE_DIR/$1.$who.data" -p "$pid" > /dev/null 2>&1 &
      PERF_PIDS+=($!)
    done
    sleep 0.5  # attached before the calls start
  }
  profile_stop() {
    local pid
    for pid in "${PERF_PIDS[@]}"; do kill -INT "$pid" 2>/dev/null || true; wait "$pid" 2>/dev/null || true; done
    PERF_PIDS=()
  }
  echo_cmd=("${CLIENT_CPU[@]}" "$ECHO" client --url "$ECHO_URL" --size 100)
  # AWAKE=1: the "awake" regime of the full run (a nice-19 busy loop per core) for every round.
  if [[ "${AWAKE:-0}" == 1 ]]; then
    for ((i = 0; i < $(nproc); i++)); do
      nice -n 19 taskset -c "$i" bash -c 'while :; do :; done' &
      PIDS+=($!)
    done
  fi
  for ((round = 1; round <= ROUNDS; round++)); do
    log "quick round $round/$ROUNDS: echo and WAMP (${TAGS[*]}), 1 and 64 in flight"
    measure "echo_1.$round" "${echo_cmd[@]}" --messages 5000 --in-flight 1 --warmup 500
    for t in "${TAGS[@]}"; do
      [[ $t == new ]] && profile_start "wamp_1"
      measure "wamp_1.$t.$round" "${CLIENT_CPU[@]}" "$CALL" --url "${Q_URL[$t]}" --token "${Q_TOKEN[$t]}" \
        --procedure "${Q_PROC[$t]}" --size 16 --calls 3000 --in-flight 1 --warmup 300
      profile_stop
    done
    measure "echo_64.$round" "${echo_cmd[@]}" --messages 40000 --in-flight 64 --warmup 2000
    for t in "${TAGS[@]}"; do
      c0=$(cpu_ns "${Q_CPID[$t]}")
      a0=$(cpu_ns "${Q_APID[$t]}")
      [[ $t == new ]] && profile_start "wamp_64"
      measure "wamp_64.$t.$round" "${CLIENT_CPU[@]}" "$CALL" --url "${Q_URL[$t]}" --token "${Q_TOKEN[$t]}" \
        --procedure "${Q_PROC[$t]}" --size 16 --calls 30000 --in-flight 64 --warmup 2000
      profile_stop
      # Warm-up included: 32,000 calls.
      record_cpu_per_call "cpu_64.$t.$round" "${Q_CPID[$t]}" "${Q_APID[$t]}" "$c0" "$a0" 32000
    done
  done
  if [[ -n "${RESULTS_JSON:-}" ]]; then bench merge "$RESULTS" > "$RESULTS_JSON"; fi
  rev=$(git -C "$SRC_DIR" rev-parse --short HEAD 2>/dev/null || echo unknown)
  [[ -n "$(git -C "$SRC_DIR" status --porcelain 2>/dev/null)" ]] && rev="$rev + uncommitted changes"
  echo
  echo "Foundation quick bench, $(date -u +%Y-%m-%dT%H:%MZ): commit $rev, $ROUNDS rounds," \
    "CPUs ${BUSY_BEFORE}% busy with other work at start, $( ((${#SERVER_CPU[@]})) && echo pinned || echo unpinned)," \
    "$([[ "${AWAKE:-0}" == 1 ]] && echo "awake vCPUs (busy loops)" || echo "idle vCPUs")."
  echo "new = $BUILD_DIR${BASE_BUILD_DIR:+; base = $BASE_BUILD_DIR}"
  echo
  bench quick-report "$RESULTS" "${TAGS[@]}"
  echo
  echo "Command: $COMMAND"
  log "finished in ${SECONDS}s"
  exit 0
fi

start_stack main "$BUILD_DIR"
PORT=$STACK_PORT
TOKEN=$STACK_TOKEN
BOARD_ID=$STACK_BOARD
CONDUCTOR_PID=$STACK_CONDUCTOR_PID
AGENT_PID=$STACK_AGENT_PID
AGENT_ONLINE=$STACK_ONLINE
WS_URL="ws://127.0.0.1:$PORT/ws"

# Boards for (e), created while the agent idles (nothing of this reaches the agent).
log "creating and enrolling $BOARDS boards over REST"
record boards "$BOARDS"
measure rest_seconds bench boards "$PORT" "$TOKEN" "$BOARDS" "$WORK/boards.json"

# (d) Agent idle memory: at least 5 s with nothing but heartbeats since it joined.
while ((SECONDS - AGENT_ONLINE < 6)); do sleep 0.5; done
record agent_idle_rss_kb "$(status_kb "$AGENT_PID" VmRSS)"
record agent_idle_rss_anon_kb "$(status_kb "$AGENT_PID" RssAnon)"
record agent_idle_pss_kb "$(pss_kb "$AGENT_PID")"

# (a)+(b) Echo baseline and WAMP calls, interleaved so each ratio compares runs made under the
# same machine conditions. sys.ping gets a 16-byte string: its CALL and RESULT frames are
# 80–110 bytes, like the 100-byte echo.
start_echo
PROC="ew.board.$BOARD_ID.sys.ping"
# One round of the five runs; keys are <run>.<regime>.<round>.
run_round() {
  local tag=$1.$2 conductor_ticks agent_ticks
  local echo_cmd=("${CLIENT_CPU[@]}" "$ECHO" client --url "$ECHO_URL" --size 100)
  local call_cmd=("${CLIENT_CPU[@]}" "$CALL" --url "$WS_URL" --token "$TOKEN" --procedure "$PROC" --size 16)
  measure "echo_1.$tag" "${echo_cmd[@]}" --messages 20000 --in-flight 1 --warmup 2000
  measure "wamp_1.$tag" "${call_cmd[@]}" --calls 10000 --in-flight 1 --warmup 1000
  measure "echo_64.$tag" "${echo_cmd[@]}" --messages 150000 --in-flight 64 --warmup 10000
  measure "echo_64_prng.$tag" "${echo_cmd[@]}" --messages 150000 --in-flight 64 --warmup 10000 --mask prng
  conductor_ticks=$(cpu_ns "$CONDUCTOR_PID")
  agent_ticks=$(cpu_ns "$AGENT_PID")
  measure "wamp_64.$tag" "${call_cmd[@]}" --calls 100000 --in-flight 64 --warmup 5000
  # CPU per call of the two daemons over the whole run (warm-up included: 105,000 calls).
  record_cpu_per_call "wamp_64_cpu.$tag" "$CONDUCTOR_PID" "$AGENT_PID" "$conductor_ticks" "$agent_ticks" 105000
}

# Two CPU regimes. "idle": nothing else runs, so in a VM every wake-up of a process whose vCPU
# halted waits for the hypervisor (tens of µs on this machine). "awake": one nice-19 busy loop
# per core keeps the vCPUs running; a woken benchmark process preempts it at once, so round trips
# show the software and the kernel, as on bare metal or a busy host.
for regime in idle awake; do
  SPINNERS=()
  if [[ $regime == awake ]]; then
    for ((i = 0; i < $(nproc); i++)); do
      nice -n 19 taskset -c "$i" bash -c 'while :; do :; done' &
      SPINNERS+=($!)
      PIDS+=($!)
    done
  fi
  for ((round = 1; round <= ROUNDS; round++)); do
    log "$regime vCPUs, round $round/$ROUNDS: echo and WAMP, 1 and 64 in flight"
    run_round "$regime" "$round"
  done
  for pid in "${SPINNERS[@]}"; do stop_pid "$pid"; done
done
stop_pid "$ECHO_PID"
record agent_rss_after_calls_kb "$(status_kb "$AGENT_PID" VmRSS)"

# (e) Conductor memory per idle board session.
sleep 1
record conductor_rss_before_kb "$(status_kb "$CONDUCTOR_PID" VmRSS)"
mkfifo "$WORK/load.in"
"${CLIENT_CPU[@]}" "$LOAD" --url "$WS_URL" --credentials "$WORK/boards.json" --concurrency 64 \
  < "$WORK/load.in" > "$WORK/load.out" 2> "$WORK/load.log" &
LOAD_PID=$!
PIDS+=("$LOAD_PID")
exec 7> "$WORK/load.in"  # the load client holds its sessions until this closes
log "opening $BOARDS idle board sessions"
JOIN_START=$EPOCHREALTIME
line=$(wait_for_line "$WORK/load.out" "^joined" 180 "$LOAD_PID")
record join_seconds "$(awk -v a="$EPOCHREALTIME" -v b="$JOIN_START" 'BEGIN { printf "%.2f", a - b }')"
record sessions_joined "${line#joined }"
sleep 4  # two heartbeat rounds (a ping after 2 s of silence) with every session idle
record conductor_rss_with_sessions_kb "$(status_kb "$CONDUCTOR_PID" VmRSS)"
record load_client_rss_kb "$(status_kb "$LOAD_PID" VmRSS)"
measure wamp_sessions_gauge bench metric "$PORT" ew_wamp_sessions
exec 7>&-
wait "$LOAD_PID" || log "load client: $(tail -n 1 "$WORK/load.log")"
sleep 2
record conductor_rss_after_close_kb "$(status_kb "$CONDUCTOR_PID" VmRSS)"
if [[ -n "${RESULTS_JSON:-}" ]]; then bench merge "$RESULTS" > "$RESULTS_JSON"; fi

cpu=$(awk -F': ' '/^model name/ {print $2; exit}' /proc/cpuinfo)
rev=$(git -C "$SRC_DIR" rev-parse --short HEAD 2>/dev/null || echo unknown)
[[ -n "$(git -C "$SRC_DIR" status --porcelain 2>/dev/null)" ]] && rev="$rev + uncommitted changes"
build_type=$(awk -F= '/^CMAKE_BUILD_TYPE:/ {print $2}' "$BUILD_DIR/CMakeCache.txt" 2>/dev/null || true)
echo
echo "Foundation benchmark, $(date -u +%Y-%m-%dT%H:%MZ): $(nproc) cores ($cpu), Linux $(uname -r)," \
  "build ${build_type:-?}, commit $rev; CPUs ${BUSY_BEFORE}% busy with other work at start."
if ((${#SERVER_CPU[@]})); then
  echo "All on 127.0.0.1. Pinned: conductor and echo server on core 1; agent, echo client, WAMP caller and" \
    "load client on core 0."
else
  echo "All on 127.0.0.1, unpinned (PIN=0), sharing the cores."
fi
echo
bench report "$RESULTS"
echo
echo "Command: $COMMAND"
log "finished in ${SECONDS}s"
