// Messages between C++ (nlohmann::json) and a Duktape heap. Two ways, both exact for JSON values:
//  - direct: PushJson builds the value with the engine's API, ToJson walks it back;
//  - text: the value as JSON text through the engine's JSON.parse / JSON.stringify.
// The function node uses the direct way: tests/bench/flows_js_bench measures both
// (docs/BENCHMARKS.md, Flows). ToJson follows JSON.stringify: undefined, functions and symbols are
// left out of objects and become null in arrays, NaN and Infinity become null, toJSON() is
// honoured (a Date becomes its ISO text), a cycle or nesting deeper than kMaxDepth is an error.
#pragma once

#include <nlohmann/json.hpp>

#include <duktape.h>

#include "common/error/error.hpp"

namespace ew::flows::js {

// Deeper than this is refused: a circular message, or one no flow should carry.
constexpr int kMaxDepth = 64;

// Pushes `value` (one stack slot). Throws into the engine only when the heap is out of memory or
// the value nests deeper than the engine's own limits: call inside a protected call.
void PushJson(duk_context* ctx, const nlohmann::json& value);
// The value at `idx`, as JSON.stringify would see it; `idx` holds undefined → null. Runs in its
// own protected call (a toJSON() may throw): InvalidArgument with the reason. The stack is left
// as it was.
Result<nlohmann::json> ToJson(duk_context* ctx, duk_idx_t idx);

// The text way: json dump + JSON.parse; JSON.stringify + json parse. Same contracts as above.
void PushJsonText(duk_context* ctx, const nlohmann::json& value);
Result<nlohmann::json> ToJsonText(duk_context* ctx, duk_idx_t idx);

}  // namespace ew::flows::js
