// function.json → FunctionSpec, by hand over nlohmann::json so that the board agent needs no
// protobuf. The reading mirrors protobuf's proto3 JSON parser (both field spellings, null = absent,
// integers as numbers or decimal strings, unknown fields rejected); the conformance test
// compares the two on the same documents. Then each field is range-checked, naming it.
#include "containers/package/function_spec.hpp"

#include <algorithm>
#include <cmath>
#include <limits>
#include <map>
#include <set>
#include <utility>

#include "common/json/guarded_json.hpp"

namespace ew::containers {

namespace {

using nlohmann::json;

// A field's two accepted JSON names: proto3 JSON's lowerCamelCase and the .proto's snake_case.
struct FieldName {
  std::string_view camel;
  std::string_view snake;
};
using FieldNames = std::vector<FieldName>;

const FieldNames kSpecFields = {
    {"name", "name"},           {"version", "version"},
    {"runtime", "runtime"},     {"entrypoint", "entrypoint"},
    {"memoryMb", "memory_mb"},  {"timeoutMs", "timeout_ms"},
    {"maxConcurrency", "max_concurrency"},
    {"network", "network"},     {"gpio", "gpio"},
    {"cloudOnly", "cloud_only"}, {"boardOnly", "board_only"},
    {"warm", "warm"},           {"implementations", "implementations"},
    {"placement", "placement"},
    {"retryOnTimeout", "retry_on_timeout"},
};
const FieldNames kPlacementFields = {
    {"strategy", "strategy"}, {"epsilon", "epsilon"}, {"ucbC", "ucb_c"}, {"window", "window"}};
const FieldNames kGpioFields = {{"line", "line"}, {"direction", "direction"}};
const FieldNames kWarmFields = {
    {"enabled", "enabled"}, {"maxInstances", "max_instances"}, {"idleTimeoutS", "idle_timeout_s"}};
const FieldNames kImplementationFields = {
    {"arch", "arch"}, {"runtime", "runtime"}, {"entrypoint", "entrypoint"}};

constexpr size_t kMaxGpioLineChars = 32;
constexpr size_t kMaxEntrypointChars = 255;  // one ext4 file name; deeper trees are not a use case
constexpr uint32_t kMaxIdleTimeoutS = 86'400;

tl::unexpected<Error> Bad(const std::string& field, const std::string& problem) {
  return InvalidArgument(field + ": " + problem);
}

// The fields of one JSON object, looked up by their camelCase name. A null value counts as
// absent, as in proto3 JSON.
class ObjectReader {
 public:
  // `path` names the object in messages: "" for the top, "warm", "gpio[2]".
  static Result<ObjectReader> Read(const json& value, std::string path, const FieldNames& names) {
    if (!value.is_object()) {
      return path.empty() ? InvalidArgument("must be a JSON object") : Bad(path, "must be an object");
    }
    ObjectReader reader;
    reader.prefix_ = path.empty() ? "" : path + ".";
    for (const auto& [key, field_value] : value.items()) {
      const FieldName* known = nullptr;
      for (const FieldName& name : names) {
        if (key == name.camel || key == name.snake) known = &name;
      }
      if (known == nullptr) return Bad(reader.prefix_ + key, "unknown field");
      if (!reader.fields_.emplace(known->camel, &field_value).second) {
        return Bad(reader.Path(known->camel), "given twice (as camelCase and snake_case)");
      }
    }
    return reader;
  }

  std::string Path(std::string_view camel) const { return prefix_ + std::string(camel); }

  // nullptr when absent or null.
  const json* Get(std::string_view camel) const {
    auto it = fields_.find(camel);
    return it == fields_.end() || it->second->is_null() ? nullptr : it->second;
  }

  Result<std::optional<std::string>> String(std::string_view camel) const {
    const json* v = Get(camel);
    if (v == nullptr) return std::nullopt;
    if (!v->is_string()) return Bad(Path(camel), "must be a string");
    return v->get<std::string>();
  }

  Result<std::string> RequiredString(std::string_view camel) const {
    EW_TRY(auto value, String(camel));
    if (!value || value->empty()) return Bad(Path(camel), "required");
    return *value;
  }

  Result<std::optional<bool>> Bool(std::string_view camel) const {
    const json* v = Get(camel);
    if (v == nullptr) return std::nullopt;
    if (!v->is_boolean()) return Bad(Path(camel), "must be true or false");
    return v->get<bool>();
  }

