// The one list of roles a caller can have, and the one mapping between a role and the string
// that the registry stores, REST shows and WAMP's authrole carries ("admin", "operator",
// "board"). Header-only so that auth, router and rest share it without linking each other.
#pragma once

#include <optional>
#include <string_view>

namespace ew::auth {

enum class Role {
  kNone,      // not yet authenticated
  kBoard,     // a board's agent session (WAMP-CRA), never a user
  kOperator,  // a user confined to one project
  kAdmin,     // a user who may act on every project
};

// The stored / wire name of `role`; "anonymous" for kNone (never stored).
inline const char* RoleName(Role role) {
  switch (role) {
    case Role::kBoard: return "board";
    case Role::kOperator: return "operator";
    case Role::kAdmin: return "admin";
    case Role::kNone: break;
  }
  return "anonymous";
}

// The role a user record may hold, from its stored / REST name: only "admin" and "operator"
// (boards are not users). nullopt for anything else.
inline std::optional<Role> ParseUserRole(std::string_view name) {
  if (name == "admin") return Role::kAdmin;
  if (name == "operator") return Role::kOperator;
  return std::nullopt;
}

}  // namespace ew::auth
