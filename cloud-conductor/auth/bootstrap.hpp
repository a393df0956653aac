// First start of a conductor: with no user in the registry, create the "default" project and
// an "admin" user, so that an operator can log in. Never a fixed default password.
#pragma once

#include <iosfwd>

#include "cloud-conductor/registry/store.hpp"
#include "common/clock/clock.hpp"
#include "common/config/config.hpp"
#include "common/error/error.hpp"

namespace ew::auth {

// Does nothing when the store already has a user. Otherwise creates project "default" (unless
// one exists) and user "admin" (role admin) in it. The password comes from
// config.bootstrap_password_file (trimmed; InvalidArgument when unreadable, empty or shorter
// than 8 characters); else it is generated, printed once to `out` in a boxed message and written
// to "<directory of config.store_path>/admin-password" with mode 0600 (not for ":memory:";
// Internal when that file cannot be written). Blocking: call before serving.
Result<void> BootstrapAdmin(registry::Store& store, const Clock& clock, const config::ConductorConfig& config,
                            std::ostream& out);

// Where BootstrapAdmin writes a generated password for a store at `store_path`; "" for
// ":memory:".
std::string AdminPasswordPath(const std::string& store_path);

}  // namespace ew::auth
