// What `edgewire login` remembers between runs: the conductor URL, the API token and the user
// name, in $XDG_CONFIG_HOME/edgewire/cli.json (else ~/.config/edgewire/cli.json), directory
// 0700, file 0600.
#pragma once

#include <string>

#include "common/error/error.hpp"

namespace ew::cli {

struct CliState {
  std::string url;    // the conductor the token belongs to
  std::string token;  // API token text; "" after logout
  std::string user;
};

// The cli.json path from the given environment values ("" = unset). InvalidArgument when
// neither is set.
Result<std::string> StatePath(const std::string& xdg_config_home, const std::string& home);
// From the process environment.
Result<std::string> StatePath();

// A missing file is an empty state; a malformed one is InvalidArgument naming the file.
Result<CliState> LoadState(const std::string& path);
// Creates the directory (0700) if needed and replaces the file atomically, mode 0600.
Result<void> SaveState(const std::string& path, const CliState& state);

}  // namespace ew::cli
