// Browser logins to a board's HTTP service through /v1/boards/{id}/proxy/{port}/ (docs/SECURITY.md
// "Tunnels"). A browser cannot send the API token on page loads, so a user holding a token asks
// for a login link (POST /v1/boards/{id}/proxy-logins): a one-time login code, short-lived. Its
// first use on the proxy path is swapped for a proxy session, set as a cookie scoped to that
// board and port (Path=/v1/boards/{id}/proxy/{port}/), and the browser is sent on without the
// code in its URL. A session is a conductor-issued random secret bound to user, API token,
// project, board and port, never the user's token; it lives at most session_ttl and never past
// the token it came from, and ends with the token (revocation, user deleted).
//
// Codes and sessions are random (32 bytes) and kept by SHA-256, like the tunnel tokens
// (token_book.hpp). Thread-safe: the REST routes and the proxy's caller check run on the
// blocking pool, revocations arrive on any thread.
#pragma once

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <functional>
#include <map>
#include <mutex>
#include <string>

#include "common/clock/clock.hpp"
#include "common/error/error.hpp"

namespace ew::conductor::tunnels {

struct ProxySessionOptions {
  // A login link's life: from POST /v1/boards/{id}/proxy-logins to the browser opening it.
  std::chrono::seconds login_ttl{60};
  // A proxy session's life (its cookie's Max-Age); capped by the API token's own expiry.
  std::chrono::seconds session_ttl{15 * 60};
  // Codes and sessions held at once (expired ones are swept first); past it, ResourceExhausted.
  size_t max_entries = 10'000;
  // Codes and sessions of one user at once (expired ones are swept first); past it,
  // ResourceExhausted: one user cannot fill max_entries for everyone (security review 3, M3).
  size_t max_per_user = 32;
};

// Whose a login code or session is, and where it is good.
struct ProxyGrant {
  std::string user_id;
  std::string token_id;    // ApiToken.id of the token the login link was asked with
  std::string project_id;  // the board's project when the link was issued
  std::string board_id;
  uint16_t port = 0;
  int64_t token_expires_at = 0;  // Unix seconds, 0 = never
  Clock::TimePoint expires_at;   // set by the book
};

class ProxySessionBook {
 public:
  ProxySessionBook(const Clock& clock, ProxySessionOptions options) : clock_(clock), options_(options) {}

  // A fresh one-time login code for `grant`. ResourceExhausted when the book is full or the
  // user holds max_per_user codes and sessions.
  Result<std::string> IssueLogin(ProxyGrant grant);
  // Spends the code (whatever the outcome) and returns a new session secret for the same grant,
  // valid for `*lifetime`. Unauthenticated for an unknown, used or expired code, or one for
  // another board or port.
  Result<std::string> RedeemLogin(const std::string& code, const std::string& board_id, uint16_t port,
                                  std::chrono::seconds* lifetime);
  // The grant of a live session for this board and port. Unauthenticated for an unknown or
  // expired session, a login code, or a session of another board or port.
  Result<ProxyGrant> Check(const std::string& session, const std::string& board_id, uint16_t port);
  // Ends every code and session for which `covered(grant)` is true (revoked token, deleted user).
  size_t Forget(const std::function<bool(const ProxyGrant&)>& covered);
  size_t size() const;
  const ProxySessionOptions& options() const { return options_; }

 private:
  struct Entry {
    bool is_session = false;  // false: a login code
    ProxyGrant grant;
  };
  Result<std::string> Add(Entry entry, std::chrono::seconds ttl, std::chrono::seconds* lifetime);  // mu_ held
  void SweepLocked();

  const Clock& clock_;
  const ProxySessionOptions options_;
  mutable std::mutex mu_;
  std::map<std::string, Entry> entries_;  // GUARDED_BY(mu_), by SHA-256 hex of the secret
};

}  // namespace ew::conductor::tunnels
