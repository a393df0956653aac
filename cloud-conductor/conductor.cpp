#include "cloud-conductor/conductor.hpp"

#include <unistd.h>

#include <filesystem>
#include <ostream>

#include <boost/asio/io_context.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/signal_set.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/thread_pool.hpp>
#include <systemd/sd-daemon.h>

#include "cloud-conductor/auth/authenticator.hpp"
#include "cloud-conductor/auth/bootstrap.hpp"
#include "cloud-conductor/auth/hash_pool.hpp"
#include "cloud-conductor/auth/login_limiter.hpp"
#include "cloud-conductor/auth/revocation_hub.hpp"
#include "cloud-conductor/flows/flow_store.hpp"
#include "cloud-conductor/flows/flows_service.hpp"
#include "cloud-conductor/functions/functions_service.hpp"
#include "cloud-conductor/gpio/board_gpio.hpp"
#include "cloud-conductor/gpio/gpio_store.hpp"
#include "cloud-conductor/gpio/reading_recorder.hpp"
#include "cloud-conductor/registry/store.hpp"
#include "cloud-conductor/rest/rest_api.hpp"
#include "cloud-conductor/router/router.hpp"
#include "cloud-conductor/server/server.hpp"
#include "cloud-conductor/store_directory.hpp"
#include "cloud-conductor/tunnels/service_store.hpp"
#include "cloud-conductor/tunnels/tunnel_manager.hpp"
#include "cloud-conductor/triggers/broker_config.hpp"
#include "cloud-conductor/triggers/trigger_service.hpp"
#include "cloud-conductor/triggers/trigger_store.hpp"
#include "common/clock/clock.hpp"
#include "common/log/log.hpp"
#include "common/metrics/metrics.hpp"

namespace ew::conductor {

const ew::log::Logger Log{"conductor"};

namespace {
// How long Stop() waits for boards to answer the unwatch of open GPIO event streams.
constexpr std::chrono::seconds kStopGrace{2};

// The board and port of a request under /v1/boards/{id}/proxy/{port}/, when its caller may use
// them: a token (X-Auth-Token or Authorization: Bearer) of a user of the board's project (or an
// admin). Unauthenticated, PermissionDenied, NotFound, InvalidArgument (a bad port). Blocking.
Result<std::pair<std::string, uint16_t>> ProxyTargetOf(auth::Authenticator& authenticator, registry::Store& store,
                                                       const server::HttpRequestHead& head) {
  std::string token = head.Header("x-auth-token");
  const std::string& authorization = head.Header("authorization");
  if (token.empty() && authorization.size() > 7 && (authorization.rfind("Bearer ", 0) == 0 ||
                                                    authorization.rfind("bearer ", 0) == 0))
    token = authorization.substr(7);
  if (token.empty()) return Unauthenticated("an API token is required: send X-Auth-Token or Authorization: Bearer");
  EW_TRY(auth::Principal who, authenticator.VerifyToken(token));
  // head.path is decoded: /v1/boards/{id}/proxy/{port}[/...]
  static const std::string kBoards = "/v1/boards/";
  const size_t id_end = head.path.find('/', kBoards.size());
  const std::string board_id = head.path.substr(kBoards.size(), id_end - kBoards.size());
  const size_t port_start = id_end + std::string("/proxy/").size();
  const std::string port_text = head.path.substr(port_start, head.path.find('/', port_start) - port_start);
  const bool digits = !port_text.empty() && port_text.size() <= 5 &&
                      port_text.find_first_not_of("0123456789") == std::string::npos;
  const int port = digits ? std::stoi(port_text) : 0;
  if (port < 1 || port > 65535) return InvalidArgument("proxy port must be from 1 to 65535, not \"" + port_text + "\"");
  EW_TRY(auto board, store.GetBoard(board_id));
  if (!auth::Authenticator::CanAccessProject(who, board.project_id()))
    return PermissionDenied("board " + board_id + " belongs to another project");
  return std::make_pair(board_id, static_cast<uint16_t>(port));
}
}  // namespace

struct Conductor::Impl {
  Impl(config::ConductorConfig c, std::ostream& a)
      : config(std::move(c)),
        announce(a),
        blocking(config.blocking_threads),
        hashing(auth::HashPoolOptions{static_cast<size_t>(config.hash_threads)}) {}

