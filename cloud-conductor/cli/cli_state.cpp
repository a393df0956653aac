// The CLI's remembered login. The token is a secret: the file is written 0600 through
// posix::WriteFileAtomically, so that no reader ever sees a half-written or wider-mode file.
#include "cloud-conductor/cli/cli_state.hpp"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <sstream>

#include <nlohmann/json.hpp>

#include "common/posix/file_io.hpp"

namespace ew::cli {

namespace fs = std::filesystem;

Result<std::string> StatePath(const std::string& xdg_config_home, const std::string& home) {
  // The XDG spec says a relative XDG_CONFIG_HOME is invalid and must be ignored.
  if (!xdg_config_home.empty() && xdg_config_home.front() == '/')
    return (fs::path(xdg_config_home) / "edgewire" / "cli.json").string();
  if (!home.empty()) return (fs::path(home) / ".config" / "edgewire" / "cli.json").string();
  return InvalidArgument("neither XDG_CONFIG_HOME nor HOME is set: nowhere to keep the login");
}

Result<std::string> StatePath() {
  const char* xdg = std::getenv("XDG_CONFIG_HOME");
  const char* home = std::getenv("HOME");
  return StatePath(xdg ? xdg : "", home ? home : "");
}

Result<CliState> LoadState(const std::string& path) {
  std::ifstream in(path);
  if (!in) {
    if (errno == ENOENT) return CliState{};
    return InvalidArgument("cannot read " + path + ": " + std::strerror(errno));
  }
  std::stringstream text;
  text << in.rdbuf();
  auto json = nlohmann::json::parse(text.str(), nullptr, false);
  if (json.is_discarded() || !json.is_object()) return InvalidArgument(path + " is not a JSON object: delete it and log in again");
  CliState state;
  auto field = [&](const char* key) {
    auto it = json.find(key);
    return it != json.end() && it->is_string() ? it->get<std::string>() : std::string();
  };
  state.url = field("url");
  state.token = field("token");
  state.user = field("user");
  return state;
}

Result<void> SaveState(const std::string& path, const CliState& state) {
  const fs::path file(path);
  const fs::path dir = file.parent_path();
  std::error_code ec;
  fs::create_directories(dir, ec);
  if (ec) return Internal("cannot create " + dir.string() + ": " + ec.message());
  ::chmod(dir.c_str(), 0700);

  const std::string text = nlohmann::json{{"url", state.url}, {"token", state.token}, {"user", state.user}}.dump(2) + "\n";
  return posix::WriteFileAtomically(file, text, 0600);
}

}  // namespace ew::cli
