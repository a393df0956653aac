// Fuzz target: untrusted JSON and msgpack through the guarded parser (common/json/guarded_json.hpp),
// the one reader of REST bodies, function output and broker requests.
// Input: one byte of limits, then the document. Bit 0: msgpack (else JSON); bit 1:
// wamp_binary_strings; bits 2-6: max_depth = 1 + 2 * value (1..63); bit 7: max_bytes = 512.
// Invariants: errors are InvalidArgument, render as an error body and quote nothing of the input
// (printable ASCII only); an accepted value is within the limits, dumps without throwing and
// re-encodes stably; for JSON, the guarded parser accepts exactly what nlohmann accepts within
// the limits, with an equal value.
#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>

#include <nlohmann/json.hpp>

#include "common/json/guarded_json.hpp"
#include "tests/fuzz/fuzz_check.hpp"

namespace {

using nlohmann::json;

ew::json::ParseLimits LimitsFrom(uint8_t flags) {
  ew::json::ParseLimits limits;
  limits.wamp_binary_strings = (flags & 2) != 0;
  limits.max_depth = 1 + 2 * ((flags >> 2) & 0x1f);
  if ((flags & 0x80) != 0) limits.max_bytes = 512;
  limits.what = "fuzz input";
  return limits;
}

void CheckError(const ew::Error& error) {
  EW_FUZZ_CHECK(error.code == ew::ErrorCode::kInvalidArgument, error.message);
  ew::fuzz::CheckErrorRenders(error);
  for (char c : error.message) {
    EW_FUZZ_CHECK(c >= ' ' && c <= '~', "the error message quotes input bytes: " + error.message);
  }
}

// nlohmann's own parser within the same limits, as the reference for JSON without binary strings.
void CompareWithNlohmann(std::string_view text, const ew::json::ParseLimits& limits,
                         const ew::Result<json>& guarded) {
  if (limits.wamp_binary_strings) return;
  json reference = json::parse(text, nullptr, /*allow_exceptions=*/false);
  const bool reference_ok = !reference.is_discarded() && text.size() <= limits.max_bytes &&
                            ew::json::Depth(reference, limits.max_depth) <= limits.max_depth;
  EW_FUZZ_CHECK(reference_ok == guarded.has_value(),
                std::string("guarded and nlohmann parsers disagree: ") +
                    (guarded ? "only the guarded one accepts" : "only nlohmann accepts: " + guarded.error().message));
  if (reference_ok) EW_FUZZ_CHECK(reference == *guarded, "guarded and nlohmann parsers give different values");
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  if (size == 0) return 0;
  const uint8_t flags = data[0];
  const std::string_view text(reinterpret_cast<const char*>(data + 1), size - 1);
  const ew::json::ParseLimits limits = LimitsFrom(flags);
  const auto format = (flags & 1) != 0 ? ew::json::Format::kMsgpack : ew::json::Format::kJson;

  auto parsed = ew::json::Parse(text, limits, format);
  if (format == ew::json::Format::kJson) CompareWithNlohmann(text, limits, parsed);
  if (!parsed) {
    CheckError(parsed.error());
    return 0;
  }
  EW_FUZZ_CHECK(text.size() <= limits.max_bytes, "accepted input over max_bytes");
  EW_FUZZ_CHECK(ew::json::Depth(*parsed, limits.max_depth + 1) <= limits.max_depth, "accepted nesting over max_depth");
  (void)parsed->dump(-1, ' ', false, json::error_handler_t::replace);

  // msgpack re-encoding is stable: parse(to_msgpack(v)) encodes to the same bytes.
  const std::vector<uint8_t> packed = json::to_msgpack(*parsed);
  ew::json::ParseLimits unbounded_size = limits;
  unbounded_size.max_bytes = packed.size();
  auto again = ew::json::Parse(std::string_view(reinterpret_cast<const char*>(packed.data()), packed.size()),
                               unbounded_size, ew::json::Format::kMsgpack);
  EW_FUZZ_CHECK(again.has_value(), "to_msgpack output does not parse: " + again.error().message);
  EW_FUZZ_CHECK(json::to_msgpack(*again) == packed, "msgpack re-encoding is not stable");
  return 0;
}
