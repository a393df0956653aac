// Daemon configuration: one TOML file per daemon, parsed and validated once here. Every field
// has a default that works on one machine; modules receive these structs and never read files
// or the environment themselves. deploy/config/*.toml documents each key.
#pragma once

#include <chrono>
#include <cstdint>
#include <string>
#include <vector>

#include "common/error/error.hpp"

namespace ew::config {

struct ConductorConfig {
  // [server]
  // REST and WAMP share one port. Loopback by default: any other address needs TLS (or
  // allow_plain behind a TLS proxy), so a fresh install starts, reachable from this host only.
  std::string listen_address = "127.0.0.1";
  uint16_t port = 8080;                     // 0 = pick a free port (tests); the bound port is logged
  std::string public_url = "";              // ws URL handed to agents at enrolment; "" = derived from the request
  int io_threads = 1;                       // network threads; routing state lives on one strand
  int blocking_threads = 2;                 // store and other blocking work
  // TLS (HTTPS and WSS on the one port): PEM certificate chain and key, re-read on SIGHUP. Both
  // "" = plain HTTP/WS, which the conductor serves only on a loopback address or with allow_plain.
  std::string tls_cert = "";
  std::string tls_key = "";
  bool allow_plain = false;                 // plain on a non-loopback address: only behind a TLS-terminating proxy
  int64_t max_connections = 10'000;         // open connections at once; more are closed on accept
  int64_t max_connections_per_address = 256;  // from one source address (a proxy counts as one)
  std::chrono::milliseconds header_timeout{10'000};  // a request's whole header (slowloris bound)
  std::chrono::milliseconds body_timeout{10'000};    // grace before a body must keep up body_min_rate
  int64_t body_min_rate = 64 * 1024;        // bytes/s a request body must average after the grace
  std::chrono::seconds idle_timeout{60};    // keep-alive connection waiting for its next request
  // [router]
  std::string realm = "edgewire";
  std::chrono::seconds hello_timeout{10};             // a socket must finish HELLO/AUTHENTICATE within this
  size_t max_message_bytes = 1 << 20;                 // larger WebSocket frames abort the session
  std::chrono::milliseconds call_timeout{30'000};     // default when a caller gives none
  std::chrono::milliseconds heartbeat_interval{2'000};  // WebSocket ping period while idle
  std::chrono::milliseconds heartbeat_timeout{4'000};   // no pong within this → session closed, board offline
  // At most this many heartbeat pings a second (0 = no ceiling): with more WebSockets than
  // interval × this, both silences stretch in proportion (HeartbeatWheel).
  int64_t heartbeat_max_pings_per_second = 5'000;
  // [store]
  std::string store_path = "edgewire.db";  // SQLite file; ":memory:" for tests
  // [functions]
  int64_t functions_max_stored_output_bytes = 256 << 10;  // an invocation's output kept in its record; more → dropped, "truncated"
  int64_t functions_max_stored_logs_bytes = 256 << 10;    // its logs (stderr) kept; more → cut, "truncated"
  std::string functions_dir = "";          // packages and the cloud runtime's files; "" = "<store file>.functions"
  std::string functions_runtime = "auto";  // cloud runtime: auto|crun|runc|bwrap|none
  int64_t functions_max_running = 16;      // cloud containers at once
  int64_t functions_uid_first = 1'000'000;  // cloud containers run as uids from here (as root)...
  int64_t functions_uid_count = 65'536;     // ...one per container; the range every daemon of the host shares
  std::string functions_cgroups = "auto";   // "auto": cgroup limits where allowed; "off": rlimits only
  std::string functions_placement_strategy = "ucb1";  // placement of calls that name none: greedy|ucb1|bayes-ucb|sliding-ucb
  // How often placement statistics that changed are written to the registry (one transaction per
  // flush, never one per call; also at shutdown). A crash loses at most this much learning.
  int64_t functions_placement_flush_ms = 10'000;
  int64_t functions_max_running_per_function = 32;     // invocations at once per function; more → 429
  int64_t functions_max_running_per_project = 128;     // invocations at once per project; more → 429
  bool functions_cloud_network = false;  // functions declaring "network" may run in the cloud (on the conductor's network)
  int64_t functions_cloud_max_per_project = 64;        // one project's runs in the cloud host's queue; more → 429
  // [gpio]
  int64_t gpio_history_days = 30;          // GPIO readings older than this are pruned
  // [auth]
  std::chrono::seconds token_ttl{std::chrono::hours(24)};  // API token lifetime, also the longest a login may ask; 0 = never expire (only when set so)
  int hash_threads = 1;                      // password hashing (PBKDF2) threads, apart from blocking_threads
  int64_t login_failures_per_user = 5;       // failed logins of one user from one address before delays (doubling, capped) start
  int64_t login_failures_per_address = 20;   // failed logins from one address before delays start
  int64_t login_user_failures_before_pacing = 1000;  // failed logins of one user from all addresses in 10 min before its logins are paced (1/s)
  std::chrono::seconds login_max_delay{300}; // cap of the delay between attempts once it started
  std::chrono::seconds enrolment_code_ttl{std::chrono::hours(24)};
  std::string bootstrap_password_file = "";  // read admin password from here on first start; "" = generate and print once
  // [tunnels] (reverse tunnels to services on boards)
  // Services' conductor ports listen here. Loopback by default: a service on a non-loopback
  // address must carry allowCidrs, or be opened by an admin (docs/SECURITY.md "Tunnels").
  // "" = 127.0.0.1 too (never [server] listen_address: that is often 0.0.0.0).
  std::string tunnels_listen_address = "127.0.0.1";
  // Conductor ports for services that name none are allocated from port_first..port_last (the
  // first free one). port_first = 0: any free port the OS picks (tests).
  int64_t tunnels_port_first = 20'000;
  int64_t tunnels_port_last = 20'999;
  int64_t tunnels_max_connections = 64;     // live connections per service when it sets no limit of its own
  // From a client's accept to the board's tunnel WebSocket: the token's life and the longest a
  // client waits for its board; past it the client's connection is closed.
  std::chrono::milliseconds tunnels_open_timeout{10'000};
  // [triggers] (MQTT and schedule triggers of functions, cloud-conductor/triggers)
  // The one broker MQTT triggers subscribe at: "mqtt://host[:1883]" or "mqtts://host[:8883]";
  // "" = MQTT triggers off (schedule triggers still run). Users never pick the host.
  std::string triggers_mqtt_broker = "";
  std::string triggers_mqtt_ca_file = "";        // mqtts: CA bundle; "" = the system's CAs
  std::string triggers_mqtt_cert_file = "";      // client certificate (with key_file), for brokers that ask
  std::string triggers_mqtt_key_file = "";
  std::string triggers_mqtt_username = "";       // "" = no credentials
  std::string triggers_mqtt_password_file = "";  // its first line is the password (kept out of this file)
  // Each project's filters are subscribed under "<root>/<project id>/" ("" = as given: only for a
  // broker whose every topic every project may read).
  std::string triggers_mqtt_topic_root = "edgewire/projects";
  // "host:port" places the conductor's cloud flow partitions may dial (http request, mqtt in/out),
  // matched literally; empty = none: those nodes run on boards or in an external Node-RED, and a
  // flow cannot make the conductor reach its own network.
  std::vector<std::string> flows_cloud_outbound;
  int64_t flows_max_per_project = 32;  // flows of one project; a new one past it → 429
  int64_t triggers_max_per_project = 32;         // triggers of one project; more → 429
  int64_t triggers_max_messages_per_second = 200;  // per project: MQTT messages its triggers take; more are dropped
  int64_t triggers_max_payload_bytes = 64 << 10; // larger MQTT payloads are dropped (counted), never fired
  // Boards' tunnel WebSockets are pinged after this long without a word from the board and
  // closed (with the client's connection) when the next interval brings nothing either. 0 = off.
  std::chrono::milliseconds tunnels_ping_interval{15'000};
  int64_t tunnels_max_per_board = 512;  // tunnels of one board at once (services and proxied requests)
  // A browser's session on a board's HTTP service (/v1/boards/{id}/proxy/{port}/, its cookie's
  // Max-Age), never past the API token that asked for the login link.
  std::chrono::seconds tunnels_proxy_session_ttl{15 * 60};
  int64_t tunnels_max_services_per_project = 32;  // services of one project; more → 429
  // A proxied connection (/v1/boards/{id}/proxy/{port}/, WebSocket upgrades too) that carries
  // no byte either way for this long is closed.
  std::chrono::seconds tunnels_proxy_idle_timeout{300};
  // Security review 3 (M1-M3): caps so that one user or project cannot take every place.
  int64_t tunnels_max_proxied = 1024;             // proxied connections at once, all users; more → 429
  int64_t tunnels_max_proxied_per_user = 64;      // proxied connections of one user; more → 429
  // Tunnelled connections of one project (services' clients and proxied requests); keep it
  // below [server] max_connections. More: a service client is closed, a proxied request 429.
  int64_t tunnels_max_connections_per_project = 2048;
  int64_t tunnels_proxy_sessions_per_user = 32;   // login links and browser sessions of one user; more → 429
  // [log]
  std::string log_level = "info";
};

// One [[gpio.chip]] of the agent: a GPIO chip as it appears in the API (docs/GPIO.md).
struct GpioChipConfig {
  std::string name;                // "gpiochip0", "sim0"; unique on the board, no ':' (that is "chip:line")
  std::string backend;             // "sim" or "libgpiod"
  std::string device;              // libgpiod only: the character device, "/dev/gpiochip0"
  std::vector<std::string> lines;  // sim only: line names, offset = index; empty = "raspberry-pi" (GPIO0..GPIO27)
  std::string control;             // sim only: simulation control socket path; "" = none
};

struct AgentConfig {
  std::string credential_path = "/var/lib/edgewire/agent.json";  // written by `enrol` (0600)
  std::string conductor_url = "";                                 // overrides the URL in the credential
  std::chrono::milliseconds reconnect_initial{500};               // first retry delay
  std::chrono::milliseconds reconnect_max{30'000};                // backoff cap
  std::chrono::milliseconds call_timeout{10'000};
  // Once the first session is ready, give back the resident pages only start-up used
  // (device-agent/footprint, ~1.3 MB of idle RSS); off only to compare figures or to profile.
  bool startup_trim = true;
  std::string gpio_backend = "sim";                               // "sim" or "libgpiod"; only without [[gpio.chip]]
  std::vector<GpioChipConfig> gpio_chips;                         // [[gpio.chip]]; empty = one chip from gpio_backend
  // Functions: container runtime ("auto": bwrap where it enforces every limit, else crun, runc,
  // then bwrap; "none" disables functions),
  // package cache + deployment records, per-invocation bundles, containers at once.
  std::string functions_runtime = "auto";
  std::string functions_state_dir = "/var/lib/edgewire/functions";
  std::string functions_work_dir = "/run/edgewire/containers";
  int64_t functions_max_running = 16;
  // Sandboxes prepared ahead per cold function (bwrap with cgroups; issue 15): a burst's
  // invocations skip the runtime's set-up. Each serves one invocation; refilled when the
  // function is idle again, sized to its largest recent burst within [sandbox_pool, sandbox_pool_max].
  // 0 turns it off.
  int64_t functions_sandbox_pool = 4;
  int64_t functions_sandbox_pool_max = 100;  // a burst of 100 at once finds 100 ready (issue 15)
  int64_t functions_sandbox_pool_total = 256;  // every function's ready sandboxes together; 0 = no bound
  // As root, each container runs as a uid of its own from [uid_first, uid_first + uid_count),
  // shared with every other daemon of the host; keep it out of /etc/subuid and real users.
  int64_t functions_uid_first = 1'000'000;
  int64_t functions_uid_count = 65'536;
  std::string functions_cgroups = "auto";  // "auto": cgroup limits where allowed; "off": rlimits only
  // Flow partitions deployed to the board (one JSON file per flow, and the newest version seen
  // of each), so that a restarted agent resumes its flows without the conductor.
  std::string flows_state_dir = "/var/lib/edgewire/flows";
  // The on-disk spool (device-agent/spool): trigger outcomes, GPIO edges and flow messages wait
  // here while the conductor is away. All streams together hold at most spool_max_mb; records
  // are fsynced within spool_sync_interval (group commit; 0 = fsync every record).
  std::string spool_dir = "/var/lib/edgewire/spool";
  int64_t spool_max_mb = 64;
  std::chrono::milliseconds spool_sync_interval{200};
  std::string log_level = "info";
  // Log lines kept in memory for sys.logs (`edgewire board logs`); 0 = none. Each costs ~0.4 kB
  // of RSS once the ring is full.
  int64_t log_recent_lines = 200;
  // sys.reboot runs this with /bin/sh -c (e.g. "systemctl reboot"; see docs/INSTALL-PI.md for
  // the polkit rule the edgewire user needs). "" = sys.reboot is refused: rebooting a board from
  // the network is the installer's decision, not a default.
  std::string reboot_command = "";
  // [tunnels] The tunnel WebSocket to the conductor is pinged after this long without a word
  // from it and closed (with the local connection) when the next interval brings nothing. 0 = off.
  std::chrono::milliseconds tunnels_ping_interval{15'000};
  // Agent updates over the air (issue 16): the agent stages a verified package and the request
  // for the root helper (edgewire-agent-update.path watches <dir>/request) here, and reads the
  // helper's status back. Must match the helper's EW_UPDATE_DIR.
  std::string update_dir = "/var/lib/edgewire/update";
};

// The board's chips: `gpio_chips` when the file has [[gpio.chip]], else the one `[gpio] backend`
// implies: a simulated Raspberry Pi "sim0" (no control socket) or "gpiochip0" on /dev/gpiochip0.
std::vector<GpioChipConfig> EffectiveGpioChips(const AgentConfig& config);

// Missing file → defaults when `must_exist` is false; malformed file or bad value →
// InvalidArgument naming the key.
ew::Result<ConductorConfig> LoadConductorConfig(const std::string& path, bool must_exist = true);
ew::Result<AgentConfig> LoadAgentConfig(const std::string& path, bool must_exist = true);
// Same, from TOML text (tests).
ew::Result<ConductorConfig> ParseConductorConfig(const std::string& toml_text);
ew::Result<AgentConfig> ParseAgentConfig(const std::string& toml_text);

}  // namespace ew::config
