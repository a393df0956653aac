#include "device-agent/session/reconnect_policy.hpp"

#include <algorithm>
#include <array>

namespace ew::agent::session {

std::string_view ReconnectStateName(ReconnectState state) {
  switch (state) {
    case ReconnectState::kConnecting: return "connecting";
    case ReconnectState::kConnected: return "connected";
    case ReconnectState::kProbing: return "conductor_unreachable";
    case ReconnectState::kBackingOff: return "backing_off";
    case ReconnectState::kRefused: return "refused";
  }
  return "unknown";
}

bool IsRefusal(std::string_view reason) {
  // What the conductor's router answers a board it will not let in (router/handle_hello.cpp,
  // the board deletion's GOODBYE), and the standard URIs another router would use.
  static constexpr std::array<std::string_view, 6> kRefusals = {
      "wamp.error.authentication_failed", "wamp.error.no_such_principal", "wamp.error.not_authorized",
      "wamp.error.no_such_realm",         "wamp.error.no_auth_method",    "ew.close.board_deleted"};
  return std::any_of(kRefusals.begin(), kRefusals.end(), [&](std::string_view uri) {
    return reason.substr(0, uri.size()) == uri && (reason.size() == uri.size() || reason[uri.size()] == ':');
  });
}

ReconnectPolicy::ReconnectPolicy(ReconnectPolicyConfig config, const ew::Clock& clock, Backoff::RandomSource random)
    : config_(config),
      clock_(clock),
      random_(random),
      retry_(config.retry_initial, config.retry_max, random),
      refused_(config.refused_initial, config.refused_max, random) {
  config_.probe_jitter = std::clamp(config_.probe_jitter, 0.0, 1.0);
  config_.probe_interval = std::max(config_.probe_interval, std::chrono::milliseconds(1));
}

void ReconnectPolicy::OnConnecting() {
  if (state_ != ReconnectState::kConnected) state_ = ReconnectState::kConnecting;
}

void ReconnectPolicy::OnReady() {
  state_ = ReconnectState::kConnected;
  ready_at_ = clock_.Steady();
  was_ready_ = true;
  refusals_ = 0;
  attempt_ = 0;
  ++connections_;
}

ReconnectStep ReconnectPolicy::OnDisconnected(DisconnectKind kind, const std::string& reason) {
  const bool lost_stable = state_ == ReconnectState::kConnected && clock_.Steady() - ready_at_ >= config_.stable_after;
  if (lost_stable) {
    retry_.Reset();
    refused_.Reset();
  }
  const ReconnectState previous = state_;
  last_reason_ = reason;
  switch (kind) {
    case DisconnectKind::kUnreachable:
      state_ = ReconnectState::kProbing;
      attempt_ = previous == ReconnectState::kProbing ? attempt_ + 1 : 1;
      return {ReconnectStep::Action::kProbe, ProbeDelay()};
    case DisconnectKind::kRefused:
      state_ = ReconnectState::kRefused;
      attempt_ = previous == ReconnectState::kRefused ? attempt_ + 1 : 1;
      ++refusals_;
      {
        // "Equal jitter": at least half the window, so a refused board never comes back at once.
        const auto window = refused_.Window();
        return {ReconnectStep::Action::kConnect, window / 2 + refused_.Next() / 2};
      }
    case DisconnectKind::kFailed:
      state_ = ReconnectState::kBackingOff;
      attempt_ = previous == ReconnectState::kBackingOff ? attempt_ + 1 : 1;
      return {ReconnectStep::Action::kConnect, retry_.Next()};
  }
  return {ReconnectStep::Action::kConnect, retry_.Next()};
}

std::chrono::milliseconds ReconnectPolicy::OnProbeFailed() {
  state_ = ReconnectState::kProbing;
  ++attempt_;
  return ProbeDelay();
}

std::chrono::milliseconds ReconnectPolicy::ProbeDelay() {
  const double r = std::clamp(random_(), 0.0, 1.0);
  const double factor = 1.0 - config_.probe_jitter + 2.0 * config_.probe_jitter * r;
  return std::chrono::milliseconds(
      std::max<int64_t>(1, static_cast<int64_t>(factor * static_cast<double>(config_.probe_interval.count()))));
}

}  // namespace ew::agent::session
