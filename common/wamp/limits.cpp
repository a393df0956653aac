#include "common/wamp/limits.hpp"

#include <string>

#include "common/json/guarded_json.hpp"

namespace ew::wamp {

ew::Result<void> CheckPayloadFits(const Value& args, const Value& kwargs, size_t encoded_bytes,
                                  size_t max_message_bytes, std::string_view what) {
  for (const Value* part : {&args, &kwargs}) {
    if (json::Depth(*part, kMaxPayloadDepth) > kMaxPayloadDepth) {
      return InvalidArgument(std::string(what) + " nests deeper than the " + std::to_string(kMaxPayloadDepth) +
                             " levels a WAMP message may carry");
    }
  }
  if (encoded_bytes + kEnvelopeBytes > max_message_bytes) {
    return InvalidArgument(std::string(what) + " is " + std::to_string(encoded_bytes) +
                           " bytes encoded, over the " + std::to_string(max_message_bytes - kEnvelopeBytes) +
                           " bytes a WAMP message may carry");
  }
  return Ok();
}

}  // namespace ew::wamp
