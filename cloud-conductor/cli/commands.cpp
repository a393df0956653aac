// The CLI's commands: one REST call each (two for login), printed for humans or, with --json,
// as the API's own JSON.
#include "cloud-conductor/cli/commands.hpp"

#include <fcntl.h>
#include <termios.h>
#include <unistd.h>

#include <cctype>
#include <chrono>
#include <ctime>
#include <iostream>
#include <istream>
#include <ostream>
#include <thread>

#include <fmt/format.h>

#include "cloud-conductor/cli/board_names.hpp"
#include "cloud-conductor/cli/format.hpp"
#include "cloud-conductor/cli/paged_list.hpp"

namespace ew::cli {

namespace {

int64_t NowUnix() { return static_cast<int64_t>(std::time(nullptr)); }

Result<std::string> ReadPassword(Context& ctx, bool from_stdin, const std::string& prompt) {
  if (from_stdin) return ReadPasswordLine(ctx.in());
  return PromptPassword(prompt);
}

}  // namespace

std::string PathSegment(const std::string& text) {
  std::string out;
  for (unsigned char c : text) {
    if (std::isalnum(c) || c == '-' || c == '_' || c == '.' || c == '~') {
      out += static_cast<char>(c);
    } else {
      out += fmt::format("%{:02X}", c);
    }
  }
  return out;
}

std::string JsonString(const nlohmann::json& object, const std::string& key) {
  if (!object.is_object()) return "";
  auto it = object.find(key);
  return it != object.end() && it->is_string() ? it->get<std::string>() : "";
}

Error ApiError(const HttpResult& result) {
  auto body = nlohmann::json::parse(result.body, nullptr, false);
  std::string message;
  if (body.is_object() && body.contains("error") && body["error"].is_object())
    message = JsonString(body["error"], "message");
  if (message.empty()) message = fmt::format("the conductor answered HTTP {}", result.status);
  ErrorCode code = ErrorCode::kInternal;
  switch (result.status) {
    case 400: code = ErrorCode::kInvalidArgument; break;
    case 401: code = ErrorCode::kUnauthenticated; break;
    case 403: code = ErrorCode::kPermissionDenied; break;
    case 404: code = ErrorCode::kNotFound; break;
    case 409: code = ErrorCode::kConflict; break;
    case 413: code = ErrorCode::kResourceExhausted; break;
    case 503: code = ErrorCode::kUnavailable; break;
    case 504: code = ErrorCode::kDeadlineExceeded; break;
    default: break;
  }
  return Error{code, message};
}

bool PrintedRaw(Context& ctx, const std::string& raw) {
  if (!ctx.options().json) return false;
  if (!raw.empty()) ctx.out() << raw << "\n";
  return true;
}

Context::Context(GlobalOptions options, std::ostream& out, std::istream& in, std::ostream& err)
    : options_(std::move(options)),
      out_(out),
      in_(in),
      err_(err),
      pause_([](std::chrono::milliseconds d) { std::this_thread::sleep_for(d); }) {}

Context::Context(GlobalOptions options, std::ostream& out, std::istream& in)
    : Context(std::move(options), out, in, std::cerr) {}

Context::~Context() = default;

Result<void> Context::Init() {
  EW_TRY(state_path_, StatePath());
  EW_TRY(state_, LoadState(state_path_));
  url_ = !options_.conductor.empty() ? options_.conductor : !state_.url.empty() ? state_.url : kDefaultConductorUrl;
  while (url_.size() > 1 && url_.back() == '/') url_.pop_back();
  if (!options_.token.empty()) {
    token_ = options_.token;
  } else if (state_.url == url_) {
    token_ = state_.token;
  }
  EW_TRY(Url parsed, ParseUrl(url_));
  client_ = std::make_unique<HttpClient>(std::move(parsed), std::chrono::seconds(60), options_.ca_file);
  return Ok();
}

Result<void> Context::RequireToken() const {
  if (!token_.empty()) return Ok();
  return Unauthenticated(state_.url.empty() || state_.url == url_
                             ? "not logged in: run `edgewire login --user NAME`"
                             : "not logged in to " + url_ + " (the saved login is for " + state_.url +
                                   "): run `edgewire login --user NAME`");
}

Result<HttpResult> Context::Exchange(const std::string& method, const std::string& path, const std::string& body,
                                     const std::string& content_type, bool needs_token) {
  if (needs_token) EW_TRY_VOID(RequireToken());
  return client_->Send(method, path, body, needs_token ? token_ : "", content_type);
}

Result<HttpResult> Context::Stream(const std::string& path, const HttpClient::OnData& on_data,
                                   std::chrono::milliseconds idle) {
  EW_TRY_VOID(RequireToken());
  return client_->Stream(path, token_, on_data, idle);
}

Result<std::pair<nlohmann::json, std::string>> Context::CallRaw(const std::string& method, const std::string& path,
                                                                const nlohmann::json& body, bool needs_token) {
  EW_TRY(HttpResult result,
         Exchange(method, path, body.is_null() ? "" : body.dump(), "application/json", needs_token));
  if (result.status < 200 || result.status >= 300) {
    Error error = ApiError(result);
    if (result.status == 401 && needs_token) error.message += " (run `edgewire login --user NAME`)";
    return tl::unexpected(error);
  }
  if (result.body.empty()) return std::make_pair(nlohmann::json(), std::string());
  auto json = nlohmann::json::parse(result.body, nullptr, false);
  if (json.is_discarded()) return Internal("the conductor answered something that is not JSON");
  return std::make_pair(std::move(json), std::move(result.body));
}

Result<nlohmann::json> Context::Call(const std::string& method, const std::string& path, const nlohmann::json& body,
                                     bool needs_token) {
  EW_TRY(auto answer, CallRaw(method, path, body, needs_token));
  return std::move(answer.first);
}

Result<std::string> ReadPasswordLine(std::istream& in) {
  std::string line;
  std::getline(in, line);
  if (!line.empty() && line.back() == '\r') line.pop_back();
  if (line.empty()) return InvalidArgument("no password on standard input");
  return line;
}

Result<std::string> PromptPassword(const std::string& prompt) {
  int fd = ::open("/dev/tty", O_RDWR | O_CLOEXEC);
  if (fd < 0) return InvalidArgument("no terminal to ask for the password: use --password-stdin");
  termios saved{};
  const bool is_tty = ::tcgetattr(fd, &saved) == 0;
  if (is_tty) {
    termios quiet = saved;
    quiet.c_lflag &= ~static_cast<tcflag_t>(ECHO);
    quiet.c_lflag |= ECHONL;
    ::tcsetattr(fd, TCSAFLUSH, &quiet);
  }
  [[maybe_unused]] auto written = ::write(fd, prompt.data(), prompt.size());
  std::string line;
  char c = 0;
  while (::read(fd, &c, 1) == 1 && c != '\n') line += c;
  if (is_tty) ::tcsetattr(fd, TCSAFLUSH, &saved);
  ::close(fd);
  if (!line.empty() && line.back() == '\r') line.pop_back();
  if (line.empty()) return InvalidArgument("no password given");
  return line;
}

// ---- auth ----

Result<void> Login(Context& ctx, const std::string& user, bool password_stdin, int64_t ttl_seconds) {
  EW_TRY(std::string password, ReadPassword(ctx, password_stdin, "Password for " + user + ": "));
  nlohmann::json request = {{"username", user}, {"password", password}, {"ttlSeconds", ttl_seconds}};
  EW_TRY(auto answer, ctx.CallRaw("POST", "/v1/auth/tokens", request, /*needs_token=*/false));
  const nlohmann::json& body = answer.first;
  CliState state;
  state.url = ctx.url();
  state.token = JsonString(body, "token");
  state.user = user;
  if (state.token.empty()) return Internal("the conductor answered no token");
  EW_TRY_VOID(SaveState(ctx.state_path(), state));
  ctx.state() = state;
  if (ctx.options().json) {
    // The token stays out of the printed JSON: it is in the state file.
    nlohmann::json shown = body;
    shown.erase("token");
    ctx.out() << shown.dump() << "\n";
    return Ok();
  }
  const auto& who = body["user"];
  const int64_t expires_at = JsonInt64(body, "expiresAt");
  // 0: the conductor is configured with tokens that never expire.
  const std::string expiry = expires_at == 0 ? "never expires"
                                             : fmt::format("expires {} ({})", FormatUtc(expires_at),
                                                           TimeUntil(expires_at, NowUnix()));
  ctx.out() << fmt::format("logged in to {} as {} ({}, project {}); token {}\n", ctx.url(), user,
                           JsonString(who, "role"), JsonString(who, "projectId"), expiry);
  return Ok();
}

Result<void> Logout(Context& ctx) {
  auto revoked = ctx.Call("DELETE", "/v1/auth/tokens/current");
  // An expired or already revoked token: logging out still forgets it.
  if (!revoked && revoked.error().code != ErrorCode::kUnauthenticated) return tl::unexpected(revoked.error());
  if (ctx.state().url == ctx.url() && !ctx.state().token.empty()) {
    CliState state = ctx.state();
    state.token.clear();
    EW_TRY_VOID(SaveState(ctx.state_path(), state));
  }
  if (!ctx.options().json) ctx.out() << "logged out of " << ctx.url() << "\n";
  return Ok();
}

Result<void> WhoAmI(Context& ctx) {
  EW_TRY(auto answer, ctx.CallRaw("GET", "/v1/auth/whoami"));
  if (PrintedRaw(ctx, answer.second)) return Ok();
  const auto& who = answer.first;
  ctx.out() << fmt::format("{} ({}) in project {} at {}\n", JsonString(who, "name"), JsonString(who, "role"),
                           JsonString(who, "projectId"), ctx.url());
  return Ok();
}

// ---- projects ----

Result<void> ProjectCreate(Context& ctx, const std::string& name) {
  EW_TRY(auto answer, ctx.CallRaw("POST", "/v1/projects", {{"name", name}}));
  if (PrintedRaw(ctx, answer.second)) return Ok();
  ctx.out() << "project " << name << " created: " << JsonString(answer.first, "id") << "\n";
  return Ok();
}

Result<void> ProjectList(Context& ctx) {
  EW_TRY(auto listing, GetAllPages(ctx, "/v1/projects", "projects"));
  if (PrintedListing(ctx, listing)) return Ok();
  std::vector<Row> rows;
  for (const auto& project : listing["projects"])
    rows.push_back({JsonString(project, "id"), JsonString(project, "name"),
                    FormatUtc(JsonInt64(project, "createdAt"))});
  ctx.out() << RenderTable({"ID", "NAME", "CREATED"}, rows);
  return Ok();
}

Result<void> ProjectDelete(Context& ctx, const std::string& id) {
  EW_TRY_VOID(ctx.Call("DELETE", "/v1/projects/" + PathSegment(id)));
  if (!ctx.options().json) ctx.out() << "project " << id << " deleted\n";
  return Ok();
}

// ---- users ----

Result<void> UserCreate(Context& ctx, const std::string& name, const std::string& project, const std::string& role,
                        bool password_stdin) {
  EW_TRY(std::string password, ReadPassword(ctx, password_stdin, "Password for the new user " + name + ": "));
  if (!password_stdin) {
    EW_TRY(std::string again, PromptPassword("Again: "));
    if (again != password) return InvalidArgument("the two passwords differ");
  }
  nlohmann::json request = {{"name", name}, {"password", password}, {"projectId", project}, {"role", role}};
  EW_TRY(auto answer, ctx.CallRaw("POST", "/v1/users", request));
  if (PrintedRaw(ctx, answer.second)) return Ok();
  ctx.out() << fmt::format("user {} ({}) created in project {}: {}\n", name, JsonString(answer.first, "role"), project,
                           JsonString(answer.first, "id"));
  return Ok();
}

Result<void> UserList(Context& ctx, const std::string& project) {
  EW_TRY(auto listing,
         GetAllPages(ctx, "/v1/users" + (project.empty() ? "" : "?project=" + PathSegment(project)), "users"));
  if (PrintedListing(ctx, listing)) return Ok();
  std::vector<Row> rows;
  for (const auto& user : listing["users"])
    rows.push_back({JsonString(user, "id"), JsonString(user, "name"), JsonString(user, "projectId"),
                    JsonString(user, "role"), FormatUtc(JsonInt64(user, "createdAt"))});
  ctx.out() << RenderTable({"ID", "NAME", "PROJECT", "ROLE", "CREATED"}, rows);
  return Ok();
}

Result<void> UserDelete(Context& ctx, const std::string& id) {
  EW_TRY_VOID(ctx.Call("DELETE", "/v1/users/" + PathSegment(id)));
  if (!ctx.options().json) ctx.out() << "user " << id << " deleted\n";
  return Ok();
}

// ---- boards ----

Result<void> BoardCreate(Context& ctx, const std::string& name, const std::string& project,
                         const std::vector<std::string>& labels) {
  nlohmann::json request = {{"name", name}};
  if (!project.empty()) request["projectId"] = project;
  if (!labels.empty()) {
    request["labels"] = nlohmann::json::object();
    for (const auto& label : labels) {
      const size_t eq = label.find('=');
      request["labels"][label.substr(0, eq)] = eq == std::string::npos ? "" : label.substr(eq + 1);
    }
  }
  EW_TRY(auto answer, ctx.CallRaw("POST", "/v1/boards", request));
  if (PrintedRaw(ctx, answer.second)) return Ok();
  const auto& body = answer.first;
  const std::string code = JsonString(body, "enrolmentCode");
  const int64_t expires = JsonInt64(body, "enrolmentCodeExpiresAt");
  ctx.out() << fmt::format(
      "board {} created in project {}: {}\n"
      "enrolment code: {} (expires {}, {}; shown only once)\n"
      "on the board, run:\n"
      "  edgewire-agent enrol --conductor {} --code {}\n",
      name, JsonString(body["board"], "projectId"), JsonString(body["board"], "id"), code, FormatUtc(expires),
      TimeUntil(expires, NowUnix()), ctx.url(), code);
  return Ok();
}

Result<void> BoardList(Context& ctx, const std::string& project) {
  EW_TRY(auto listing,
         GetAllPages(ctx, "/v1/boards" + (project.empty() ? "" : "?project=" + PathSegment(project)), "boards"));
  if (PrintedListing(ctx, listing)) return Ok();
  ctx.out() << RenderBoardTable(listing["boards"], NowUnix());
  return Ok();
}

Result<void> BoardShow(Context& ctx, const std::string& board) {
  EW_TRY(std::string id, BoardNames::Resolve(ctx, board));
  EW_TRY(auto answer, ctx.CallRaw("GET", "/v1/boards/" + PathSegment(id)));
  if (PrintedRaw(ctx, answer.second)) return Ok();
  ctx.out() << RenderBoard(answer.first, NowUnix());
  return Ok();
}

Result<void> BoardDelete(Context& ctx, const std::string& board) {
  EW_TRY(std::string id, BoardNames::Resolve(ctx, board));
  EW_TRY_VOID(ctx.Call("DELETE", "/v1/boards/" + PathSegment(id)));
  if (!ctx.options().json) ctx.out() << "board " << (id == board ? id : board + " (" + id + ")") << " deleted\n";
  return Ok();
}

Result<void> BoardCall(Context& ctx, const std::string& board, const std::string& procedure,
                       const std::vector<std::string>& args, const std::string& kwargs, int64_t timeout_ms) {
  EW_TRY(std::string id, BoardNames::Resolve(ctx, board));
  nlohmann::json request = nlohmann::json::object();
  request["args"] = nlohmann::json::array();
  for (const auto& arg : args) request["args"].push_back(ArgumentValue(arg));
  if (!kwargs.empty()) request["kwargs"] = nlohmann::json::parse(kwargs);
  if (timeout_ms > 0) {
    request["timeoutMs"] = timeout_ms;
    // The HTTP exchange must outlive the board call it waits for.
    ctx.client().set_timeout(std::chrono::milliseconds(timeout_ms) + std::chrono::seconds(10));
  }
  EW_TRY(auto answer,
         ctx.CallRaw("POST", "/v1/boards/" + PathSegment(id) + "/calls/" + PathSegment(procedure), request));
  if (PrintedRaw(ctx, answer.second)) return Ok();
  const auto& body = answer.first;
  ctx.out() << RenderCallResult(body.value("args", nlohmann::json::array()),
                                body.value("kwargs", nlohmann::json::object()));
  return Ok();
}

Result<void> BoardPing(Context& ctx, const std::string& board) {
  EW_TRY(std::string id, BoardNames::Resolve(ctx, board));
  const auto started = std::chrono::steady_clock::now();
  EW_TRY(auto answer,
         ctx.CallRaw("POST", "/v1/boards/" + PathSegment(id) + "/calls/sys.ping", nlohmann::json::object()));
  const double round_trip = std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - started).count();
  if (PrintedRaw(ctx, answer.second)) return Ok();
  const double on_conductor = answer.first.value("durationMs", 0.0);
  ctx.out() << fmt::format("pong from {}: {:.1f} ms round trip ({:.1f} ms conductor to board)\n", board, round_trip,
                           on_conductor);
  return Ok();
}

}  // namespace ew::cli
