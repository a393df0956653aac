#include "flows/partition/env_scope.hpp"

#include <cerrno>
#include <cmath>
#include <cstdlib>
#include <string>

#include <fmt/format.h>

#include "common/json/guarded_json.hpp"

namespace ew::flows {

namespace {

using Json = nlohmann::json;

Result<Json> Evaluate(const std::string& name, const std::string& type, const Json& value, const Json& outer) {
  auto bad = [&](std::string_view why) { return InvalidArgument(fmt::format("env \"{}\" ({}): {}", name, type, why)); };
  if (type == "str") {
    if (value.is_string()) return value;
    if (value.is_null()) return Json("");
    return Json(value.dump());
  }
  if (type == "num") {
    if (value.is_number()) return value;
    if (!value.is_string()) return bad("not a number");
    const std::string& text = value.get_ref<const std::string&>();
    char* end = nullptr;
    errno = 0;
    double number = std::strtod(text.c_str(), &end);
    if (text.empty() || end != text.c_str() + text.size() || errno != 0 || !std::isfinite(number)) {
      return bad("not a number");
    }
    if (number == std::floor(number) && std::fabs(number) < 9.0e15) return Json(static_cast<int64_t>(number));
    return Json(number);
  }
  if (type == "bool") {
    if (value.is_boolean()) return value;
    if (value == "true") return Json(true);
    if (value == "false") return Json(false);
    return bad("not true or false");
  }
  if (type == "json" || type == "bin") {
    if (!value.is_string()) return value;
    json::ParseLimits limits;
    limits.max_bytes = 1 << 20;
    limits.max_depth = 16;
    limits.what = "env value";
    auto parsed = json::Parse(value.get_ref<const std::string&>(), limits);
    if (!parsed) return bad(parsed.error().message);
    if (type == "bin" && !parsed->is_array()) return bad("not an array of bytes");
    return *parsed;
  }
  if (type == "env") {
    if (!value.is_string()) return bad("not a variable name");
    auto it = outer.find(value.get_ref<const std::string&>());
    return it == outer.end() ? Json("") : *it;
  }
  return bad("Edgewire does not evaluate this env type");
}

}  // namespace

Result<Json> ApplyEnv(const Json& entries, const Json& outer) {
  Json scope = outer.is_object() ? outer : Json::object();
  if (!entries.is_array()) return scope;
  for (const auto& entry : entries) {
    if (!entry.is_object() || !entry.contains("name") || !entry["name"].is_string()) {
      return InvalidArgument("env entry without a string name");
    }
    std::string name = entry["name"].get<std::string>();
    std::string type = entry.contains("type") && entry["type"].is_string() ? entry["type"].get<std::string>() : "str";
    if (type == "cred") continue;
    Json value = entry.contains("value") ? entry["value"] : Json("");
    EW_TRY(auto evaluated, Evaluate(name, type, value, outer));
    scope[name] = std::move(evaluated);
  }
  return scope;
}

Result<std::string> BoardFromEnv(const Json& entries, const Json& outer) {
  if (!entries.is_array()) return std::string();
  for (const auto& entry : entries) {
    if (entry.is_object() && entry.value("name", Json()) == "EDGEWIRE_BOARD") {
      EW_TRY(auto scope, ApplyEnv(Json::array({entry}), outer));
      const Json& board = scope["EDGEWIRE_BOARD"];
      if (!board.is_string()) return InvalidArgument("env \"EDGEWIRE_BOARD\" is not a string");
      return board.get<std::string>();
    }
  }
  return std::string();
}

}  // namespace ew::flows
