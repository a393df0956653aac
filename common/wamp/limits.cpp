#include "common/wamp/limits.hpp"

#include <string>

#include "common/json/guarded_json.hpp"

namespace ew::wamp {

ew::Result<void> CheckPayloadDepth(const Value& args, const Value& kwargs, std::string_view what) {
  for (const Value* part : {&args, &kwargs}) {
    if (json::Depth(*part, kMaxPayloadDepth) > kMaxPayloadDepth) {
      return InvalidArgument(std::string(what) + " nests deeper than the " + std::to_string(kMaxPayloadDepth) +
                             " levels a WAMP message may carry");
    }
  }
  return Ok();
}

ew::Result<void> CheckEncodedSize(size_t encoded_bytes, size_t max_message_bytes, std::string_view what) {
  if (encoded_bytes + kEnvelopeBytes > max_message_bytes) {
    return InvalidArgument(std::string(what) + " is " + std::to_string(encoded_bytes) +
                           " bytes encoded, over the " + std::to_string(max_message_bytes - kEnvelopeBytes) +
                           " bytes a WAMP message may carry");
  }
  return Ok();
}

ew::Result<void> CheckPayloadFits(const Value& args, const Value& kwargs, size_t encoded_bytes,
                                  size_t max_message_bytes, std::string_view what) {
  EW_TRY_VOID(CheckPayloadDepth(args, kwargs, what));
  return CheckEncodedSize(encoded_bytes, max_message_bytes, what);
}

}  // namespace ew::wamp