  config::ConductorConfig config;
  std::ostream& announce;
  boost::asio::io_context io{1};
  boost::asio::thread_pool blocking;
  auth::HashPool hashing;  // PBKDF2 only: logins and new users
  SystemClock clock;
  metrics::Registry metrics;
  std::unique_ptr<registry::Store> store;
  std::unique_ptr<auth::Authenticator> authenticator;
  std::unique_ptr<auth::LoginLimiter> login_limiter;
  std::unique_ptr<auth::RevocationHub> revocations;
  std::unique_ptr<StoreDirectory> directory;
  std::unique_ptr<router::Router> router;
  std::unique_ptr<functions::FunctionStore> function_store;
  std::unique_ptr<functions::FunctionsService> functions;
  std::unique_ptr<flows::FlowStore> flow_store;
  std::unique_ptr<flows::CloudFlowRunner> cloud_flows;  // its thread calls into `flows` (function calls)
  std::unique_ptr<flows::FlowsService> flows;
  std::unique_ptr<gpio::GpioStore> gpio_store;
  std::unique_ptr<gpio::ReadingRecorder> gpio_recorder;  // after its store: flushes into it when destroyed
  std::unique_ptr<gpio::BoardGpio> gpio;
  std::unique_ptr<tunnels::ServiceStore> service_store;
  std::unique_ptr<tunnels::TunnelManager> tunnels;
  std::unique_ptr<triggers::TriggerStore> trigger_store;
  std::unique_ptr<triggers::TriggerService> triggers;  // after functions: fires into them
  std::unique_ptr<rest::RestApi> rest;
  std::unique_ptr<server::Server> server;
  std::unique_ptr<boost::asio::steady_timer> watchdog;
  std::unique_ptr<boost::asio::steady_timer> stop_grace;
  std::unique_ptr<boost::asio::signal_set> reload_signal;

  // SIGHUP: re-read the TLS certificate and key; a bad pair is logged and the old one kept.
  void WaitForReload() {
    reload_signal->async_wait([this](const boost::system::error_code& ec, int) {
      if (ec) return;
      ReloadTls();
      WaitForReload();
    });
  }

  Result<void> ReloadTls() {
    auto log = Log();
    if (!server || !server->is_tls()) {
      log->info("SIGHUP: not serving TLS, nothing to reload");
      return Ok();
    }
    auto reloaded = server->ReloadTls();
    if (!reloaded) {
      log->error("TLS reload failed, keeping the current certificate: {}", reloaded.error().message);
    } else {
      log->info("TLS certificate reloaded from {}: new connections use it", config.tls_cert);
    }
    return reloaded;
  }

  Result<void> StartTriggers();

