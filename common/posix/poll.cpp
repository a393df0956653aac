#include "common/posix/poll.hpp"

#include <cerrno>
#include <climits>
#include <cstring>
#include <string>

namespace ew::posix {

using std::chrono::steady_clock;

Result<int> PollUntil(pollfd* fds, size_t count, steady_clock::time_point deadline) {
  for (;;) {
    int timeout_ms = -1;
    if (deadline != steady_clock::time_point::max()) {
      const auto left = deadline - steady_clock::now();
      // Rounded up: rounding down would wake just before the deadline and spin once more.
      const auto ms = std::chrono::ceil<std::chrono::milliseconds>(left).count();
      timeout_ms = ms <= 0 ? 0 : static_cast<int>(std::min<long long>(ms, INT_MAX));
    }
    const int ready = ::poll(fds, static_cast<nfds_t>(count), timeout_ms);
    if (ready >= 0) {
      // A timeout can end a little early (the kernel rounds): wait again for what is left.
      if (ready == 0 && timeout_ms > 0 && steady_clock::now() < deadline) continue;
      return ready;
    }
    if (errno == EINTR) continue;
    return Internal(std::string("poll: ") + std::strerror(errno));
  }
}

Result<short> PollFdUntil(int fd, short events, steady_clock::time_point deadline) {
  pollfd one{fd, events, 0};
  EW_TRY(int ready, PollUntil(&one, 1, deadline));
  if (ready == 0) return DeadlineExceeded("descriptor " + std::to_string(fd) + " not ready by the deadline");
  return one.revents;
}

}  // namespace ew::posix
