// MakeContainerRuntime: the one place that picks the runtime. "auto": bwrap when it enforces
// every limit here (cheapest, same sandbox), else crun, then runc, then bwrap with its gaps;
// each is probed by running /bin/true, because being installed is not enough (crun refuses
// hybrid-cgroup hosts, bwrap needs unprivileged user namespaces).
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

Result<std::unique_ptr<PreparedSandbox>> ContainerRuntime::Prepare(const ContainerSpec&) {
  return Unavailable(std::string(Name()) + " cannot prepare sandboxes ahead of time");
}

Result<RunOutput> ContainerRuntime::RunPrepared(std::unique_ptr<PreparedSandbox>, std::string_view, const RunLimits&) {
  return Unavailable(std::string(Name()) + " cannot prepare sandboxes ahead of time");
}

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

namespace {

Result<std::unique_ptr<ContainerRuntime>> Chosen(const std::string& name, std::unique_ptr<ContainerRuntime> runtime,
                                                 const RuntimeConfig& config, const std::string& why) {
  Log()->info("container runtime: {} (work dir {}{}), limits {}", name, config.work_dir.string(),
              why.empty() ? "" : ", " + why, ToJson(runtime->Limits()).dump());
  if (auto missing = Unenforced(runtime->Limits()); !missing.empty()) {
    std::string names;
    for (const auto& m : missing) names += (names.empty() ? "" : ", ") + m;
    Log()->warn("container runtime {}: not enforced on this host: {}", name, names);
  }
  return runtime;
}

std::string JoinNames(const std::vector<std::string>& names) {
  std::string out;
  for (const auto& n : names) out += (out.empty() ? "" : ", ") + n;
  return out;
}

}  // namespace

Result<std::unique_ptr<ContainerRuntime>> MakeContainerRuntime(const RuntimeConfig& config) {
  std::vector<std::string> candidates;
  const bool automatic = config.preferred == "auto";
  if (automatic) {
    candidates = {"bwrap", "crun", "runc"};
  } else if (config.preferred == "crun" || config.preferred == "runc" || config.preferred == "bwrap") {
    candidates = {config.preferred};
  } else {
    return InvalidArgument("container runtime must be auto, crun, runc or bwrap: '" + config.preferred + "'");
  }
  // "auto" takes the cheapest runtime that holds every limit: bwrap builds the same sandbox as
  // crun/runc (namespaces, read-only root, no capabilities, the same seccomp list, own uid,
  // per-container cgroups) at a fifth of runc's cost here (docs/BENCHMARKS.md, Functions), but
  // only where it can make cgroups (and, as root, lease uids). Where it cannot, crun and runc
  // come first and bwrap is the last resort, its gaps reported, as before.
  std::unique_ptr<ContainerRuntime> partial;  // a working bwrap that lacks some limit
  std::string failures;
  for (const auto& name : candidates) {
    auto runtime = TryRuntime(name, config);
    if (runtime) {
      auto missing = Unenforced((*runtime)->Limits());
      if (automatic && name == "bwrap" && !missing.empty()) {
        Log()->info("container runtime bwrap works but does not enforce {} here: trying crun and runc first",
                    JoinNames(missing));
        partial = std::move(*runtime);
        continue;
      }
      return Chosen(name, std::move(*runtime), config,
                    automatic && name == "bwrap" ? "the cheapest runtime that enforces every limit here" : "");
    }
    std::string why = runtime.error().message;
    if (why.rfind(name + ": ", 0) == 0) why.erase(0, name.size() + 2);
    Log()->warn("container runtime {} skipped: {}", name, why);
    if (!failures.empty()) failures += "; ";
    failures += name + ": " + why;
  }
  if (partial) return Chosen("bwrap", std::move(partial), config, "no OCI runtime works here");
  return Unavailable("no container runtime works on this host (" + failures + ")");
}

}  // namespace ew::containers
