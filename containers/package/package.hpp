// Function packages: a .tar.gz holding function.json and the code. Inspected (validated, hashed)
// by the conductor on upload and extracted by boards and the cloud runtime into a cache
// directory keyed by the package's sha256. libarchive does the tar and gzip work.
#pragma once

#include <cstdint>
#include <filesystem>
#include <string>
#include <string_view>

#include "common/error/error.hpp"
#include "containers/package/function_spec.hpp"

namespace ew::containers {

struct PackageLimits {
  uint64_t max_package_bytes = 16ull << 20;   // compressed upload; more → ResourceExhausted (413)
  uint64_t max_unpacked_bytes = 64ull << 20;  // sum of file sizes; more → ResourceExhausted
  uint32_t max_entries = 4096;                // files + directories; more → ResourceExhausted
  // Components of one path ("a/b/c" is 3): deeper → InvalidArgument. Bounds the directories
  // one entry implies and the openat() walk extraction does per entry.
  uint32_t max_path_depth = 32;
};

struct Package {
  FunctionSpec spec;
  std::string sha256;          // lowercase hex of the .tar.gz bytes: the content address
  uint64_t package_bytes = 0;  // compressed size
  uint64_t unpacked_bytes = 0;
};

// Validates without touching the disk: gzip/tar well formed, within limits, only regular files
// and directories (no links, devices, absolute paths or ".."), a function.json at the top that
// parses, and an entrypoint (of every implementation) that exists in the package.
// InvalidArgument naming the problem, ResourceExhausted over a limit.
Result<Package> InspectPackage(std::string_view tar_gz, const PackageLimits& limits = {});

// Inspects, then extracts into `dir`, which must not exist yet: written to a sibling temporary
// directory and renamed, so a crash never leaves half a package. Files get mode 0644 (0755 when
// any execute bit was set), directories 0755; owners and setuid bits are never restored.
// Conflict when `dir` exists (or appears meanwhile); missing parents of `dir` are created.
Result<Package> ExtractPackage(std::string_view tar_gz, const std::filesystem::path& dir,
                               const PackageLimits& limits = {});

// Packs a directory (that holds function.json) into .tar.gz bytes, entries sorted so that the
// same tree gives the same bytes and hash (mtime 0, uid/gid 0, no owner names, modes 0644/0755,
// no gzip timestamp). For the CLI's `fn create DIR`. InvalidArgument when function.json is missing
// or the tree holds anything but regular files and directories (symlinks, devices, sockets).
// It does not validate function.json: run InspectPackage on the result for that.
Result<std::string> PackDirectory(const std::filesystem::path& dir);

}  // namespace ew::containers
