// The seccomp deny list every function runs under: allow by default, EPERM for the syscalls a
// function never needs and that widen the kernel's attack surface (mounts, ptrace, bpf, kexec,
// module loading, keyrings, namespace creation, swap, reboot, perf, userfaultfd, io_uring,
// handle-based opens, clock setting). One table, two forms: the OCI "seccomp" section for runc/crun, and a
// BPF program exported by libseccomp for bwrap's --seccomp.
#pragma once

#include <string>

#include <nlohmann/json.hpp>

#include "common/error/error.hpp"

namespace ew::containers::seccomp {

// linux.seccomp of an OCI config.json.
nlohmann::json OciSection();

// The compiled BPF program (struct sock_filter[] as bytes) for this host's architecture(s),
// built once. Internal error when libseccomp fails.
Result<std::string> BpfProgram();

}  // namespace ew::containers::seccomp
