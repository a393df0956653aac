// How a "link out" in return mode hands a message back to the "link call" that sent it (both in
// this partition): the call node implements this.
#pragma once

#include "flows/runtime/message.hpp"

namespace ew::flows::nodes {

class LinkReturnTarget {
 public:
  virtual ~LinkReturnTarget() = default;
  // `msg` with its _linkSource entry still on top. Strand.
  virtual void OnReturn(runtime::Msg msg) = 0;
};

}  // namespace ew::flows::nodes