  // A uint32 field within [min, max]: protobuf takes integral numbers (1, 1.0, 1e3) and decimal
  // strings ("64"), so we do too; absent gives `fallback`. Doubles hold every uint32 exactly.
  Result<uint32_t> Uint32(std::string_view camel, uint32_t min, uint32_t max, uint32_t fallback) const {
    const json* v = Get(camel);
    if (v == nullptr) return fallback;
    const std::string range = "must be between " + std::to_string(min) + " and " + std::to_string(max);
    std::optional<double> number;
    if (v->is_number_unsigned()) {
      const uint64_t n = v->get<uint64_t>();
      if (n < min || n > max) return Bad(Path(camel), range);
      return static_cast<uint32_t>(n);
    }
    if (v->is_number()) {
      number = v->get<double>();
    } else if (v->is_string()) {
      // Digits only, like protobuf's safe_strtou32: no sign, spaces, exponent or hex.
      const std::string text = v->get<std::string>();
      if (text.empty() || text.size() > 10 || text.find_first_not_of("0123456789") != std::string::npos) {
        return Bad(Path(camel), "must be an integer");
      }
      number = static_cast<double>(std::stoull(text));
    } else {
      return Bad(Path(camel), "must be an integer");
    }
    if (std::floor(*number) != *number) return Bad(Path(camel), "must be an integer");
    if (*number < min || *number > max) return Bad(Path(camel), range);
    return static_cast<uint32_t>(*number);
  }

  // A double field within [min, max] given as a JSON number; absent gives nullopt.
  Result<std::optional<double>> Double(std::string_view camel, double min, double max) const {
    const json* v = Get(camel);
    if (v == nullptr) return std::nullopt;
    if (!v->is_number()) return Bad(Path(camel), "must be a number");
    const double number = v->get<double>();
    if (!(number >= min && number <= max)) {
      return Bad(Path(camel), "must be between " + json(min).dump() + " and " + json(max).dump());
    }
    return number;
  }

  // The elements of an array field (empty when absent).
  Result<std::vector<const json*>> Array(std::string_view camel) const {
    std::vector<const json*> out;
    const json* v = Get(camel);
    if (v == nullptr) return out;
    if (!v->is_array()) return Bad(Path(camel), "must be an array");
    for (const json& element : *v) out.push_back(&element);
    return out;
  }

