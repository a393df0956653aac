#!/usr/bin/env bash
# Foundation benchmark (docs/BENCHMARKS.md): a real conductor and one real agent on 127.0.0.1.
# Measures the websocketpp echo baseline, WAMP call round trips user → conductor → agent → back,
# the agent's idle RSS and the conductor's memory per idle board session, then prints a markdown
# table. Everything it starts binds 127.0.0.1 and is stopped on exit (trap).
#
#   BUILD_DIR=build tests/bench/run_foundation_bench.sh
#
# Environment: BUILD_DIR (default "build"), BOARDS (idle sessions, default 1000),
# EW_BENCH_BUILD=1 (run `cmake --build` for the needed targets first; otherwise only when a
# binary is missing), KEEP_WORKDIR=1 (keep the temp dir with logs), RESULTS_JSON=path (copy of
# the raw results).
set -euo pipefail

SRC_DIR="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
COMMAND="BUILD_DIR=${BUILD_DIR:-build} ${BOARDS:+BOARDS=$BOARDS }$0${*:+ $*}"
BUILD_DIR="${BUILD_DIR:-build}"
BOARDS="${BOARDS:-1000}"
PY=/usr/bin/python3

TARGETS=(edgewire-conductor edgewire-agent ew_bench_ws_echo ew_bench_wamp_call ew_bench_session_load)
CONDUCTOR="$BUILD_DIR/cloud-conductor/edgewire-conductor"
AGENT="$BUILD_DIR/device-agent/edgewire-agent"
ECHO="$BUILD_DIR/tests/bench/ew_bench_ws_echo"
CALL="$BUILD_DIR/tests/bench/ew_bench_wamp_call"
LOAD="$BUILD_DIR/tests/bench/ew_bench_session_load"

log() { printf '[bench %(%H:%M:%S)T] %s\n' -1 "$*" >&2; }
die() { log "error: $*"; exit 1; }

missing=0
for bin in "$CONDUCTOR" "$AGENT" "$ECHO" "$CALL" "$LOAD"; do [[ -x "$bin" ]] || missing=1; done
if [[ "${EW_BENCH_BUILD:-0}" == 1 || $missing == 1 ]]; then
  log "building ${TARGETS[*]} in $BUILD_DIR"
  cmake --build "$BUILD_DIR" -j2 --target "${TARGETS[@]}" >&2
fi
for bin in "$CONDUCTOR" "$AGENT" "$ECHO" "$CALL" "$LOAD"; do [[ -x "$bin" ]] || die "missing $bin"; done

WORK="$(mktemp -d "${TMPDIR:-/tmp}/ew-foundation-bench.XXXXXX")"
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
  exec 7>&- 2>/dev/null || true
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
    kill -0 "$pid" 2>/dev/null || { tail -20 "$file" "${file%.*}.log" 2>/dev/null >&2; die "process $pid exited before '$pattern'"; }
    sleep 0.1
  done
  die "no '$pattern' in $file after ${timeout}s"
}

rss_kb() { awk '/^VmRSS:/ {print $2}' "/proc/$1/status"; }

# REST and JSON helpers (python3 standard library only; keep-alive http.client).
cat > "$WORK/bench.py" <<'PY'
import http.client, json, sys, time

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
    c = conn(port)
    created = call(c, "POST", "/v1/boards", {"name": name}, token)
    print(created["board"]["id"], created["enrolmentCode"])

def wait_online(port, token, board_id, timeout):
    c = conn(port)
    deadline = time.monotonic() + float(timeout)
    while time.monotonic() < deadline:
        if call(c, "GET", f"/v1/boards/{board_id}", token=token).get("status") == "online":
            return
        time.sleep(0.05)
    sys.exit(f"board {board_id} not online after {timeout}s")

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
    print(f"{time.monotonic() - start:.1f}")

def metric(port, name):
    text = call(conn(port), "GET", "/metrics")
    for line in text.splitlines():
        if line.startswith(name + " "):
            print(line.split()[-1])
            return
    print("null")

