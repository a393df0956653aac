// Board management commands: restart, reboot, logs.
#include "cloud-conductor/cli/board_admin_commands.hpp"

#include <fmt/format.h>

#include <fstream>
#include <iterator>
#include <map>
#include <optional>
#include <ostream>

#include "cloud-conductor/cli/board_names.hpp"
#include "cloud-conductor/cli/event_stream.hpp"
#include "cloud-conductor/cli/fleet_commands.hpp"
#include "cloud-conductor/cli/format.hpp"
#include "cloud-conductor/cli/package_commands.hpp"
#include "cloud-conductor/cli/package_signing.hpp"
#include "common/contract/update.hpp"
#include "common/ids/ids.hpp"
#include "common/exit/exit_code.hpp"

namespace ew::cli {

namespace {

Result<void> Act(Context& ctx, const std::string& board, const char* action) {
  EW_TRY(std::string id, BoardNames::Resolve(ctx, board));
  EW_TRY(auto answer, ctx.CallRaw("POST", "/v1/boards/" + PathSegment(id) + "/" + action, nlohmann::json::object()));
  if (PrintedRaw(ctx, answer.second)) return Ok();
  // delayMs is a proto3 int64: a string in JSON.
  const nlohmann::json delay = answer.first.is_object() ? answer.first.value("delayMs", nlohmann::json("0")) : "0";
  ctx.out() << "board " << board << ": " << action << " in " << (delay.is_string() ? delay.get<std::string>() : delay.dump())
            << " ms\n";
  return Ok();
}

}  // namespace

Result<void> BoardRestart(Context& ctx, const std::string& board) { return Act(ctx, board, "restart"); }

Result<void> BoardReboot(Context& ctx, const std::string& board) { return Act(ctx, board, "reboot"); }

namespace {

int64_t Int64Of(const nlohmann::json& object, const char* key) {
  if (!object.is_object() || !object.contains(key)) return 0;
  const auto& value = object[key];
  if (value.is_number_integer()) return value.get<int64_t>();
  if (value.is_string()) {
    try {
      return std::stoll(value.get<std::string>());
    } catch (const std::exception&) {
      return 0;
    }
  }
  return 0;
}

// Follows the board's log after the recent lines: `next_seq` is the number of the first line not
// printed yet.
Result<void> FollowLogs(Context& ctx, const std::string& id, int64_t next_seq, std::chrono::milliseconds idle) {
  EventStreamParser parser;
  std::optional<std::string> ended;
  bool first = true;
  auto on_data = [&](std::string_view bytes) {
    for (const ServerSentEvent& event : parser.Feed(bytes)) {
      if (event.type == "end") {
        const auto data = nlohmann::json::parse(event.data, nullptr, false);
        ended = data.is_object() ? JsonString(data, "reason") : event.data;
        return false;
      }
      if (event.type != "message") continue;
      const auto batch = nlohmann::json::parse(event.data, nullptr, false);
      if (!batch.is_object()) continue;
      if (ctx.options().json) {
        ctx.out() << batch.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace) << "\n";
        ctx.out().flush();
        continue;
      }
      int64_t seq = Int64Of(batch, "firstSeq");
      if (first && seq > next_seq)
        ctx.err() << fmt::format("({} line(s) logged while the stream opened are not shown)\n", seq - next_seq);
      first = false;
      if (const int64_t skipped = Int64Of(batch, "skipped"); skipped > 0)
        ctx.err() << fmt::format("({} line(s) dropped by the board: it logged faster than it sends)\n", skipped);
      for (const auto& line : batch.value("lines", nlohmann::json::array())) {
        // Lines already printed with the recent ones are not printed twice.
        if (seq++ < next_seq || !line.is_string()) continue;
        ctx.out() << line.get<std::string>() << "\n";
      }
      next_seq = std::max(next_seq, seq);
      ctx.out().flush();
    }
    return true;
  };
  EW_TRY(HttpResult result, ctx.Stream("/v1/boards/" + PathSegment(id) + "/logs?follow=true", on_data, idle));
  if (result.status != 200) return tl::unexpected(ApiError(result));
  return Unavailable(ended ? *ended : "the conductor ended the stream");
}

}  // namespace

