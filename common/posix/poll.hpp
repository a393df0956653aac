// Waiting for descriptors until a deadline (steady clock), restarting after signals with the
// time that is left, so a caller never waits longer, or returns earlier, than it asked.
#pragma once

#include <poll.h>

#include <chrono>
#include <cstddef>

#include "common/error/error.hpp"

namespace ew::posix {

// poll(2) on `fds[0..count)` until one is ready or `deadline` passes. Returns the number of
// descriptors with revents set (> 0), or 0 once the deadline has passed with none ready (also
// when it had passed on entry: the descriptors are still polled once, without waiting).
// time_point::max() waits without limit. EINTR is retried; other errors are Internal.
Result<int> PollUntil(pollfd* fds, size_t count, std::chrono::steady_clock::time_point deadline);

// One descriptor: its revents (never 0) once it is ready for `events`, DeadlineExceeded when
// `deadline` passes first, Internal on a poll error.
Result<short> PollFdUntil(int fd, short events, std::chrono::steady_clock::time_point deadline);

}  // namespace ew::posix
