// FunctionSpec: what a function package declares in its function.json (the proto3 JSON form of
// edgewire.v1.FunctionSpec, see common/proto/edgewire/v1/functions.proto). Parsed with nlohmann
// so that the board agent does not link protobuf; a conformance test keeps the two in step.
#pragma once

#include <chrono>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include <nlohmann/json.hpp>

#include "common/error/error.hpp"

namespace ew::containers {

enum class Runtime { kSh, kPython3, kNative };
enum class GpioDirection { kInput, kOutput };

std::string_view RuntimeName(Runtime runtime);            // "sh", "python3", "native"
std::string_view GpioDirectionName(GpioDirection direction);  // "input", "output"

// A GPIO line the function may use through the agent's broker ("GPIO17", "17" or a label).
struct GpioLineSpec {
  std::string line;
  GpioDirection direction = GpioDirection::kInput;
};

// An architecture-specific way to run the function (e.g. a native binary per CPU).
struct Implementation {
  std::string arch;  // `uname -m` of the host: "aarch64", "armv7l", "x86_64"
  Runtime runtime = Runtime::kSh;
  std::string entrypoint;  // path inside the package
};

// Warm mode: one long-lived process per instance reads newline-delimited JSON requests on stdin
// and answers one JSON line each on stdout.
struct WarmSpec {
  bool enabled = false;
  uint32_t max_instances = 1;                     // 1..16
  std::chrono::seconds idle_timeout{60};          // 1..86400; an idle instance is stopped after this
};

// How the conductor places the function's calls (issue 18, docs/FUNCTIONS.md): the strategy and
// its knobs; what is unset takes the conductor's [functions] defaults, and a call may still name
// another strategy. Only the shape and ranges are checked here (the agent reads it and ignores it);
// the conductor checks the strategy's name at upload.
struct PlacementSpec {
  std::string strategy;            // "" = the conductor's default; [a-z0-9-]{1,32}
  std::optional<double> epsilon;   // greedy: share of calls sent to a random runtime, 0..1
  std::optional<double> ucb_c;     // ucb1, sliding-ucb: exploration factor, 0..10
  std::optional<uint32_t> window;  // sliding-ucb: the last N calls count, 1..64 (the samples kept)

  bool empty() const { return strategy.empty() && !epsilon && !ucb_c && !window; }
};

struct FunctionSpec {
  std::string name;        // [a-z0-9][a-z0-9_-]{0,62}
  std::string version;     // 1..64 printable characters, e.g. "1.0.0"
  Runtime runtime = Runtime::kSh;
  std::string entrypoint;  // relative path inside the package, no ".."
  uint64_t memory_bytes = 64ull << 20;            // JSON "memoryMb", 4..4096
  std::chrono::milliseconds timeout{10'000};      // JSON "timeoutMs", 1..900000
  uint32_t max_concurrency = 4;                   // 1..256 invocations at once per board
  bool network = false;                           // own network namespace without interfaces when false
  std::vector<GpioLineSpec> gpio;
  bool cloud_only = false;                        // placement hints; both true is invalid
  bool board_only = false;
  // JSON "retryOnTimeout": a conductor call placed "auto" whose runtime timed out (or did not
  // answer in time, so it may still run there) is tried again on the next runtime. Off by
  // default: the function then runs at most once per call (docs/FUNCTIONS.md, "Fallback").
  bool retry_on_timeout = false;
  WarmSpec warm;
  std::vector<Implementation> implementations;
  PlacementSpec placement;                        // JSON "placement"; absent = conductor defaults

  // The runtime and entrypoint to use on `arch`: the matching implementation, else the
  // top-level ones. NotFound when implementations exist, none matches and the top-level
  // runtime is native (a native binary of another architecture cannot run).
  Result<Implementation> Select(std::string_view arch) const;
};

// Parses and validates function.json. InvalidArgument naming the field ("timeoutMs: must be
// between 1 and 900000") for bad input; unknown fields are errors. Accepts both the proto3 JSON
// names (lowerCamelCase) and the original snake_case names, as protobuf's JSON parser does.
Result<FunctionSpec> ParseFunctionSpec(std::string_view json_text);
// The canonical proto3 JSON form (lowerCamelCase, defaults included).
nlohmann::json ToJson(const FunctionSpec& spec);

}  // namespace ew::containers
