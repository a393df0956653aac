#include "device-agent/functions/deployment_book.hpp"

#include <fstream>
#include <sstream>
#include <system_error>

#include "common/json/guarded_json.hpp"
#include "common/log/log.hpp"

namespace ew::agent::functions {

namespace fs = std::filesystem;
using nlohmann::json;

namespace {

// deployments.json holds a few hundred bytes per deployment; past this it is not ours.
constexpr size_t kMaxStateFileBytes = 16u << 20;

std::shared_ptr<spdlog::logger> Log() {
  static auto logger = ew::log::Get("functions");
  return logger;
}

}  // namespace

std::vector<contract::fn::DeployedFunction> DeploymentBook::Load() const {
  std::vector<contract::fn::DeployedFunction> out;
  if (!fs::exists(file_)) return out;
  std::ifstream in(file_, std::ios::binary);
  std::stringstream text;
  text << in.rdbuf();
  ew::json::ParseLimits limits;
  limits.max_bytes = kMaxStateFileBytes;
  limits.what = file_.string();
  auto parsed = ew::json::Parse(text.str(), limits);
  json doc = parsed ? std::move(*parsed) : json();
  if (!parsed || !doc.is_object() || !doc.contains("deployments") || !doc["deployments"].is_array()) {
    Log()->warn("{} is not valid: starting with no deployments (the conductor delivers them again)", file_.string());
    return out;
  }
  for (const auto& item : doc["deployments"]) {
    if (!item.is_object()) continue;
    contract::fn::DeployedFunction d;
    d.function_id = item.value("functionId", "");
    d.name = item.value("name", "");
    d.version = item.value("version", "");
    d.sha256 = item.value("sha256", "");
    if (d.function_id.empty() || d.sha256.size() != 64) continue;
    if (auto triggers = ew::gpio::ParseTriggers(item.value("triggers", json())); triggers) {
      d.triggers = std::move(*triggers);
    } else {
      Log()->warn("function {}: recorded triggers are not valid ({}); restored without them", d.function_id,
                  triggers.error().message);
    }
    out.push_back(std::move(d));
  }
  return out;
}

Result<void> DeploymentBook::Save(const std::map<std::string, contract::fn::DeployedFunction>& deployments) const {
  json list = json::array();
  for (const auto& [id, d] : deployments) list.push_back(d.ToJson());
  const fs::path tmp = file_.string() + ".tmp";
  {
    std::ofstream out(tmp, std::ios::binary | std::ios::trunc);
    out << json{{"deployments", list}}.dump(2) << "\n";
    out.flush();
    if (!out) return Internal("cannot write " + tmp.string());
  }
  std::error_code ec;
  fs::rename(tmp, file_, ec);
  if (ec) return Internal("cannot replace " + file_.string() + ": " + ec.message());
  return Ok();
}

}  // namespace ew::agent::functions
