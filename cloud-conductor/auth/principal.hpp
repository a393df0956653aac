// Who is calling: what the Authenticator makes of a valid API token. A header of its own so
// that the router and the REST routes name a caller without the registry and protobuf that the
// Authenticator needs.
#pragma once

#include <cstdint>
#include <string>

#include "cloud-conductor/auth/role.hpp"

namespace ew::auth {

struct Principal {
  std::string user_id;
  std::string name;
  std::string project_id;
  Role role = Role::kOperator;  // kAdmin or kOperator (a user, never a board)
  // The API token the caller presented (ApiToken.id, never its text) and when it expires
  // (Unix seconds, 0 = never): sessions and streams opened with it end at that moment.
  std::string token_id;
  int64_t token_expires_at = 0;
  bool is_admin() const { return role == Role::kAdmin; }
};

}  // namespace ew::auth
