#!/usr/bin/env bash
# The README's first command: installs what is needed, builds Edgewire, then runs a demo on this
# machine — a conductor on its embedded SQLite store and two agents (simulated GPIO), enrolled
# with one-time codes, shown online, answering sys.ping and sys.info through the reverse WAMP
# channel, running a function in fresh containers on both boards (deployed to a fleet) and in
# the cloud runtime, GPIO from the CLI, a GPIO function bound to an edge that still fires with
# the conductor stopped, and an agent going offline when killed and coming back. KEEP=1 leaves
# everything running.
set -euo pipefail
cd "$(dirname "$0")/../.."
ROOT=$(pwd)
bash deploy/scripts/install-deps.sh
# Only the three programs the demo runs: the tests are the other command's to build.
TARGETS="edgewire-conductor edgewire-agent edgewire" bash deploy/scripts/build.sh

BIN=$(cd "${BUILD_DIR:-build}" && pwd)
CONDUCTOR=$BIN/cloud-conductor/edgewire-conductor
AGENT=$BIN/device-agent/edgewire-agent
EW=$BIN/cloud-conductor/cli/edgewire
DEMO=${DEMO_DIR:-$(mktemp -d /tmp/edgewire-demo.XXXXXX)}
mkdir -p "$DEMO"
export XDG_CONFIG_HOME=$DEMO/cli

pids=()
cleanup() {
  [ "${KEEP:-0}" = 1 ] && return
  for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done
  wait 2>/dev/null || true
}
trap cleanup EXIT

step() { printf '\n\033[1m== %s\033[0m\n' "$*"; }

head -c 18 /dev/urandom | base64 | tr -d '/+=' > "$DEMO/admin-password"
# Starts the conductor (again on the same port once it has one: the agents know that URL).
start_conductor() {
  cat > "$DEMO/conductor.toml" <<TOML
[server]
listen_address = "127.0.0.1"
port = ${PORT:-0}
[store]
path = "$DEMO/conductor.db"
[auth]
bootstrap_password_file = "$DEMO/admin-password"
TOML
  "$CONDUCTOR" --config "$DEMO/conductor.toml" > "$DEMO/conductor.out" 2>> "$DEMO/conductor.log" &
  CONDUCTOR_PID=$!
  pids+=($CONDUCTOR_PID)
  for _ in $(seq 100); do
    grep -q "listening on" "$DEMO/conductor.out" 2>/dev/null && break
    sleep 0.1
  done
  PORT=$(sed -n 's/.*listening on .*:\([0-9]*\)$/\1/p' "$DEMO/conductor.out" | head -1)
  [ -n "$PORT" ] || { cat "$DEMO/conductor.log"; echo "conductor did not start"; exit 1; }
}
step "starting the conductor (store: $DEMO/conductor.db)"
start_conductor
URL=http://127.0.0.1:$PORT
export EDGEWIRE_URL=$URL
echo "conductor at $URL (logs: $DEMO/conductor.log)"

step "edgewire login --user admin"
"$EW" login --user admin --password-stdin < "$DEMO/admin-password"

for name in greenhouse-pi barn-pi; do
  step "edgewire board create $name"
  created=$("$EW" --json board create "$name")
  echo "$created"
  code=$(printf '%s' "$created" | /usr/bin/python3 -c 'import json,sys; print(json.load(sys.stdin)["enrolmentCode"])')
  id=$(printf '%s' "$created" | /usr/bin/python3 -c 'import json,sys; print(json.load(sys.stdin)["board"]["id"])')
  step "edgewire-agent enrol --conductor $URL --code <one-time code>   ($name)"
  cat > "$DEMO/$name.toml" <<TOML
[agent]
credential_path = "$DEMO/$name.credential.json"
reconnect_initial_ms = 200
reconnect_max_ms = 2000
[[gpio.chip]]
name = "sim0"
backend = "sim"
lines = "raspberry-pi"
control = "$DEMO/$name-gpio.sock"
[functions]
state_dir = "$DEMO/$name-functions"
work_dir = "$DEMO/$name-containers"
[spool]
dir = "$DEMO/$name-spool"
TOML
  "$AGENT" enrol --conductor "$URL" --code "$code" --credential "$DEMO/$name.credential.json"
  "$AGENT" run --config "$DEMO/$name.toml" 2> "$DEMO/$name.log" &
  pids+=($!)
  eval "PID_${name//-/_}=$!"
  eval "ID_${name//-/_}=$id"
done

step "waiting for both boards to come online"
for _ in $(seq 100); do
  [ "$("$EW" board list | grep -c online)" -ge 2 ] && break
  sleep 0.1
done
"$EW" board list

for id in "$ID_greenhouse_pi" "$ID_barn_pi"; do
  step "edgewire board ping $id"
  "$EW" board ping "$id"
done
step "edgewire board call $ID_greenhouse_pi sys.info"
"$EW" board call "$ID_greenhouse_pi" sys.info

