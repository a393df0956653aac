// The `edgewire` commands. Each returns an error value; main() prints "error: <message>" and
// exits with Context::exit_code() when the command chose one, else exit_code::ForError(error)
// (common/exit/exit_code.hpp: 2 usage/invalid, 3 refused, 1 anything else). Function and fleet commands are in function_commands.hpp, fleet_commands.hpp.
#pragma once

#include <chrono>
#include <cstdint>
#include <functional>
#include <iosfwd>
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include <nlohmann/json.hpp>

#include "cloud-conductor/cli/cli_state.hpp"
#include "cloud-conductor/cli/http_client.hpp"
#include "common/clock/clock.hpp"
#include "common/error/error.hpp"

namespace ew::cli {

inline constexpr char kDefaultConductorUrl[] = "http://127.0.0.1:8080";

struct GlobalOptions {
  std::string conductor;  // --conductor, else EDGEWIRE_URL; "" = the URL saved at login, else the default
  std::string token;      // --token, else EDGEWIRE_TOKEN; "" = the token cached at login
  bool json = false;      // print the API's JSON instead of the human form
  std::string ca_file;    // --ca-file, else EDGEWIRE_CA_FILE: PEM CAs for https; "" = the system CAs
};

// Where a command goes, as whom, and where it prints. Not thread-safe.
class Context {
 public:
  // Waits between polls (`fn deploy --wait`); tests pass one that advances a ManualClock.
  using Pause = std::function<void(std::chrono::milliseconds)>;

  // `err` takes what is not the command's result (a failed function's logs), so that `out`
  // stays parseable.
  Context(GlobalOptions options, std::ostream& out, std::istream& in, std::ostream& err);
  Context(GlobalOptions options, std::ostream& out, std::istream& in);  // err = std::cerr
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
  // One request with a body of any type (a package upload); every HTTP status is returned, for
  // callers that read error bodies (an invocation's 502 carries its record). Unauthenticated
  // without a token when `needs_token`; transport errors as HttpClient::Send.
  Result<HttpResult> Exchange(const std::string& method, const std::string& path, const std::string& body,
                              const std::string& content_type, bool needs_token = true);
  // GET `path` as a stream (HttpClient::Stream: `on_data` gets the body of a 200 as it comes),
  // with the token; Unauthenticated without one.
  Result<HttpResult> Stream(const std::string& path, const HttpClient::OnData& on_data,
                            std::chrono::milliseconds idle);

  const GlobalOptions& options() const { return options_; }
  const std::string& url() const { return url_; }
  std::ostream& out() { return out_; }
  std::ostream& err() { return err_; }
  std::istream& in() { return in_; }
  // The exit status main() uses when the command returns an error (default 1).
  int exit_code() const { return exit_code_; }
  void set_exit_code(int code) { exit_code_ = code; }
  const Clock& clock() const { return *clock_; }
  void Wait(std::chrono::milliseconds duration) { pause_(duration); }
  // Replaces the clock and the pause (tests); `clock` must outlive the context.
  void set_clock(const Clock* clock, Pause pause) {
    clock_ = clock;
    pause_ = std::move(pause);
  }
  CliState& state() { return state_; }
  const std::string& state_path() const { return state_path_; }
  void set_token(std::string token) { token_ = std::move(token); }
  // The token for this URL (after Init); "" when there is none.
  const std::string& token() const { return token_; }
  // Unauthenticated, with a hint, when there is no token for this URL.
  Result<void> RequireToken() const;
  HttpClient& client() { return *client_; }

 private:

  GlobalOptions options_;
  std::ostream& out_;
  std::istream& in_;
  std::ostream& err_;
  int exit_code_ = 1;
  SystemClock system_clock_;
  const Clock* clock_ = &system_clock_;
  Pause pause_;
  std::string state_path_;
  CliState state_;
  std::string url_;
  std::string token_;
  std::unique_ptr<HttpClient> client_;
};

// Shared by the command files.
// The API's {"error":{"code","message"}} of a non-2xx answer as an Error; a body of another
// shape keeps the HTTP status in the message.
Error ApiError(const HttpResult& result);
// Percent-encodes one path segment (ids and names typed by the user).
std::string PathSegment(const std::string& text);
// object[key] when it is a string, else "".
std::string JsonString(const nlohmann::json& object, const std::string& key);
// With --json, prints `raw` (the API's body) and returns true; else false.
bool PrintedRaw(Context& ctx, const std::string& raw);

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
// `board` is an id or a name, resolved as every command resolves boards (BoardNames::Resolve).
Result<void> BoardShow(Context& ctx, const std::string& board);
Result<void> BoardDelete(Context& ctx, const std::string& board);
// `args`: each parsed by ArgumentValue; `kwargs`: a JSON object or "" (checked by the caller).
Result<void> BoardCall(Context& ctx, const std::string& board, const std::string& procedure,
                       const std::vector<std::string>& args, const std::string& kwargs, int64_t timeout_ms);
Result<void> BoardPing(Context& ctx, const std::string& board);

}  // namespace ew::cli
