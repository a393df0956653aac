#include "cloud-conductor/conductor.hpp"

#include <unistd.h>

#include <algorithm>
#include <cctype>
#include <filesystem>
#include <optional>
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
#include "cloud-conductor/flows/outbound_allowlist.hpp"
#include "cloud-conductor/functions/functions_service.hpp"
#include "cloud-conductor/gpio/board_gpio.hpp"
#include "cloud-conductor/gpio/gpio_store.hpp"
#include "cloud-conductor/gpio/reading_recorder.hpp"
#include "cloud-conductor/registry/store.hpp"
#include "cloud-conductor/rest/rest_api.hpp"
#include "cloud-conductor/router/router.hpp"
#include "cloud-conductor/server/proxy_target.hpp"
#include "cloud-conductor/server/server.hpp"
#include "cloud-conductor/store_directory.hpp"
#include "cloud-conductor/tunnels/service_store.hpp"
#include "cloud-conductor/tunnels/tunnel_manager.hpp"
#include "cloud-conductor/triggers/broker_config.hpp"
#include "cloud-conductor/triggers/trigger_service.hpp"
#include "cloud-conductor/triggers/trigger_store.hpp"
#include "cloud-conductor/agents/agent_package_store.hpp"
#include "cloud-conductor/agents/log_follow.hpp"
#include "cloud-conductor/agents/rollout_manager.hpp"
#include "common/clock/clock.hpp"
#include "common/log/log.hpp"
#include "common/metrics/metrics.hpp"

