// Who is calling, and what they may reach. Shared by REST (X-Auth-Token) and the router
// (WAMP "ticket" auth carries the same API token). Methods that touch the store block: run
// them on the blocking pool. Thread-safe.
//
// Tokens it verified are remembered for kVerifiedFor (by their SHA-256, with the principal), so
// that a caller's requests do not read the store for the same answer each time: a REST call
// checks its token twice (headers, then handler). The only ways a token stops being valid go
// through here or through the clock: RevokeToken and DeleteUser forget what they end before
// they return, and an entry is never used past its token's expiry. Users' roles and projects
// never change (there is no such call). Store writes by anything but this conductor are not
// supported while it runs (the store is its own file).
#pragma once

#include <chrono>
#include <cstdint>
#include <mutex>
#include <optional>
#include <string>
#include <unordered_map>

#include "cloud-conductor/auth/principal.hpp"
#include "cloud-conductor/registry/store.hpp"
#include "common/clock/clock.hpp"
#include "common/error/error.hpp"

namespace ew::auth {

struct IssuedToken {
  std::string token;  // the secret text, shown once
  edgewire::v1::ApiToken record;
  edgewire::v1::User user;
};

class Authenticator {
 public:
  Authenticator(registry::Store& store, const Clock& clock, std::chrono::seconds lifetime);

  // `lifetime` is how long issued tokens live, and the most a caller may ask for; 0 = tokens
  // never expire unless the caller asks for a lifetime (the operator's explicit choice:
  // [auth] token_ttl_s = 0).
  // Unauthenticated for an unknown, malformed or expired token.
  Result<Principal> VerifyToken(const std::string& token);
  // The principal of `token` when it was verified within kVerifiedFor and is still valid; never
  // reads the store, so it may run on the io thread. Nullopt: ask VerifyToken.
  std::optional<Principal> VerifiedRecently(const std::string& token);
  // Unauthenticated with one message for a wrong name or password (no user enumeration).
  // Runs PBKDF2: call it on the HashPool. ttl 0 = the lifetime; InvalidArgument for a
  // negative ttl or one longer than the lifetime (or than 30 days when tokens never expire).
  Result<IssuedToken> IssueToken(const std::string& username, const std::string& password, std::chrono::seconds ttl);
  // Returns the revoked token's id (ApiToken.id) for announcing the revocation.
  Result<std::string> RevokeToken(const std::string& token);
  // Deletes user `id` and its tokens (Store::DeleteUser); none of them verifies from now on.
  Result<void> DeleteUser(const std::string& id);

  // How long a verified token is taken as valid without the store (above); the most entries.
  static constexpr std::chrono::seconds kVerifiedFor{30};
  static constexpr size_t kMaxVerified = 4096;

  // An admin reaches every project; an operator only its own.
  static bool CanAccessProject(const Principal& who, const std::string& project_id);

 private:
  struct Verified {
    Principal who;
    std::chrono::steady_clock::time_point verified_at;
  };
  // Remembers `who` for the token whose SHA-256 is `sha256`, unless a token was revoked or a
  // user deleted since `invalidations` was read (the store's answer may predate it).
  void Remember(const std::string& sha256, const Principal& who, uint64_t invalidations);
  std::optional<Principal> Recall(const std::string& sha256);

  registry::Store& store_;
  const Clock& clock_;
  std::chrono::seconds lifetime_;
  std::mutex verified_mu_;
  std::unordered_map<std::string, Verified> verified_;  // GUARDED_BY(verified_mu_), by SHA-256
  uint64_t invalidations_ = 0;  // GUARDED_BY(verified_mu_): revocations and user deletions so far
};

}  // namespace ew::auth
