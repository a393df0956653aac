// edgewire-conductor: the cloud side of Edgewire (REST API + WAMP router on one port), and
// `edgewire-conductor backup DEST` (an online copy of its store). Exit statuses follow
// common/exit/exit_code.hpp.
#include <csignal>
#include <iostream>
#include <optional>
#include <string>

#include <CLI/CLI.hpp>
#include <systemd/sd-daemon.h>

#include "cloud-conductor/conductor.hpp"
#include "cloud-conductor/registry/store_backup.hpp"
#include "common/exit/exit_code.hpp"
#include "common/log/log.hpp"
#include "cloud-conductor/fatal_signals.hpp"

int main(int argc, char** argv) {
  CLI::App app{"Edgewire conductor: REST API and WAMP router for boards behind NAT"};
  std::string config_path;
  std::optional<uint16_t> port;
  std::optional<std::string> listen, store, log_level, public_url, tls_cert, tls_key;
  bool allow_plain = false;
  app.add_option("-c,--config", config_path, "TOML configuration file (see deploy/config/conductor.toml)");
  app.add_option("--port", port, "port for REST and WAMP (overrides [server] port; 0 = any free port)");
  app.add_option("--listen", listen, "address to listen on (overrides [server] listen_address)");
  app.add_option("--store", store, "SQLite file (overrides [store] path)");
  app.add_option("--public-url", public_url, "WebSocket URL boards are told at enrolment");
  app.add_option("--tls-cert", tls_cert, "PEM certificate chain for HTTPS/WSS (overrides [server] tls_cert; SIGHUP re-reads it)");
  app.add_option("--tls-key", tls_key, "PEM private key of --tls-cert (overrides [server] tls_key)");
  app.add_flag("--allow-plain", allow_plain,
               "serve plain HTTP/WS on a non-loopback address (only behind a TLS-terminating proxy)");
  app.add_option("--log-level", log_level, "trace|debug|info|warn|error|off");
  std::string backup_dest;
  bool backup_force = false;
  auto* backup = app.add_subcommand(
      "backup", "Copy the store ([store] path or --store) into DEST while the conductor runs (SQLite online backup)");
  backup->add_option("DEST", backup_dest, "the copy (a new file; see docs/ARCHITECTURE.md for restoring it)")->required();
  backup->add_flag("--force", backup_force, "replace DEST if it exists");
  try {
    app.parse(argc, argv);
  } catch (const CLI::ParseError& e) {
    return app.exit(e) == 0 ? ew::exit_code::kOk : ew::exit_code::kUsage;
  }

  auto config = ew::config::LoadConductorConfig(config_path, !config_path.empty());
  if (!config) {
    std::cerr << "edgewire-conductor: " << config.error().message << "\n";
    return ew::exit_code::kUsage;
  }
  if (backup->parsed()) {
    ew::registry::BackupOptions options;
    options.source = store ? *store : config->store_path;
    options.destination = backup_dest;
    options.overwrite = backup_force;
    auto report = ew::registry::BackupStore(options);
    if (!report) {
      std::cerr << "edgewire-conductor backup: " << report.error().message << "\n";
      return ew::exit_code::ForError(report.error());
    }
    std::cout << "backed up " << options.source << " to " << backup_dest << " (" << report->bytes << " bytes, schema v"
              << report->schema_version << ")\n";
    return ew::exit_code::kOk;
  }
  if (port) config->port = *port;
  if (listen) config->listen_address = *listen;
  if (store) config->store_path = *store;
  if (public_url) config->public_url = *public_url;
  if (tls_cert) config->tls_cert = *tls_cert;
  if (tls_key) config->tls_key = *tls_key;
  if (allow_plain) config->allow_plain = true;
  if (log_level) config->log_level = *log_level;
  if (!ew::log::SetLevel(config->log_level)) {
    std::cerr << "edgewire-conductor: unknown log level \"" << config->log_level << "\" (--log-level or [log] level)\n";
    return ew::exit_code::kUsage;
  }

  // Before the store is opened: a SIGBUS from its memory-mapped -shm gets a log line.
  ew::conductor::InstallFatalSignalLog(config->store_path);
  ew::conductor::Conductor conductor(*config, std::cout);
  auto bound = conductor.Start();
  if (!bound) {
    std::cerr << "edgewire-conductor: " << bound.error().message << "\n";
    return ew::exit_code::ForError(bound.error());
  }
  // The first line on stdout tells scripts and tests which port to use.
  std::cout << "edgewire-conductor listening on " << config->listen_address << ":" << *bound << std::endl;

  std::signal(SIGPIPE, SIG_IGN);
  sd_notify(0, "READY=1");
  conductor.Run(/*handle_signals=*/true);
  sd_notify(0, "STOPPING=1");
  return ew::exit_code::kOk;
}
