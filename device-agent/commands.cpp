// Wiring of the agent's commands: config and credential in, one io_context, the session
// runner, signals and systemd around it.
#include "device-agent/commands.hpp"

#include <sys/utsname.h>

#include <csignal>
#include <cstdlib>
#include <cstring>
#include <ostream>
#include <thread>

#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/signal_set.hpp>
#include <boost/asio/steady_timer.hpp>

#include "common/config/config.hpp"
#include "common/exit/exit_code.hpp"
#include "common/log/log.hpp"
#include "common/log/recent_lines.hpp"
#include "containers/runtime/child_reaper.hpp"
#include "device-agent/board/board_control.hpp"
#include "device-agent/update/agent_updater.hpp"
#include "device-agent/credential/credential.hpp"
#include "device-agent/enrol/conductor_url.hpp"
#include "device-agent/enrol/enroller.hpp"
#include "device-agent/flows/flow_service.hpp"
#include "device-agent/footprint/startup_trim.hpp"
#include "device-agent/functions/function_service.hpp"
#include "device-agent/gpio/gpio_service.hpp"
#include "device-agent/gpio/make_chips.hpp"
#include "device-agent/rpc/sys_procedures.hpp"
#include "device-agent/session/session_runner.hpp"
#include "device-agent/spool/async_spool.hpp"
#include "device-agent/storage/storage_check.hpp"
#include "device-agent/systemd/notifier.hpp"
#include "device-agent/tls/conductor_trust.hpp"
#include "device-agent/tunnel/tunnel_service.hpp"

namespace ew::agent {

namespace {

const ew::log::Logger Log{"agent"};

// How often the agent re-checks that its directories can be written (a card can fill or be
// remounted read-only while it runs); sys.info checks again on every call.
constexpr std::chrono::seconds kStorageCheckPeriod{60};

void KeepCheckingStorage(boost::asio::steady_timer& timer, storage::StorageCheck& check) {
  timer.expires_after(kStorageCheckPeriod);
  timer.async_wait([&timer, &check](const boost::system::error_code& ec) {
    if (ec) return;
    check.Check();
    KeepCheckingStorage(timer, check);
  });
}

std::string ThisHostName() {
  struct utsname uts {};
  return uname(&uts) == 0 ? uts.nodename : "";
}

// Reports session state to systemd as STATUS= on every change. READY=1 is sent once the loop
// runs, not on the first join: a board works offline too (flows, spool), and `systemctl start`
// or a package upgrade must not wait for the network.
class SystemdObserver : public session::SessionObserver {
 public:
  SystemdObserver(systemd::Notifier& notifier, std::string board_id) : notifier_(notifier), board_id_(std::move(board_id)) {}

  void OnReady(const std::string& url, uint64_t session_id) override {
    notifier_.Status("connected to " + url + " as board " + board_id_ + " (session " + std::to_string(session_id) + ")");
  }
  void OnReconnectState(session::ReconnectState state, const std::string& reason,
                        std::chrono::milliseconds next_in) override {
    switch (state) {
      case session::ReconnectState::kRefused:
        notifier_.Status("refused by the conductor (" + reason + "); next attempt in " + session::FormatDelay(next_in));
        break;
      case session::ReconnectState::kProbing:
        notifier_.Status("conductor unreachable (" + reason + "); probing it");
        break;
      default:
        notifier_.Status("reconnecting in " + session::FormatDelay(next_in) + ": " + reason);
        break;
    }
  }

