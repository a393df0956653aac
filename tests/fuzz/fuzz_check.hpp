// Invariant checks inside fuzz targets: a failed check prints what broke and aborts, which both
// libFuzzer and the replay driver (fuzz_replay_main.cpp) report as a crash with the input saved.
#pragma once

#include <cstdio>
#include <cstdlib>
#include <string>

#define EW_FUZZ_CHECK(condition, detail)                                                           \
  do {                                                                                            \
    if (!(condition)) {                                                                           \
      std::fprintf(stderr, "fuzz invariant failed at %s:%d: %s\n  %s\n", __FILE__, __LINE__,      \
                   #condition, std::string(detail).c_str());                                      \
      std::abort();                                                                               \
    }                                                                                             \
  } while (0)

#include "common/error/error.hpp"

namespace ew::fuzz {

// Every error a parser returns may end up in a REST error body ({"error":{"code","message"}}):
// rendering it must not throw, whatever bytes of the input the message quotes.
inline void CheckErrorRenders(const Error& error) {
  std::string body;
  try {
    body = ErrorJson(error);
  } catch (const std::exception& e) {
    EW_FUZZ_CHECK(false, std::string("ErrorJson threw: ") + e.what());
  }
  EW_FUZZ_CHECK(!error.message.empty(), "an error without a message");
}

}  // namespace ew::fuzz
