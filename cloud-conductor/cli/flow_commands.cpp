// The `flow` commands: one REST call each, after resolving names to ids.
#include "cloud-conductor/cli/flow_commands.hpp"

#include <chrono>
#include <filesystem>
#include <fstream>
#include <ostream>
#include <thread>

#include <fmt/format.h>

#include "cloud-conductor/cli/format.hpp"
#include "cloud-conductor/cli/paged_list.hpp"
#include "common/json/guarded_json.hpp"

namespace ew::cli {

namespace {

namespace fs = std::filesystem;

constexpr uint64_t kMaxFlowFileBytes = 8u << 20;  // the conductor's own limit for an export

std::string FlowPath(const nlohmann::json& flow) { return "/v1/flows/" + PathSegment(JsonString(flow, "id")); }

std::string BoardLabel(const std::string& board) { return board.empty() ? "(cloud)" : board; }

std::string Text(const nlohmann::json& value) {
  if (value.is_null()) return "-";
  if (value.is_string()) return value.get<std::string>();
  return value.dump();
}

std::string RenderPartitions(const nlohmann::json& partitions) {
  std::vector<Row> rows;
  for (const auto& p : partitions) {
    rows.push_back({BoardLabel(JsonString(p, "board")), Text(p.value("nodes", nlohmann::json())), JsonString(p, "state"),
                    JsonString(p, "error")});
  }
  return RenderTable({"BOARD", "NODES", "STATE", "ERROR"}, rows);
}

bool AnyPending(const nlohmann::json& partitions) {
  for (const auto& p : partitions)
    if (JsonString(p, "state") == "pending") return true;
  return false;
}

}  // namespace

Result<nlohmann::json> LookUpFlow(Context& ctx, const std::string& text) {
  auto direct = ctx.Call("GET", "/v1/flows/" + PathSegment(text));
  if (direct) return std::move(*direct);
  const ErrorCode code = direct.error().code;
  if (code != ErrorCode::kNotFound && code != ErrorCode::kInvalidArgument) return tl::unexpected(direct.error());
  EW_TRY(nlohmann::json listing, GetAllPages(ctx, "/v1/flows", "flows"));
  std::vector<nlohmann::json> named;
  for (const auto& flow : listing.value("flows", nlohmann::json::array()))
    if (JsonString(flow, "name") == text) named.push_back(flow);
  if (named.empty()) return NotFound("no flow with the id or name " + text);
  if (named.size() > 1) {
    std::string ids;
    for (const auto& flow : named) ids += (ids.empty() ? "" : ", ") + JsonString(flow, "id");
    return InvalidArgument("several flows are named " + text + " (" + ids + "): give the flow id");
  }
  // The listing has no nodes and no partitions: the flow itself has.
  return ctx.Call("GET", FlowPath(named.front()));
}

Result<void> FlowDeploy(Context& ctx, const std::string& file, const FlowDeployOptions& options) {
  std::error_code ec;
  const uint64_t size = fs::file_size(file, ec);
  if (ec) return InvalidArgument(file + ": " + ec.message());
  if (size > kMaxFlowFileBytes) return ResourceExhausted(fmt::format("{}: {} bytes, over the flow limit", file, size));
  std::ifstream in(file, std::ios::binary);
  if (!in) return InvalidArgument(file + ": cannot open");
  std::string text((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  ew::json::ParseLimits limits;
  limits.max_bytes = kMaxFlowFileBytes;
  limits.what = file;
  EW_TRY(nlohmann::json nodes, ew::json::Parse(text, limits));
  if (nodes.is_object() && nodes.contains("flows")) nodes = nodes["flows"];
  if (!nodes.is_array()) return InvalidArgument(file + ": not a Node-RED flow export (a JSON array of nodes)");
  const std::string name = options.name.empty() ? fs::path(file).stem().string() : options.name;
  EW_TRY(auto answer,
         ctx.CallRaw("POST", "/v1/flows", {{"name", name}, {"nodes", nodes}, {"cloud", options.cloud}}));
  if (PrintedRaw(ctx, answer.second)) return Ok();
  const auto& flow = answer.first;
  nlohmann::json partitions = flow.value("partitions", nlohmann::json::array());
  // The conductor answers after a short wait (202 with "pending" partitions when a runtime has
  // not answered yet): follow GET .../status for a while so the table shows how it ended.
  const auto deadline = std::chrono::steady_clock::now() + options.wait;
  while (AnyPending(partitions) && std::chrono::steady_clock::now() < deadline) {
    std::this_thread::sleep_for(std::chrono::milliseconds(250));
    auto status = ctx.Call("GET", FlowPath(flow) + "/status");
    if (!status) break;
    partitions = status->value("partitions", nlohmann::json::array());
  }
  ctx.out() << fmt::format("flow {} version {} ({})\n", JsonString(flow, "name"), JsonInt64(flow, "version"),
                           JsonString(flow, "id"))
            << RenderPartitions(partitions);
  if (AnyPending(partitions))
    ctx.out() << "pending partitions have not answered yet: see `edgewire flow status " << JsonString(flow, "id") << "`\n";
  return Ok();
}

Result<void> FlowList(Context& ctx) {
  EW_TRY(auto listing, GetAllPages(ctx, "/v1/flows", "flows"));
  if (PrintedListing(ctx, listing)) return Ok();
  std::vector<Row> rows;
  for (const auto& f : listing["flows"]) {
    rows.push_back({JsonString(f, "id"), JsonString(f, "name"), std::to_string(JsonInt64(f, "version")),
                    JsonString(f, "cloud"), FormatUtc(JsonInt64(f, "updatedAt"))});
  }
  ctx.out() << RenderTable({"ID", "NAME", "VERSION", "CLOUD", "UPDATED"}, rows);
  return Ok();
}

Result<void> FlowShow(Context& ctx, const std::string& flow) {
  EW_TRY(nlohmann::json found, LookUpFlow(ctx, flow));
  if (ctx.options().json) {
    ctx.out() << found.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace) << "\n";
    return Ok();
  }
  size_t nodes = found.contains("nodes") && found["nodes"].is_array() ? found["nodes"].size() : 0;
  ctx.out() << fmt::format("flow {} ({})\nversion {}, {} objects in the export, cloud partition: {}\n",
                           JsonString(found, "name"), JsonString(found, "id"), JsonInt64(found, "version"), nodes,
                           JsonString(found, "cloud"))
            << RenderPartitions(found.value("partitions", nlohmann::json::array()));
  return Ok();
}

Result<void> FlowDelete(Context& ctx, const std::string& flow) {
  EW_TRY(nlohmann::json found, LookUpFlow(ctx, flow));
  EW_TRY_VOID(ctx.Call("DELETE", FlowPath(found)));
  if (!ctx.options().json) ctx.out() << "flow " << JsonString(found, "name") << " deleted\n";
  return Ok();
}

Result<void> FlowStatus(Context& ctx, const std::string& flow) {
  EW_TRY(nlohmann::json found, LookUpFlow(ctx, flow));
  EW_TRY(auto answer, ctx.CallRaw("GET", FlowPath(found) + "/status"));
  if (PrintedRaw(ctx, answer.second)) return Ok();
  std::vector<Row> rows;
  for (const auto& p : answer.first.value("partitions", nlohmann::json::array())) {
    rows.push_back({BoardLabel(JsonString(p, "board")), JsonString(p, "state"), Text(p.value("version", nlohmann::json())),
                    Text(p.value("runningVersion", nlohmann::json())), Text(p.value("spooled", nlohmann::json())),
                    Text(p.value("dropped", nlohmann::json())), Text(p.value("relayBuffered", nlohmann::json())),
                    Text(p.value("relayDropped", nlohmann::json())), JsonString(p, "error")});
  }
  ctx.out() << fmt::format("flow {} version {} ({})\n", JsonString(found, "name"), JsonInt64(answer.first, "version"),
                           JsonString(found, "id"))
            << RenderTable({"BOARD", "STATE", "VERSION", "RUNNING", "SPOOLED", "DROPPED", "KEPT", "KEPT-DROPPED", "ERROR"},
                           rows);
  return Ok();
}

}  // namespace ew::cli