Result<void> BoardLogs(Context& ctx, const std::string& board, int64_t lines, bool follow) {
  EW_TRY(std::string id, BoardNames::Resolve(ctx, board));
  EW_TRY(auto answer, ctx.CallRaw("GET", "/v1/boards/" + PathSegment(id) + "/logs?lines=" + std::to_string(lines)));
  if (!follow && PrintedRaw(ctx, answer.second)) return Ok();
  if (!ctx.options().json && answer.first.contains("lines") && answer.first["lines"].is_array()) {
    for (const auto& line : answer.first["lines"]) {
      if (line.is_string()) ctx.out() << line.get<std::string>() << "\n";
    }
  }
  ctx.out().flush();
  if (!follow) return Ok();
  // Keepalives come every 15 s: a minute of silence is a dead connection.
  return FollowLogs(ctx, id, Int64Of(answer.first, "nextSeq"), std::chrono::seconds(60));
}

namespace {

std::string Describe(const nlohmann::json& board) {
  std::string text = JsonString(board, "state");
  const std::string message = JsonString(board, "message");
  if (!message.empty()) text += ": " + message;
  return text;
}

}  // namespace

namespace {

// The package's signature: made now with `sign_key`, or read from its file.
Result<std::string> SignatureFor(const BoardUpdateOptions& options, const std::string& deb) {
  if (!options.sign_key.empty()) {
    EW_TRY(std::string key, ReadLocalFile(options.sign_key, 16 << 10));
    return SignPackage(key, deb);
  }
  const std::string path = options.signature.empty() ? options.deb + ".sig" : options.signature;
  std::error_code ec;
  if (!std::filesystem::exists(path, ec))
    return InvalidArgument("no signature " + path + ": boards install signed packages only; sign it first (edgewire "
                           "package sign --key KEY " + options.deb + ") or pass --sign-key KEY");
  EW_TRY(std::string signature, ReadLocalFile(path, 4096));
  if (signature.size() != contract::update::kSignatureBytes)
    return InvalidArgument(path + " is not an Ed25519 signature (" + std::to_string(signature.size()) + " bytes, not 64)");
  return signature;
}

}  // namespace

