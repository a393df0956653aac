// What the conductor keeps of an invocation record: the output and logs are bounded at store
// time, so that no stored record (and no answer made of stored records) grows with what a
// function prints. The caller of a synchronous invocation still gets the whole record.
#pragma once

#include <cstddef>

#include <nlohmann/json.hpp>

namespace ew::functions {

struct StoredRecordLimits {
  size_t max_output_bytes = 256u << 10;  // "output" as JSON text; larger → dropped (null)
  size_t max_logs_bytes = 256u << 10;    // "logs" and "error" each; longer → cut at a UTF-8 boundary
};

// Caps `record` (an invocation record, docs/FUNCTIONS.md) in place: sets "outputBytes" and
// "logsBytes" to the sizes the function produced; an output over its cap becomes null and a
// longer "logs" or "error" is cut; then "truncated" is true (absent otherwise). A record already
// capped stays as it is (its sizes are kept).
void CapStoredRecord(nlohmann::json& record, const StoredRecordLimits& limits);

inline constexpr size_t kMaxSummaryText = 1024;  // bytes of a string field in a summary

// What a list of invocations shows of a stored record: status, error, exitCode, runtime, cold,
// queueMs, runMs, boardId, target, invocationId, at, outputBytes, logsBytes, truncated (scalars
// only, strings cut to kMaxSummaryText bytes) and trigger (an object of at most
// kMaxSummaryText bytes of JSON) and placement (an object of at most 4 × kMaxSummaryText). Never output or logs, nor anything else a board put in its
// record: a summary is small whatever it came from.
nlohmann::json SummarizeRecord(const nlohmann::json& record);

}  // namespace ew::functions
