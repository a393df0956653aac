// The conductor's REST API (/v1, /healthz, /metrics) as a server::HttpHandler. Handle() never
// blocks: store work runs on the blocking pool, board calls answer from the router's strand.
// docs/REST.md is the reference of every route.
#pragma once

#include <boost/asio/thread_pool.hpp>

#include "cloud-conductor/auth/authenticator.hpp"
#include "cloud-conductor/auth/hash_pool.hpp"
#include "cloud-conductor/auth/login_limiter.hpp"
#include "cloud-conductor/auth/revocation_hub.hpp"
#include "cloud-conductor/registry/store.hpp"
#include "cloud-conductor/rest/route_table.hpp"
#include "cloud-conductor/router/board_gateway.hpp"
#include "cloud-conductor/server/http_types.hpp"
#include "common/clock/clock.hpp"
#include "common/config/config.hpp"
#include "common/metrics/metrics.hpp"

namespace ew::functions {
class FunctionsService;
}
namespace ew::conductor::gpio {
class BoardGpio;
}
namespace ew::conductor::flows {
class FlowsService;
}
namespace ew::conductor::tunnels {
class TunnelManager;
}
namespace ew::conductor::triggers {
class TriggerService;
}
namespace ew::conductor::agents {
class AgentPackageStore;
class RolloutManager;
class LogFollow;
}

namespace ew::rest {

// What the API works with; everything must outlive the RestApi and any request in flight
// (join `blocking` before destroying them).
struct RestDeps {
  registry::Store& store;
  auth::Authenticator& auth;
  router::BoardGateway& gateway;
  metrics::Registry& metrics;
  boost::asio::thread_pool& blocking;
  const config::ConductorConfig& config;
  const Clock& clock;
  // Serverless functions and fleets; null answers those routes with 503.
  functions::FunctionsService* functions = nullptr;
  // Boards' GPIO (calls, event streams, readings history); null answers those routes with 503.
  conductor::gpio::BoardGpio* gpio = nullptr;
  // Distributed flows; null answers those routes with 503.
  conductor::flows::FlowsService* flows = nullptr;
  // Reverse tunnels (/v1/services); null answers those routes with 503.
  conductor::tunnels::TunnelManager* tunnels = nullptr;
  // MQTT and schedule triggers (/v1/triggers); null (or no functions) answers those routes with 503.
  conductor::triggers::TriggerService* triggers = nullptr;
  // Password hashing (logins, new users) runs here, never on `blocking`; null = on `blocking`.
  auth::HashPool* hashing = nullptr;
  // Failed logins per user and address (429 + Retry-After); null = unlimited.
  auth::LoginLimiter* login_limiter = nullptr;
  // Told of revoked tokens and deleted users; ends the GPIO event streams they opened and
  // watches the expiry of the tokens that open them. Null = nobody is told.
  auth::RevocationHub* revocations = nullptr;
  // Agent updates over the air and board versions (issue 16); null answers those routes with 503
  // and lists boards without versions.
  conductor::agents::AgentPackageStore* agent_packages = nullptr;
  conductor::agents::RolloutManager* rollouts = nullptr;
  // sys.logs follow mode (GET /v1/boards/{id}/logs?follow=true); null answers it with 503.
  conductor::agents::LogFollow* log_follow = nullptr;
};

class RestApi final : public server::HttpHandler {
 public:
  explicit RestApi(RestDeps deps);
  RestApi(const RestApi&) = delete;
  RestApi& operator=(const RestApi&) = delete;

  // Thread-safe. `respond` runs exactly once: on the calling thread (404, 405, 401 without a
  // token, /healthz, /metrics), a blocking-pool thread, or the router's strand (board calls).
  void Handle(server::HttpRequest request, server::Respond respond) override;
  // Before a body is read: 404/405 for unknown routes, and for a route that needs a token, 401
  // when it is missing or does not verify (checked on the calling thread when the
  // Authenticator verified it recently, else on the blocking pool). The verified caller
  // rides on HttpRequest::admission; Handle still checks the token again once the body is in
  // (reading it may take minutes, and a revocation meanwhile must win). Requests without a body
  // are admitted at once and checked by Handle.
  void Admit(const server::HttpRequestHead& head, server::AdmitDone admit) override;

 private:
  void Run(const Route& route, Exchange exchange);
  Result<auth::Principal> Verify(const std::string& token, const std::string& what);
  void Dispatch(const Route& route, Exchange exchange);
  server::Respond Instrument(const std::string& route_label, server::Respond respond);

  RestDeps deps_;
  RouteTable routes_;
};

}  // namespace ew::rest
