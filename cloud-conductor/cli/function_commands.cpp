// The `fn` commands. Packages are checked locally with the same parser the conductor runs, so
// that a manifest mistake is reported before a 16 MiB upload; invocation failures keep stdout
// clean (only a function's output goes there) and tell scripts what happened by exit status.
#include "cloud-conductor/cli/function_commands.hpp"

#include <algorithm>
#include <charconv>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <ostream>
#include <sstream>

#include <fmt/format.h>

#include "cloud-conductor/cli/board_names.hpp"
#include "cloud-conductor/cli/deployment_watch.hpp"
#include "cloud-conductor/cli/fleet_commands.hpp"
#include "cloud-conductor/cli/format.hpp"
#include "cloud-conductor/cli/function_format.hpp"
#include "cloud-conductor/cli/paged_list.hpp"
#include "common/gpio/trigger_spec.hpp"
#include "containers/package/package.hpp"

namespace ew::cli {

namespace fs = std::filesystem;

namespace {

// Room for the conductor to reach the board and report back beyond the function's own timeout.
constexpr std::chrono::seconds kInvokeMargin{30};
constexpr std::chrono::milliseconds kDefaultFunctionTimeout{10'000};  // FunctionSpec's default

std::string FunctionPath(const nlohmann::json& function) {
  return "/v1/functions/" + PathSegment(JsonString(function, "id"));
}

// "double 1.0.0 (fn-…)" for messages.
std::string Describe(const nlohmann::json& function) {
  return fmt::format("{} {} ({})", JsonString(function, "name"), JsonString(function, "version"),
                     JsonString(function, "id"));
}

Result<std::string> ReadFile(const fs::path& path, uint64_t limit) {
  std::error_code ec;
  const uint64_t size = fs::file_size(path, ec);
  if (ec) return InvalidArgument(path.string() + ": " + ec.message());
  if (size > limit) {
    return ResourceExhausted(fmt::format("{}: {} bytes, over the package limit of {}", path.string(), size,
                                         FormatBytes(limit)));
  }
  std::ifstream file(path, std::ios::binary);
  if (!file) return InvalidArgument(path.string() + ": cannot open");
  std::string bytes((std::istreambuf_iterator<char>(file)), std::istreambuf_iterator<char>());
  if (file.bad()) return InvalidArgument(path.string() + ": read error");
  return bytes;
}

Result<nlohmann::json> ParseJsonOption(const std::string& option, const std::string& text) {
  auto value = nlohmann::json::parse(text, nullptr, false);
  if (value.is_discarded()) return InvalidArgument(option + ": not valid JSON");
  return value;
}

// The HTTP exchange of a synchronous invocation must outlive the function's own timeout.
std::chrono::milliseconds InvokeHttpTimeout(const nlohmann::json& function) {
  std::chrono::milliseconds timeout = kDefaultFunctionTimeout;
  if (function.is_object() && function.contains("spec")) {
    const int64_t ms = JsonInt64(function["spec"], "timeoutMs");
    if (ms > 0) timeout = std::chrono::milliseconds(ms);
  }
  return std::max<std::chrono::milliseconds>(std::chrono::seconds(60), timeout + kInvokeMargin);
}

void PrintLines(Context& ctx, const std::vector<std::string>& lines) {
  if (ctx.options().json) return;
  for (const auto& line : lines) ctx.out() << line << "\n";
  ctx.out().flush();  // progress: shown as it happens, also through a pipe
}

std::string Joined(const std::vector<std::string>& parts) {
  std::string out;
  for (const auto& part : parts) out += (out.empty() ? "" : ", ") + part;
  return out;
}

// Reports a finished invocation record: its output on success, else its logs on err and an
// error carrying the exit status for its kind of failure.
Result<void> ReportInvocation(Context& ctx, const nlohmann::json& function, const nlohmann::json& record) {
  using contract::InvocationStatus;
  // A missing or unknown status is reported below like any other unexpected one.
  const InvocationStatus status = InvocationStatusOf(record).value_or(InvocationStatus::kRunning);
  if (ctx.options().json) {
    ctx.out() << record.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace) << "\n";
  } else if (status == InvocationStatus::kSucceeded) {
    const nlohmann::json output = record.is_object() ? record.value("output", nlohmann::json()) : nlohmann::json();
    ctx.out() << output.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace) << "\n";
  }
  if (status == InvocationStatus::kSucceeded) return Ok();
  if (!ctx.options().json) {
    std::string logs = JsonString(record, "logs");
    if (!logs.empty() && logs.back() != '\n') logs += '\n';
    ctx.err() << logs;
  }
  const std::string error = JsonString(record, "error");
  const std::string where = InvocationPlace(record);
  const std::string name = JsonString(function, "name");
  switch (status) {
    case InvocationStatus::kFailed:
      ctx.set_exit_code(kExitFunctionFailed);
      return tl::unexpected(Error{ErrorCode::kInternal, fmt::format("function {} failed on {}{}", name, where,
                                                                    error.empty() ? "" : ": " + error)});
    case InvocationStatus::kTimedOut:
      ctx.set_exit_code(kExitTimedOut);
      return DeadlineExceeded(
          fmt::format("function {} timed out on {}{}", name, where, error.empty() ? "" : ": " + error));
    default:
      return Internal("the conductor answered an invocation with status \"" + JsonString(record, "status") + "\"");
  }
}

// Polls the deployments until every board is deployed or failed, or the timeout.
Result<void> WaitForDeployments(Context& ctx, const nlohmann::json& function, const DeployOptions& options,
                                DeploymentWatch& watch, std::string last_raw) {
  const auto deadline = ctx.clock().Steady() + options.timeout;
  while (!watch.finished()) {
    const auto now = ctx.clock().Steady();
    if (now >= deadline) break;
    ctx.Wait(std::min<std::chrono::milliseconds>(
        options.poll, std::chrono::duration_cast<std::chrono::milliseconds>(deadline - now)));
    EW_TRY(auto listing, GetAllPages(ctx, FunctionPath(function) + "/deployments", "deployments"));
    PrintLines(ctx, watch.Update(listing["deployments"]));
    last_raw = listing.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace);
  }
  PrintedRaw(ctx, last_raw);
  if (!watch.finished()) {
    ctx.set_exit_code(kExitTimedOut);
    return DeadlineExceeded(fmt::format(
        "timed out after {}s; not deployed yet: {} (a pending board is offline or not reached yet)",
        options.timeout.count(), Joined(watch.Unfinished())));
  }
  if (!watch.all_deployed()) {
    ctx.set_exit_code(kExitFunctionFailed);
    return Internal("deployment failed on " + Joined(watch.Failed()));
  }
  if (!ctx.options().json) ctx.out() << "deployed " << Describe(function) << "\n";
  return Ok();
}

}  // namespace

