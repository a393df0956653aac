#include "containers/runtime/seccomp_policy.hpp"

#include <seccomp.h>
#include <sys/mman.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <mutex>
#include <vector>

namespace ew::containers::seccomp {

namespace {

// Denied with EPERM whatever their arguments. Names unknown to an architecture are skipped.
constexpr const char* kDenied[] = {
    "mount", "umount", "umount2", "pivot_root", "chroot", "fsopen", "fsconfig", "fsmount", "fspick", "move_mount",
    "open_tree", "mount_setattr", "ptrace", "process_vm_readv", "process_vm_writev", "kcmp", "bpf", "kexec_load",
    "kexec_file_load", "init_module", "finit_module", "delete_module", "add_key", "request_key", "keyctl",
    "unshare", "setns", "swapon", "swapoff", "reboot", "perf_event_open", "userfaultfd", "open_by_handle_at",
    "name_to_handle_at", "acct", "settimeofday", "clock_settime", "clock_adjtime", "adjtimex", "syslog",
    "quotactl", "lookup_dcookie", "vhangup", "iopl", "ioperm", "uselib", "nfsservctl", "_sysctl",
    // io_uring runs I/O on kernel threads outside seccomp's view, and is a frequent source of
    // kernel exploits: no function needs it (plain read/write are there).
    "io_uring_setup", "io_uring_enter", "io_uring_register",
};

// clone() with any of these flags creates a namespace: EPERM as for unshare().
constexpr unsigned long kNamespaceFlags[] = {
    0x00020000,  // CLONE_NEWNS
    0x02000000,  // CLONE_NEWCGROUP
    0x04000000,  // CLONE_NEWUTS
    0x08000000,  // CLONE_NEWIPC
    0x10000000,  // CLONE_NEWUSER
    0x20000000,  // CLONE_NEWPID
    0x40000000,  // CLONE_NEWNET
};

// clone3 passes its flags in memory, where seccomp cannot look: ENOSYS makes libc fall back to
// clone(), which the rules above can check.
constexpr const char* kClone3 = "clone3";

struct ArchNames {
  const char* oci;
  uint32_t libseccomp;
};

// The native architecture first, then the compat ones the kernel also runs.
std::vector<ArchNames> Architectures() {
#if defined(__x86_64__)
  return {{"SCMP_ARCH_X86_64", SCMP_ARCH_X86_64}, {"SCMP_ARCH_X86", SCMP_ARCH_X86}, {"SCMP_ARCH_X32", SCMP_ARCH_X32}};
#elif defined(__aarch64__)
  return {{"SCMP_ARCH_AARCH64", SCMP_ARCH_AARCH64}, {"SCMP_ARCH_ARM", SCMP_ARCH_ARM}};
#elif defined(__arm__)
  return {{"SCMP_ARCH_ARM", SCMP_ARCH_ARM}};
#else
  return {};
#endif
}

std::string ErrorText(const char* what, int rc) { return std::string("libseccomp ") + what + ": " + std::strerror(-rc); }

Result<std::string> BuildBpf() {
  scmp_filter_ctx ctx = seccomp_init(SCMP_ACT_ALLOW);
  if (!ctx) return Internal("libseccomp: seccomp_init failed");
  struct Release {
    scmp_filter_ctx ctx;
    ~Release() { seccomp_release(ctx); }
  } release{ctx};
  auto arches = Architectures();
  for (size_t i = 1; i < arches.size(); ++i) {
    int rc = seccomp_arch_add(ctx, arches[i].libseccomp);
    if (rc != 0 && rc != -EEXIST) return Internal(ErrorText("arch_add", rc));
  }
  for (const char* name : kDenied) {
    int nr = seccomp_syscall_resolve_name(name);
    if (nr == __NR_SCMP_ERROR) continue;
    int rc = seccomp_rule_add(ctx, SCMP_ACT_ERRNO(EPERM), nr, 0);
    if (rc != 0 && rc != -EEXIST) return Internal(ErrorText(name, rc));
  }
  for (unsigned long flag : kNamespaceFlags) {
    int rc = seccomp_rule_add(ctx, SCMP_ACT_ERRNO(EPERM), SCMP_SYS(clone), 1, SCMP_A0(SCMP_CMP_MASKED_EQ, flag, flag));
    if (rc != 0) return Internal(ErrorText("clone", rc));
  }
  if (int nr = seccomp_syscall_resolve_name(kClone3); nr != __NR_SCMP_ERROR) {
    int rc = seccomp_rule_add(ctx, SCMP_ACT_ERRNO(ENOSYS), nr, 0);
    if (rc != 0) return Internal(ErrorText(kClone3, rc));
  }
  int fd = memfd_create("ew-seccomp", MFD_CLOEXEC);
  if (fd < 0) return Internal(std::string("memfd_create: ") + std::strerror(errno));
  int rc = seccomp_export_bpf(ctx, fd);
  if (rc != 0) {
    close(fd);
    return Internal(ErrorText("export_bpf", rc));
  }
  std::string program;
  off_t size = lseek(fd, 0, SEEK_END);
  program.resize(static_cast<size_t>(size > 0 ? size : 0));
  ssize_t n = pread(fd, program.data(), program.size(), 0);
  close(fd);
  if (n != static_cast<ssize_t>(program.size()) || program.empty()) return Internal("libseccomp: empty BPF export");
  return program;
}

}  // namespace

nlohmann::json OciSection() {
  nlohmann::json arches = nlohmann::json::array();
  for (const auto& arch : Architectures()) arches.push_back(arch.oci);
  nlohmann::json names = nlohmann::json::array();
  for (const char* name : kDenied) names.push_back(name);
  nlohmann::json syscalls = nlohmann::json::array();
  syscalls.push_back({{"names", names}, {"action", "SCMP_ACT_ERRNO"}, {"errnoRet", EPERM}});
  for (unsigned long flag : kNamespaceFlags) {
    nlohmann::json arg = {{"index", 0}, {"value", flag}, {"valueTwo", flag}, {"op", "SCMP_CMP_MASKED_EQ"}};
    syscalls.push_back({{"names", nlohmann::json::array({"clone"})},
                        {"action", "SCMP_ACT_ERRNO"},
                        {"errnoRet", EPERM},
                        {"args", nlohmann::json::array({arg})}});
  }
  syscalls.push_back({{"names", nlohmann::json::array({kClone3})}, {"action", "SCMP_ACT_ERRNO"}, {"errnoRet", ENOSYS}});
  nlohmann::json section = {{"defaultAction", "SCMP_ACT_ALLOW"}, {"syscalls", syscalls}};
  if (!arches.empty()) section["architectures"] = arches;
  return section;
}

Result<std::string> BpfProgram() {
  static std::once_flag once;
  static Result<std::string> program = Internal("unset");
  std::call_once(once, [] { program = BuildBpf(); });
  return program;
}

}  // namespace ew::containers::seccomp
