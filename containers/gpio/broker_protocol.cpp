#include "containers/gpio/broker_protocol.hpp"

#include <algorithm>
#include <initializer_list>

#include <nlohmann/json.hpp>

#include "common/json/guarded_json.hpp"

namespace ew::containers {

namespace {

using nlohmann::json;

// Longest line name accepted (function.json allows 32 characters; "gpiochip10:GPIO17" fits).
constexpr size_t kMaxLineChars = 64;

std::string Dump(const json& j) { return j.dump(-1, ' ', false, json::error_handler_t::replace) + "\n"; }

Result<void> OnlyFields(const json& request, std::initializer_list<const char*> allowed, std::string_view op) {
  for (const auto& item : request.items()) {
    const std::string& key = item.key();  // not a structured binding: clang cannot capture one in C++17
    if (std::none_of(allowed.begin(), allowed.end(), [&](const char* a) { return key == a; })) {
      return InvalidArgument("unknown field \"" + key + "\" for op " + std::string(op));
    }
  }
  return Ok();
}

Result<std::string> LineField(const json& request) {
  auto it = request.find("line");
  if (it == request.end() || !it->is_string() || it->get_ref<const std::string&>().empty()) {
    return InvalidArgument("line: a line name is required (\"GPIO17\")");
  }
  const auto& line = it->get_ref<const std::string&>();
  if (line.size() > kMaxLineChars) return InvalidArgument("line: at most 64 characters");
  // Names of lines are labels like "GPIO17": anything else is refused here, so that the broker
  // can put a name in messages and logs as it is.
  if (std::any_of(line.begin(), line.end(), [](char c) { return c <= ' ' || c > '~'; })) {
    return InvalidArgument("line: must be printable ASCII without spaces");
  }
  return line;
}

Result<int> ValueField(const json& request) {
  auto it = request.find("value");
  if (it == request.end() || !it->is_number_integer() || (*it != 0 && *it != 1)) {
    return InvalidArgument("value: must be 0 or 1");
  }
  return it->get<int>();
}

Result<gpio::Edges> EdgeField(const json& request) {
  auto it = request.find("edge");
  if (it == request.end() || it->is_null()) return gpio::Edges::kBoth;
  if (it->is_string()) {
    const auto& edge = it->get_ref<const std::string&>();
    if (edge == "rising") return gpio::Edges::kRising;
    if (edge == "falling") return gpio::Edges::kFalling;
    if (edge == "both") return gpio::Edges::kBoth;
  }
  return InvalidArgument("edge: must be \"rising\", \"falling\" or \"both\"");
}

Result<std::optional<std::chrono::milliseconds>> TimeoutField(const json& request) {
  auto it = request.find("timeoutMs");
  if (it == request.end() || it->is_null()) return std::optional<std::chrono::milliseconds>();
  if (!it->is_number_integer() || *it < 0 || *it > kMaxGpioWait.count()) {
    return InvalidArgument("timeoutMs: must be an integer between 0 and " + std::to_string(kMaxGpioWait.count()));
  }
  return std::optional<std::chrono::milliseconds>(it->get<int64_t>());
}

}  // namespace

Result<GpioRequest> ParseGpioRequest(std::string_view text) {
  // The function in the container is untrusted: the guarded reader (a request is one flat object).
  ew::json::ParseLimits limits;
  limits.max_depth = 4;
  limits.what = "";
  auto parsed = ew::json::Parse(text, limits);
  if (!parsed) return InvalidArgument("request is not JSON");
  const json& request = *parsed;
  if (!request.is_object()) return InvalidArgument("request must be a JSON object");
  auto op = request.find("op");
  if (op == request.end() || !op->is_string()) return InvalidArgument("op: must be \"read\", \"write\" or \"wait\"");
  const auto& name = op->get_ref<const std::string&>();
  GpioRequest out;
  if (name == "read") {
    EW_TRY_VOID(OnlyFields(request, {"op", "line"}, name));
    out.op = GpioRequest::Op::kRead;
  } else if (name == "write") {
    EW_TRY_VOID(OnlyFields(request, {"op", "line", "value"}, name));
    out.op = GpioRequest::Op::kWrite;
    EW_TRY(out.value, ValueField(request));
  } else if (name == "wait") {
    EW_TRY_VOID(OnlyFields(request, {"op", "line", "edge", "timeoutMs"}, name));
    out.op = GpioRequest::Op::kWait;
    EW_TRY(out.edges, EdgeField(request));
    EW_TRY(out.timeout, TimeoutField(request));
  } else {
    return InvalidArgument("op: must be \"read\", \"write\" or \"wait\"");
  }
  EW_TRY(out.line, LineField(request));
  return out;
}

std::string GpioValueReply(int value) { return Dump({{"value", value}}); }

std::string GpioEdgeReply(gpio::EdgeKind kind, std::chrono::nanoseconds timestamp) {
  return Dump({{"edge", std::string(gpio::EdgeKindName(kind))}, {"timestampNs", timestamp.count()}});
}

std::string GpioTimeoutReply() { return Dump({{"timeout", true}}); }

std::string GpioErrorReply(const Error& error) {
  return Dump({{"error", {{"code", ErrorCodeName(error.code)}, {"message", error.message}}}});
}

}  // namespace ew::containers