def report(results_file):
    r = json.load(open(results_file))
    e1, e64, w1, w64 = r["echo_1"], r["echo_64"], r["wamp_1"], r["wamp_64"]
    ratio = w1["p50_us"] / e1["p50_us"]
    agent_mb = r["agent_idle_rss_kb"] / 1024
    joined = r["sessions_joined"]
    per_session = (r["conductor_rss_with_sessions_kb"] - r["conductor_rss_before_kb"]) / max(joined, 1)
    ok = lambda good: "met" if good else "**missed**"
    rows = [
        ("ws echo round trip, 1 in flight, p50 / p99", f"{e1['p50_us']:.0f} / {e1['p99_us']:.0f} µs", "baseline", ""),
        ("ws echo, 64 in flight", f"{e64['msgs_per_s']:,.0f} msg/s (p50 {e64['p50_us']:.0f} µs)", "baseline", ""),
        ("WAMP call round trip, 1 in flight, p50 / p99", f"{w1['p50_us']:.0f} / {w1['p99_us']:.0f} µs", "", ""),
        ("p50(WAMP) / p50(echo)", f"{ratio:.2f}", "≤ 2.5", ok(ratio <= 2.5)),
        ("WAMP calls, 64 in flight", f"{w64['calls_per_s']:,.0f} calls/s (p50 {w64['p50_us']:.0f} µs, p99 {w64['p99_us']:.0f} µs)",
         "≥ 20,000 calls/s", f"{w64['calls_per_s'] / 20000:.0%} of target, {ok(w64['calls_per_s'] >= 20000)}"),
        ("WAMP calls/s ÷ echo msg/s (64 in flight)", f"{w64['calls_per_s'] / e64['msgs_per_s']:.2f}", "", ""),
        ("agent idle RSS (5 s idle after joining)", f"{agent_mb:.1f} MB", "≤ 8 MB", ok(agent_mb <= 8)),
        ("agent RSS after the call runs", f"{r['agent_rss_after_calls_kb'] / 1024:.1f} MB", "", ""),
        ("conductor RSS, before idle sessions", f"{r['conductor_rss_before_kb'] / 1024:.1f} MB", "", ""),
        (f"conductor RSS, {joined} idle board sessions", f"{r['conductor_rss_with_sessions_kb'] / 1024:.1f} MB", "", ""),
        ("conductor cost per idle session", f"{per_session:.1f} KB", "", ""),
        ("ew_wamp_sessions gauge while holding", f"{r['wamp_sessions_gauge']}", "", ""),
        ("conductor RSS after the sessions closed", f"{r['conductor_rss_after_close_kb'] / 1024:.1f} MB", "", ""),
        (f"{joined} sessions joined (WAMP-CRA, 64 at a time)", f"{r['join_seconds']:.1f} s", "", ""),
        ("load client RSS (one thread)", f"{r['load_client_rss_kb'] / 1024:.1f} MB "
         f"({(r['load_client_rss_kb'] - r['load_client_rss_base_kb']) / max(joined, 1):.1f} KB/session)", "", ""),
    ]
    print("| measure | result | target | status |")
    print("|---|---|---|---|")
    for row in rows:
        print("| " + " | ".join(row) + " |")

if __name__ == "__main__":
    globals()[sys.argv[1].replace("-", "_")](*sys.argv[2:])
PY
bench() { "$PY" "$WORK/bench.py" "$@"; }

# Results accumulate as key → JSON value, merged into results.json at the end.
declare -A RESULT
result_json() { RESULT[$1]=$2; }
# Runs a command whose stdout is one JSON value and stores it under $1; any failure ends the run.
measure() {
  local key=$1 out
  shift
  out=$("$@") || die "$key: $(basename "$1") failed"
  RESULT[$key]=$out
}