  void Watchdog(std::chrono::microseconds period) {
    watchdog->expires_after(period);
    watchdog->async_wait([this, period](const boost::system::error_code& ec) {
      if (ec) return;
      sd_notify(0, "WATCHDOG=1");
      Watchdog(period);
    });
  }
};

// Triggers fire through the functions service: placement, limits, and a record in history that
// names the trigger. Restored from the store here, before the REST API opens.
Result<void> Conductor::Impl::StartTriggers() {
  auto& d = *this;
  EW_TRY(d.trigger_store, triggers::TriggerStore::Open(d.config.store_path));
  triggers::TriggerOptions options;
  EW_TRY(options.broker, triggers::BrokerFromConfig(d.config));
  options.max_per_project = static_cast<size_t>(d.config.triggers_max_per_project);
  options.max_payload_bytes = static_cast<size_t>(d.config.triggers_max_payload_bytes);
  auto invoke = [&d](const triggers::TriggerSpec& spec, nlohmann::json event,
                     std::function<void(std::string)> done) -> Result<void> {
    EW_TRY(auto function, d.functions->GetFunction(spec.function_id));
    functions::InvokeOptions invoke_options;
    invoke_options.trigger = {{"trigger", triggers::KindName(spec.kind)}, {"id", spec.id}};
    EW_TRY_VOID(d.functions->Invoke(function, functions::Placement::Auto(), std::move(event), invoke_options,
                                    [done = std::move(done)](functions::InvocationOutcome outcome) {
                                      if (outcome.error) return done(outcome.error->message);
                                      const std::string status = outcome.record.value("status", "failed");
                                      if (status == "succeeded") return done("");
                                      std::string why = outcome.record.value("error", "");
                                      done(status + (why.empty() ? "" : ": " + why));
                                    }));
    return Ok();
  };
  d.triggers = std::make_unique<triggers::TriggerService>(*d.trigger_store, d.blocking, d.io.get_executor(), d.clock,
                                                          std::move(invoke), std::move(options));
  return d.triggers->Start();
}

Conductor::Conductor(config::ConductorConfig config, std::ostream& announce)
    : impl_(std::make_unique<Impl>(std::move(config), announce)) {}

Conductor::~Conductor() {
  if (!impl_) return;
  // MQTT connections first: their threads queue fires on `blocking`, which is joined next.
  if (impl_->triggers) impl_->triggers->Stop();
  impl_->io.stop();
  impl_->blocking.join();
  impl_->hashing.Join();
  // Its thread may still call into the flows service: it goes while everything else is there.
  impl_->cloud_flows.reset();
}

Result<uint16_t> Conductor::Start() {
  auto& d = *impl_;
  EW_TRY(d.store, registry::OpenSqliteStore(d.config.store_path));
  d.authenticator = std::make_unique<auth::Authenticator>(*d.store, d.clock, d.config.token_ttl);
  EW_TRY_VOID(auth::BootstrapAdmin(*d.store, d.clock, d.config, d.announce));
  auth::LoginLimiterOptions limits;
  limits.free_failures_per_user = d.config.login_failures_per_user;
  limits.free_failures_per_address = d.config.login_failures_per_address;
  limits.max_delay = d.config.login_max_delay;
  limits.user_failures_before_pacing = d.config.login_user_failures_before_pacing;
  d.login_limiter = std::make_unique<auth::LoginLimiter>(d.clock, limits);
  d.revocations = std::make_unique<auth::RevocationHub>(d.io.get_executor(), d.clock);
  d.directory = std::make_unique<StoreDirectory>(*d.store, *d.authenticator, d.clock, d.blocking,
                                                 d.io.get_executor(), d.revocations.get());
  router::RouterConfig router_config;
  router_config.realm = d.config.realm;
  router_config.hello_timeout = d.config.hello_timeout;
  router_config.call_timeout = d.config.call_timeout;
  d.router = std::make_unique<router::Router>(d.io.get_executor(), router_config, *d.directory, d.metrics);
  // Revoked or expired tokens and deleted users: their WAMP sessions end (boards end through
  // DisconnectBoard when deleted).
  d.revocations->Subscribe([router = d.router.get()](const auth::Revocation& r) { router->Revoke(r); });
  EW_TRY(d.function_store, functions::FunctionStore::Open(d.config.store_path));
  // Nothing runs yet: a record still "running" was in flight when an earlier conductor died
  // (kill -9, power): its outcome will never arrive, so it ends here instead of staying running.
  EW_TRY(const size_t orphaned, d.function_store->FailRunningInvocations("conductor restarted"));
  if (orphaned > 0) Log()->warn("{} invocation(s) left running by the previous conductor marked failed", orphaned);
  functions::FunctionsOptions functions_options;
  functions_options.dir = !d.config.functions_dir.empty() ? std::filesystem::path(d.config.functions_dir)
                          : d.config.store_path == ":memory:"
                              ? (std::filesystem::temp_directory_path() / ("edgewire-functions-" + std::to_string(::getpid())))
                              : std::filesystem::path(d.config.store_path + ".functions");
  functions_options.stored_record.max_output_bytes = static_cast<size_t>(d.config.functions_max_stored_output_bytes);
  functions_options.stored_record.max_logs_bytes = static_cast<size_t>(d.config.functions_max_stored_logs_bytes);
  functions_options.cloud_runtime = d.config.functions_runtime;
  functions_options.cloud_max_running = static_cast<size_t>(d.config.functions_max_running);
  functions_options.cloud_uid_first = static_cast<uint32_t>(d.config.functions_uid_first);
  functions_options.cloud_uid_count = static_cast<uint32_t>(d.config.functions_uid_count);
  functions_options.cloud_cgroups = d.config.functions_cgroups;
  functions_options.invoker.default_strategy = d.config.functions_placement_strategy;
  functions_options.invoker.max_running_per_function = static_cast<size_t>(d.config.functions_max_running_per_function);
  functions_options.invoker.max_running_per_project = static_cast<size_t>(d.config.functions_max_running_per_project);
  d.functions = std::make_unique<functions::FunctionsService>(*d.function_store, *d.router, d.blocking,
                                                              d.io.get_executor(), d.clock, functions_options);
  EW_TRY_VOID(d.functions->Start());
  EW_TRY(d.flow_store, flows::FlowStore::Open(d.config.store_path));
  // The cloud partitions of flows deployed without Node-RED run here, in the boards' C++ runtime.
  // Their function calls go through the flows service (created next, destroyed first: the runner
  // is destroyed after it, and a call that comes meanwhile finds it gone and is dropped).
  d.cloud_flows = std::make_unique<flows::CloudFlowRunner>(
      *d.router, d.clock,
      [&d](const std::string& flow_id, const ew::flows::runtime::FunctionCall& call,
           std::function<void(Result<nlohmann::json>)> done) {
        if (!d.flows) return done(Unavailable("the conductor is stopping"));
        d.flows->InvokeFromCloud(flow_id, call, std::move(done));
      });
  d.flows = std::make_unique<flows::FlowsService>(*d.flow_store, *d.store, *d.router, d.functions.get(), d.blocking,
                                                  d.clock, flows::FlowsOptions{}, d.cloud_flows.get());
  EW_TRY_VOID(d.flows->Start());
  EW_TRY(d.gpio_store, gpio::GpioStore::Open(d.config.store_path));
  gpio::RecorderOptions recorder_options;
  recorder_options.retention = std::chrono::hours(24 * d.config.gpio_history_days);
  d.gpio_recorder = std::make_unique<gpio::ReadingRecorder>(*d.gpio_store, d.blocking, d.io.get_executor(), d.clock,
                                                            d.metrics, recorder_options);
  d.gpio_recorder->Start();
  d.gpio = std::make_unique<gpio::BoardGpio>(*d.router, *d.gpio_recorder, *d.gpio_store, d.clock, d.metrics);
  d.gpio->Start();
  EW_TRY(d.service_store, tunnels::ServiceStore::Open(d.config.store_path));
  tunnels::TunnelOptions tunnel_options;
  tunnel_options.listen_address =
      d.config.tunnels_listen_address.empty() ? d.config.listen_address : d.config.tunnels_listen_address;
  tunnel_options.port_first = static_cast<uint16_t>(d.config.tunnels_port_first);
  tunnel_options.port_last = static_cast<uint16_t>(d.config.tunnels_port_last);
  if (tunnel_options.port_first > tunnel_options.port_last)
    return InvalidArgument("[tunnels] port_first is above port_last");
  tunnel_options.max_connections = static_cast<size_t>(d.config.tunnels_max_connections);
  tunnel_options.open_timeout = d.config.tunnels_open_timeout;
  d.tunnels = std::make_unique<tunnels::TunnelManager>(d.io, *d.service_store, *d.router, d.clock, d.metrics,
                                                       tunnel_options);
  EW_TRY_VOID(d.tunnels->Start());
  EW_TRY_VOID(d.StartTriggers());
  rest::RestDeps deps{*d.store,  *d.authenticator, *d.router, d.metrics,         d.blocking,
                      d.config, d.clock,          d.functions.get(), d.gpio.get()};
  deps.hashing = &d.hashing;
  deps.flows = d.flows.get();
  deps.login_limiter = d.login_limiter.get();
  deps.revocations = d.revocations.get();
  deps.tunnels = d.tunnels.get();
  deps.triggers = d.triggers.get();
  d.rest = std::make_unique<rest::RestApi>(deps);
  server::ServerOptions options;
  options.address = d.config.listen_address;
  options.port = d.config.port;
  options.tls_cert_file = d.config.tls_cert;
  options.tls_key_file = d.config.tls_key;
  options.allow_plain = d.config.allow_plain;
  options.max_message_bytes = d.config.max_message_bytes;
  options.large_body_paths = {"/v1/functions"};  // package uploads, up to 16 MiB
  options.max_connections = static_cast<size_t>(d.config.max_connections);
  options.max_connections_per_address = static_cast<size_t>(d.config.max_connections_per_address);
  options.header_timeout = d.config.header_timeout;
  options.body_timeout = d.config.body_timeout;
  options.body_min_bytes_per_second = static_cast<size_t>(d.config.body_min_rate);
  options.http_idle_timeout = d.config.idle_timeout;
  options.heartbeat_timeout = d.config.heartbeat_timeout;
  options.heartbeat_interval = d.config.heartbeat_interval;
  d.server = std::make_unique<server::Server>(
      d.io, options, *d.rest,
      [router = d.router.get()](std::shared_ptr<router::Transport> t) { return router->Attach(std::move(t)); },
      &d.metrics);
  d.server->SetTunnelAccept([tunnels = d.tunnels.get()](const std::string& token, const std::string& board,
                                                         const std::string& peer) {
    return tunnels->Redeem(token, board, peer);
  });
  d.server->SetProxyOpen([&d](const server::HttpRequestHead& head, std::function<void(Error)> failed,
                              std::function<void(std::any)> deliver) {
    // The caller's token is checked on the blocking pool (the store), the tunnel opened on the
    // io thread.
    boost::asio::post(d.blocking, [&d, head, failed = std::move(failed), deliver = std::move(deliver)]() mutable {
      auto target = ProxyTargetOf(*d.authenticator, *d.store, head);
      if (!target) return failed(target.error());
      boost::asio::post(d.io, [&d, target = *target, peer = head.peer, failed = std::move(failed),
                               deliver = std::move(deliver)]() mutable {
        d.tunnels->OpenProxy(target.first, target.second, peer, std::move(failed), std::move(deliver));
      });
    });
  });
  EW_TRY(uint16_t port, d.server->Start());
  Log()->info("serving REST and WAMP (realm {}) on {}:{} over {}, store {}", d.config.realm,
                              d.config.listen_address, port, d.server->is_tls() ? "TLS" : "plain TCP",
                              d.config.store_path);
  return port;
}

void Conductor::Run(bool handle_signals) {
  auto& d = *impl_;
  std::unique_ptr<boost::asio::signal_set> signals;
  if (handle_signals) {
    signals = std::make_unique<boost::asio::signal_set>(d.io, SIGINT, SIGTERM);
    signals->async_wait([this](const boost::system::error_code& ec, int signo) {
      if (ec) return;
      Log()->info("signal {}: shutting down", signo);
      Stop();
    });
    d.reload_signal = std::make_unique<boost::asio::signal_set>(d.io, SIGHUP);
    d.WaitForReload();
  }
  uint64_t watchdog_usec = 0;
  if (sd_watchdog_enabled(0, &watchdog_usec) > 0) {
    d.watchdog = std::make_unique<boost::asio::steady_timer>(d.io);
    d.Watchdog(std::chrono::microseconds(watchdog_usec / 2));
  }
  d.io.run();
}

void Conductor::Stop() {
  auto& d = *impl_;
  boost::asio::post(d.io, [&d] {
    if (d.server) d.server->Stop();
    if (d.tunnels) d.tunnels->Stop();
    if (d.triggers) d.triggers->Stop();
    if (!d.gpio) return d.io.stop();
    // GPIO event streams end with a message, and their boards are asked to unwatch: give the
    // boards a moment to hear it (and answer) before the loop stops.
    if (!d.stop_grace) d.stop_grace = std::make_unique<boost::asio::steady_timer>(d.io);
    d.stop_grace->expires_after(kStopGrace);
    d.stop_grace->async_wait([&d](const boost::system::error_code&) { d.io.stop(); });
    d.gpio->Shutdown([&d] { boost::asio::post(d.io, [&d] { d.io.stop(); }); });
  });
}

}  // namespace ew::conductor
