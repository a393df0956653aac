// Fuzz target: a function manifest (function.json) through ParseFunctionSpec
// (containers/package/function_spec.hpp). Invariants: errors are InvalidArgument and render as a
// REST error body; an accepted spec obeys the documented ranges; its canonical form (ToJson)
// parses again to the same spec; Select never fails for the top-level runtime unless native.
#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>

#include "containers/package/function_spec.hpp"
#include "tests/fuzz/fuzz_check.hpp"

namespace {

using ew::containers::FunctionSpec;

void CheckRanges(const FunctionSpec& spec) {
  EW_FUZZ_CHECK(!spec.name.empty() && spec.name.size() <= 63, spec.name);
  EW_FUZZ_CHECK(!spec.version.empty() && spec.version.size() <= 64, spec.version);
  EW_FUZZ_CHECK(!spec.entrypoint.empty() && spec.entrypoint.front() != '/', spec.entrypoint);
  const std::string wrapped = "/" + spec.entrypoint + "/";
  EW_FUZZ_CHECK(wrapped.find("/../") == std::string::npos && wrapped.find("//") == std::string::npos,
                "entrypoint leaves the package: " + spec.entrypoint);
  EW_FUZZ_CHECK(spec.memory_bytes >= (4ull << 20) && spec.memory_bytes <= (4096ull << 20), "memoryMb out of range");
  EW_FUZZ_CHECK(spec.timeout.count() >= 1 && spec.timeout.count() <= 900'000, "timeoutMs out of range");
  EW_FUZZ_CHECK(spec.max_concurrency >= 1 && spec.max_concurrency <= 256, "maxConcurrency out of range");
  EW_FUZZ_CHECK(!(spec.cloud_only && spec.board_only), "cloudOnly and boardOnly both set");
  EW_FUZZ_CHECK(spec.warm.max_instances >= 1 && spec.warm.max_instances <= 16, "warm.maxInstances out of range");
  EW_FUZZ_CHECK(spec.warm.idle_timeout.count() >= 1 && spec.warm.idle_timeout.count() <= 86'400,
                "warm.idleTimeoutS out of range");
  for (const auto& line : spec.gpio) EW_FUZZ_CHECK(!line.line.empty() && line.line.size() <= 32, line.line);
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const std::string_view text(reinterpret_cast<const char*>(data), size);
  auto spec = ew::containers::ParseFunctionSpec(text);
  if (!spec) {
    EW_FUZZ_CHECK(spec.error().code == ew::ErrorCode::kInvalidArgument, spec.error().message);
    ew::fuzz::CheckErrorRenders(spec.error());
    return 0;
  }
  CheckRanges(*spec);
  const std::string canonical = ew::containers::ToJson(*spec).dump();
  auto again = ew::containers::ParseFunctionSpec(canonical);
  EW_FUZZ_CHECK(again.has_value(), "the canonical form does not parse: " + again.error().message + "\n  " + canonical);
  EW_FUZZ_CHECK(ew::containers::ToJson(*again).dump() == canonical, "the canonical form is not stable: " + canonical);
  auto selected = spec->Select("x86_64");
  if (!selected) {
    EW_FUZZ_CHECK(spec->runtime == ew::containers::Runtime::kNative && !spec->implementations.empty(),
                  selected.error().message);
  }
  return 0;
}