Result<std::string> LoadPackage(const std::string& path) {
  std::error_code ec;
  const auto status = fs::status(path, ec);
  if (ec || !fs::exists(status)) return InvalidArgument(path + ": no such file or directory");
  std::string bytes;
  if (fs::is_directory(status)) {
    auto packed = containers::PackDirectory(path);
    if (!packed) return tl::unexpected(Error{packed.error().code, path + ": " + packed.error().message});
    bytes = std::move(*packed);
  } else {
    EW_TRY(bytes, ReadFile(path, containers::PackageLimits{}.max_package_bytes));
  }
  auto inspected = containers::InspectPackage(bytes);
  if (!inspected) return tl::unexpected(Error{inspected.error().code, path + ": " + inspected.error().message});
  return bytes;
}

Result<nlohmann::json> ReadEvent(const std::string& event, const std::string& event_file, std::istream& in) {
  if (!event.empty()) return ParseJsonOption("--event", event);
  if (event_file.empty()) return nlohmann::json::object();
  std::string text;
  if (event_file == "-") {
    text.assign(std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>());
  } else {
    std::ifstream file(event_file, std::ios::binary);
    if (!file) return InvalidArgument("--event-file: cannot open " + event_file);
    text.assign(std::istreambuf_iterator<char>(file), std::istreambuf_iterator<char>());
  }
  return ParseJsonOption("--event-file " + event_file, text);
}

Result<nlohmann::json> LookUpFunction(Context& ctx, const std::string& text, bool unique) {
  auto direct = ctx.Call("GET", "/v1/functions/" + PathSegment(text));
  if (direct) return std::move(*direct);
  const ErrorCode code = direct.error().code;
  if (code != ErrorCode::kNotFound && code != ErrorCode::kInvalidArgument) return tl::unexpected(direct.error());
  EW_TRY(nlohmann::json listing, GetAllPages(ctx, "/v1/functions", "functions"));
  std::vector<nlohmann::json> named;
  for (const auto& function : listing.value("functions", nlohmann::json::array()))
    if (JsonString(function, "name") == text) named.push_back(function);
  if (named.empty()) return NotFound("no function with the id or name " + text);
  if (unique && named.size() > 1) {
    std::vector<std::string> versions;
    for (const auto& function : named)
      versions.push_back(JsonString(function, "id") + " (" + JsonString(function, "version") + ")");
    return InvalidArgument("function " + text + " has several versions: " + Joined(versions) + "; give an id");
  }
  // The newest; on equal times the later in the listing, which the API orders by creation.
  auto newest = named.begin();
  for (auto it = named.begin(); it != named.end(); ++it)
    if (JsonInt64(*it, "createdAt") >= JsonInt64(*newest, "createdAt")) newest = it;
  return *newest;
}

