// Formatting for the function and fleet commands. Records are the REST API's JSON; fields that
// are missing print as "-" rather than failing, as the API may add or drop optional ones.
#include "cloud-conductor/cli/function_format.hpp"

#include <algorithm>
#include <vector>

#include <fmt/format.h>

#include "cloud-conductor/cli/format.hpp"

namespace ew::cli {

namespace {

constexpr size_t kShortSha = 12;

// object[key] as text: strings as they are, other values as JSON, "" when absent or null.
std::string Text(const nlohmann::json& object, const std::string& key) {
  if (!object.is_object()) return "";
  auto it = object.find(key);
  if (it == object.end() || it->is_null()) return "";
  if (it->is_string()) return it->get<std::string>();
  return it->dump(-1, ' ', false, nlohmann::json::error_handler_t::replace);
}

std::string OrDash(const std::string& text) { return text.empty() ? "-" : text; }

// A duration field in milliseconds ("runMs": 41.23 → "41.2"); "" when absent.
std::string Millis(const nlohmann::json& object, const std::string& key) {
  if (!object.is_object()) return "";
  auto it = object.find(key);
  if (it == object.end() || !it->is_number()) return "";
  return fmt::format("{:.1f}", it->get<double>());
}

nlohmann::json ArrayOrEmpty(const nlohmann::json& value) {
  return value.is_array() ? value : nlohmann::json::array();
}

std::string KeyValues(const std::vector<Row>& rows) {
  std::string out;
  for (const auto& row : rows) out += fmt::format("{:<12}{}\n", row[0], row[1]);
  return out;
}

}  // namespace

Result<contract::InvocationStatus> InvocationStatusOf(const nlohmann::json& record) {
  return contract::ParseInvocationStatus(Text(record, "status"));
}

std::string InvocationPlace(const nlohmann::json& record) {
  const std::string board = Text(record, "boardId");
  if (!board.empty()) return board;
  const std::string target = Text(record, "target");
  return target.empty() ? "-" : target;
}

std::string FormatBytes(uint64_t bytes) {
  if (bytes < 1024) return fmt::format("{} B", bytes);
  if (bytes < (1u << 20)) return fmt::format("{:.1f} KiB", static_cast<double>(bytes) / 1024);
  return fmt::format("{:.1f} MiB", static_cast<double>(bytes) / (1u << 20));
}

std::string RenderFunctionTable(const nlohmann::json& functions) {
  std::vector<Row> rows;
  for (const auto& function : ArrayOrEmpty(functions))
    rows.push_back({Text(function, "id"), Text(function, "name"), Text(function, "version"),
                    Text(function, "sha256").substr(0, kShortSha)});
  return RenderTable({"ID", "NAME", "VERSION", "SHA256"}, rows);
}

std::string RenderFunctionCreated(const nlohmann::json& function) {
  return fmt::format("function {} {} created: {}\nsha256 {} ({})\n", Text(function, "name"), Text(function, "version"),
                     Text(function, "id"), Text(function, "sha256"),
                     FormatBytes(static_cast<uint64_t>(std::max<int64_t>(0, JsonInt64(function, "size")))));
}

std::string RenderDeploymentTable(const nlohmann::json& deployments) {
  std::vector<Row> rows;
  for (const auto& deployment : ArrayOrEmpty(deployments))
    rows.push_back({Text(deployment, "boardId"), Text(deployment, "state"), OrDash(Text(deployment, "version")),
                    OrDash(Text(deployment, "error"))});
  return RenderTable({"BOARD", "STATE", "VERSION", "ERROR"}, rows);
}

std::string RenderStatsTable(const nlohmann::json& stats) {
  std::vector<nlohmann::json> runtimes;
  if (stats.is_object()) {
    for (const auto& r : ArrayOrEmpty(stats.value("runtimes", nlohmann::json()))) runtimes.push_back(r);
  }
  // Not measured (null weight) first, as placement tries them first; then by weight.
  auto weight = [](const nlohmann::json& r) {
    auto it = r.is_object() ? r.find("weight") : r.end();
    return it == r.end() || !it->is_number() ? -1e300 : it->get<double>();
  };
  std::stable_sort(runtimes.begin(), runtimes.end(),
                   [&](const nlohmann::json& a, const nlohmann::json& b) { return weight(a) < weight(b); });
  std::vector<Row> rows;
  for (const auto& r : runtimes) {
    rows.push_back({Text(r, "runtime"), r.is_object() && r.value("available", false) ? "yes" : "no", Text(r, "count"),
                    Text(r, "failures"), OrDash(Millis(r, "meanMs")), OrDash(Millis(r, "weight"))});
  }
  return RenderTable({"RUNTIME", "AVAILABLE", "CALLS", "FAILURES", "MEAN-MS", "WEIGHT"}, rows);
}

std::string RenderInvocationTable(const nlohmann::json& invocations) {
  std::vector<Row> rows;
  for (const auto& record : ArrayOrEmpty(invocations))
    rows.push_back({Text(record, "invocationId"), Text(record, "status"), InvocationPlace(record),
                    OrDash(Millis(record, "runMs")), OrDash(Text(record, "error"))});
  return RenderTable({"INVOCATION", "STATUS", "WHERE", "RUN-MS", "ERROR"}, rows);
}

std::string RenderInvocation(const nlohmann::json& record) {
  std::vector<Row> rows = {{"invocation:", Text(record, "invocationId")},
                           {"status:", Text(record, "status")},
                           {"where:", InvocationPlace(record)}};
  const std::string runtime = Text(record, "runtime");
  if (!runtime.empty()) {
    const bool cold = record.is_object() && record.value("cold", false);
    rows.push_back({"runtime:", runtime + (cold ? " (cold start)" : " (warm)")});
  }
  const std::string queued = Millis(record, "queueMs");
  const std::string ran = Millis(record, "runMs");
  if (!queued.empty() || !ran.empty())
    rows.push_back({"timing:", fmt::format("queued {} ms, ran {} ms", OrDash(queued), OrDash(ran))});
  const std::string exit_code = Text(record, "exitCode");
  if (!exit_code.empty()) rows.push_back({"exit code:", exit_code});
  const std::string error = Text(record, "error");
  if (!error.empty()) rows.push_back({"error:", error});
  if (record.is_object() && record.contains("output") && !record["output"].is_null())
    rows.push_back({"output:", Text(record, "output")});
  // The conductor caps what it stores (docs/REST.md): say so, with what the function produced.
  if (record.is_object() && record.value("truncated", false))
    rows.push_back({"truncated:", fmt::format("stored in part (output {} bytes, logs {} bytes)",
                                              OrDash(Text(record, "outputBytes")), OrDash(Text(record, "logsBytes")))});
  std::string out = KeyValues(rows);
  std::string logs = Text(record, "logs");
  if (logs.empty()) return out + KeyValues({{"logs:", "-"}});
  if (logs.back() != '\n') logs += '\n';
  return out + "logs:\n" + logs;
}

std::string RenderFleetTable(const nlohmann::json& fleets) {
  std::vector<Row> rows;
  for (const auto& fleet : ArrayOrEmpty(fleets)) {
    const size_t boards = fleet.is_object() ? ArrayOrEmpty(fleet.value("boardIds", nlohmann::json())).size() : 0;
    rows.push_back({Text(fleet, "id"), Text(fleet, "name"), std::to_string(boards)});
  }
  return RenderTable({"ID", "NAME", "BOARDS"}, rows);
}

std::string RenderFleet(const nlohmann::json& fleet, const std::map<std::string, std::string>& names) {
  std::string out = KeyValues({{"id:", Text(fleet, "id")}, {"name:", Text(fleet, "name")}});
  const nlohmann::json boards =
      fleet.is_object() ? ArrayOrEmpty(fleet.value("boardIds", nlohmann::json())) : nlohmann::json::array();
  if (boards.empty()) return out + KeyValues({{"boards:", "-"}});
  out += "boards:\n";
  for (const auto& board : boards) {
    const std::string id = board.is_string() ? board.get<std::string>() : board.dump();
    auto name = names.find(id);
    out += "  " + id + (name != names.end() && !name->second.empty() ? " (" + name->second + ")" : "") + "\n";
  }
  return out;
}

}  // namespace ew::cli