namespace ew::conductor {

const ew::log::Logger Log{"conductor"};

namespace {
// How long Stop() waits for boards to answer the unwatch of open GPIO event streams.
constexpr std::chrono::seconds kStopGrace{2};

// What to do with a request under /v1/boards/{id}/proxy/{port}/: open the tunnel (`redirect`
// empty), or answer the browser's login with a redirect that sets the session cookie.
struct ProxyDecision {
  std::string board_id;
  uint16_t port = 0;
  server::HttpResponse redirect;  // status 303 when set
  tunnels::ProxyCaller caller;    // who; the connection ends with their token or session
};

// Time from now to `unix_seconds` (0 = never: 0 ms), at least 1 ms when set.
std::chrono::milliseconds TimeLeft(const Clock& clock, int64_t unix_seconds) {
  if (unix_seconds <= 0) return std::chrono::milliseconds(0);
  const auto left = std::chrono::duration_cast<std::chrono::milliseconds>(
      std::chrono::system_clock::time_point(std::chrono::seconds(unix_seconds)) - clock.Now());
  return std::max(left, std::chrono::milliseconds(1));
}

// `target` without its query parameter `name`, with the proxy prefix ending in '/' (relative
// links of the board's pages resolve under it, and the session cookie's path is that prefix).
std::string WithoutQueryParameter(const std::string& target, const std::string& name) {
  const size_t q = target.find('?');
  std::string path = target.substr(0, q);
  std::string kept;
  if (q != std::string::npos) {
    size_t start = q + 1;
    while (start <= target.size()) {
      size_t end = target.find('&', start);
      if (end == std::string::npos) end = target.size();
      const std::string item = target.substr(start, end - start);
      const std::string item_name = item.substr(0, item.find('='));
      if (!item.empty() && item_name != name) kept += (kept.empty() ? "" : "&") + item;
      start = end + 1;
    }
  }
  return path + (kept.empty() ? "" : "?" + kept);
}

// The caller of a proxied request, by the first of: a login link's one-time code (query
// parameter ew_login: answered with a redirect that sets the session cookie), an API token
// (X-Auth-Token or Authorization: Bearer), the proxy session cookie (good for this board and
// port only). The board must be of the caller's project (or the caller an admin).
// Unauthenticated, PermissionDenied, NotFound, InvalidArgument (a bad port). Blocking.
Result<ProxyDecision> DecideProxy(auth::Authenticator& authenticator, registry::Store& store,
                                  tunnels::ProxySessionBook& sessions, const Clock& clock, bool secure_cookie,
                                  const server::HttpRequestHead& head) {
  // The raw target, read by the one parser the server uses too (never the decoded path).
  EW_TRY(server::ProxyTarget target, server::ParseProxyTarget(head.target));
  const std::string board_id = target.board_id;
  const uint16_t port = target.port;
  ProxyDecision decision{board_id, port, {}, {}};
  const std::string prefix = "/v1/boards/" + board_id + "/proxy/" + std::to_string(port) + "/";

  std::string token = head.Header("x-auth-token");
  const std::string& authorization = head.Header("authorization");
  if (token.empty() && authorization.size() > 7 && (authorization.rfind("Bearer ", 0) == 0 ||
                                                    authorization.rfind("bearer ", 0) == 0))
    token = authorization.substr(7);
  std::string project_id;
  auto login = head.query.find("ew_login");
  if (login != head.query.end()) {
    std::chrono::seconds lifetime{};
    EW_TRY(std::string session, sessions.RedeemLogin(login->second, board_id, port, &lifetime));
    EW_TRY(auto board, store.GetBoard(board_id));
    // The login was checked against the board's project when it was issued: still so?
    EW_TRY(tunnels::ProxyGrant grant, sessions.Check(session, board_id, port));
    if (board.project_id() != grant.project_id)
      return PermissionDenied("board " + board_id + " belongs to another project");
    std::string location = WithoutQueryParameter(head.target, "ew_login");
    const std::string bare = "/v1/boards/" + board_id + "/proxy/" + std::to_string(port);
    if (location.rfind(prefix, 0) != 0 && location.rfind(bare, 0) == 0) location.insert(bare.size(), "/");
    auto& r = decision.redirect;
    r.status = 303;
    r.content_type = "";
    r.headers.emplace_back("Location", location);
    r.headers.emplace_back("Cache-Control", "no-store");
    r.headers.emplace_back("Referrer-Policy", "no-referrer");  // the code never leaves in a Referer
    r.headers.emplace_back("Set-Cookie", std::string(server::kProxySessionCookie) + "=" + session +
                                             "; Path=" + prefix + "; Max-Age=" + std::to_string(lifetime.count()) +
                                             "; HttpOnly; SameSite=Strict" + (secure_cookie ? "; Secure" : ""));
    return decision;
  }
  if (!token.empty()) {
    EW_TRY(auth::Principal who, authenticator.VerifyToken(token));
    EW_TRY(auto board, store.GetBoard(board_id));
    if (!auth::Authenticator::CanAccessProject(who, board.project_id()))
      return PermissionDenied("board " + board_id + " belongs to another project");
    decision.caller = {who.user_id, who.name, who.token_id, board.project_id(), TimeLeft(clock, who.token_expires_at), 0, ""};
    return decision;
  }
  // Session cookies: only a cookie of this very board and port counts (a browser sends only
  // that one here, its Path says so; anything else is refused, never tried elsewhere).
  const std::string& cookies = head.Header("cookie");
  const std::string name = std::string(server::kProxySessionCookie) + "=";
  std::optional<Error> refusal;
  for (size_t at = cookies.find(name); at != std::string::npos; at = cookies.find(name, at + 1)) {
    if (at > 0 && cookies[at - 1] != ' ' && cookies[at - 1] != ';') continue;
    const size_t start = at + name.size();
    const std::string value = cookies.substr(start, cookies.find(';', start) - start);
    auto grant = sessions.Check(value, board_id, port);
    if (!grant) {
      refusal = grant.error();
      continue;
    }
    EW_TRY(auto board, store.GetBoard(board_id));
    if (board.project_id() != grant->project_id)
      return PermissionDenied("board " + board_id + " belongs to another project");
    // The session's end (never past its token's): the connection ends then too.
    auto left = std::chrono::duration_cast<std::chrono::milliseconds>(grant->expires_at - clock.Now());
    left = std::max(left, std::chrono::milliseconds(1));
    const auto token_left = TimeLeft(clock, grant->token_expires_at);
    if (token_left.count() > 0) left = std::min(left, token_left);
    decision.caller = {grant->user_id, "browser session of " + grant->user_id, grant->token_id, grant->project_id, left, 0, ""};
    return decision;
  }
  if (refusal) return tl::unexpected(*refusal);
  return Unauthenticated(
      "an API token is required: send X-Auth-Token or Authorization: Bearer, or open a login link from POST "
      "/v1/boards/{id}/proxy-logins in the browser");
}

struct ServiceConnectDecision {
  std::string board_id;
  uint16_t port = 0;
  tunnels::ProxyCaller caller;
};

// The caller of an authenticated service connection (GET /v1/services/{id}/connect): an API
// token (X-Auth-Token or Authorization: Bearer, as every REST call) of a user who may use the
// service through REST (its project's, or an admin). The service's allowCidrs do not apply: they
// guard its unauthenticated conductor port. Unauthenticated, NotFound, PermissionDenied,
// InvalidArgument (a malformed id). Blocking (the store).
Result<ServiceConnectDecision> DecideServiceConnect(auth::Authenticator& authenticator,
                                                    tunnels::TunnelManager& tunnels, const Clock& clock,
                                                    const server::HttpRequestHead& head) {
  static constexpr std::string_view kPrefix = "/v1/services/";
  static constexpr std::string_view kSuffix = "/connect";
  const std::string path = head.target.substr(0, head.target.find('?'));
  if (path.size() <= kPrefix.size() + kSuffix.size()) return InvalidArgument("no service id in " + path);
  const std::string id = path.substr(kPrefix.size(), path.size() - kPrefix.size() - kSuffix.size());
  for (const char c : id) {
    if (!std::isalnum(static_cast<unsigned char>(c)) && c != '-' && c != '_' && c != '.')
      return InvalidArgument("service id: only letters, digits, '-', '_' and '.'");
  }
  std::string token = head.Header("x-auth-token");
  const std::string& authorization = head.Header("authorization");
  if (token.empty() && authorization.size() > 7 && (authorization.rfind("Bearer ", 0) == 0 ||
                                                    authorization.rfind("bearer ", 0) == 0))
    token = authorization.substr(7);
  if (token.empty())
    return Unauthenticated("an API token is required: send X-Auth-Token or Authorization: Bearer");
  EW_TRY(auth::Principal who, authenticator.VerifyToken(token));
  EW_TRY(tunnels::ServiceState state, tunnels.Get(id));
  const tunnels::Service& service = state.service;
  if (!auth::Authenticator::CanAccessProject(who, service.project_id))
    return PermissionDenied("service " + id + " belongs to another project");
  ServiceConnectDecision decision{
      service.board_id, service.board_port,
      {who.user_id, who.name, who.token_id, service.project_id, TimeLeft(clock, who.token_expires_at), 0, ""}};
  decision.caller.service_id = service.id;
  return decision;
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
  std::unique_ptr<agents::AgentPackageStore> agent_packages;
  std::unique_ptr<agents::RolloutStore> rollout_store;
  std::unique_ptr<agents::RolloutManager> rollouts;  // after its store: writes into it
  std::unique_ptr<agents::LogFollow> log_follow;
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
  options.max_messages_per_second_per_project = static_cast<double>(d.config.triggers_max_messages_per_second);
  options.mqtt_topic_root = d.config.triggers_mqtt_topic_root;
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
  // Stop() may not have run (a test, a failed start): the loop is stopped, so this thread may.
  if (impl_->server) impl_->server->EndSessions();
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
  functions_options.cloud_max_per_project = static_cast<size_t>(d.config.functions_cloud_max_per_project);
  functions_options.invoker.cloud_network = d.config.functions_cloud_network;
  functions_options.invoker.default_strategy = d.config.functions_placement_strategy;
  functions_options.placement_flush_interval = std::chrono::milliseconds(d.config.functions_placement_flush_ms);
  functions_options.invoker.max_running_per_function = static_cast<size_t>(d.config.functions_max_running_per_function);
  functions_options.invoker.max_running_per_project = static_cast<size_t>(d.config.functions_max_running_per_project);
  d.functions = std::make_unique<functions::FunctionsService>(*d.function_store, *d.router, d.blocking,
                                                              d.io.get_executor(), d.clock, functions_options);
  EW_TRY_VOID(d.functions->Start());
  EW_TRY(d.flow_store, flows::FlowStore::Open(d.config.store_path));
  // The cloud partitions of flows deployed without Node-RED run here, in the boards' C++ runtime.
  // Their function calls go through the flows service (created next, destroyed first: the runner
  // is destroyed after it, and a call that comes meanwhile finds it gone and is dropped).
  flows::CloudFlowRunnerOptions cloud_flow_options;
  cloud_flow_options.runtime.outbound = flows::OutboundAllowList(d.config.flows_cloud_outbound);
  cloud_flow_options.runtime.local_files = false;
  d.cloud_flows = std::make_unique<flows::CloudFlowRunner>(
      *d.router, d.clock,
      [&d](const std::string& flow_id, const ew::flows::runtime::FunctionCall& call,
           std::function<void(Result<nlohmann::json>)> done) {
        if (!d.flows) return done(Unavailable("the conductor is stopping"));
        d.flows->InvokeFromCloud(flow_id, call, std::move(done));
      },
      cloud_flow_options);
  flows::FlowsOptions flows_options;
  flows_options.max_flows_per_project = static_cast<size_t>(d.config.flows_max_per_project);
  d.flows = std::make_unique<flows::FlowsService>(*d.flow_store, *d.store, *d.router, d.functions.get(), d.blocking,
                                                  d.clock, flows_options, d.cloud_flows.get());
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
  // Loopback unless configured otherwise; never [server] listen_address (security review H1).
  tunnel_options.listen_address =
      d.config.tunnels_listen_address.empty() ? std::string("127.0.0.1") : d.config.tunnels_listen_address;
  tunnel_options.max_services_per_project = static_cast<size_t>(d.config.tunnels_max_services_per_project);
  tunnel_options.port_first = static_cast<uint16_t>(d.config.tunnels_port_first);
  tunnel_options.port_last = static_cast<uint16_t>(d.config.tunnels_port_last);
  if (tunnel_options.port_first > tunnel_options.port_last)
    return InvalidArgument("[tunnels] port_first is above port_last");
  tunnel_options.max_connections = static_cast<size_t>(d.config.tunnels_max_connections);
  tunnel_options.open_timeout = d.config.tunnels_open_timeout;
  tunnel_options.max_tunnels_per_board = static_cast<size_t>(d.config.tunnels_max_per_board);
  tunnel_options.proxy_sessions.session_ttl = d.config.tunnels_proxy_session_ttl;
  tunnel_options.proxy_sessions.max_per_user = static_cast<size_t>(d.config.tunnels_proxy_sessions_per_user);
  tunnel_options.max_proxied = static_cast<size_t>(d.config.tunnels_max_proxied);
  tunnel_options.max_proxied_per_user = static_cast<size_t>(d.config.tunnels_max_proxied_per_user);
  tunnel_options.max_connections_per_project = static_cast<size_t>(d.config.tunnels_max_connections_per_project);
  d.tunnels = std::make_unique<tunnels::TunnelManager>(d.io, *d.service_store, *d.router, d.clock, d.metrics,
                                                       tunnel_options);
  EW_TRY_VOID(d.tunnels->Start());
  EW_TRY_VOID(d.StartTriggers());
  // A revoked token or deleted user ends the browser sessions it opened on boards' services.
  d.revocations->Subscribe([book = &d.tunnels->proxy_sessions()](const auth::Revocation& r) {
    book->Forget([&r](const tunnels::ProxyGrant& g) { return r.Covers(g.token_id, g.user_id); });
  });
  // ... and the proxied connections it opened (API token or browser session), WebSockets too.
  d.revocations->Subscribe([&d](const auth::Revocation& r) {
    boost::asio::post(d.io, [&d, r] {
      // The predicate is kept a while (EndProxied): it owns its copy of the revocation.
      const size_t ended = d.tunnels->EndProxied(
          [r](const tunnels::ProxyCaller& c, const std::string&) { return r.Covers(c.token_id, c.user_id); },
          r.message.empty() ? std::string("the caller's credential was revoked") : r.message);
      if (ended > 0) Log()->info("{} proxied connection(s) closed: {}", ended, r.message);
    });
  });
  // Agent packages sit beside the store, as function packages do (a temporary directory for an
  // in-memory store).
  d.agent_packages = std::make_unique<agents::AgentPackageStore>(
      d.config.store_path == ":memory:"
          ? (std::filesystem::temp_directory_path() / ("edgewire-agent-packages-" + std::to_string(::getpid())))
          : std::filesystem::path(d.config.store_path + ".agent-packages"));
  EW_TRY_VOID(d.agent_packages->Open());
  EW_TRY(d.rollout_store, agents::RolloutStore::Open(d.config.store_path));
  d.rollouts = std::make_unique<agents::RolloutManager>(*d.router, *d.agent_packages, *d.rollout_store, d.blocking,
                                                        d.clock, d.io.get_executor());
  EW_TRY_VOID(d.rollouts->Start());
  d.log_follow = std::make_unique<agents::LogFollow>(*d.router, d.io.get_executor());
  d.log_follow->Start();
  rest::RestDeps deps{*d.store,  *d.authenticator, *d.router, d.metrics,         d.blocking,
                      d.config, d.clock,          d.functions.get(), d.gpio.get()};
  deps.hashing = &d.hashing;
  deps.flows = d.flows.get();
  deps.login_limiter = d.login_limiter.get();
  deps.revocations = d.revocations.get();
  deps.tunnels = d.tunnels.get();
  deps.triggers = d.triggers.get();
  deps.agent_packages = d.agent_packages.get();
  deps.rollouts = d.rollouts.get();
  deps.log_follow = d.log_follow.get();
  d.rest = std::make_unique<rest::RestApi>(deps);
  server::ServerOptions options;
  options.address = d.config.listen_address;
  options.port = d.config.port;
  options.tls_cert_file = d.config.tls_cert;
  options.tls_key_file = d.config.tls_key;
  options.allow_plain = d.config.allow_plain;
  options.max_message_bytes = d.config.max_message_bytes;
  // Function and agent package uploads, up to 16 MiB.
  options.large_body_paths = {"/v1/functions", "/v1/agent-packages"};
  options.max_connections = static_cast<size_t>(d.config.max_connections);
  options.max_connections_per_address = static_cast<size_t>(d.config.max_connections_per_address);
  options.header_timeout = d.config.header_timeout;
  options.body_timeout = d.config.body_timeout;
  options.body_min_bytes_per_second = static_cast<size_t>(d.config.body_min_rate);
  options.http_idle_timeout = d.config.idle_timeout;
  options.heartbeat_timeout = d.config.heartbeat_timeout;
  options.tunnel_ping_interval = d.config.tunnels_ping_interval;
  options.proxy_idle_timeout = d.config.tunnels_proxy_idle_timeout;
  options.heartbeat_interval = d.config.heartbeat_interval;
  options.heartbeat_max_pings_per_second = static_cast<uint32_t>(d.config.heartbeat_max_pings_per_second);
  d.server = std::make_unique<server::Server>(
      d.io, options, *d.rest,
      [router = d.router.get()](std::shared_ptr<router::Transport> t) { return router->Attach(std::move(t)); },
      &d.metrics);
  // Services' client connections count under the port's caps like any connection (review M4).
  d.tunnels->SetConnectionLimiter(d.server->connection_limiter());
  d.server->SetTunnelAccept([tunnels = d.tunnels.get()](const std::string& token, const std::string& board,
                                                         const std::string& peer) {
    return tunnels->Redeem(token, board, peer);
  });
  // Behind a TLS-terminating proxy (public_url wss://) the browser is on https too.
  const bool secure_cookie = !d.config.tls_cert.empty() || d.config.public_url.rfind("wss://", 0) == 0;
  d.server->SetProxyOpen([&d, secure_cookie](const server::HttpRequestHead& head,
                                             std::function<void(server::HttpResponse)> answer,
                                             std::function<void(std::any)> deliver) {
    // The caller is checked on the blocking pool (the store), the tunnel opened on the io thread.
    boost::asio::post(d.blocking, [&d, secure_cookie, head, answer = std::move(answer),
                                   deliver = std::move(deliver)]() mutable {
      auto fail = [answer](const Error& error) {
        server::HttpResponse r;
        r.status = HttpStatus(error.code);
        r.body = ErrorJson(error);
        answer(std::move(r));
      };
      // Read before the check: a revocation after it still reaches this request (OpenProxy).
      const uint64_t end_mark = d.tunnels->ProxyEndMark();
      auto decision =
          DecideProxy(*d.authenticator, *d.store, d.tunnels->proxy_sessions(), d.clock, secure_cookie, head);
      if (!decision) return fail(decision.error());
      decision->caller.checked_after = end_mark;
      if (decision->redirect.status == 303) return answer(std::move(decision->redirect));
      boost::asio::post(d.io, [&d, board = decision->board_id, port = decision->port, peer = head.peer, fail,
                               caller = std::move(decision->caller), deliver = std::move(deliver)]() mutable {
        d.tunnels->OpenProxy(board, port, peer, std::move(caller), fail, std::move(deliver));
      });
    });
  });
  // Authenticated service connections: the caller is checked as a proxied request's is, and the
  // board's tunnel opened by the same path (caps per user and project, revocation, audit line).
  d.server->SetServiceConnect([&d](const server::HttpRequestHead& head,
                                   std::function<void(server::HttpResponse)> answer,
                                   std::function<void(std::any)> deliver) {
    boost::asio::post(d.blocking, [&d, head, answer = std::move(answer), deliver = std::move(deliver)]() mutable {
      auto fail = [answer](const Error& error) {
        server::HttpResponse r;
        r.status = HttpStatus(error.code);
        r.body = ErrorJson(error);
        answer(std::move(r));
      };
      const uint64_t end_mark = d.tunnels->ProxyEndMark();  // read before the check (OpenProxy)
      auto decision = DecideServiceConnect(*d.authenticator, *d.tunnels, d.clock, head);
      if (!decision) return fail(decision.error());
      decision->caller.checked_after = end_mark;
      boost::asio::post(d.io, [&d, board = decision->board_id, port = decision->port, peer = head.peer, fail,
                               caller = std::move(decision->caller), deliver = std::move(deliver)]() mutable {
        d.tunnels->OpenProxy(board, port, peer, std::move(caller), fail, std::move(deliver));
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
    if (d.log_follow) d.log_follow->Shutdown();
    if (d.rollouts) d.rollouts->Stop();
    // The sessions go last: until then the boards still hear what the conductor tells them.
    auto stop_io = [&d] {
      if (d.server) d.server->EndSessions();
      d.io.stop();
    };
    if (!d.gpio) return stop_io();
    // GPIO event streams end with a message, and their boards are asked to unwatch: give the
    // boards a moment to hear it (and answer) before the loop stops.
    if (!d.stop_grace) d.stop_grace = std::make_unique<boost::asio::steady_timer>(d.io);
    d.stop_grace->expires_after(kStopGrace);
    d.stop_grace->async_wait([stop_io](const boost::system::error_code&) { stop_io(); });
    d.gpio->Shutdown([&d, stop_io] { boost::asio::post(d.io, stop_io); });
  });
}

}  // namespace ew::conductor