Result<void> FunctionCreate(Context& ctx, const std::string& path) {
  EW_TRY(std::string bytes, LoadPackage(path));
  EW_TRY(HttpResult result, ctx.Exchange("POST", "/v1/functions", bytes, "application/gzip"));
  if (result.status < 200 || result.status >= 300) return tl::unexpected(ApiError(result));
  if (PrintedRaw(ctx, result.body)) return Ok();
  auto body = nlohmann::json::parse(result.body, nullptr, false);
  if (body.is_discarded()) return Internal("the conductor answered something that is not JSON");
  ctx.out() << RenderFunctionCreated(body);
  return Ok();
}

Result<void> FunctionList(Context& ctx) {
  EW_TRY(auto listing, GetAllPages(ctx, "/v1/functions", "functions"));
  if (PrintedListing(ctx, listing)) return Ok();
  ctx.out() << RenderFunctionTable(listing["functions"]);
  return Ok();
}

Result<void> FunctionDelete(Context& ctx, const std::string& fn) {
  EW_TRY(nlohmann::json function, LookUpFunction(ctx, fn, /*unique=*/true));
  EW_TRY_VOID(ctx.Call("DELETE", FunctionPath(function)));
  if (!ctx.options().json) ctx.out() << "function " << Describe(function) << " deleted\n";
  return Ok();
}

// "GPIO4", "GPIO4,falling", "GPIO4,both,20" → {"line", "edge", "debounceMs"}, checked as the
// conductor checks it, so a typo fails here with the flag named.
Result<nlohmann::json> ParseTriggerFlags(const std::vector<std::string>& flags) {
  nlohmann::json triggers = nlohmann::json::array();
  for (const std::string& flag : flags) {
    std::vector<std::string> parts;
    for (size_t start = 0;;) {
      size_t comma = flag.find(',', start);
      parts.push_back(flag.substr(start, comma == std::string::npos ? std::string::npos : comma - start));
      if (comma == std::string::npos) break;
      start = comma + 1;
    }
    if (parts.size() > 3) return InvalidArgument("--trigger " + flag + ": expected LINE[,EDGE[,DEBOUNCE_MS]]");
    nlohmann::json trigger = {{"line", parts[0]}};
    if (parts.size() > 1) trigger["edge"] = parts[1];
    if (parts.size() > 2) {
      int64_t ms = -1;
      auto [end, ec] = std::from_chars(parts[2].data(), parts[2].data() + parts[2].size(), ms);
      if (ec != std::errc() || end != parts[2].data() + parts[2].size())
        return InvalidArgument("--trigger " + flag + ": DEBOUNCE_MS must be a whole number of milliseconds");
      trigger["debounceMs"] = ms;
    }
    if (auto parsed = ew::gpio::ParseTrigger(trigger); !parsed)
      return InvalidArgument("--trigger " + flag + ": " + parsed.error().message);
    triggers.push_back(std::move(trigger));
  }
  return triggers;
}

Result<void> FunctionDeploy(Context& ctx, const std::string& fn, const DeployOptions& options) {
  EW_TRY(nlohmann::json triggers, ParseTriggerFlags(options.triggers));
  EW_TRY(nlohmann::json function, LookUpFunction(ctx, fn));
  const BoardNames names = BoardNames::Load(ctx);
  nlohmann::json request;
  if (!options.fleet.empty()) {
    EW_TRY(nlohmann::json fleet, LookUpFleet(ctx, options.fleet));
    request = {{"fleetId", JsonString(fleet, "id")}};
  } else {
    EW_TRY(std::vector<std::string> ids, names.Ids(options.boards));
    request = {{"boardIds", ids}};
  }
  if (!triggers.empty()) request["triggers"] = std::move(triggers);
  EW_TRY(auto answer, ctx.CallRaw("POST", FunctionPath(function) + "/deployments", request));
  const nlohmann::json deployments = answer.first.value("deployments", nlohmann::json::array());
  std::vector<std::string> boards;
  for (const auto& deployment : deployments) boards.push_back(JsonString(deployment, "boardId"));
  DeploymentWatch watch(boards, names.Labels());
  if (!ctx.options().json) {
    ctx.out() << fmt::format("deploying {} to {} board{}\n", Describe(function), boards.size(),
                             boards.size() == 1 ? "" : "s");
  }
  PrintLines(ctx, watch.Update(deployments));
  if (!options.wait) {
    PrintedRaw(ctx, answer.second);
    return Ok();
  }
  return WaitForDeployments(ctx, function, options, watch, std::move(answer.second));
}

