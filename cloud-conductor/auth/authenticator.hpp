// Who is calling, and what they may reach. Shared by REST (X-Auth-Token) and the router
// (WAMP "ticket" auth carries the same API token). Methods that touch the store block: run
// them on the blocking pool. Thread-safe.
#pragma once

#include <chrono>
#include <cstdint>
#include <string>

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
  // Unauthenticated with one message for a wrong name or password (no user enumeration).
  // Runs PBKDF2: call it on the HashPool. ttl 0 = the lifetime; InvalidArgument for a
  // negative ttl or one longer than the lifetime (or than 30 days when tokens never expire).
  Result<IssuedToken> IssueToken(const std::string& username, const std::string& password, std::chrono::seconds ttl);
  // Returns the revoked token's id (ApiToken.id) for announcing the revocation.
  Result<std::string> RevokeToken(const std::string& token);

  // An admin reaches every project; an operator only its own.
  static bool CanAccessProject(const Principal& who, const std::string& project_id);

 private:
  registry::Store& store_;
  const Clock& clock_;
  std::chrono::seconds lifetime_;
};

}  // namespace ew::auth
