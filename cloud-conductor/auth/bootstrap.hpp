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
// than 8 characters); else it is generated and written to AdminPasswordPath(config.store_path)
// with mode 0600 (Internal when that file cannot be written), and a boxed message on `out` says
// where — the password itself never goes to `out` or the log. Blocking: call before serving.
Result<void> BootstrapAdmin(registry::Store& store, const Clock& clock, const config::ConductorConfig& config,
                            std::ostream& out);

// Where BootstrapAdmin writes a generated password for a store at `store_path`:
// "<its directory>/admin-password", or "<temp dir>/edgewire-admin-password-<pid>" for ":memory:".
std::string AdminPasswordPath(const std::string& store_path);

}  // namespace ew::auth
