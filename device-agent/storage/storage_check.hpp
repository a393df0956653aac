// Which of the agent's directories it cannot write (a read-only SD card, a full disk). The agent
// keeps serving without them (ping, GPIO and invocations of what is deployed need no writes) and
// says why: a log line when a directory becomes unusable or usable again, and sys.info's
// storageProblems.
#pragma once

#include <filesystem>
#include <mutex>
#include <string>
#include <vector>

namespace ew::agent::storage {

struct WatchedDir {
  std::string what;            // "spool", "functions state", ... (names the [section] key in the log)
  std::filesystem::path dir;
};

// "" when `dir` takes a small file (created if missing, written, removed; no fsync, so the probe
// is cheap enough for the io thread); else the errno text ("Read-only file system", "No space
// left on device", "Permission denied").
std::string ProbeWritable(const std::filesystem::path& dir);

class StorageCheck {
 public:
  explicit StorageCheck(std::vector<WatchedDir> dirs);

  // Probes every directory now; logs each change (warn when one becomes unusable, info when it
  // is usable again) and returns the problems, "<what> <dir>: <why>", empty when all are fine.
  // Thread-safe (sys.info and the periodic check may run it from different threads).
  std::vector<std::string> Check();

 private:
  std::mutex mu_;
  std::vector<WatchedDir> dirs_;
  std::vector<std::string> last_;  // GUARDED_BY(mu_): the reason per dir at the last Check ("" = fine)
};

}  // namespace ew::agent::storage
