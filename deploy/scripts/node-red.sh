#!/usr/bin/env bash
# Starts a Node-RED 4.1 (npm, on Debian's Node.js) with the Edgewire palette for the demo and
# the browser tests, and prints the editor's URL.
#   - Node-RED: the exact version pinned in deploy/node-red/package-lock.json (npm ci), into
#     deploy/node-red/node_modules (a local prefix; nothing global).
#   - the palette: flows/node-red-contrib-edgewire packed with `npm pack` and installed from the
#     tarball into the user dir, as a user would from the palette manager.
#   - settings.js: 127.0.0.1 only, telemetry, update checks, diagnostics and tours off.
#   - with EDGEWIRE_URL and EDGEWIRE_TOKEN set and no conductor config in the flows yet, the
#     flows get an edgewire-conductor config node with that URL and token (through Node-RED's
#     admin API, so the token is stored encrypted among Node-RED's credentials).
# Environment: NODE_RED_DIR (user dir; default /tmp/edgewire-node-red), NODE_RED_PORT (default
# 1880; 0 picks a free port), EDGEWIRE_URL, EDGEWIRE_TOKEN, EDGEWIRE_CA_FILE, EDGEWIRE_FLOW_NAME.
# Runs Node-RED in the background (its pid in $NODE_RED_DIR/node-red.pid, log in node-red.log);
# FOREGROUND=1 keeps it in the foreground after setup.
set -euo pipefail
ROOT=$(cd "$(dirname "$0")/../.." && pwd)
USER_DIR=${NODE_RED_DIR:-/tmp/edgewire-node-red}
PORT=${NODE_RED_PORT:-1880}
mkdir -p "$USER_DIR"
USER_DIR=$(cd "$USER_DIR" && pwd)

command -v node >/dev/null || { echo "node-red.sh: node is missing (apt-get install nodejs npm)"; exit 1; }
command -v npm >/dev/null || { echo "node-red.sh: npm is missing (apt-get install npm)"; exit 1; }
quiet=(--no-audit --no-fund --loglevel=error)

# Node-RED itself, pinned; npm ci only when the installed version is not the pinned one.
NR=$ROOT/deploy/node-red
pinned=$(node -p 'require(process.argv[1]).dependencies["node-red"]' "$NR/package.json")
installed=$(node -p 'try { require(process.argv[1]).version } catch (e) { "" }' "$NR/node_modules/node-red/package.json")
if [ "$pinned" != "$installed" ]; then
  (cd "$NR" && npm ci "${quiet[@]}")
fi

# The palette, from a packed tarball (what `npm pack` ships is what a user installs).
PACK_DIR=$USER_DIR/packs
rm -rf "$PACK_DIR" && mkdir -p "$PACK_DIR"
TGZ=$(cd "$ROOT/flows/node-red-contrib-edgewire" && npm pack --silent --pack-destination "$PACK_DIR" | tail -1)
[ -f "$USER_DIR/package.json" ] || echo '{"name":"edgewire-node-red-user","private":true}' > "$USER_DIR/package.json"
(cd "$USER_DIR" && npm install "${quiet[@]}" "$PACK_DIR/$TGZ")

if [ "$PORT" = 0 ]; then
  PORT=$(node -e 'const s=require("net").createServer().listen(0,"127.0.0.1",()=>{console.log(s.address().port);s.close()})')
