// Typed WAMP options and details. The spec gives each option a type (PUBLISH.Options.acknowledge
// is a bool, CALL.Options.timeout an integer); a known option of another type is a protocol
// violation, so a client never believes the router honoured an option it silently read as false.
// Options the router does not know are ignored, as WAMP asks.
#pragma once

#include <initializer_list>
#include <string>

#include "common/error/error.hpp"
#include "common/wamp/message.hpp"

namespace ew::router {

enum class OptionType {
  kBool,
  kString,
  kObject,
  kNonNegativeInteger,  // 0 ≤ n ≤ 2^53 (timeouts in ms)
  kIdList,              // array of ids in [1, 2^53] (session ids)
  kStringList,          // array of strings
};

struct OptionSpec {
  const char* key;
  OptionType type;
};

// Most entries accepted in one list option (exclude, eligible, …): a bound on the work a single
// PUBLISH may ask for, far above any real use.
constexpr size_t kMaxOptionListEntries = 1024;

// InvalidArgument naming `what` ("PUBLISH"), the first option whose value has the wrong type,
// and the type it needs, or a list longer than kMaxOptionListEntries. A null value counts as
// absent (JSON clients send null for "not set"). `options` must be an object (the codec checks).
Result<void> CheckOptions(const wamp::Value& options, const char* what, std::initializer_list<OptionSpec> specs);

}  // namespace ew::router
