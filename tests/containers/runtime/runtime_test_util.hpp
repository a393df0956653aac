// Helpers for tests that run real containers: world-readable temporary directories (the
// function's uid must read its code), code files, and a scan of /proc for leftover processes.
#pragma once

#include <dirent.h>
#include <fcntl.h>
#include <stdlib.h>
#include <sys/stat.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <memory>
#include <mutex>
#include <string>
#include <vector>

#include "containers/runtime/container_runtime.hpp"

namespace ew::containers::testing {

// A temporary directory, mode 0755 (mkdtemp makes 0700, which the function's uid cannot enter),
// removed with its contents.
class TempDir {
 public:
  explicit TempDir(const std::string& prefix = "ew-rt-test") {
    std::string pattern = (std::filesystem::temp_directory_path() / (prefix + "-XXXXXX")).string();
    if (!mkdtemp(pattern.data())) throw std::runtime_error("mkdtemp failed");
    path_ = pattern;
    chmod(path_.c_str(), 0755);
  }
  ~TempDir() {
    std::error_code ec;
    std::filesystem::remove_all(path_, ec);
  }
  const std::filesystem::path& path() const { return path_; }
  std::filesystem::path operator/(const std::string& name) const { return path_ / name; }

 private:
  std::filesystem::path path_;
};

// The real runtime `name` ("crun", "runc", "bwrap") running functions as `uid`, for tests
// parameterized by runtime. In SetUp():
//   auto real = MakeRealRuntime(GetParam(), dir, uid);
//   if (!real.skip.empty()) GTEST_SKIP() << real.skip;
//   ASSERT_TRUE(real.runtime) << real.failure; `skip` says why the test cannot run here (not installed, or crun on
// a hybrid-cgroup host); `failure` that an installed runtime cannot run containers (a bug).
struct RealRuntime {
  std::unique_ptr<ContainerRuntime> runtime;
  std::string skip;
  std::string failure;
};

inline RealRuntime MakeRealRuntime(const std::string& name, const std::filesystem::path& work_dir, uint32_t uid) {
  RuntimeConfig config;
  config.preferred = name;
  config.work_dir = work_dir;
  config.uid = uid;
  config.gid = uid;
  auto runtime = MakeContainerRuntime(config);
  if (runtime) return {std::move(*runtime), "", ""};
  const std::string& why = runtime.error().message;
  if (why.find("not installed") != std::string::npos) return {nullptr, name + " is not installed here", ""};
  // crun's one known refusal on such hosts; any other crun failure is a failure.
  if (name == "crun" && why.find("cgroups in hybrid mode not supported") != std::string::npos)
    return {nullptr, "crun refuses this host: cgroups in hybrid mode not supported", ""};
  return {nullptr, "", name + " is installed but cannot run containers: " + why};
}

inline void WriteFile(const std::filesystem::path& path, const std::string& text, mode_t mode = 0644) {
  std::filesystem::create_directories(path.parent_path());
  std::ofstream(path, std::ios::binary | std::ios::trunc) << text;
  chmod(path.c_str(), mode);
}

// Pids of processes whose command line contains `marker` (each test uses a unique one).
inline std::vector<int> ProcessesWithMarker(const std::string& marker) {
  std::vector<int> pids;
  DIR* proc = opendir("/proc");
  if (!proc) return pids;
  while (dirent* entry = readdir(proc)) {
    int pid = atoi(entry->d_name);
    if (pid <= 0 || pid == getpid()) continue;
    // Read with read(2): the process may vanish meanwhile (ESRCH), which iostreams throw on.
    int fd = open(("/proc/" + std::string(entry->d_name) + "/cmdline").c_str(), O_RDONLY | O_CLOEXEC);
    if (fd < 0) continue;
    std::string cmdline;
    char chunk[4096];
    ssize_t n;
    while ((n = read(fd, chunk, sizeof(chunk))) > 0) cmdline.append(chunk, static_cast<size_t>(n));
    close(fd);
    if (cmdline.find(marker) != std::string::npos) pids.push_back(pid);
  }
  closedir(proc);
  return pids;
}

inline std::string UniqueMarker(const std::string& what) {
  static int counter = 0;
  return "ew-marker-" + what + "-" + std::to_string(getpid()) + "-" + std::to_string(++counter);
}

}  // namespace ew::containers::testing
