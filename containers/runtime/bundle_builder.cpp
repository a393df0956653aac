#include "containers/runtime/bundle_builder.hpp"

#include <sys/stat.h>
#include <unistd.h>

#include <fstream>
#include <system_error>

#include "common/log/log.hpp"
#include "containers/runtime/sandbox_layout.hpp"
#include "containers/runtime/seccomp_policy.hpp"

namespace ew::containers {

namespace fs = std::filesystem;
using nlohmann::json;

namespace {

const ew::log::Logger Log{"containers"};

constexpr uint64_t kCpuPeriodUs = 100'000;
constexpr uint64_t kNofile = 256;

json BindMountJson(const std::string& source, const std::string& destination, bool read_only) {
  json options = {"rbind", "nosuid", "nodev"};
  options.push_back(read_only ? "ro" : "rw");
  return {{"destination", destination}, {"type", "bind"}, {"source", source}, {"options", options}};
}

json Rlimit(const char* type, uint64_t value) { return {{"type", type}, {"hard", value}, {"soft", value}}; }

Result<void> MakeDir(const fs::path& dir, fs::perms perms) {
  std::error_code ec;
  fs::create_directories(dir, ec);
  if (ec) return Internal("cannot create " + dir.string() + ": " + ec.message());
  fs::permissions(dir, perms, ec);
  if (ec) return Internal("cannot chmod " + dir.string() + ": " + ec.message());
  return Ok();
}

}  // namespace

BundleBuilder::BundleBuilder(fs::path work_dir, uint32_t uid, uint32_t gid)
    : work_dir_(std::move(work_dir)),
      skeleton_(work_dir_ / "rootfs"),
      bundles_(work_dir_ / "bundles"),
      uid_(uid),
      gid_(gid),
      rootless_(geteuid() != 0) {}

Result<void> BundleBuilder::Prepare() {
  EW_TRY_VOID(MakeDir(work_dir_, fs::perms::owner_all));
  EW_TRY_VOID(MakeDir(bundles_, fs::perms::owner_all));
  // The skeleton is the container's "/": it must be readable by the function's uid.
  const auto dir_perms = fs::perms::owner_all | fs::perms::group_read | fs::perms::group_exec |
                         fs::perms::others_read | fs::perms::others_exec;
  EW_TRY_VOID(MakeDir(skeleton_, dir_perms));
  for (const char* dir : sandbox::kSkeletonDirs) EW_TRY_VOID(MakeDir(skeleton_ / dir, dir_perms));
  // runc gives a tmpfs the mode of its mount point (overriding mode= in the options).
  EW_TRY_VOID(MakeDir(skeleton_ / "tmp", fs::perms::all | fs::perms::sticky_bit));
  for (const auto& entry : sandbox::HostRootEntries()) {
    fs::path path = skeleton_ / entry.name.substr(1);
    std::error_code ec;
    if (entry.link_target.empty()) {
      EW_TRY_VOID(MakeDir(path, dir_perms));
      continue;
    }
    if (fs::is_symlink(fs::symlink_status(path, ec))) {
      if (fs::read_symlink(path, ec) == fs::path(entry.link_target)) continue;
      fs::remove(path, ec);
    }
    fs::create_symlink(entry.link_target, path, ec);
    if (ec) return Internal("cannot create " + path.string() + ": " + ec.message());
  }
  for (const auto& file : sandbox::NetworkFiles()) {
    fs::path path = skeleton_ / file.substr(1);
    if (!fs::exists(path)) std::ofstream(path).close();
    if (!fs::exists(path)) return Internal("cannot create mount point " + path.string());
  }
  return Ok();
}

Result<void> BundleBuilder::EnsureMountPoint(const BindMount& mount) {
  fs::path dest(mount.destination);
  std::lock_guard<std::mutex> lock(mutex_);
  if (mount_points_.count(mount.destination)) return Ok();
  // Under /tmp the runtime creates the point in the container's own tmpfs.
  if (*(++dest.begin()) != "tmp") {
    std::error_code ec;
    fs::path point = skeleton_ / dest.relative_path();
    bool is_dir = fs::is_directory(mount.source, ec);
    fs::create_directories(is_dir ? point : point.parent_path(), ec);
    if (!is_dir && !fs::exists(point, ec)) std::ofstream(point).close();
    if (!fs::exists(point, ec)) return Internal("cannot create mount point " + point.string());
  }
  mount_points_.insert(mount.destination);
  return Ok();
}

json BundleBuilder::Config(const ContainerSpec& spec, bool with_resources, const StagedSources* staged) const {
  auto source = [staged](const fs::path& host) {
    if (!staged) return host.string();
    auto it = staged->overlays.find(host);
    return it == staged->overlays.end() ? host.string() : it->second.string();
  };
  json capabilities = {{"bounding", json::array()}, {"effective", json::array()}, {"inheritable", json::array()},
                       {"permitted", json::array()}, {"ambient", json::array()}};
  // Rootless, the OCI runtimes insist on a mapping for the container's root, and an unprivileged
  // process can map only its own uid: the function runs as root of its user namespace, which is
  // the daemon's uid on the host, with an empty bounding set (so no capabilities after exec).
  const uint32_t inner_uid = rootless_ ? 0 : spec.uid.value_or(uid_);
  const uint32_t inner_gid = rootless_ ? 0 : spec.uid.value_or(gid_);
  // RLIMIT_NPROC counts every process of the uid on the host: per container, since each has a
  // uid of its own as root (rootless, all share the daemon's). Without cgroups, RLIMIT_DATA
  // bounds each process's memory.
  json rlimits = {Rlimit("RLIMIT_NOFILE", kNofile), Rlimit("RLIMIT_NPROC", spec.pids_limit), Rlimit("RLIMIT_CORE", 0)};
  if (!with_resources) rlimits.push_back(Rlimit("RLIMIT_DATA", spec.memory_bytes));
  json process = {
      {"terminal", false},
      {"user", {{"uid", inner_uid}, {"gid", inner_gid}}},
      {"args", spec.argv},
      {"env", sandbox::FunctionEnv(spec)},
      {"cwd", sandbox::kWorkingDir},
      {"capabilities", capabilities},
      {"rlimits", rlimits},
      {"noNewPrivileges", true},
      // Under memory pressure the host's OOM killer picks functions first, never the daemon.
      {"oomScoreAdj", 1000},
  };

  json mounts = json::array();
  mounts.push_back({{"destination", "/proc"}, {"type", "proc"}, {"source", "proc"},
                    {"options", {"nosuid", "noexec", "nodev"}}});
  // The runtime adds null, zero, full, random, urandom and tty on this tmpfs.
  mounts.push_back({{"destination", "/dev"}, {"type", "tmpfs"}, {"source", "tmpfs"},
                    {"options", {"nosuid", "noexec", "strictatime", "mode=755", "size=65536k"}}});
  mounts.push_back(BindMountJson("/usr", "/usr", true));
  for (const auto& entry : sandbox::HostRootEntries()) {
    if (entry.link_target.empty()) mounts.push_back(BindMountJson(entry.name, entry.name, true));
  }
  if (!spec.code_dir.empty()) mounts.push_back(BindMountJson(source(spec.code_dir), sandbox::kCodeMount, true));
  mounts.push_back({{"destination", "/tmp"}, {"type", "tmpfs"}, {"source", "tmpfs"},
                    {"options", {"nosuid", "nodev", "mode=1777", "size=" + std::to_string(sandbox::TmpfsBytes(spec))}}});
  if (spec.network) {
    for (const auto& file : sandbox::NetworkFiles()) mounts.push_back(BindMountJson(file, file, true));
  }
  for (const auto& mount : spec.extra_mounts) {
    mounts.push_back(BindMountJson(source(mount.source), mount.destination, mount.read_only));
  }

  json namespaces = {{{"type", "pid"}}, {{"type", "mount"}}, {{"type", "ipc"}}, {{"type", "uts"}}};
  if (!spec.network) namespaces.push_back({{"type", "network"}});
  json linux = {
      {"namespaces", namespaces},
      {"maskedPaths", {"/proc/acpi", "/proc/asound", "/proc/kcore", "/proc/keys", "/proc/latency_stats",
                       "/proc/timer_list", "/proc/timer_stats", "/proc/sched_debug", "/proc/scsi", "/sys/firmware"}},
      {"readonlyPaths", {"/proc/bus", "/proc/fs", "/proc/irq", "/proc/sys", "/proc/sysrq-trigger"}},
      {"seccomp", seccomp::OciSection()},
  };
  if (rootless_) {
    linux["namespaces"].push_back({{"type", "user"}});
    // json::array: a braced single element would collapse into the element itself.
    linux["uidMappings"] = json::array({json{{"containerID", inner_uid}, {"hostID", geteuid()}, {"size", 1}}});
    linux["gidMappings"] = json::array({json{{"containerID", inner_gid}, {"hostID", getegid()}, {"size", 1}}});
  } else {
    linux["cgroupsPath"] = "/edgewire/" + spec.id;
  }
  if (with_resources) {
    auto quota = static_cast<int64_t>(spec.cpus * kCpuPeriodUs);
    json resources = {
        {"memory", {{"limit", spec.memory_bytes}}},
        {"pids", {{"limit", spec.pids_limit}}},
        {"devices", json::array({json{{"allow", false}, {"access", "rwm"}}})},
    };
    if (quota > 0) resources["cpu"] = {{"quota", quota}, {"period", kCpuPeriodUs}};
    linux["resources"] = resources;
  }
  return {{"ociVersion", "1.0.2"},
          {"process", process},
          {"root", {{"path", (staged ? staged->root : skeleton_).string()}, {"readonly", true}}},
          {"hostname", sandbox::kHostname},
          {"mounts", mounts},
          {"linux", linux}};
}

Result<fs::path> BundleBuilder::Build(const ContainerSpec& spec, bool with_resources, const StagedSources* staged) {
  EW_TRY_VOID(sandbox::ValidateSpec(spec));
  for (const auto& mount : spec.extra_mounts) EW_TRY_VOID(EnsureMountPoint(mount));
  fs::path bundle = bundles_ / spec.id;
  std::error_code ec;
  if (!fs::create_directory(bundle, ec)) {
    if (ec) return Internal("cannot create bundle " + bundle.string() + ": " + ec.message());
    return Conflict("a container named " + spec.id + " exists");
  }
  std::ofstream out(bundle / "config.json", std::ios::binary | std::ios::trunc);
  out << Config(spec, with_resources, staged).dump();
  out.close();
  if (!out) {
    Remove(bundle);
    return Internal("cannot write " + (bundle / "config.json").string());
  }
  return bundle;
}

void BundleBuilder::Remove(const fs::path& bundle) const {
  std::error_code ec;
  fs::remove_all(bundle, ec);
  if (ec) Log()->warn("cannot remove bundle {}: {}", bundle.string(), ec.message());
}

}  // namespace ew::containers
