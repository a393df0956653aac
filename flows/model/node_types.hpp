// The Node-RED node types a board's C++ flow runtime implements (flows contract). The conductor
// refuses a deploy that places any other type on a board. Until flows/runtime exposes its own
// `IsSupportedNodeType` (its node factory registry, the real source), this list is the one place
// the conductor reads; when the runtime's exists, this header forwards to it.
#pragma once

#include <array>
#include <string_view>

namespace ew::flows {

// The same list as flows/runtime's SupportedNodeTypes() on branch wt-flowruntime.
inline constexpr std::array<std::string_view, 25> kBoardNodeTypes = {
    "inject",      "debug",       "change",           "switch",          "range",
    "delay",       "trigger",     "rbe",              "link in",         "link out",
    "link call",   "catch",       "status",           "complete",        "split",
    "join",        "template",    "json",             "mqtt in",         "mqtt out",
    "http request", "comment",    "edgewire-gpio-in", "edgewire-gpio-out", "edgewire-function",
};

// Config node types a board partition may carry (`edgewire-conductor` is the palette's own and
// means nothing on a board, so it is accepted and ignored).
inline constexpr std::array<std::string_view, 2> kBoardConfigTypes = {"mqtt-broker", "edgewire-conductor"};

inline bool IsBoardNodeType(std::string_view type) {
  for (auto t : kBoardNodeTypes) {
    if (t == type) return true;
  }
  return false;
}

inline bool IsBoardConfigType(std::string_view type) {
  for (auto t : kBoardConfigTypes) {
    if (t == type) return true;
  }
  return false;
}

}  // namespace ew::flows
