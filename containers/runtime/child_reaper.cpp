#include "containers/runtime/child_reaper.hpp"

#include <dirent.h>
#include <fcntl.h>
#include <poll.h>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <cstdlib>
#include <cstring>
#include <mutex>
#include <string>
#include <unordered_map>
#include <vector>

namespace ew::containers {

namespace {

// waitid's P_PIDFD (Linux 5.4); glibc's idtype_t may not name it.
constexpr int kIdTypePidfd = 3;

std::mutex& RegistryMutex() {
  static std::mutex mutex;
  return mutex;
}

// pid → how many owners (a pid reused before its previous owner forgot it counts twice).
std::unordered_map<pid_t, int>& Tracked() {
  static std::unordered_map<pid_t, int> tracked;  // GUARDED_BY(RegistryMutex())
  return tracked;
}

// Every child of every thread of this process (a child belongs to the thread that forked it;
// a re-parented orphan to one of our threads).
std::vector<pid_t> Children() {
  std::vector<pid_t> out;
  DIR* tasks = opendir("/proc/self/task");
  if (!tasks) return out;
  while (dirent* entry = readdir(tasks)) {
    if (entry->d_name[0] < '0' || entry->d_name[0] > '9') continue;
    std::string path = std::string("/proc/self/task/") + entry->d_name + "/children";
    int fd = open(path.c_str(), O_RDONLY | O_CLOEXEC);
    if (fd < 0) continue;
    std::string text;
    char chunk[4096];
    ssize_t n;
    while ((n = read(fd, chunk, sizeof(chunk))) > 0) text.append(chunk, static_cast<size_t>(n));
    close(fd);
    const char* p = text.c_str();
    char* end = nullptr;
    for (long pid = std::strtol(p, &end, 10); end != p; pid = std::strtol(p, &end, 10)) {
      out.push_back(static_cast<pid_t>(pid));
      p = end;
    }
  }
  closedir(tasks);
  return out;
}

}  // namespace

Result<void> ChildReaper::BecomeSubreaper() {
  if (prctl(PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0) != 0) {
    return Internal(std::string("prctl(PR_SET_CHILD_SUBREAPER): ") + std::strerror(errno));
  }
  return Ok();
}

bool ChildReaper::IsSubreaper() {
  int value = 0;
  return prctl(PR_GET_CHILD_SUBREAPER, &value, 0, 0, 0) == 0 && value != 0;
}

size_t ChildReaper::ReapOrphans() {
  size_t reaped = 0;
  for (pid_t pid : Children()) {
    // Under the lock: a ChildProcess spawned meanwhile is registered before it can be seen.
    std::lock_guard<std::mutex> lock(RegistryMutex());
    if (Tracked().count(pid)) continue;
    int status = 0;
    if (waitpid(pid, &status, WNOHANG) == pid) ++reaped;
  }
  return reaped;
}

pid_t ChildReaper::ForkTracked() {
  std::lock_guard<std::mutex> lock(RegistryMutex());
  pid_t pid = fork();
  if (pid > 0) ++Tracked()[pid];
  return pid;
}

void ChildReaper::Forget(pid_t pid) {
  std::lock_guard<std::mutex> lock(RegistryMutex());
  auto it = Tracked().find(pid);
  if (it != Tracked().end() && --it->second <= 0) Tracked().erase(it);
}

void ChildReaper::ReapKnownOrphan(pid_t pid, int pidfd, int wait_ms) {
  if (pid <= 0 || pidfd < 0) return;
  pollfd p{pidfd, POLLIN, 0};
  int ready;
  do {
    ready = poll(&p, 1, wait_ms);
  } while (ready < 0 && errno == EINTR);
  if (ready <= 0) return;  // still running: ReapOrphans gets it later
  std::lock_guard<std::mutex> lock(RegistryMutex());
  if (Tracked().count(pid)) return;
  siginfo_t info{};
  // By pidfd: never a recycled pid. ECHILD when it is not our child.
  waitid(static_cast<idtype_t>(kIdTypePidfd), static_cast<id_t>(pidfd), &info, WEXITED | WNOHANG);
}

}  // namespace ew::containers
