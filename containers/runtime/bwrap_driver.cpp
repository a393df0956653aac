#include "containers/runtime/bwrap_driver.hpp"

#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <sys/mman.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>

#include <nlohmann/json.hpp>

#include "common/log/log.hpp"
#include "containers/runtime/child_reaper.hpp"
#include "containers/runtime/pipe_container_process.hpp"
#include "containers/runtime/sandbox_layout.hpp"
#include "containers/runtime/seccomp_policy.hpp"

namespace ew::containers {

namespace fs = std::filesystem;

namespace {

using Clock = std::chrono::steady_clock;

constexpr std::chrono::milliseconds kInfoTimeout{10'000};
constexpr std::chrono::milliseconds kProbeTimeout{20'000};
constexpr rlim_t kNofile = 256;
// As root, host paths that the function's uid may not reach (a 0700 state directory) are bound
// onto a private tmpfs mounted here, in a mount namespace of bwrap's own, before dropping to it.
constexpr const char* kStageDir = "/tmp";

constexpr const char* kPrlimit = "/usr/bin/prlimit";
// The kernel's OOM killer picks the function first (the daemon keeps its own score).
constexpr int kOomScoreAdj = 1000;
// How long to wait for the sandbox's pid 1 to exit once bwrap has, before leaving it to
// ChildReaper::ReapOrphans.
constexpr int kSandboxReapMs = 1000;

const ew::log::Logger Log{"containers"};

// The gate of a prepared sandbox, run by the host's /bin/sh inside it: the first line of stdin
// (an empty line written at the release) opens it, then the function's argv replaces the
// shell. EOF instead (the daemon died, or the sandbox was discarded) ends the sandbox without
// running the function. dash reads a pipe byte by byte, so the event after that line is left
// whole for the function.
constexpr const char* kGateScript = "read -r go || exit 125; exec \"$@\"";

bool HasPrlimit() {
  static const bool has = access(kPrlimit, X_OK) == 0;
  return has;
}

std::string Trimmed(std::string text) {
  while (!text.empty() && (text.back() == '\n' || text.back() == ' ')) text.pop_back();
  return text;
}

// A host path made reachable for bwrap: a detached copy of its mount tree (open_tree), taken
// as root in our own mount namespace and attached in the child's new one (a plain bind from a
// descriptor would refuse a source in another namespace). Prepared before fork: the child
// only makes syscalls on these.
//
// A directory is then shown to bwrap through a read-only overlay of it ("/tmp/oN", lower
// layers given relative to /tmp): the container's mountinfo prints a bind mount's path inside
// its source filesystem, i.e. the host path, but an overlay as its own root ("/") with options
// "lowerdir=N:e". Not for directories holding unix sockets (a connect does not pass through
// overlayfs): those are bound as they are.
struct StagedPath {
  int tree_fd = -1;
  bool is_dir = false;
  std::string staged;   // "/tmp/N"
  std::string overlay;  // "/tmp/oN" when shown through an overlay, else empty
  std::string overlay_options;  // "lowerdir=N:e"
  const std::string& shown() const { return overlay.empty() ? staged : overlay; }  // what bwrap is told
};

struct Staging {
  std::vector<StagedPath> paths;
  ~Staging() {
    for (auto& p : paths) CloseFd(p.tree_fd);
  }
};

// In the child, as root: a private mount namespace whose /tmp is a small tmpfs holding the
// staged trees (async-signal-safe: syscalls only).
int MountStaged(const Staging& staging) {
  if (unshare(CLONE_NEWNS) != 0) return errno;
  if (mount(nullptr, "/", nullptr, MS_REC | MS_PRIVATE, nullptr) != 0) return errno;
  if (mount("tmpfs", kStageDir, "tmpfs", MS_NOSUID | MS_NODEV, "mode=0755,size=64k") != 0) return errno;
  for (const auto& p : staging.paths) {
    if (p.is_dir) {
      if (mkdir(p.staged.c_str(), 0755) != 0) return errno;
    } else {
      int fd = open(p.staged.c_str(), O_CREAT | O_WRONLY | O_CLOEXEC, 0644);
      if (fd < 0) return errno;
      close(fd);
    }
    if (move_mount(p.tree_fd, "", AT_FDCWD, p.staged.c_str(), MOVE_MOUNT_F_EMPTY_PATH) != 0) return errno;
  }
  bool empty_made = false;
  for (const auto& p : staging.paths) {
    if (p.overlay.empty()) continue;
    // Relative lower layers: the overlay's options must not name a host path either.
    if (!empty_made) {
      if (chdir(kStageDir) != 0 || mkdir("e", 0755) != 0) return errno;
      empty_made = true;
    }
    if (mkdir(p.overlay.c_str(), 0755) != 0) return errno;
    if (mount("overlay", p.overlay.c_str(), "overlay", MS_RDONLY | MS_NOSUID | MS_NODEV, p.overlay_options.c_str()) != 0) {
      return errno;
    }
  }
  return 0;
}

Result<void> AddStaged(Staging& staging, const fs::path& source, bool may_overlay) {
  struct stat st;
  if (stat(source.c_str(), &st) != 0) return InvalidArgument("cannot stat " + source.string() + ": " + std::strerror(errno));
  StagedPath p;
  p.is_dir = S_ISDIR(st.st_mode);
  p.tree_fd = open_tree(AT_FDCWD, source.c_str(), OPEN_TREE_CLONE | OPEN_TREE_CLOEXEC | AT_RECURSIVE);
  if (p.tree_fd < 0) return Unavailable("bwrap: open_tree " + source.string() + ": " + std::strerror(errno));
  const std::string n = std::to_string(staging.paths.size());
  p.staged = std::string(kStageDir) + "/" + n;
  if (may_overlay && p.is_dir) {
    p.overlay = std::string(kStageDir) + "/o" + n;
    p.overlay_options = "lowerdir=" + n + ":e";
  }
  staging.paths.push_back(std::move(p));
  return Ok();
}

// A memfd holding the seccomp program, for --seccomp (bwrap reads it at start-up).
Result<int> SeccompFd() {
  EW_TRY(auto program, seccomp::BpfProgram());
  int fd = memfd_create("ew-seccomp", MFD_CLOEXEC);
  if (fd < 0) return Internal(std::string("memfd_create: ") + std::strerror(errno));
  if (write(fd, program.data(), program.size()) != static_cast<ssize_t>(program.size()) || lseek(fd, 0, SEEK_SET) != 0) {
    close(fd);
    return Internal("cannot write the seccomp program");
  }
  return fd;
}

// Reads bwrap's --info-fd JSON ({"child-pid": N, ...}); 0 when bwrap exited without one.
pid_t ReadSandboxPid(int fd) {
  std::string text;
  auto deadline = Clock::now() + kInfoTimeout;
  for (;;) {
    auto left = std::chrono::duration_cast<std::chrono::milliseconds>(deadline - Clock::now());
    if (left.count() <= 0) return 0;
    pollfd p{fd, POLLIN, 0};
    if (poll(&p, 1, static_cast<int>(left.count())) <= 0) continue;
    char chunk[1024];
    ssize_t n = read(fd, chunk, sizeof(chunk));
    if (n < 0 && errno == EINTR) continue;
    if (n > 0) text.append(chunk, static_cast<size_t>(n));
    if (n <= 0 || text.find('}') != std::string::npos) break;
  }
  auto info = nlohmann::json::parse(text, nullptr, false);
  if (info.is_discarded() || !info.is_object()) return 0;
  return info.value("child-pid", 0);
}

}  // namespace

// The sandbox's pid 1, held by a pidfd so that a kill never reaches a recycled pid. Killing it
// makes the kernel kill every process of the sandbox's pid namespace.
class BwrapDriver::Sandbox {
 public:
  explicit Sandbox(pid_t pid) : pidfd_(pid > 0 ? static_cast<int>(syscall(SYS_pidfd_open, pid, 0)) : -1), pid_(pid) {}
  ~Sandbox() { CloseFd(pidfd_); }
  bool started() const { return pid_ > 0; }
  void Kill() {
    if (pidfd_ >= 0) syscall(SYS_pidfd_send_signal, pidfd_, SIGKILL, nullptr, 0);
  }
  // bwrap exits before its sandbox's pid 1 has been waited for: in a subreaper (the agent, the
  // conductor) that pid 1 becomes our child, a zombie until reaped here.
  void Reap() { ChildReaper::ReapKnownOrphan(pid_, pidfd_, kSandboxReapMs); }

 private:
  int pidfd_;
  pid_t pid_;
};

BwrapDriver::Held::~Held() {
  if (sandbox) {
    sandbox->Kill();  // no-op when it has exited
    sandbox->Reap();
  }
  cgroup.reset();
}

BwrapDriver::BwrapDriver(fs::path binary, const RuntimeConfig& config)
    : binary_(std::move(binary)),
      uid_(config.uid),
      gid_(config.gid),
      as_root_(geteuid() == 0),
      cgroups_mode_(config.cgroups),
      uids_(config.uid_first, config.uid_count, config.uid_lock_dir) {}

LimitSupport BwrapDriver::Limits() const {
  LimitSupport support;
  if (cgroups_) {
    support.memory = support.pids = cgroups_->version();
    if (cgroups_->has_cpu()) support.cpu = cgroups_->version() + " cpu quota";
  } else {
    support.memory = "RLIMIT_DATA per process";
    support.pids = HasPrlimit() ? "RLIMIT_NPROC in the sandbox's user namespace" : "RLIMIT_NPROC per uid";
  }
  if (as_root_) support.uid = "own uid per container (" + std::to_string(uids_.first()) + "+)";
  return support;
}

Result<UidPool::Lease> BwrapDriver::LeaseUid() {
  if (!as_root_) return UidPool::Lease::Unlocked(geteuid());
  return uids_.Acquire();
}

Result<BwrapDriver::Launched> BwrapDriver::Launch(const ContainerSpec& spec, bool die_with_parent,
                                                  uint64_t cpu_seconds, bool gated) {
  EW_TRY_VOID(sandbox::ValidateSpec(spec));
  auto held = std::make_shared<Held>();
  uint32_t uid = uid_, gid = gid_;
  if (as_root_) {
    // The sandbox's user namespace maps the uid bwrap runs as: the function's host uid.
    if (!spec.uid) {
      EW_TRY(held->lease, uids_.Acquire());
    }
    uid = gid = spec.uid ? *spec.uid : held->lease.uid();
  }
  const bool drop = as_root_;
  if (cgroups_) {
    EW_TRY(held->cgroup, cgroups_->Create(spec.id, spec));
  }
  Staging staging;
  std::string code = spec.code_dir.string();
  std::vector<std::string> mount_sources;
  for (const auto& m : spec.extra_mounts) mount_sources.push_back(m.source.string());
  if (drop) {
    if (!spec.code_dir.empty()) {
      EW_TRY_VOID(AddStaged(staging, spec.code_dir, true));
      code = staging.paths.back().shown();
    }
    for (size_t i = 0; i < mount_sources.size(); ++i) {
      EW_TRY_VOID(AddStaged(staging, mount_sources[i], !spec.extra_mounts[i].has_sockets));
      mount_sources[i] = staging.paths.back().shown();
    }
  }

  EW_TRY(int seccomp_fd, SeccompFd());
  int info[2];
  if (pipe2(info, O_CLOEXEC) != 0) {
    close(seccomp_fd);
    return Internal(std::string("pipe: ") + std::strerror(errno));
  }

  std::vector<std::string> args = {binary_.string(), "--unshare-all", "--unshare-user"};
  if (spec.network) args.push_back("--share-net");
  if (die_with_parent) args.push_back("--die-with-parent");
  for (const char* arg : {"--new-session", "--hostname", sandbox::kHostname, "--ro-bind", "/usr", "/usr"}) args.push_back(arg);
  for (const auto& entry : sandbox::HostRootEntries()) {
    if (entry.link_target.empty()) {
      args.insert(args.end(), {"--ro-bind", entry.name, entry.name});
    } else {
      args.insert(args.end(), {"--symlink", entry.link_target, entry.name});
    }
  }
  if (!code.empty()) args.insert(args.end(), {"--ro-bind", code, sandbox::kCodeMount});
  args.insert(args.end(), {"--size", std::to_string(sandbox::TmpfsBytes(spec)), "--tmpfs", "/tmp", "--proc", "/proc",
                           "--dev", "/dev"});
  if (spec.network) {
    for (const auto& file : sandbox::NetworkFiles()) args.insert(args.end(), {"--ro-bind", file, file});
  }
  for (size_t i = 0; i < spec.extra_mounts.size(); ++i) {
    args.insert(args.end(), {spec.extra_mounts[i].read_only ? "--ro-bind" : "--bind", mount_sources[i],
                             spec.extra_mounts[i].destination});
  }
  args.insert(args.end(), {"--remount-ro", "/", "--uid", std::to_string(uid), "--gid", std::to_string(gid),
                           "--cap-drop", "ALL", "--seccomp", std::to_string(seccomp_fd), "--info-fd",
                           std::to_string(info[1]), "--chdir", sandbox::kWorkingDir, "--"});
  // RLIMIT_NPROC counts per (user namespace, uid) on kernels >= 5.14, and bwrap always makes a
  // user namespace: set inside it (by util-linux's prlimit, which then execs the function), the
  // limit holds this sandbox alone. Set on bwrap itself it would count every process of the
  // uid on the host, the daemon's own threads too when rootless.
  const bool inner_nproc = HasPrlimit();
  if (inner_nproc) args.insert(args.end(), {kPrlimit, "--nproc=" + std::to_string(spec.pids_limit), "--"});
  if (gated) args.insert(args.end(), {"/bin/sh", "-c", kGateScript, "ew-gate"});
  args.insert(args.end(), spec.argv.begin(), spec.argv.end());

  SpawnOptions options;
  options.argv = std::move(args);
  // bwrap hands its own environment to the function: give it exactly the function's.
  options.env = sandbox::FunctionEnv(spec);
  if (drop) {
    options.pre_exec = [&staging] { return MountStaged(staging); };
    options.drop_to = std::make_pair(static_cast<uid_t>(uid), static_cast<gid_t>(gid));
  }
  if (held->cgroup) options.cgroup_procs_fds = held->cgroup->procs_fds();
  options.oom_score_adj = kOomScoreAdj;
  options.rlimits = {{RLIMIT_NOFILE, kNofile}, {RLIMIT_CORE, 0}};
  // Without prlimit: the per-uid backstop (the uid is the container's own as root).
  if (!inner_nproc) options.rlimits.push_back({RLIMIT_NPROC, spec.pids_limit});
  if (!held->cgroup) {
    // No cgroup: each process's heap and mappings, and its CPU seconds, are what can be bounded.
    options.rlimits.push_back({RLIMIT_DATA, spec.memory_bytes});
    if (cpu_seconds > 0) options.rlimits.push_back({RLIMIT_CPU, cpu_seconds});
  }
  options.inherit_fds = {seccomp_fd, info[1]};
  auto child = ChildProcess::Spawn(options);
  close(seccomp_fd);
  close(info[1]);
  if (held->cgroup) held->cgroup->CloseProcsFds();  // joined in the child, or the spawn failed
  if (!child) {
    close(info[0]);
    return Unavailable("bwrap: " + child.error().message);
  }
  held->sandbox = std::make_shared<Sandbox>(ReadSandboxPid(info[0]));
  close(info[0]);
  return Launched{std::move(*child), std::move(held)};
}

uint64_t BwrapDriver::CpuSeconds(const ContainerSpec& spec, std::chrono::milliseconds timeout) {
  // Rounded up, plus one: RLIMIT_CPU must not end a function that the timeout would let finish.
  return static_cast<uint64_t>(std::chrono::duration<double>(timeout).count() * std::max(spec.cpus, 1.0)) + 2;
}

Result<RunOutput> BwrapDriver::Run(const ContainerSpec& spec, std::string_view input, const RunLimits& limits) {
  EW_TRY(auto launched, Launch(spec, true, CpuSeconds(spec, limits.timeout)));
  ChildProcess* child = launched.child.get();
  auto sandbox = launched.held->sandbox;
  auto out = child->Communicate(
      input, limits,
      [sandbox, child] {
        sandbox->Kill();
        child->SignalGroup(SIGKILL);
      },
      limits.cancel);
  if (launched.held->cgroup && launched.held->cgroup->OomKilled()) {
    out.stderr_data += "\n[killed: out of memory (limit " + std::to_string(spec.memory_bytes >> 20) + " MiB)]\n";
  }
  launched.held.reset();  // sandbox reaped, cgroups removed, uid returned
  if (!sandbox->started() && out.exit_code != 0) return Unavailable("bwrap: " + Trimmed(out.stderr_data));
  return out;
}

Result<std::unique_ptr<ContainerProcess>> BwrapDriver::Start(const ContainerSpec& spec) {
  // No --die-with-parent: it follows the thread that spawned bwrap, and a warm instance outlives
  // the worker thread that started it. An orphaned instance sees EOF on stdin instead.
  EW_TRY(auto launched, Launch(spec, false, 0));
  auto sandbox = launched.held->sandbox;
  if (!sandbox->started()) {
    RunLimits limits;
    limits.timeout = kInfoTimeout;
    auto out = launched.child->Communicate("", limits, [] {});
    return Unavailable("bwrap: " + Trimmed(out.stderr_data));
  }
  ChildProcess* child = launched.child.get();
  auto kill = [sandbox, child] {
    sandbox->Kill();
    child->SignalGroup(SIGKILL);
  };
  auto held = launched.held;
  return std::unique_ptr<ContainerProcess>(
      new PipeContainerProcess(std::move(launched.child), kill, [held]() mutable { held.reset(); }));
}

// A sandbox made by Prepare: bwrap and the sandbox's processes, held at the gate.
class BwrapDriver::Prepared final : public PreparedSandbox {
 public:
  Prepared(ContainerSpec spec, Launched launched) : spec_(std::move(spec)), launched_(std::move(launched)) {}
  ~Prepared() override {
    // Unused: closing stdin fails the gate's read; the kill makes sure, then Held's destructor
    // reaps the sandbox and removes its cgroups.
    if (launched_.child) {
      launched_.held->sandbox->Kill();
      launched_.child->SignalGroup(SIGKILL);
    }
  }
  const ContainerSpec& spec() const override { return spec_; }
  Launched Take() { return std::move(launched_); }

 private:
  ContainerSpec spec_;
  Launched launched_;
};

Result<std::unique_ptr<PreparedSandbox>> BwrapDriver::Prepare(const ContainerSpec& spec) {
  ContainerSpec gated = spec;
  gated.pids_limit = spec.pids_limit + 1;  // the gate's process, until it execs the function
  // No --die-with-parent: it follows the thread that spawned bwrap (a pool filler that exits
  // long before the invocation). Orphaned, the gate reads EOF and exits without running the
  // function.
  if (!CanPrepare()) return Unavailable("bwrap: sandboxes are prepared only where cgroups hold their limits");
  EW_TRY(auto launched, Launch(gated, false, 0, true));
  if (!launched.held->sandbox->started()) {
    RunLimits limits;
    limits.timeout = kInfoTimeout;
    auto out = launched.child->Communicate("", limits, [] {});
    return Unavailable("bwrap: " + Trimmed(out.stderr_data));
  }
  return std::unique_ptr<PreparedSandbox>(new Prepared(spec, std::move(launched)));
}

Result<RunOutput> BwrapDriver::RunPrepared(std::unique_ptr<PreparedSandbox> prepared, std::string_view input,
                                           const RunLimits& limits) {
  auto* mine = dynamic_cast<Prepared*>(prepared.get());
  if (!mine) return InvalidArgument("bwrap: this sandbox was not prepared by bwrap");
  const ContainerSpec spec = mine->spec();
  Launched launched = mine->Take();
  prepared.reset();
  ChildProcess* child = launched.child.get();
  auto sandbox = launched.held->sandbox;
  // A sandbox that died while it waited (killed from outside, its cgroup's OOM killer) is not
  // the function's failure: the caller runs the invocation without a prepared sandbox.
  if (child->Reap()) {
    launched.held.reset();
    return Unavailable("bwrap: the prepared sandbox exited before its invocation (status " +
                       std::to_string(child->exit_code()) + ")");
  }
  const auto released = std::chrono::steady_clock::now();
  std::string stdin_data;
  stdin_data.reserve(input.size() + 1);
  stdin_data += '\n';  // opens the gate
  stdin_data.append(input);
  auto out = child->Communicate(
      stdin_data, limits,
      [sandbox, child] {
        sandbox->Kill();
        child->SignalGroup(SIGKILL);
      },
      limits.cancel);
  out.wall = std::chrono::duration_cast<std::chrono::microseconds>(std::chrono::steady_clock::now() - released);
  if (launched.held->cgroup && launched.held->cgroup->OomKilled()) {
    out.stderr_data += "\n[killed: out of memory (limit " + std::to_string(spec.memory_bytes >> 20) + " MiB)]\n";
  }
  launched.held.reset();  // sandbox reaped, cgroups removed, uid returned
  return out;
}

Result<void> BwrapDriver::Probe() {
  if (cgroups_mode_ != "off" && !cgroups_) {
    auto limiter = CgroupLimiter::Probe();
    if (limiter) {
      cgroups_ = std::move(*limiter);
    } else {
      Log()->warn("bwrap: no cgroup limits on this host ({}): memory by RLIMIT_DATA per process, no CPU quota",
                  limiter.error().message);
    }
  }
  ContainerSpec spec;
  spec.id = "ew-probe-bwrap-" + std::to_string(getpid());
  spec.argv = {"/bin/true"};
  RunLimits limits;
  limits.timeout = kProbeTimeout;
  auto out = Run(spec, "", limits);
  if (!out) return tl::unexpected(out.error());
  if (out->exit_code != 0) {
    return Unavailable("exit status " + std::to_string(out->exit_code) + ": " + Trimmed(out->stderr_data));
  }
  return Ok();
}

}  // namespace ew::containers
