// toml++, included with its internal checks turned into exceptions. Every file that includes
// toml++ includes it through here, so that all copies of its inline parser agree (one definition).
//
// Why: toml++ 3.3 asserts where it should report an error: "[[[" fails parse_key's precondition
// check, which aborts a build with asserts and is undefined behaviour without them (the check
// becomes __builtin_assume under NDEBUG). Found by tests/fuzz/config_fuzz. Here a failed check
// throws TomlCheckFailed in every build type, and common/config turns it into InvalidArgument.
// This holds where toml++ is compiled header-only (EW_AGENT_STATIC, the default); Debian's shared
// libtomlplusplus keeps the bug. Checks inside its noexcept functions still end the process.
#pragma once

namespace ew::config {

struct TomlCheckFailed {
  const char* check;  // the failed expression
};

}  // namespace ew::config

#pragma push_macro("NDEBUG")
#undef NDEBUG
#define TOML_ASSERT(expr) ((expr) ? static_cast<void>(0) : throw ::ew::config::TomlCheckFailed{#expr})
#pragma GCC diagnostic push
#if defined(__clang__)
#pragma GCC diagnostic ignored "-Wexceptions"
#else
#pragma GCC diagnostic ignored "-Wterminate"
#endif
#include <toml++/toml.h>
#pragma GCC diagnostic pop
#pragma pop_macro("NDEBUG")