log "work dir $WORK"
cat > "$WORK/conductor.toml" <<EOF
[server]
listen_address = "127.0.0.1"
port = 0
[store]
path = "$WORK/conductor.db"
[auth]
bootstrap_password_file = "$WORK/admin-password.txt"
[log]
level = "warn"
EOF
head -c 18 /dev/urandom | base64 | tr -d '/+=' > "$WORK/admin-password.txt"
"$CONDUCTOR" --config "$WORK/conductor.toml" > "$WORK/conductor.out" 2> "$WORK/conductor.log" &
CONDUCTOR_PID=$!
PIDS+=("$CONDUCTOR_PID")
line=$(wait_for_line "$WORK/conductor.out" "listening on" 20 "$CONDUCTOR_PID")
PORT=${line##*:}
WS_URL="ws://127.0.0.1:$PORT/ws"
log "conductor pid $CONDUCTOR_PID on 127.0.0.1:$PORT"
TOKEN=$(bench login "$PORT" "$WORK/admin-password.txt")

# One real agent.
created=$(bench board "$PORT" "$TOKEN" bench-agent)
read -r BOARD_ID CODE <<< "$created"
cat > "$WORK/agent.toml" <<EOF
[agent]
credential_path = "$WORK/agent.credential.json"
[log]
level = "warn"
EOF
"$AGENT" enrol --conductor "http://127.0.0.1:$PORT" --code "$CODE" --credential "$WORK/agent.credential.json" \
  > "$WORK/agent-enrol.log" 2>&1 || { cat "$WORK/agent-enrol.log" >&2; die "agent enrolment failed"; }
"$AGENT" run --config "$WORK/agent.toml" > "$WORK/agent.log" 2>&1 &
AGENT_PID=$!
PIDS+=("$AGENT_PID")
bench wait-online "$PORT" "$TOKEN" "$BOARD_ID" 20
AGENT_ONLINE=$SECONDS
log "agent pid $AGENT_PID online as $BOARD_ID"

# (a) Echo baseline, while the agent sits idle.
"$ECHO" server --port 0 > "$WORK/echo.out" 2> "$WORK/echo.log" &
ECHO_PID=$!
PIDS+=("$ECHO_PID")
line=$(wait_for_line "$WORK/echo.out" "listening on" 10 "$ECHO_PID")
ECHO_URL="ws://127.0.0.1:${line##*:}"
log "echo, 1 in flight"
measure echo_1 "$ECHO" client --url "$ECHO_URL" --messages 20000 --in-flight 1 --size 100 --warmup 2000
log "echo, 64 in flight"
measure echo_64 "$ECHO" client --url "$ECHO_URL" --messages 300000 --in-flight 64 --size 100 --warmup 20000
stop_pid "$ECHO_PID"

# (d) Agent idle RSS: at least 5 s with nothing but heartbeats since it joined.
while ((SECONDS - AGENT_ONLINE < 5)); do sleep 0.5; done
result_json agent_idle_rss_kb "$(rss_kb "$AGENT_PID")"

# (b) WAMP calls through the conductor to the agent's sys.ping (a 16-byte string echoed back).
PROC="ew.board.$BOARD_ID.sys.ping"
log "WAMP calls, 1 in flight"
measure wamp_1 "$CALL" --url "$WS_URL" --token "$TOKEN" --procedure "$PROC" --calls 10000 --in-flight 1 --warmup 1000
log "WAMP calls, 64 in flight"
measure wamp_64 "$CALL" --url "$WS_URL" --token "$TOKEN" --procedure "$PROC" --calls 150000 --in-flight 64 --warmup 10000
result_json agent_rss_after_calls_kb "$(rss_kb "$AGENT_PID")"

# (e) Conductor memory per idle board session.
log "creating and enrolling $BOARDS boards over REST"
measure rest_seconds bench boards "$PORT" "$TOKEN" "$BOARDS" "$WORK/boards.json"
sleep 1
result_json conductor_rss_before_kb "$(rss_kb "$CONDUCTOR_PID")"
mkfifo "$WORK/load.in"
"$LOAD" --url "$WS_URL" --credentials "$WORK/boards.json" --concurrency 64 \
  < "$WORK/load.in" > "$WORK/load.out" 2> "$WORK/load.log" &
LOAD_PID=$!
PIDS+=("$LOAD_PID")
exec 7> "$WORK/load.in"  # the load client holds its sessions until this closes
sleep 0.2
result_json load_client_rss_base_kb "$(rss_kb "$LOAD_PID")"
log "opening $BOARDS idle board sessions"
JOIN_START=$EPOCHREALTIME
line=$(wait_for_line "$WORK/load.out" "^joined" 180 "$LOAD_PID")
result_json join_seconds "$(awk -v a="$EPOCHREALTIME" -v b="$JOIN_START" 'BEGIN { printf "%.2f", a - b }')"
result_json sessions_joined "${line#joined }"
sleep 4  # two heartbeat rounds (pings every 2 s of silence) with every session idle
result_json conductor_rss_with_sessions_kb "$(rss_kb "$CONDUCTOR_PID")"
result_json load_client_rss_kb "$(rss_kb "$LOAD_PID")"
measure wamp_sessions_gauge bench metric "$PORT" ew_wamp_sessions
exec 7>&-
wait "$LOAD_PID" || log "load client: $(tail -1 "$WORK/load.log")"
sleep 2
result_json conductor_rss_after_close_kb "$(rss_kb "$CONDUCTOR_PID")"

# Report.
{
  printf '{'
  sep=""
  for key in "${!RESULT[@]}"; do
    printf '%s"%s": %s' "$sep" "$key" "${RESULT[$key]}"
    sep=", "
  done
  printf '}\n'
} > "$WORK/results.json"
[[ -n "${RESULTS_JSON:-}" ]] && cp "$WORK/results.json" "$RESULTS_JSON"

cpu=$(awk -F': ' '/^model name/ {print $2; exit}' /proc/cpuinfo)
rev=$(git -C "$SRC_DIR" rev-parse --short HEAD 2>/dev/null || echo unknown)
[[ -n "$(git -C "$SRC_DIR" status --porcelain 2>/dev/null)" ]] && rev="$rev+local changes"
build_type=$(awk -F= '/^CMAKE_BUILD_TYPE:/ {print $2}' "$BUILD_DIR/CMakeCache.txt" 2>/dev/null || true)
echo
echo "Foundation benchmark — $(date -u +%Y-%m-%dT%H:%MZ), $(nproc) cores ($cpu), Linux $(uname -r), build ${build_type:-?}, commit $rev"
echo "All processes on 127.0.0.1, sharing the same cores; 100-byte echo payload; sys.ping with a 16-byte string."
echo
bench report "$WORK/results.json"
echo
echo "Command: $COMMAND"
log "finished in ${SECONDS}s"
