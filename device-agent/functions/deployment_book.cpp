#include "device-agent/functions/deployment_book.hpp"

#include <fstream>
#include <sstream>
#include <system_error>

#include "common/json/guarded_json.hpp"
#include "common/log/log.hpp"
#include "common/posix/file_io.hpp"

namespace ew::agent::functions {

namespace fs = std::filesystem;
using nlohmann::json;

namespace {

// deployments.json holds a few hundred bytes per deployment; past this it is not ours.
constexpr size_t kMaxStateFileBytes = 16u << 20;

const ew::log::Logger Log{"functions"};

}  // namespace

std::vector<contract::fn::DeployedFunction> DeploymentBook::Load() const {
  std::vector<contract::fn::DeployedFunction> out;
  auto text = posix::ReadFileLimited(file_, kMaxStateFileBytes);
  if (!text && text.error().code == ErrorCode::kNotFound) return out;
  ew::json::ParseLimits limits;
  limits.max_bytes = kMaxStateFileBytes;
  // ParseLimits::what is a view: it must outlive the parse (a temporary here was a use after
  // free, found by deploy/scripts/asan-integration.sh).
  const std::string what = file_.string();
  limits.what = what;
  auto parsed = text ? ew::json::Parse(*text, limits) : Result<json>(tl::unexpected(text.error()));
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
  return posix::WriteFileAtomically(file_, json{{"deployments", list}}.dump(2) + "\n", 0644);
}

}  // namespace ew::agent::functions