Result<void> FunctionUndeploy(Context& ctx, const std::string& fn, const std::vector<std::string>& boards) {
  EW_TRY(nlohmann::json function, LookUpFunction(ctx, fn));
  EW_TRY(std::vector<std::string> ids, BoardNames::Load(ctx).Ids(boards));
  for (const auto& id : ids) {
    EW_TRY_VOID(ctx.Call("DELETE", FunctionPath(function) + "/deployments/" + PathSegment(id)));
    if (!ctx.options().json) ctx.out() << "removed " << Describe(function) << " from " << id << "\n";
  }
  return Ok();
}

Result<void> FunctionDeployments(Context& ctx, const std::string& fn) {
  EW_TRY(nlohmann::json function, LookUpFunction(ctx, fn));
  EW_TRY(auto listing, GetAllPages(ctx, FunctionPath(function) + "/deployments", "deployments"));
  if (PrintedListing(ctx, listing)) return Ok();
  ctx.out() << RenderDeploymentTable(listing["deployments"]);
  return Ok();
}

Result<void> FunctionInvoke(Context& ctx, const std::string& fn, const InvokeOptions& options) {
  EW_TRY(nlohmann::json event, ReadEvent(options.event, options.event_file, ctx.in()));
  EW_TRY(nlohmann::json function, LookUpFunction(ctx, fn));
  nlohmann::json request = {{"event", event}};
  if (options.cloud) {
    request["target"] = "cloud";
  } else if (!options.board.empty()) {
    EW_TRY(request["boardId"], BoardNames::Resolve(ctx, options.board));
  }  // neither: placement "auto"
  if (!options.strategy.empty()) request["strategy"] = options.strategy;
  if (options.async) request["async"] = true;
  ctx.client().set_timeout(InvokeHttpTimeout(function));
  EW_TRY(HttpResult result,
         ctx.Exchange("POST", FunctionPath(function) + "/invocations", request.dump(), "application/json"));
  auto body = nlohmann::json::parse(result.body, nullptr, false);
  if (result.status == 202) {
    if (PrintedRaw(ctx, result.body)) return Ok();
    const std::string id = JsonString(body, "invocationId");
    if (id.empty()) return Internal("the conductor accepted the invocation but answered no invocationId");
    ctx.out() << id << "\n";
    return Ok();
  }
  if (result.status == 200 && body.is_object()) return ReportInvocation(ctx, function, body);
  // A failed or timed-out function is a 502 or 504 that carries the record.
  if ((result.status == 502 || result.status == 504) && body.is_object() && body.contains("invocation") &&
      body["invocation"].is_object()) {
    return ReportInvocation(ctx, function, body["invocation"]);
  }
  if (result.status == 504) ctx.set_exit_code(kExitTimedOut);
  if (result.status >= 200 && result.status < 300) return Internal("the conductor answered something that is not JSON");
  return tl::unexpected(ApiError(result));
}

Result<void> FunctionStats(Context& ctx, const std::string& fn, const std::string& strategy) {
  EW_TRY(nlohmann::json function, LookUpFunction(ctx, fn));
  std::string path = FunctionPath(function) + "/stats";
  if (!strategy.empty()) path += "?strategy=" + PathSegment(strategy);
  EW_TRY(auto answer, ctx.CallRaw("GET", path));
  if (PrintedRaw(ctx, answer.second)) return Ok();
  ctx.out() << "strategy: " << JsonString(answer.first, "strategy") << "\n" << RenderStatsTable(answer.first);
  return Ok();
}

Result<void> FunctionLogs(Context& ctx, const std::string& fn, const std::string& invocation) {
  EW_TRY(nlohmann::json function, LookUpFunction(ctx, fn));
  if (invocation.empty()) {
    EW_TRY(auto listing, GetAllPages(ctx, FunctionPath(function) + "/invocations", "invocations"));
    if (PrintedListing(ctx, listing)) return Ok();
    ctx.out() << RenderInvocationTable(listing["invocations"]);
    return Ok();
  }
  EW_TRY(auto answer, ctx.CallRaw("GET", FunctionPath(function) + "/invocations/" + PathSegment(invocation)));
  if (PrintedRaw(ctx, answer.second)) return Ok();
  ctx.out() << RenderInvocation(answer.first);
  return Ok();
}

}  // namespace ew::cli
