// The `edgewire` commands. Each returns an error value; main() prints "error: <message>" and
// exits 1 (usage errors are CLI11's, exit 2).
#pragma once

#include <cstdint>
#include <iosfwd>
#include <memory>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "cloud-conductor/cli/cli_state.hpp"
#include "cloud-conductor/cli/http_client.hpp"
#include "common/error/error.hpp"

namespace ew::cli {

inline constexpr char kDefaultConductorUrl[] = "http://127.0.0.1:8080";

struct GlobalOptions {
  std::string conductor;  // --conductor, else EDGEWIRE_URL; "" = the URL saved at login, else the default
  std::string token;      // --token, else EDGEWIRE_TOKEN; "" = the token cached at login
  bool json = false;      // print the API's JSON instead of the human form
};

// Where a command goes, as whom, and where it prints. Not thread-safe.
class Context {
 public:
  Context(GlobalOptions options, std::ostream& out, std::istream& in);
  ~Context();

  // Reads the state file and picks the URL and token. A cached token is used only for the URL it
  // was issued by, so that pointing the CLI elsewhere never leaks it.
  Result<void> Init();

  // Sends a request and returns the parsed JSON body of a 2xx answer (null for 204). A non-2xx
  // answer becomes an error carrying the API's message. `needs_token`: fail early, with a hint,
  // when there is no token.
  Result<nlohmann::json> Call(const std::string& method, const std::string& path,
                              const nlohmann::json& body = nullptr, bool needs_token = true);
  // Like Call, but also returns the raw body (for --json).
  Result<std::pair<nlohmann::json, std::string>> CallRaw(const std::string& method, const std::string& path,
                                                         const nlohmann::json& body = nullptr,
                                                         bool needs_token = true);

  const GlobalOptions& options() const { return options_; }
  const std::string& url() const { return url_; }
  std::ostream& out() { return out_; }
  std::istream& in() { return in_; }
  CliState& state() { return state_; }
  const std::string& state_path() const { return state_path_; }
  void set_token(std::string token) { token_ = std::move(token); }
  HttpClient& client() { return *client_; }

 private:
  GlobalOptions options_;
  std::ostream& out_;
  std::istream& in_;
  std::string state_path_;
  CliState state_;
  std::string url_;
  std::string token_;
  std::unique_ptr<HttpClient> client_;
};

// The first line of `in` without its line ending; InvalidArgument when empty.
Result<std::string> ReadPasswordLine(std::istream& in);
// Asks on the terminal with echo off; InvalidArgument when there is no terminal.
Result<std::string> PromptPassword(const std::string& prompt);

Result<void> Login(Context& ctx, const std::string& user, bool password_stdin, int64_t ttl_seconds);
Result<void> Logout(Context& ctx);
Result<void> WhoAmI(Context& ctx);

Result<void> ProjectCreate(Context& ctx, const std::string& name);
Result<void> ProjectList(Context& ctx);
Result<void> ProjectDelete(Context& ctx, const std::string& id);

Result<void> UserCreate(Context& ctx, const std::string& name, const std::string& project, const std::string& role,
                        bool password_stdin);
Result<void> UserList(Context& ctx, const std::string& project);
Result<void> UserDelete(Context& ctx, const std::string& id);

// `labels` are "key=value" (checked by the caller).
Result<void> BoardCreate(Context& ctx, const std::string& name, const std::string& project,
                         const std::vector<std::string>& labels);
Result<void> BoardList(Context& ctx, const std::string& project);
Result<void> BoardShow(Context& ctx, const std::string& id);
Result<void> BoardDelete(Context& ctx, const std::string& id);
// `args`: each parsed by ArgumentValue; `kwargs`: a JSON object or "" (checked by the caller).
Result<void> BoardCall(Context& ctx, const std::string& id, const std::string& procedure,
                       const std::vector<std::string>& args, const std::string& kwargs, int64_t timeout_ms);
Result<void> BoardPing(Context& ctx, const std::string& id);

}  // namespace ew::cli