 private:
  systemd::Notifier& notifier_;
  std::string board_id_;
};

// WATCHDOG=1 from the io thread: a wedged loop stops the pings and systemd restarts us.
void KeepWatchdogFed(boost::asio::steady_timer& timer, systemd::Notifier& notifier, std::chrono::microseconds period) {
  notifier.Watchdog();
  timer.expires_after(period);
  timer.async_wait([&timer, &notifier, period](const boost::system::error_code& ec) {
    if (!ec) KeepWatchdogFed(timer, notifier, period);
  });
}

// Test-only (EW_AGENT_TEST_HOOKS=1 in the environment, never set by the unit): SIGUSR2 wedges
// the io thread for an hour, as a deadlocked handler would, so that tests can see the watchdog
// pings stop (tests/integration/test_systemd_notify.py).
void InstallTestHooks(boost::asio::io_context& io, boost::asio::signal_set& hooks) {
  const char* enabled = std::getenv("EW_AGENT_TEST_HOOKS");
  if (enabled == nullptr || std::strcmp(enabled, "1") != 0) return;
  Log()->warn("test hooks on (EW_AGENT_TEST_HOOKS=1): SIGUSR2 wedges the event loop");
  hooks.add(SIGUSR2);
  hooks.async_wait([](const boost::system::error_code& ec, int) {
    if (ec) return;
    Log()->warn("test hook: wedging the event loop");
    std::this_thread::sleep_for(std::chrono::hours(1));
  });
}

// Runs the loop until io.stop() or no work is left. An exception escaping a handler (Autobahn
// throws from some of its posted handlers) is logged and the loop goes on.
void RunIo(boost::asio::io_context& io) {
  for (;;) {
    try {
      io.run();
      return;
    } catch (const std::exception& e) {
      Log()->warn("exception escaped an io handler: {}", e.what());
    } catch (...) {
      Log()->warn("unknown exception escaped an io handler");
    }
  }
}

// The session's transport reports a name that does not resolve only as a failed connect ("Bad
// file descriptor"); one resolve at start names the real cause in the log and the systemd status.
// The session keeps retrying either way: at boot the board's DNS may come up after the agent.
void ReportUnresolvableHost(boost::asio::io_context& io, const std::string& url, systemd::Notifier& notifier) {
  auto parsed = ParseUrl(url);
  if (!parsed) return;
  boost::system::error_code is_address;
  boost::asio::ip::make_address(parsed->host, is_address);
  if (!is_address) return;
  auto resolver = std::make_shared<boost::asio::ip::tcp::resolver>(io);
  resolver->async_resolve(parsed->host, std::to_string(parsed->port),
                          [resolver, host = parsed->host, url, &notifier](const boost::system::error_code& ec,
                                                                          const auto&) {
                            if (!ec || ec == boost::asio::error::operation_aborted) return;
                            Log()->warn("cannot resolve the conductor's host name \"{}\" (from {}): {}; check the "
                                        "name and this board's DNS (the agent keeps trying)",
                                        host, url, ec.message());
                            notifier.Status("cannot resolve " + host + ": " + ec.message());
                          });
}

ew::Result<session::SessionOptions> SessionOptionsFor(const config::AgentConfig& config, const Credential& credential,
                                                      const std::string& url_override, bool insecure) {
  session::SessionOptions options;
  std::string url = !url_override.empty() ? url_override : !config.conductor_url.empty() ? config.conductor_url : credential.wamp_url;
  EW_TRY(options.url, WampUrlFor(url));
  EW_TRY(Url parsed, ParseUrl(options.url));
  EW_TRY_VOID(CheckPlainTransportAllowed(parsed, credential.trust.insecure || insecure));
  options.trust = credential.trust;
  options.realm = credential.realm;
  options.board_id = credential.board_id;
  options.secret = credential.secret;
  options.reconnect_initial = config.reconnect_initial;
  options.reconnect_max = config.reconnect_max;
  return options;
}

// The function service with whichever container runtime works here. Without one the board
// still joins; fn.* then answer Unavailable with the reason (and sys.info shows it).
std::shared_ptr<functions::FunctionService> MakeFunctionService(boost::asio::io_context& io,
                                                                const config::AgentConfig& config,
                                                                const std::string& board_id,
                                                                gpio::GpioService& gpio,
                                                                const ew::gpio::ChipSet& chips,
                                                                spool::AsyncSpool* spool) {
  std::unique_ptr<containers::FunctionHost> host;
  std::string reason;
  if (config.functions_runtime == "none") {
    reason = "functions are disabled ([functions] runtime = \"none\")";
  } else {
    // bwrap's sandboxes outlive the bwrap that forked them: as a subreaper the agent reaps
    // them (FunctionHost does after each invocation) instead of leaving zombies to PID 1.
    if (auto subreaper = containers::ChildReaper::BecomeSubreaper(); !subreaper)
      Log()->warn("functions: {}", subreaper.error().message);
    containers::RuntimeConfig runtime_config;
    runtime_config.preferred = config.functions_runtime;
    runtime_config.work_dir = config.functions_work_dir;
    // Container bundles are written per invocation: on a read-only or full disk they go to the
    // temporary directory instead, so deployed functions keep running.
    if (const std::string why = storage::ProbeWritable(runtime_config.work_dir); !why.empty()) {
      const auto fallback = std::filesystem::temp_directory_path() / ("edgewire-containers-" + board_id);
      Log()->warn("functions: cannot write [functions] work_dir {} ({}); using {} instead",
                  runtime_config.work_dir.string(), why, fallback.string());
      runtime_config.work_dir = fallback;
    }
    runtime_config.uid_first = static_cast<uint32_t>(config.functions_uid_first);
    runtime_config.uid_count = static_cast<uint32_t>(config.functions_uid_count);
    runtime_config.cgroups = config.functions_cgroups;
    auto runtime = containers::MakeContainerRuntime(runtime_config);
    if (runtime) {
      containers::HostConfig host_config;
      host_config.max_running = static_cast<size_t>(config.functions_max_running);
      host_config.sandbox_pool = static_cast<size_t>(config.functions_sandbox_pool);
      host_config.sandbox_pool_max = static_cast<size_t>(config.functions_sandbox_pool_max);
      host_config.sandbox_pool_total = static_cast<size_t>(config.functions_sandbox_pool_total);
      host_config.gpio = &chips;  // functions reach their declared lines through the broker
      host = std::make_unique<containers::FunctionHost>(host_config, std::move(*runtime));
    } else {
      reason = runtime.error().message;
      Log()->warn("functions unavailable: {}", reason);
    }
  }
  functions::FunctionServiceOptions options;
  options.board_id = board_id;
  options.state_dir = config.functions_state_dir;
  auto service = std::make_shared<functions::FunctionService>(io, options, std::move(host), reason);
  service->SetGpio(&gpio);
  service->SetSpool(spool);
  if (auto restored = service->Restore(); !restored)
    Log()->error("functions: cannot restore deployments: {}", restored.error().message);
  return service;
}

// The on-disk spool of [spool]. When its directory cannot be used (read-only or full card) the
// agent still runs, with a spool in the temporary directory that a reboot loses, and says so.
std::unique_ptr<spool::AsyncSpool> OpenSpool(boost::asio::io_context& io, const config::AgentConfig& config,
                                             const std::string& board_id) {
  spool::SpoolOptions options;
  options.dir = config.spool_dir;
  options.max_total_bytes = static_cast<uint64_t>(config.spool_max_mb) << 20;
  // One report or edge record is at most a message to the router, plus its own small wrapping.
  options.max_record_bytes = (1u << 20) + (4u << 10);
  if (config.spool_sync_interval.count() == 0) {
    options.sync.mode = spool::SyncMode::kEveryRecord;
  } else {
    options.sync.interval = config.spool_sync_interval;
  }
  auto spool = spool::AsyncSpool::Open(io, options);
  if (spool) return std::move(*spool);
  const std::filesystem::path fallback = std::filesystem::temp_directory_path() / ("edgewire-spool-" + board_id);
  Log()->error("spool: cannot use {} ({}); using {} instead, which a reboot loses", config.spool_dir,
               spool.error().message, fallback.string());
  options.dir = fallback;
  spool = spool::AsyncSpool::Open(io, options);
  if (spool) return std::move(*spool);
  Log()->error("spool: cannot use {} either ({}): trigger outcomes and GPIO edges are not kept while the conductor "
               "is away",
               fallback.string(), spool.error().message);
  return nullptr;
}

}  // namespace

const char* AgentVersion() { return EW_AGENT_VERSION; }

int VersionCommand(std::ostream& out) {
  out << "edgewire-agent " << AgentVersion() << "\n";
  return exit_code::kOk;
}

int EnrolCommand(const EnrolArgs& args, std::ostream& out, std::ostream& err) {
  const std::string path = args.credential.empty() ? config::AgentConfig{}.credential_path : args.credential;
  // Before the code is spent: a one-time code used for a credential that cannot be stored is lost.
  if (auto writable = CheckCredentialWritable(path, args.force); !writable) {
    err << "enrolment not attempted (the code is still unused): " << writable.error().message << "\n";
    return writable.error().code == ErrorCode::kConflict ? exit_code::kUsage : exit_code::kFailure;
  }
  EnrolRequestOptions request;
  request.conductor_url = args.conductor;
  request.code = args.code;
  request.hostname = args.hostname.empty() ? ThisHostName() : args.hostname;
  auto trust = tls::MakeTrust(args.ca_file, args.pin, args.insecure);
  if (!trust) {
    err << "enrolment failed: " << trust.error().message << "\n";
    return exit_code::ForError(trust.error());
  }
  request.trust = std::move(*trust);

  auto credential = Enrol(request);
  if (!credential) {
    const auto& failure = credential.error();
    err << (failure.kind == EnrolFailure::Kind::kRefused ? "enrolment refused: " : "enrolment failed: ")
        << failure.message << "\n";
    if (failure.kind == EnrolFailure::Kind::kRefused) {
      if (failure.http_status >= 500) return exit_code::kFailure;  // the conductor's trouble (a full store: 503)
      return failure.http_status == 400 ? exit_code::kUsage : exit_code::kRefused;
    }
    return failure.usage ? exit_code::kUsage : exit_code::kFailure;
  }
  if (auto stored = WriteCredential(path, *credential); !stored) {
    err << "enrolment failed: the code is spent but the credential could not be stored: " << stored.error().message
        << "\n";
    return exit_code::kFailure;
  }
  out << "enrolled as board " << credential->board_id << "; credential stored in " << path << "\n";
  return exit_code::kOk;
}

int RunCommand(const RunArgs& args) {
  const bool explicit_config = !args.config.empty();
  auto config = config::LoadAgentConfig(explicit_config ? args.config : kDefaultConfigPath, explicit_config);
  if (!config) {
    Log()->error("config: {}", config.error().message);
    return exit_code::kUsage;
  }
  if (!ew::log::SetLevel(config->log_level)) Log()->warn("unknown log_level \"{}\"", config->log_level);
  // sys.logs answers from this ring; before any other thread starts.
  ew::log::KeepRecentLines(static_cast<size_t>(config->log_recent_lines));

  const std::string credential_path = args.credential.empty() ? config->credential_path : args.credential;
  auto credential = ReadCredential(credential_path);
  if (!credential) {
    if (credential.error().code == ErrorCode::kNotFound)
      Log()->error("no credential at {}: enrol the board first (edgewire-agent enrol --conductor URL --code CODE)",
                   credential_path);
    else
      Log()->error("credential: {}", credential.error().message);
    return credential.error().code == ErrorCode::kPermissionDenied ? exit_code::kFailure : exit_code::kUsage;
  }
  auto options = SessionOptionsFor(*config, *credential, args.conductor_url, args.insecure);
  if (!options) {
    Log()->error("{}", options.error().message);
    return exit_code::kUsage;
  }

  // A peer that vanishes mid-write must not kill the agent.
  std::signal(SIGPIPE, SIG_IGN);

  boost::asio::io_context io(1);
  systemd::Notifier notifier;
  SystemdObserver observer(notifier, credential->board_id);
  // Once joined, the pages only start-up used are given back (idle RSS, issue 16).
  footprint::StartupTrimOptions trim_options;
  trim_options.enabled = config->startup_trim;
  footprint::StartupTrim startup_trim(io, trim_options);
  auto collector = std::make_shared<rpc::SysInfoCollector>(credential->board_id, AgentVersion());
  // Chips first and gone last: the GPIO service, functions and triggers hold their lines.
  gpio::BoardChips board_chips = gpio::MakeChips(*config);
  // Before the services that keep records in it, so it goes after them.
  std::unique_ptr<spool::AsyncSpool> spool = OpenSpool(io, *config, credential->board_id);
  gpio::GpioService gpio_service(io, credential->board_id, board_chips.chips);
  gpio_service.SetSpool(spool.get());
  collector->set_gpio_chips([&gpio_service] { return gpio_service.Summary(); });
  if (spool) {
    collector->set_spool_streams([spool = spool.get()] {
      std::vector<rpc::SpoolStreamSummary> out;
      for (const auto& s : spool->AllStats()) {
        out.push_back({s.name, std::string(spool::DropPolicyName(s.policy)), static_cast<int64_t>(s.records),
                       static_cast<int64_t>(s.bytes), static_cast<int64_t>(s.first_seq),
                       static_cast<int64_t>(s.next_seq), static_cast<int64_t>(s.dropped_oldest),
                       static_cast<int64_t>(s.refused), static_cast<int64_t>(s.corrupt_records)});
      }
      return out;
    });
  }
  // Every directory the board writes; a read-only or full disk is logged and shown in sys.info.
  storage::StorageCheck storage_check({{"spool ([spool] dir)", config->spool_dir},
                                       {"functions state ([functions] state_dir)", config->functions_state_dir},
                                       {"flows state ([flows] state_dir)", config->flows_state_dir}});
  storage_check.Check();
  collector->set_storage_problems([&storage_check] { return storage_check.Check(); });
  auto functions = MakeFunctionService(io, *config, credential->board_id, gpio_service, board_chips.chips, spool.get());
  collector->set_container_runtime(functions->RuntimeDescription());
  collector->set_container_limits(functions->RuntimeLimits());
  collector->set_functions_max_running(static_cast<int32_t>(config->functions_max_running));
  rpc::ProcedureTable procedures = rpc::SysProcedures(collector, credential->board_id);
  for (auto& procedure : functions->Procedures()) procedures.push_back(std::move(procedure));
  for (auto& procedure : gpio_service.Procedures()) procedures.push_back(std::move(procedure));
  SystemClock clock;
  flows::FlowServiceOptions flow_options;
  flow_options.board_id = credential->board_id;
  flow_options.state_dir = config->flows_state_dir;
  flows::FlowService flow_service(io, flow_options, board_chips.chips, clock);
  for (auto& procedure : flow_service.Procedures()) procedures.push_back(std::move(procedure));
  tunnel::TunnelServiceOptions tunnel_options;
  tunnel_options.board_id = credential->board_id;
  tunnel_options.conductor_url = options->url;
  tunnel_options.trust = options->trust;
  tunnel_options.ping_interval = config->tunnels_ping_interval;
  tunnel::TunnelService tunnels(io, tunnel_options);
  for (auto& procedure : tunnels.Procedures()) procedures.push_back(std::move(procedure));
  // Set by sys.restart: the agent leaves its session and exits with this status.
  int exit_status = 0;
  std::function<void(int)> request_exit;  // defined below, once the runner exists
  board::BoardControlOptions board_options;
  board_options.reboot_command = config->reboot_command;
  board_options.log_capacity = static_cast<int32_t>(config->log_recent_lines);
  board_options.board_id = credential->board_id;
  board::BoardControl board_control(io, board_options, [&request_exit](int status) { request_exit(status); });
  for (auto& procedure : board_control.Procedures()) procedures.push_back(std::move(procedure));
  // Updates over the air: staged here, installed by the root helper (docs/INSTALL-PI.md).
  update::AgentUpdaterOptions update_options;
  update_options.dir = config->update_dir;
  update_options.agent_version = AgentVersion();
  update::AgentUpdater updater(io, update_options);
  for (auto& procedure : updater.Procedures()) procedures.push_back(std::move(procedure));
  collector->set_package_version([&updater] { return updater.PackageVersion(); });
  session::SessionRunner runner(io, *options, std::move(procedures), &observer);
  runner.AddObserver(&startup_trim);
  collector->set_session([&runner] {
    return rpc::SessionSummary{std::string(session::ReconnectStateName(runner.state())), runner.last_disconnect_reason(),
                               static_cast<int64_t>(runner.connections())};
  });
  // Flows resume from disk before the first session: a board runs its partitions offline too.
  flow_service.SetConductor(&runner);
  flow_service.SetSpool(spool.get());
  runner.AddObserver(&flow_service);
  if (auto restored = flow_service.Restore(); !restored) Log()->error("{}", restored.error().message);
  runner.AddObserver(&gpio_service);
  runner.AddObserver(functions.get());  // trigger outcomes reach the conductor when it is there
  runner.AddSubscription(gpio_service.SessionLeaveSubscription());
  functions->SetConductor(&runner);
  gpio_service.SetConductor(&runner);
  board_control.SetConductor(&runner);
  runner.AddObserver(&board_control);  // follow mode ends with the session
  updater.SetConductor(&runner);
  runner.AddObserver(&updater);  // the health marker, once joined

  boost::asio::signal_set signals(io, SIGINT, SIGTERM);
  boost::asio::signal_set test_hooks(io);
  boost::asio::steady_timer watchdog(io);
  boost::asio::steady_timer storage_timer(io);
  KeepCheckingStorage(storage_timer, storage_check);
  // Leaves the session (GOODBYE), then stops the loop: on SIGTERM/SIGINT and on sys.restart.
  auto begin_stop = [&](const std::string& why) {
    Log()->info("{}: leaving the session", why);
    notifier.Stopping();
    notifier.Status("stopping");
    runner.Stop([&] {
      signals.cancel();
      test_hooks.cancel();
      watchdog.cancel();
      storage_timer.cancel();
      io.stop();
    });
  };
  request_exit = [&](int status) {
    if (notifier.stopping()) return;
    exit_status = status;
    begin_stop("restart requested (sys.restart)");
  };
  std::function<void(const boost::system::error_code&, int)> on_signal =
      [&](const boost::system::error_code& ec, int signal) {
        if (ec) return;
        if (notifier.stopping()) {
          Log()->info("second signal {}: exiting now", signal);
          io.stop();
          return;
        }
        signals.async_wait(on_signal);
        begin_stop("signal " + std::to_string(signal));
      };
  signals.async_wait(on_signal);
  InstallTestHooks(io, test_hooks);
  if (auto period = systemd::Notifier::WatchdogPeriod()) KeepWatchdogFed(watchdog, notifier, *period);
  boost::asio::post(io, [&notifier] { notifier.Ready(); });

  Log()->info("edgewire-agent {} board={} conductor={}{}", AgentVersion(), credential->board_id, options->url,
              options->url.rfind("wss:", 0) == 0 ? " (certificate checked against " + tls::Describe(options->trust) + ")"
                                                 : "");
  notifier.Status("connecting to " + options->url);
  runner.Start();
  ReportUnresolvableHost(io, options->url, notifier);
  RunIo(io);
  // Simulated signals drive edge handlers from their own threads: stop them before the GPIO
  // service and the functions that receive those edges go.
  for (auto& control : board_chips.sim_controls) control->Stop();
  notifier.Stopping();
  Log()->info("stopped{}", exit_status == 0 ? "" : " (exit status " + std::to_string(exit_status) + " for systemd to restart the agent)");
  return exit_status;
}

}  // namespace ew::agent
