#include "containers/runtime/runc_driver.hpp"

#include <sched.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <fstream>
#include <system_error>

#include <nlohmann/json.hpp>

#include "common/log/log.hpp"
#include "containers/runtime/pipe_container_process.hpp"

namespace ew::containers {

namespace fs = std::filesystem;

namespace {

const ew::log::Logger Log{"containers"};

// As root, runc runs in a mount namespace of its own in which <bundle>/stage is a tmpfs holding
// read-only overlays of the skeleton and of each directory bind source, lower layers named
// relative to it: the container's mountinfo then shows "/" and "lowerdir=sN:e" where a bind
// mount would show a host path. Strings prepared before fork; the child makes syscalls only.
struct OverlayPlan {
  struct Layer {
    std::string source;   // host path
    std::string bind;     // "sN": the source, bound here
    std::string overlay;  // "oN" ("r" for the root)
    std::string options;  // "lowerdir=sN:e"
  };
  std::string stage;  // <bundle>/stage
  std::vector<Layer> layers;
};

int MountOverlays(const OverlayPlan& plan) {
  if (unshare(CLONE_NEWNS) != 0) return errno;
  if (mount(nullptr, "/", nullptr, MS_REC | MS_PRIVATE, nullptr) != 0) return errno;
  if (mount("tmpfs", plan.stage.c_str(), "tmpfs", MS_NOSUID | MS_NODEV, "mode=0755,size=64k") != 0) return errno;
  if (chdir(plan.stage.c_str()) != 0 || mkdir("e", 0755) != 0) return errno;
  for (const auto& layer : plan.layers) {
    if (mkdir(layer.bind.c_str(), 0755) != 0 || mkdir(layer.overlay.c_str(), 0755) != 0) return errno;
    if (mount(layer.source.c_str(), layer.bind.c_str(), nullptr, MS_BIND | MS_REC, nullptr) != 0) return errno;
    if (mount("overlay", layer.overlay.c_str(), "overlay", MS_RDONLY | MS_NOSUID | MS_NODEV, layer.options.c_str()) != 0) {
      return errno;
    }
  }
  return 0;
}

constexpr std::chrono::milliseconds kHelperTimeout{10'000};
constexpr std::chrono::milliseconds kProbeTimeout{20'000};
const char* const kRuntimeEnv = "PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin";

}  // namespace

RuncDriver::RuncDriver(std::string name, fs::path binary, const RuntimeConfig& config)
    : name_(std::move(name)),
      binary_(std::move(binary)),
      state_dir_(config.work_dir / (name_ + "-state")),
      bundles_(config.work_dir, config.uid, config.gid),
      uids_(config.uid_first, config.uid_count, config.uid_lock_dir) {}

LimitSupport RuncDriver::Limits() const {
  LimitSupport support;
  if (cgroup_limits_.load()) {
    const std::string version = fs::exists("/sys/fs/cgroup/cgroup.controllers") ? "cgroup v2" : "cgroup v1";
    support.memory = support.pids = version;
    support.cpu = version + " cpu quota";
  } else {
    support.memory = "RLIMIT_DATA per process";
    support.pids = "RLIMIT_NPROC per uid";
  }
  if (!bundles_.rootless()) support.uid = "own uid per container (" + std::to_string(uids_.first()) + "+)";
  return support;
}

Result<UidPool::Lease> RuncDriver::LeaseUid() {
  if (bundles_.rootless()) return UidPool::Lease::Unlocked(geteuid());
  return uids_.Acquire();
}

std::vector<std::string> RuncDriver::GlobalArgs(const fs::path& bundle) const {
  std::vector<std::string> args = {binary_.string(), "--root=" + state_dir_.string()};
  if (!bundle.empty()) {
    // Errors of the runtime itself go to this log, apart from the function's stderr.
    args.push_back("--log=" + (bundle / "runtime.log").string());
    args.push_back("--log-format=json");
  }
  return args;
}

Result<void> RuncDriver::Probe() {
  EW_TRY_VOID(bundles_.Prepare());
  std::error_code ec;
  fs::create_directories(state_dir_, ec);
  fs::permissions(state_dir_, fs::perms::owner_all, ec);
  SweepOrphans();
  ContainerSpec spec;
  static std::atomic<int> probes{0};
  spec.id = "ew-probe-" + name_ + "-" + std::to_string(getpid()) + "-" + std::to_string(++probes);
  spec.argv = {"/bin/true"};
  RunLimits limits;
  limits.timeout = kProbeTimeout;
  std::string error;
  EW_TRY(auto out, RunOnce(spec, "", limits, &error));
  if (out.exit_code == 0) return Ok();
  if (error.empty()) error = out.stderr_data.empty() ? "exit status " + std::to_string(out.exit_code) : out.stderr_data;
  if (cgroup_limits_.load()) {
    // Try without linux.resources: a host whose cgroups refuse limits can still isolate.
    cgroup_limits_ = false;
    std::string second_error;
    auto again = RunOnce(spec, "", limits, &second_error);
    if (again && again->exit_code == 0) {
      DisableCgroupLimits(error);
      return Ok();
    }
    cgroup_limits_ = true;
  }
  while (!error.empty() && (error.back() == '\n' || error.back() == ' ')) error.pop_back();
  return Unavailable(error);
}

void RuncDriver::DisableCgroupLimits(const std::string& why) {
  cgroup_limits_ = false;
  std::call_once(cgroup_warning_, [&] {
    Log()->warn("{}: cgroup memory/pids/cpu limits are not available on this host ({}); functions run with rlimits only",
                name_, why);
  });
}

Result<RuncDriver::Launched> RuncDriver::Launch(const ContainerSpec& given) {
  ContainerSpec spec = given;
  std::shared_ptr<UidPool::Lease> lease;
  if (!spec.uid && !bundles_.rootless()) {
    EW_TRY(auto leased, uids_.Acquire());
    lease = std::make_shared<UidPool::Lease>(std::move(leased));
    spec.uid = lease->uid();
  }
  std::shared_ptr<OverlayPlan> plan;
  StagedSources staged;
  if (!bundles_.rootless()) {
    plan = std::make_shared<OverlayPlan>();
    const fs::path stage = bundles_.BundleDir(spec.id) / "stage";
    plan->stage = stage.string();
    auto add = [&](const fs::path& source, const std::string& overlay) {
      const std::string n = std::to_string(plan->layers.size());
      plan->layers.push_back({source.string(), "s" + n, overlay, "lowerdir=s" + n + ":e"});
      return stage / overlay;
    };
    staged.root = add(bundles_.skeleton(), "r");
    std::error_code ec;
    if (!spec.code_dir.empty()) staged.overlays[spec.code_dir] = add(spec.code_dir, "o0");
    for (const auto& m : spec.extra_mounts) {
      if (m.has_sockets || !fs::is_directory(m.source, ec) || staged.overlays.count(m.source)) continue;
      staged.overlays[m.source] = add(m.source, "o" + std::to_string(plan->layers.size()));
    }
  }
  EW_TRY(auto bundle, bundles_.Build(spec, cgroup_limits_.load(), plan ? &staged : nullptr));
  SpawnOptions options;
  if (plan) {
    std::error_code ec;
    fs::create_directory(plan->stage, ec);
    if (ec) {
      bundles_.Remove(bundle);
      return Internal("cannot create " + plan->stage + ": " + ec.message());
    }
    options.pre_exec = [plan] { return MountOverlays(*plan); };
  }
  options.argv = GlobalArgs(bundle);
  for (const char* arg : {"run", "--bundle"}) options.argv.push_back(arg);
  options.argv.push_back(bundle.string());
  options.argv.push_back(spec.id);
  options.env = {kRuntimeEnv};
  auto child = ChildProcess::Spawn(options);
  if (!child) {
    bundles_.Remove(bundle);
    return Unavailable(name_ + ": " + child.error().message);
  }
  return Launched{std::move(*child), bundle, std::move(lease)};
}

Result<RunOutput> RuncDriver::RunOnce(const ContainerSpec& spec, std::string_view input, const RunLimits& limits,
                                      std::string* runtime_error) {
  EW_TRY(auto launched, Launch(spec));
  const std::string id = spec.id;
  auto out = launched.child->Communicate(input, limits, [this, &id] { KillContainer(id); }, limits.cancel);
  launched.child.reset();
  bool killed = out.timed_out || out.stdout_truncated || (limits.cancel && limits.cancel->load());
  if (out.exit_code != 0 && !killed) *runtime_error = RuntimeError(launched.bundle);
  Cleanup(id, launched.bundle);
  return out;
}

Result<RunOutput> RuncDriver::Run(const ContainerSpec& spec, std::string_view input, const RunLimits& limits) {
  std::string error;
  EW_TRY(auto out, RunOnce(spec, input, limits, &error));
  if (error.empty()) return out;
  if (cgroup_limits_.load() && error.find("cgroup") != std::string::npos) {
    DisableCgroupLimits(error);
    error.clear();
    EW_TRY(auto again, RunOnce(spec, input, limits, &error));
    if (error.empty()) return again;
  }
  return Unavailable(name_ + ": " + error);
}

Result<std::unique_ptr<ContainerProcess>> RuncDriver::Start(const ContainerSpec& spec) {
  EW_TRY(auto launched, Launch(spec));
  std::string id = spec.id;
  fs::path bundle = launched.bundle;
  auto kill = [this, id] { KillContainer(id); };
  // The uid goes back only once the container is deleted.
  auto cleanup = [this, id, bundle, lease = launched.lease]() mutable {
    Cleanup(id, bundle);
    lease.reset();
  };
  return std::unique_ptr<ContainerProcess>(new PipeContainerProcess(std::move(launched.child), kill, cleanup));
}

void RuncDriver::SweepOrphans() const {
  std::error_code ec;
  size_t containers = 0, bundles = 0;
  for (const auto& entry : fs::directory_iterator(state_dir_, ec)) {
    if (!entry.is_directory(ec)) continue;
    auto args = GlobalArgs({});
    const std::string id = entry.path().filename().string();
    for (const char* arg : {"delete", "-f", id.c_str()}) args.push_back(arg);
    if (auto deleted = RunHelper(args, kHelperTimeout); !deleted) {
      Log()->warn("{} delete {} (left by a previous run): {}", name_, id, deleted.error().message);
    }
    ++containers;
  }
  for (const auto& entry : fs::directory_iterator(bundles_.bundles_dir(), ec)) {
    bundles_.Remove(entry.path());
    ++bundles;
  }
  if (containers + bundles > 0)
    Log()->warn("{}: removed {} container(s) and {} bundle(s) a previous run left behind (killed daemon)", name_,
                containers, bundles);
}

void RuncDriver::KillContainer(const std::string& id) const {
  auto args = GlobalArgs({});
  for (const char* arg : {"kill", id.c_str(), "KILL"}) args.push_back(arg);
  // Fails harmlessly when the container is not created yet or already gone; the caller retries.
  if (auto killed = RunHelper(args, kHelperTimeout); !killed) {
    Log()->debug("{} kill {}: {}", name_, id, killed.error().message);
  }
}

void RuncDriver::Cleanup(const std::string& id, const fs::path& bundle) const {
  std::error_code ec;
  if (fs::exists(state_dir_ / id, ec)) {
    auto args = GlobalArgs({});
    for (const char* arg : {"delete", "-f", id.c_str()}) args.push_back(arg);
    if (auto deleted = RunHelper(args, kHelperTimeout); !deleted) {
      Log()->warn("{} delete {}: {}", name_, id, deleted.error().message);
    }
  }
  bundles_.Remove(bundle);
}

std::string RuncDriver::RuntimeError(const fs::path& bundle) {
  std::ifstream in(bundle / "runtime.log");
  std::string line, errors;
  while (std::getline(in, line)) {
    auto entry = nlohmann::json::parse(line, nullptr, false);
    if (entry.is_discarded() || !entry.is_object()) continue;
    auto level = entry.value("level", "");
    if (level != "error" && level != "fatal") continue;
    auto message = entry.value("msg", "");
    if (message.empty() || errors.find(message) != std::string::npos) continue;
    if (!errors.empty()) errors += "; ";
    errors += message;
  }
  return errors;
}

}  // namespace ew::containers
