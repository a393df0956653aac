// Who is calling, and what they may reach. Shared by REST (X-Auth-Token) and the router
// (WAMP "ticket" auth carries the same API token). Methods that touch the store block: run
// them on the blocking pool. Thread-safe.
#pragma once

#include <chrono>
#include <string>

#include "cloud-conductor/registry/store.hpp"
#include "common/clock/clock.hpp"
#include "common/error/error.hpp"

namespace ew::auth {

struct Principal {
  std::string user_id;
  std::string name;
  std::string project_id;
  std::string role;  // "admin" or "operator"
  bool is_admin() const { return role == "admin"; }
};

struct IssuedToken {
  std::string token;  // the secret text, shown once
  edgewire::v1::ApiToken record;
  edgewire::v1::User user;
};

class Authenticator {
 public:
  Authenticator(registry::Store& store, const Clock& clock, std::chrono::seconds default_ttl);

  // Unauthenticated for an unknown, malformed or expired token.
  Result<Principal> VerifyToken(const std::string& token);
  // Unauthenticated with one message for a wrong name or password (no user enumeration).
  // ttl 0 = default; InvalidArgument for a negative ttl or one over 30 days.
  Result<IssuedToken> IssueToken(const std::string& username, const std::string& password, std::chrono::seconds ttl);
  Result<void> RevokeToken(const std::string& token);

  // An admin reaches every project; an operator only its own.
  static bool CanAccessProject(const Principal& who, const std::string& project_id);

 private:
  registry::Store& store_;
  const Clock& clock_;
  std::chrono::seconds default_ttl_;
};

}  // namespace ew::auth
