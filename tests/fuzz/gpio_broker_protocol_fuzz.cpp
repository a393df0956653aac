// Fuzz target: one request line of the GPIO broker protocol through ParseGpioRequest
// (containers/gpio/broker_protocol.hpp), the bytes a function sends on its broker socket.
// Invariants: errors are InvalidArgument and their reply line is one line of JSON that parses;
// an accepted request has a printable line name of at most 64 characters, a 0/1 value and a
// wait of at most kMaxGpioWait.
#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>

#include <nlohmann/json.hpp>

#include "containers/gpio/broker_protocol.hpp"
#include "tests/fuzz/fuzz_check.hpp"

namespace {

void CheckReplyLine(const std::string& reply) {
  EW_FUZZ_CHECK(!reply.empty() && reply.back() == '\n', "a reply must end in a newline");
  EW_FUZZ_CHECK(reply.find('\n') == reply.size() - 1, "a reply must be one line: " + reply);
  const auto parsed = nlohmann::json::parse(reply, nullptr, false);
  EW_FUZZ_CHECK(!parsed.is_discarded() && parsed.is_object(), "a reply must be a JSON object: " + reply);
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const std::string_view line(reinterpret_cast<const char*>(data), size);
  auto request = ew::containers::ParseGpioRequest(line);
  if (!request) {
    EW_FUZZ_CHECK(request.error().code == ew::ErrorCode::kInvalidArgument, request.error().message);
    ew::fuzz::CheckErrorRenders(request.error());
    CheckReplyLine(ew::containers::GpioErrorReply(request.error()));
    return 0;
  }
  const std::string& name = request->line;
  EW_FUZZ_CHECK(!name.empty() && name.size() <= 64, name);
  for (char c : name) EW_FUZZ_CHECK(c > ' ' && c <= '~', "line name not printable: " + name);
  EW_FUZZ_CHECK(request->value == 0 || request->value == 1, "value not 0/1");
  if (request->timeout) {
    EW_FUZZ_CHECK(request->timeout->count() >= 0 && *request->timeout <= ew::containers::kMaxGpioWait,
                  "timeout out of range");
  }
  CheckReplyLine(ew::containers::GpioValueReply(request->value));
  return 0;
}