step "a function: sh, reads the event on stdin, answers JSON on stdout"
mkdir -p "$DEMO/celsius"
cat > "$DEMO/celsius/function.json" <<'JSON'
{"name": "celsius", "version": "1.0.0", "runtime": "sh", "entrypoint": "main.sh", "timeoutMs": 5000}
JSON
cat > "$DEMO/celsius/main.sh" <<'SH'
#!/bin/sh
# {"f": 212} -> {"c": 100, "host": "<container hostname>"}
read -r event
f=$(printf '%s' "$event" | sed -n 's/.*"f":[ ]*\(-\{0,1\}[0-9]*\).*/\1/p')
echo "{\"c\": $(( (f - 32) * 5 / 9 )), \"uid\": $(id -u)}"
SH
chmod +x "$DEMO/celsius/main.sh"
step "edgewire fn create $DEMO/celsius"
"$EW" fn create "$DEMO/celsius"
step "edgewire fleet create farm; fleet add farm <both boards>"
"$EW" fleet create farm
"$EW" fleet add farm "$ID_greenhouse_pi" "$ID_barn_pi"
step "edgewire fn deploy celsius --fleet farm --wait   (each board fetches the package by hash)"
"$EW" fn deploy celsius --fleet farm --wait
for id in "$ID_greenhouse_pi" "$ID_barn_pi"; do
  step "edgewire fn invoke celsius --board $id --event '{\"f\": 212}'   (a fresh container each time)"
  "$EW" fn invoke celsius --board "$id" --event '{"f": 212}'
done
step "edgewire fn invoke celsius --cloud --event '{\"f\": 32}'   (the same package on the conductor's host)"
"$EW" fn invoke celsius --cloud --event '{"f": 32}'

step "GPIO: greenhouse-pi's chip is simulated; its control socket plays the outside world"
SIM_GH="$DEMO/greenhouse-pi-gpio.sock"
sim() { "$AGENT" sim --socket "$SIM_GH" "$1"; }
step "edgewire gpio set $ID_greenhouse_pi GPIO27 1   (an LED; the line keeps its level)"
"$EW" gpio set "$ID_greenhouse_pi" GPIO27 1
sim '{"op":"read","line":"GPIO27"}'
step "a thermostat switch on GPIO4 closes: edgewire gpio get $ID_greenhouse_pi GPIO4"
sim '{"op":"drive","line":"GPIO4","value":1}'
"$EW" gpio get "$ID_greenhouse_pi" GPIO4

step "a GPIO function: declares GPIO4 (input) and GPIO17 (output, a fan); reaches them only through the agent"
mkdir -p "$DEMO/fan"
cat > "$DEMO/fan/function.json" <<'JSON'
{"name": "fan", "version": "1.0.0", "runtime": "sh", "entrypoint": "main.sh", "timeoutMs": 5000,
 "gpio": [{"line": "GPIO4", "direction": "input"}, {"line": "GPIO17", "direction": "output"}]}
JSON
cat > "$DEMO/fan/main.sh" <<'SH'
#!/bin/sh
# The fan follows the thermostat switch; an undeclared line (GPIO27) is refused.
read -r event
hot=$(gpio get GPIO4)
gpio set GPIO17 "$hot"
if gpio set GPIO27 0 2>/dev/null; then denied=false; else denied=true; fi
echo "{\"fan\": $hot, \"undeclaredLineDenied\": $denied}"
SH
chmod +x "$DEMO/fan/main.sh"
"$EW" fn create "$DEMO/fan"
step "edgewire fn deploy fan --board $ID_greenhouse_pi --trigger GPIO4,both,20 --wait   (runs on every edge of GPIO4)"
"$EW" fn deploy fan --board "$ID_greenhouse_pi" --trigger GPIO4,both,20 --wait
step "edgewire fn invoke fan --board $ID_greenhouse_pi"
"$EW" fn invoke fan --board "$ID_greenhouse_pi"
sim '{"op":"read","line":"GPIO17"}'
step "stopping the conductor: the switch opens, the trigger still runs the function on the board"
kill -TERM "$CONDUCTOR_PID"; wait "$CONDUCTOR_PID" 2>/dev/null || true
sim '{"op":"drive","line":"GPIO4","value":0}'
for _ in $(seq 100); do
  grep -q "trigger .* on GPIO4: succeeded" "$DEMO/greenhouse-pi.log" && break
  sleep 0.1
done
grep -h "trigger .* on GPIO4" "$DEMO/greenhouse-pi.log" | tail -1
sim '{"op":"read","line":"GPIO17"}'   # the fan is off again
step "starting the conductor again"
start_conductor
for _ in $(seq 100); do
  [ "$("$EW" board list 2>/dev/null | grep -c online)" -ge 2 ] && break
  sleep 0.1
done
"$EW" board list
step "edgewire gpio history $ID_greenhouse_pi GPIO27   (readings the conductor stored)"
"$EW" gpio history "$ID_greenhouse_pi" GPIO27

step "killing barn-pi's agent: the conductor sees it go offline"
{ kill -9 "$PID_barn_pi"; wait "$PID_barn_pi"; } 2>/dev/null || true
for _ in $(seq 50); do
  "$EW" board show "$ID_barn_pi" | grep -q offline && break
  sleep 0.1
done
"$EW" board list

step "restarting barn-pi's agent: it reconnects by itself"
"$AGENT" run --config "$DEMO/barn-pi.toml" 2>> "$DEMO/barn-pi.log" &
pids+=($!)
for _ in $(seq 100); do
  "$EW" board show "$ID_barn_pi" | grep -q online && break
  sleep 0.1
done
"$EW" board list
"$EW" board ping "$ID_barn_pi"

step "metrics (excerpt)"
curl -s "$URL/metrics" | grep -E '^ew_wamp_(sessions|calls_total|call_duration_seconds_count)' || true

if [ "${KEEP:-0}" = 1 ]; then
  echo; echo "Everything keeps running (KEEP=1). Conductor: $URL, state in $DEMO."
else
  echo; echo "Demo done. Run with KEEP=1 to leave the conductor and agents running."
fi
