// Where the elements of a wamp.2.msgpack frame begin and end, found without building a DOM: the
// router forwards a CALL's, YIELD's or ERROR's args and kwargs between two msgpack peers as the
// bytes it received (kept_payload.hpp). Every element is still checked here, as the
// guarded JSON reader would check it: well-formed msgpack (msgpack-cxx's parser), no deeper than
// kMaxDepth counting the message array, map keys that are strings (what nlohmann and every JSON
// peer need), no more elements declared than there are bytes. Internal to common/wamp.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string_view>
#include <vector>

#include "common/error/error.hpp"

namespace ew::wamp {

// The top-level array of a frame: [begin, end) byte offsets of each element, and what the
// element is at its top: enough to read a message's envelope (type, ids, URI, whether its
// options are empty) without building anything.
struct MsgpackFrameLayout {
  struct Span {
    enum class Kind : uint8_t { kOther, kUnsigned, kString, kArray, kMap };
    size_t begin = 0;
    size_t end = 0;
    Kind kind = Kind::kOther;
    uint64_t number = 0;    // kUnsigned: the value; kArray: the declared elements; kMap: pairs
    std::string_view text;  // kString: the string, within the frame
  };
  std::vector<Span> elements;
};

// InvalidArgument ("invalid msgpack: ...", "truncated msgpack: ...", "nesting deeper than 128
// levels", "message must be a non-empty array") when the frame is not one well-formed array
// within the limits above, with nothing after it.
ew::Result<MsgpackFrameLayout> ScanMsgpackFrame(std::string_view frame);

}  // namespace ew::wamp