Result<void> BoardUpdate(Context& ctx, const BoardUpdateOptions& options) {
  EW_TRY(const std::string deb, ReadLocalFile(options.deb, contract::update::kMaxPackageBytes));
  EW_TRY(const std::string signature, SignatureFor(options, deb));
  nlohmann::json request = {{"parallel", options.parallel}, {"deadlineSeconds", options.deadline_seconds}};
  if (!options.fleet.empty()) {
    EW_TRY(nlohmann::json fleet, LookUpFleet(ctx, options.fleet));
    request["fleetId"] = JsonString(fleet, "id");
  } else {
    EW_TRY(std::string id, BoardNames::Resolve(ctx, options.board));
    request["boardIds"] = nlohmann::json::array({id});
  }
  EW_TRY(HttpResult uploaded, ctx.Exchange("POST", "/v1/agent-packages?signature=" + ids::Base64Url(signature), deb,
                                           "application/vnd.debian.binary-package"));
  if (uploaded.status != 201) return tl::unexpected(ApiError(uploaded));
  const auto package = nlohmann::json::parse(uploaded.body, nullptr, false);
  request["package"] = JsonString(package, "sha256");
  EW_TRY(auto created, ctx.CallRaw("POST", "/v1/agent-updates", request));
  const std::string update_id = JsonString(created.first, "id");
  if (!options.wait) {
    if (PrintedRaw(ctx, created.second)) return Ok();
    ctx.out() << "update " << update_id << ": edgewire-agent " << JsonString(package, "version") << " to "
              << created.first.value("boards", nlohmann::json::array()).size() << " board(s)\n";
    return Ok();
  }
  if (!ctx.options().json)
    ctx.out() << "update " << update_id << ": edgewire-agent " << JsonString(package, "version") << ", "
              << options.parallel << " at a time, deadline " << options.deadline_seconds << " s\n";
  std::map<std::string, std::string> shown;  // board → what was printed last
  nlohmann::json rollout = created.first;
  while (true) {
    for (const auto& board : rollout.value("boards", nlohmann::json::array())) {
      const std::string id = JsonString(board, "boardId");
      const std::string now = Describe(board);
      if (shown[id] == now) continue;
      shown[id] = now;
      if (!ctx.options().json) ctx.out() << "  " << id << ": " << now << "\n";
    }
    ctx.out().flush();
    if (JsonString(rollout, "state") != "running") break;
    ctx.Wait(std::chrono::seconds(1));
    EW_TRY(rollout, ctx.Call("GET", "/v1/agent-updates/" + PathSegment(update_id)));
  }
  if (ctx.options().json) ctx.out() << rollout.dump() << "\n";
  const std::string state = JsonString(rollout, "state");
  if (state == "done") {
    if (!ctx.options().json) ctx.out() << "update " << update_id << ": done\n";
    return Ok();
  }
  // As a failed deployment (README "Exit statuses"): a board failed or rolled back.
  ctx.set_exit_code(exit_code::kFunctionFailed);
  return Unavailable("update " + update_id + " " + state + ": " + JsonString(rollout, "stopReason"));
}

Result<void> BoardUpdates(Context& ctx, const std::string& update_id) {
  if (update_id.empty()) {
    EW_TRY(auto answer, ctx.CallRaw("GET", "/v1/agent-updates"));
    if (PrintedRaw(ctx, answer.second)) return Ok();
    std::vector<Row> rows;
    for (const auto& r : answer.first.value("updates", nlohmann::json::array())) {
      const auto boards = r.value("boards", nlohmann::json::array());
      size_t online = 0;
      for (const auto& b : boards) online += JsonString(b, "state") == "online" ? 1 : 0;
      rows.push_back({JsonString(r, "id"), JsonString(r, "state"),
                      JsonString(r.value("package", nlohmann::json::object()), "version"),
                      std::to_string(boards.size()), std::to_string(online) + " online",
                      FormatUtc(JsonInt64(r, "createdAt"))});
    }
    ctx.out() << RenderTable({"ID", "STATE", "VERSION", "BOARDS", "PROGRESS", "CREATED"}, rows);
    return Ok();
  }
  EW_TRY(auto answer, ctx.CallRaw("GET", "/v1/agent-updates/" + PathSegment(update_id)));
  if (PrintedRaw(ctx, answer.second)) return Ok();
  const auto& r = answer.first;
  ctx.out() << "update " << JsonString(r, "id") << ": edgewire-agent "
            << JsonString(r.value("package", nlohmann::json::object()), "version") << ", " << JsonInt64(r, "parallel")
            << " at a time, deadline " << JsonInt64(r, "deadlineSeconds") << " s, by " << JsonString(r, "createdBy")
            << "\nstate: " << JsonString(r, "state") << "\n";
  if (!JsonString(r, "stopReason").empty()) ctx.out() << "reason: " << JsonString(r, "stopReason") << "\n";
  std::vector<Row> rows;
  for (const auto& b : r.value("boards", nlohmann::json::array())) {
    rows.push_back({JsonString(b, "boardId"), JsonString(b, "state"), JsonString(b, "packageVersion"),
                    JsonString(b, "message")});
  }
  ctx.out() << RenderTable({"BOARD", "STATE", "PACKAGE", "MESSAGE"}, rows);
  return Ok();
}

}  // namespace ew::cli