fi
# One credential secret per user dir, kept across restarts (the token is encrypted with it).
[ -f "$USER_DIR/.credential-secret" ] || (umask 077; head -c 24 /dev/urandom | base64 | tr -d '/+=' > "$USER_DIR/.credential-secret")
cat > "$USER_DIR/settings.js" <<JS
// Written by deploy/scripts/node-red.sh: Node-RED 4.1 for Edgewire, on 127.0.0.1 only.
const fs = require("fs");
module.exports = {
    uiHost: "127.0.0.1",
    uiPort: $PORT,
    userDir: "$USER_DIR",
    flowFile: "flows.json",
    credentialSecret: fs.readFileSync("$USER_DIR/.credential-secret", "utf8").trim(),
    diagnostics: { enabled: false, ui: false },
    telemetry: { enabled: false, updateNotification: false },
    runtimeState: { enabled: false, ui: false },
    externalModules: { autoInstall: false, palette: { allowInstall: false } },
    functionExternalModules: false,
    debugMaxLength: 1000,
    logging: { console: { level: process.env.NODE_RED_LOG_LEVEL || "info", metrics: false, audit: false } },
    editorTheme: {
        tours: false,
        projects: { enabled: false },
        codeEditor: { lib: "monaco" },
        palette: { categories: ["Edgewire", "common", "function", "network", "sequence", "parser", "storage"] }
    }
};
JS

if [ -f "$USER_DIR/node-red.pid" ] && kill -0 "$(cat "$USER_DIR/node-red.pid")" 2>/dev/null; then
  kill "$(cat "$USER_DIR/node-red.pid")"; sleep 1
fi
NODE_RED=$NR/node_modules/node-red/red.js
node "$NODE_RED" --userDir "$USER_DIR" --settings "$USER_DIR/settings.js" > "$USER_DIR/node-red.log" 2>&1 &
echo $! > "$USER_DIR/node-red.pid"
URL=http://127.0.0.1:$PORT/
for _ in $(seq 300); do
  curl -sf -o /dev/null "${URL}settings" && break
  kill -0 "$(cat "$USER_DIR/node-red.pid")" 2>/dev/null || { cat "$USER_DIR/node-red.log"; echo "node-red.sh: Node-RED exited"; exit 1; }
  sleep 0.2
done
curl -sf -o /dev/null "${URL}settings" || { tail -50 "$USER_DIR/node-red.log"; echo "node-red.sh: Node-RED did not answer"; exit 1; }

# A conductor config node, once, when asked for.
if [ -n "${EDGEWIRE_URL:-}" ] && [ -n "${EDGEWIRE_TOKEN:-}" ]; then
  curl -sf "${URL}flows" -H 'Node-RED-API-Version: v2' > "$USER_DIR/.current-flows.json"
  EW_URL=$EDGEWIRE_URL EW_TOKEN=$EDGEWIRE_TOKEN EW_CA=${EDGEWIRE_CA_FILE:-} EW_FLOW=${EDGEWIRE_FLOW_NAME:-node-red} \
  node -e '
    const fs = require("fs");
    const cur = JSON.parse(fs.readFileSync(process.argv[1], "utf8"));
    const flows = cur.flows || [];
    if (flows.some((n) => n.type === "edgewire-conductor")) process.exit(3);
    if (!flows.some((n) => n.type === "tab")) flows.push({ id: "ew0000000000tab1", type: "tab", label: "Flow 1", disabled: false, info: "", env: [] });
    flows.push({ id: "ew00000conductor", type: "edgewire-conductor", name: "conductor", url: process.env.EW_URL,
                 flowName: process.env.EW_FLOW, caFile: process.env.EW_CA, credentials: { token: process.env.EW_TOKEN } });
    fs.writeFileSync(process.argv[1], JSON.stringify({ flows, rev: cur.rev }));
  ' "$USER_DIR/.current-flows.json" && \
  curl -sf -X POST "${URL}flows" -H 'Content-Type: application/json' -H 'Node-RED-API-Version: v2' \
       -H 'Node-RED-Deployment-Type: full' --data @"$USER_DIR/.current-flows.json" > /dev/null || true
  rm -f "$USER_DIR/.current-flows.json"
fi

echo "Node-RED $(node -p 'require(process.argv[1]).version' "$NR/node_modules/node-red/package.json") with the Edgewire palette: editor at $URL"
echo "  user dir $USER_DIR, log $USER_DIR/node-red.log, pid $(cat "$USER_DIR/node-red.pid")"
if [ "${FOREGROUND:-0}" = 1 ]; then wait; fi
