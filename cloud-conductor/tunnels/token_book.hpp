// The one-time tokens of tunnel connections: one per accepted client connection, handed to the
// board in tunnel.open and presented back by the board's tunnel WebSocket. A token is random
// (32 bytes), single-use (redeeming it removes it, whatever the outcome), short-lived, and bound
// to its service, its board and the board's session at issue. Kept by SHA-256, so that looking
// one up takes no time that depends on how much of a guess was right.
//
// Not thread-safe: the conductor's io thread owns it (TunnelManager).
#pragma once

#include <chrono>
#include <cstdint>
#include <map>
#include <string>
#include <vector>

#include "common/clock/clock.hpp"
#include "common/error/error.hpp"

namespace ew::conductor::tunnels {

struct TokenGrant {
  std::string service_id;
  std::string board_id;
  uint64_t session_id = 0;     // the board's session the token was sent on
  uint64_t connection_id = 0;  // the client connection waiting for it
  Clock::TimePoint expires_at;
};

class TokenBook {
 public:
  TokenBook(const Clock& clock, std::chrono::milliseconds ttl) : clock_(clock), ttl_(ttl) {}

  // A fresh token for `grant` (its expires_at is set here).
  std::string Issue(TokenGrant grant);
  // Takes the token out (it can never be redeemed again) and returns its grant when it was
  // issued, has not expired and names `board_id`. PermissionDenied for an unknown or already
  // used token, another board's, or an expired one.
  Result<TokenGrant> Redeem(const std::string& token, const std::string& board_id);
  // Withdraws a token that will not be used (its connection was closed). False if unknown.
  bool Forget(const std::string& token);
  // Removes every expired token; returns their grants.
  std::vector<TokenGrant> Expire();
  size_t size() const { return grants_.size(); }

 private:
  const Clock& clock_;
  std::chrono::milliseconds ttl_;
  std::map<std::string, TokenGrant> grants_;  // by SHA-256 hex of the token
};

}  // namespace ew::conductor::tunnels