 private:
  std::string prefix_;
  std::map<std::string_view, const json*, std::less<>> fields_;
};

Result<Runtime> ParseRuntime(const std::string& field, const std::string& text) {
  for (Runtime r : {Runtime::kSh, Runtime::kPython3, Runtime::kNative}) {
    if (text == RuntimeName(r)) return r;
  }
  return Bad(field, "must be one of sh, python3, native");
}

// "" when `path` is a clean relative path inside the package, else what is wrong. "." and empty
// components are refused too: package entries are normalised, so "./main.sh" would never match.
std::string EntrypointProblem(std::string_view path) {
  if (path.size() > kMaxEntrypointChars) return "must be at most 255 characters";
  if (path.front() == '/') return "must be a relative path inside the package";
  size_t start = 0;
  while (start <= path.size()) {
    size_t end = path.find('/', start);
    if (end == std::string_view::npos) end = path.size();
    std::string_view part = path.substr(start, end - start);
    if (part.empty() || part == "." || part == "..") return "must not contain '..', '.' or empty components";
    start = end + 1;
  }
  if (path.find('\0') != std::string_view::npos) return "must not contain NUL";
  return "";
}

Result<std::string> ReadEntrypoint(const ObjectReader& object) {
  EW_TRY(std::string path, object.RequiredString("entrypoint"));
  if (std::string problem = EntrypointProblem(path); !problem.empty()) {
    return Bad(object.Path("entrypoint"), problem);
  }
  return path;
}

Result<void> CheckName(const std::string& field, const std::string& name) {
  auto ok_char = [](char c) { return (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '_' || c == '-'; };
  bool ok = name.size() <= 63 && ok_char(name[0]) && name[0] != '_' && name[0] != '-';
  for (char c : name) ok = ok && ok_char(c);
  if (!ok) return Bad(field, "must match [a-z0-9][a-z0-9_-]{0,62}");
  return Ok();
}

Result<void> CheckVersion(const std::string& field, const std::string& version) {
  if (version.size() > 64) return Bad(field, "must be at most 64 characters");
  for (char c : version) {
    if (c < 0x20 || c > 0x7e) return Bad(field, "must be printable ASCII");
  }
  return Ok();
}

Result<std::vector<GpioLineSpec>> ReadGpio(const ObjectReader& top) {
  EW_TRY(auto elements, top.Array("gpio"));
  std::vector<GpioLineSpec> lines;
  std::set<std::string> seen;
  for (size_t i = 0; i < elements.size(); ++i) {
    EW_TRY(auto object, ObjectReader::Read(*elements[i], "gpio[" + std::to_string(i) + "]", kGpioFields));
    GpioLineSpec spec;
    EW_TRY(spec.line, object.RequiredString("line"));
    if (spec.line.size() > kMaxGpioLineChars) return Bad(object.Path("line"), "must be at most 32 characters");
    if (!seen.insert(spec.line).second) return Bad(object.Path("line"), "\"" + spec.line + "\" listed twice");
    EW_TRY(auto direction, object.String("direction"));
    if (direction && !direction->empty()) {
      if (*direction == GpioDirectionName(GpioDirection::kOutput)) {
        spec.direction = GpioDirection::kOutput;
      } else if (*direction != GpioDirectionName(GpioDirection::kInput)) {
        return Bad(object.Path("direction"), "must be input or output");
      }
    }
    lines.push_back(std::move(spec));
  }
  return lines;
}

Result<WarmSpec> ReadWarm(const ObjectReader& top) {
  WarmSpec warm;
  const json* value = top.Get("warm");
  if (value == nullptr) return warm;
  EW_TRY(auto object, ObjectReader::Read(*value, "warm", kWarmFields));
  EW_TRY(auto enabled, object.Bool("enabled"));
  warm.enabled = enabled.value_or(false);
  EW_TRY(warm.max_instances, object.Uint32("maxInstances", 1, 16, warm.max_instances));
  EW_TRY(uint32_t idle, object.Uint32("idleTimeoutS", 1, kMaxIdleTimeoutS,
                                      static_cast<uint32_t>(warm.idle_timeout.count())));
  warm.idle_timeout = std::chrono::seconds(idle);
  return warm;
}

Result<std::vector<Implementation>> ReadImplementations(const ObjectReader& top) {
  EW_TRY(auto elements, top.Array("implementations"));
  std::vector<Implementation> out;
  std::set<std::string> seen;
  for (size_t i = 0; i < elements.size(); ++i) {
    EW_TRY(auto object,
           ObjectReader::Read(*elements[i], "implementations[" + std::to_string(i) + "]", kImplementationFields));
    Implementation impl;
    EW_TRY(impl.arch, object.RequiredString("arch"));
    if (!seen.insert(impl.arch).second) return Bad(object.Path("arch"), "\"" + impl.arch + "\" listed twice");
    EW_TRY(std::string runtime, object.RequiredString("runtime"));
    EW_TRY(impl.runtime, ParseRuntime(object.Path("runtime"), runtime));
    EW_TRY(impl.entrypoint, ReadEntrypoint(object));
    out.push_back(std::move(impl));
  }
  return out;
}

Result<PlacementSpec> ReadPlacement(const ObjectReader& top) {
  PlacementSpec placement;
  const json* value = top.Get("placement");
  if (value == nullptr) return placement;
  EW_TRY(auto object, ObjectReader::Read(*value, "placement", kPlacementFields));
  EW_TRY(auto strategy, object.String("strategy"));
  placement.strategy = strategy.value_or("");
  auto ok_char = [](char c) { return (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '-'; };
  if (placement.strategy.size() > 32 ||
      !std::all_of(placement.strategy.begin(), placement.strategy.end(), ok_char)) {
    return Bad(object.Path("strategy"), "must be a strategy name such as ucb1 or sliding-ucb");
  }
  EW_TRY(placement.epsilon, object.Double("epsilon", 0.0, 1.0));
  EW_TRY(placement.ucb_c, object.Double("ucbC", 0.0, 10.0));
  if (object.Get("window") != nullptr) {
    EW_TRY(uint32_t window, object.Uint32("window", 1, 64, 20));
    placement.window = window;
  }
  return placement;
}

Result<FunctionSpec> ReadSpec(const json& doc) {
  EW_TRY(auto top, ObjectReader::Read(doc, "", kSpecFields));
  FunctionSpec spec;
  EW_TRY(spec.name, top.RequiredString("name"));
  EW_TRY_VOID(CheckName("name", spec.name));
  EW_TRY(spec.version, top.RequiredString("version"));
  EW_TRY_VOID(CheckVersion("version", spec.version));
  EW_TRY(std::string runtime, top.RequiredString("runtime"));
  EW_TRY(spec.runtime, ParseRuntime("runtime", runtime));
  EW_TRY(spec.entrypoint, ReadEntrypoint(top));
  EW_TRY(uint32_t memory_mb, top.Uint32("memoryMb", 4, 4096, static_cast<uint32_t>(spec.memory_bytes >> 20)));
  spec.memory_bytes = uint64_t{memory_mb} << 20;
  EW_TRY(uint32_t timeout_ms, top.Uint32("timeoutMs", 1, 900'000, static_cast<uint32_t>(spec.timeout.count())));
  spec.timeout = std::chrono::milliseconds(timeout_ms);
  EW_TRY(spec.max_concurrency, top.Uint32("maxConcurrency", 1, 256, spec.max_concurrency));
  EW_TRY(auto network, top.Bool("network"));
  spec.network = network.value_or(false);
  EW_TRY(spec.gpio, ReadGpio(top));
  EW_TRY(auto cloud_only, top.Bool("cloudOnly"));
  EW_TRY(auto board_only, top.Bool("boardOnly"));
  spec.cloud_only = cloud_only.value_or(false);
  spec.board_only = board_only.value_or(false);
  if (spec.cloud_only && spec.board_only) return Bad("cloudOnly", "cannot be true together with boardOnly");
  EW_TRY(auto retry_on_timeout, top.Bool("retryOnTimeout"));
  spec.retry_on_timeout = retry_on_timeout.value_or(false);
  EW_TRY(spec.warm, ReadWarm(top));
  EW_TRY(spec.implementations, ReadImplementations(top));
  EW_TRY(spec.placement, ReadPlacement(top));
  return spec;
}

}  // namespace

std::string_view RuntimeName(Runtime runtime) {
  switch (runtime) {
    case Runtime::kSh: return "sh";
    case Runtime::kPython3: return "python3";
    case Runtime::kNative: return "native";
  }
  return "sh";
}

std::string_view GpioDirectionName(GpioDirection direction) {
  return direction == GpioDirection::kOutput ? "output" : "input";
}

Result<Implementation> FunctionSpec::Select(std::string_view arch) const {
  for (const Implementation& impl : implementations) {
    if (impl.arch == arch) return impl;
  }
  if (!implementations.empty() && runtime == Runtime::kNative) {
    return NotFound("function " + name + " has no implementation for " + std::string(arch));
  }
  return Implementation{std::string(arch), runtime, entrypoint};
}

Result<FunctionSpec> ParseFunctionSpec(std::string_view json_text) {
  // Through the guarded reader: an upload's manifest is untrusted, and its error must not echo it.
  ew::json::ParseLimits limits;
  limits.max_bytes = 1u << 20;
  limits.max_depth = 16;  // the manifest itself nests three levels
  limits.what = "not valid JSON";
  auto doc = ew::json::Parse(json_text, limits);
  if (!doc) return tl::unexpected(doc.error());
  return ReadSpec(*doc);
}

json ToJson(const FunctionSpec& spec) {
  json gpio = json::array();
  for (const GpioLineSpec& line : spec.gpio) {
    gpio.push_back({{"line", line.line}, {"direction", GpioDirectionName(line.direction)}});
  }
  json implementations = json::array();
  for (const Implementation& impl : spec.implementations) {
    implementations.push_back(
        {{"arch", impl.arch}, {"runtime", RuntimeName(impl.runtime)}, {"entrypoint", impl.entrypoint}});
  }
  json out = {
      {"name", spec.name},
      {"version", spec.version},
      {"runtime", RuntimeName(spec.runtime)},
      {"entrypoint", spec.entrypoint},
      {"memoryMb", spec.memory_bytes >> 20},
      {"timeoutMs", spec.timeout.count()},
      {"maxConcurrency", spec.max_concurrency},
      {"network", spec.network},
      {"gpio", std::move(gpio)},
      {"cloudOnly", spec.cloud_only},
      {"boardOnly", spec.board_only},
      {"retryOnTimeout", spec.retry_on_timeout},
      {"warm",
       {{"enabled", spec.warm.enabled},
        {"maxInstances", spec.warm.max_instances},
        {"idleTimeoutS", spec.warm.idle_timeout.count()}}},
      {"implementations", std::move(implementations)},
  };
  // Only when set: what protobuf prints of an absent message (nothing), and of its proto3
  // optional fields (only those set).
  if (!spec.placement.empty()) {
    json placement = {{"strategy", spec.placement.strategy}};
    if (spec.placement.epsilon) placement["epsilon"] = *spec.placement.epsilon;
    if (spec.placement.ucb_c) placement["ucbC"] = *spec.placement.ucb_c;
    if (spec.placement.window) placement["window"] = *spec.placement.window;
    out["placement"] = std::move(placement);
  }
  return out;
}

}  // namespace ew::containers
