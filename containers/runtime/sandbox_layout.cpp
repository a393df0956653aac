#include "containers/runtime/sandbox_layout.hpp"

#include <sys/stat.h>

#include <algorithm>
#include <filesystem>
#include <system_error>

namespace ew::containers::sandbox {

namespace fs = std::filesystem;

const std::vector<RootEntry>& HostRootEntries() {
  static const std::vector<RootEntry> entries = [] {
    std::vector<RootEntry> out;
    for (const char* name : {"/bin", "/sbin", "/lib", "/lib32", "/lib64", "/libx32"}) {
      std::error_code ec;
      auto status = fs::symlink_status(name, ec);
      if (ec) continue;
      if (fs::is_symlink(status)) {
        auto target = fs::read_symlink(name, ec);
        if (ec) continue;
        std::string text = target.string();
        // "/usr/bin" and "usr/bin" both mean the same inside a root whose /usr is the host's.
        while (!text.empty() && text.front() == '/') text.erase(text.begin());
        out.push_back({name, text});
      } else if (fs::is_directory(status)) {
        out.push_back({name, ""});
      }
    }
    return out;
  }();
  return entries;
}

const std::vector<std::string>& NetworkFiles() {
  static const std::vector<std::string> files = [] {
    std::vector<std::string> out;
    for (const char* name : {"/etc/resolv.conf", "/etc/hosts", "/etc/nsswitch.conf"}) {
      struct stat st;
      if (stat(name, &st) == 0 && S_ISREG(st.st_mode)) out.push_back(name);
    }
    return out;
  }();
  return files;
}

std::vector<std::string> FunctionEnv(const ContainerSpec& spec) {
  auto has = [&](const char* key) {
    std::string prefix = std::string(key) + "=";
    return std::any_of(spec.env.begin(), spec.env.end(), [&](const std::string& e) { return e.rfind(prefix, 0) == 0; });
  };
  std::vector<std::string> env;
  if (!has("PATH")) env.push_back(std::string("PATH=") + kDefaultPath);
  if (!has("HOME")) env.push_back("HOME=/tmp");
  if (!has("LANG")) env.push_back("LANG=C.UTF-8");
  env.insert(env.end(), spec.env.begin(), spec.env.end());
  return env;
}

uint64_t TmpfsBytes(const ContainerSpec& spec) { return std::min<uint64_t>(spec.memory_bytes, 64ull << 20); }

Result<void> ValidateSpec(const ContainerSpec& spec) {
  if (spec.id.empty() || spec.id.size() > 64 ||
      !std::all_of(spec.id.begin(), spec.id.end(), [](char c) {
        return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '_' || c == '.' ||
               c == '-';
      }) ||
      spec.id == "." || spec.id == "..") {
    return InvalidArgument("container id must be 1-64 characters of [a-zA-Z0-9_.-]: '" + spec.id + "'");
  }
  if (spec.argv.empty() || spec.argv[0].empty()) return InvalidArgument("container argv is empty");
  if (spec.pids_limit == 0) return InvalidArgument("pids_limit must be positive");
  for (const auto& env : spec.env) {
    if (env.find('=') == std::string::npos || env.front() == '=') return InvalidArgument("env entry without a name: " + env);
  }
  for (const auto& mount : spec.extra_mounts) {
    fs::path dest(mount.destination);
    if (!dest.is_absolute() || std::any_of(dest.begin(), dest.end(), [](const fs::path& p) { return p == ".."; })) {
      return InvalidArgument("mount destination must be absolute without '..': " + mount.destination);
    }
    if (dest.relative_path().empty()) return InvalidArgument("mount destination is part of the sandbox: /");
    auto top = dest.relative_path().begin()->string();
    if ( top == "usr" || top == "proc" || top == "dev" || dest == kCodeMount ||
        dest.lexically_normal() == fs::path("/tmp") ||
        std::any_of(HostRootEntries().begin(), HostRootEntries().end(),
                    [&](const RootEntry& e) { return e.name == "/" + top; })) {
      return InvalidArgument("mount destination is part of the sandbox: " + mount.destination);
    }
    if (!mount.source.is_absolute()) return InvalidArgument("mount source must be absolute: " + mount.source.string());
  }
  return Ok();
}

}  // namespace ew::containers::sandbox
