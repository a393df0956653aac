// Board management commands: restart, reboot, logs.
#include "cloud-conductor/cli/board_admin_commands.hpp"

#include <ostream>

#include "cloud-conductor/cli/board_names.hpp"

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

Result<void> BoardLogs(Context& ctx, const std::string& board, int64_t lines) {
  EW_TRY(std::string id, BoardNames::Resolve(ctx, board));
  EW_TRY(auto answer, ctx.CallRaw("GET", "/v1/boards/" + PathSegment(id) + "/logs?lines=" + std::to_string(lines)));
  if (PrintedRaw(ctx, answer.second)) return Ok();
  if (answer.first.contains("lines") && answer.first["lines"].is_array()) {
    for (const auto& line : answer.first["lines"]) {
      if (line.is_string()) ctx.out() << line.get<std::string>() << "\n";
    }
  }
  return Ok();
}

}  // namespace ew::cli
