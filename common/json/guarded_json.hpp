// The one way Edgewire reads untrusted JSON and MessagePack: REST bodies, function output,
// broker and control-socket requests, files, and (through the WAMP codec) every frame. Nesting
// depth and size are checked while the document is parsed, so no value deeper or larger than
// allowed is ever built; nlohmann's copy, dump and compare recurse per level, and a bounded
// depth keeps every later use of a parsed value far from the stack limit.
#pragma once

#include <cstddef>
#include <string_view>

#include <nlohmann/json.hpp>

#include "common/error/error.hpp"

namespace ew::json {

enum class Format { kJson, kMsgpack };

struct ParseLimits {
  // Largest input accepted, in bytes. Bigger input is refused before any parsing.
  size_t max_bytes = 1 << 20;
  // Deepest nesting of arrays and objects (a scalar is depth 0, [] is 1, [[1]] is 2). 64 is far
  // beyond any document Edgewire defines; the WAMP codec allows 128 for a whole frame.
  size_t max_depth = 64;
  // WAMP's JSON serializer carries binary as a string "\0" + base64: turn such strings back into
  // binary values (only the WAMP codec sets this).
  bool wamp_binary_strings = false;
  // What the input is, prefixed to error messages ("request body: nesting deeper than 64
  // levels"); empty for no prefix.
  std::string_view what = "JSON";
};

// Parses one whole document (bytes after it are an error). InvalidArgument when the input is
// over max_bytes, nests deeper than max_depth, is malformed, or (msgpack) declares more elements
// than it has bytes. Messages say where and why, and never quote the input (it may hold secrets).
Result<nlohmann::json> Parse(std::string_view text, const ParseLimits& limits, Format format = Format::kJson);
inline Result<nlohmann::json> Parse(std::string_view text) { return Parse(text, ParseLimits{}); }

// Nesting depth of a value, as ParseLimits counts it, computed without recursion. Stops counting
// past `stop_after` (returns stop_after + 1), so a check costs at most that many levels per path.
size_t Depth(const nlohmann::json& value, size_t stop_after);

}  // namespace ew::json
