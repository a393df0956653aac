// MakeContainerRuntime: the one place that picks the runtime. crun first (fastest), then runc,
// then bwrap; each is probed by running /bin/true, because being installed is not enough
// (crun refuses hybrid-cgroup hosts, bwrap needs unprivileged user namespaces).
#include <unistd.h>

#include <cstdlib>
#include <sstream>

#include "common/log/log.hpp"
#include "containers/runtime/bwrap_driver.hpp"
#include "containers/runtime/container_runtime.hpp"
#include "containers/runtime/runc_driver.hpp"

namespace ew::containers {

namespace fs = std::filesystem;

namespace {

const ew::log::Logger Log{"containers"};

// PATH first, then the usual places (a daemon's PATH may lack the sbin directories, where runc lives).
fs::path FindBinary(const std::string& name) {
  std::vector<std::string> dirs;
  if (const char* path = std::getenv("PATH")) {
    std::stringstream in(path);
    for (std::string dir; std::getline(in, dir, ':');) {
      if (!dir.empty() && dir.front() == '/') dirs.push_back(dir);
    }
  }
  for (const char* dir : {"/usr/local/sbin", "/usr/local/bin", "/usr/sbin", "/usr/bin", "/sbin", "/bin"}) dirs.push_back(dir);
  for (const auto& dir : dirs) {
    fs::path candidate = fs::path(dir) / name;
    if (access(candidate.c_str(), X_OK) == 0) return candidate;
  }
  return {};
}

Result<std::unique_ptr<ContainerRuntime>> TryRuntime(const std::string& name, const RuntimeConfig& config) {
  fs::path binary = FindBinary(name);
  if (binary.empty()) return NotFound("not installed");
  if (name == "bwrap") {
    auto driver = std::make_unique<BwrapDriver>(binary, config);
    EW_TRY_VOID(driver->Probe());
    return std::unique_ptr<ContainerRuntime>(std::move(driver));
  }
  auto driver = std::make_unique<RuncDriver>(name, binary, config);
  EW_TRY_VOID(driver->Probe());
  return std::unique_ptr<ContainerRuntime>(std::move(driver));
}

}  // namespace

std::vector<std::string> Unenforced(const LimitSupport& support) {
  std::vector<std::string> out;
  if (support.memory.empty()) out.push_back("memory");
  if (support.pids.empty()) out.push_back("pids");
  if (support.cpu.empty()) out.push_back("cpu");
  if (support.uid.empty()) out.push_back("uid");
  return out;
}

nlohmann::json ToJson(const LimitSupport& support) {
  return {{"memory", support.memory}, {"pids", support.pids}, {"cpu", support.cpu}, {"uid", support.uid}};
}

Result<std::unique_ptr<ContainerRuntime>> MakeContainerRuntime(const RuntimeConfig& config) {
  std::vector<std::string> candidates;
  if (config.preferred == "auto") {
    candidates = {"crun", "runc", "bwrap"};
  } else if (config.preferred == "crun" || config.preferred == "runc" || config.preferred == "bwrap") {
    candidates = {config.preferred};
  } else {
    return InvalidArgument("container runtime must be auto, crun, runc or bwrap: '" + config.preferred + "'");
  }
  std::string failures;
  for (const auto& name : candidates) {
    auto runtime = TryRuntime(name, config);
    if (runtime) {
      Log()->info("container runtime: {} (work dir {}), limits {}", name, config.work_dir.string(),
                  ToJson((*runtime)->Limits()).dump());
      if (auto missing = Unenforced((*runtime)->Limits()); !missing.empty()) {
        std::string names;
        for (const auto& m : missing) names += (names.empty() ? "" : ", ") + m;
        Log()->warn("container runtime {}: not enforced on this host: {}", name, names);
      }
      return runtime;
    }
    std::string why = runtime.error().message;
    if (why.rfind(name + ": ", 0) == 0) why.erase(0, name.size() + 2);
    Log()->warn("container runtime {} skipped: {}", name, why);
    if (!failures.empty()) failures += "; ";
    failures += name + ": " + why;
  }
  return Unavailable("no container runtime works on this host (" + failures + ")");
}

}  // namespace ew::containers
