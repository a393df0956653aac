// Fuzz target: a function package through InspectPackage and ExtractPackage
// (containers/package/package.hpp), extracting into a private temporary directory.
// Input: one flag byte, then the package. Flag bit 0 clear: the rest is a tar stream that the
// target gzips first (mutations then reach the tar reader instead of dying on the gzip CRC);
// set: the rest is the .tar.gz itself. Bit 1 set: extract too when the package is valid.
// Invariants: errors are InvalidArgument/ResourceExhausted and render as a REST error body; an
// extraction agrees with the inspection (hash, sizes), leaves only regular files and
// directories, never more entries than allowed, and writes nothing beside its directory.
#include <unistd.h>
#include <zlib.h>

#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <filesystem>
#include <string>
#include <string_view>
#include <system_error>

#include "containers/package/package.hpp"
#include "tests/fuzz/fuzz_check.hpp"

namespace {

namespace fs = std::filesystem;
using ew::containers::PackageLimits;

constexpr uint8_t kRawGzip = 1;
constexpr uint8_t kExtract = 2;

// Small limits: faster runs, and the limit checks get reached.
PackageLimits Limits() {
  PackageLimits limits;
  limits.max_package_bytes = 1 << 20;
  limits.max_unpacked_bytes = 1 << 20;
  limits.max_entries = 64;
  return limits;
}

std::string Gzip(std::string_view tar) {
  z_stream z{};
  if (deflateInit2(&z, 1, Z_DEFLATED, 16 + MAX_WBITS, 8, Z_DEFAULT_STRATEGY) != Z_OK) std::abort();
  std::string out(deflateBound(&z, tar.size()) + 32, '\0');
  z.next_in = reinterpret_cast<Bytef*>(const_cast<char*>(tar.data()));
  z.avail_in = static_cast<uInt>(tar.size());
  z.next_out = reinterpret_cast<Bytef*>(out.data());
  z.avail_out = static_cast<uInt>(out.size());
  if (deflate(&z, Z_FINISH) != Z_STREAM_END) std::abort();
  out.resize(z.total_out);
  deflateEnd(&z);
  return out;
}

// A directory of our own, made once and removed with the other statics at exit (not with
// atexit: a handler registered while the static is built would run after its destructor).
class WorkDirectory {
 public:
  WorkDirectory() {
    const char* base = std::getenv("TMPDIR");
    std::string pattern = std::string(base != nullptr && *base != '\0' ? base : "/tmp") + "/ew-package-fuzz-XXXXXX";
    if (::mkdtemp(pattern.data()) == nullptr) std::abort();
    path_ = pattern;
  }
  ~WorkDirectory() {
    std::error_code ec;
    fs::remove_all(path_, ec);
  }
  const fs::path& path() const { return path_; }

 private:
  fs::path path_;
};

const fs::path& WorkDir() {
  static const WorkDirectory dir;
  return dir.path();
}

void CheckExtracted(const ew::containers::Package& inspected, const fs::path& dir) {
  uint64_t bytes = 0;
  size_t entries = 0;
  for (const auto& entry : fs::recursive_directory_iterator(dir)) {
    ++entries;
    const auto status = entry.symlink_status();
    EW_FUZZ_CHECK(fs::is_regular_file(status) || fs::is_directory(status),
                  "extracted something other than a file or directory: " + entry.path().string());
    if (fs::is_regular_file(status)) bytes += fs::file_size(entry.path());
  }
  EW_FUZZ_CHECK(entries <= Limits().max_entries, "more entries extracted than allowed");
  EW_FUZZ_CHECK(bytes == inspected.unpacked_bytes, "extracted bytes differ from the inspection");
  EW_FUZZ_CHECK(fs::is_regular_file(fs::symlink_status(dir / "function.json")), "no function.json extracted");
  EW_FUZZ_CHECK(fs::is_regular_file(fs::symlink_status(dir / inspected.spec.entrypoint)), "entrypoint not extracted");
  size_t beside = 0;
  for (const auto& entry : fs::directory_iterator(WorkDir())) {
    ++beside;
    EW_FUZZ_CHECK(entry.path() == dir, "extraction left " + entry.path().string());
  }
  EW_FUZZ_CHECK(beside == 1, "the extracted directory is missing");
}

void CheckError(const ew::Error& error) {
  EW_FUZZ_CHECK(error.code == ew::ErrorCode::kInvalidArgument || error.code == ew::ErrorCode::kResourceExhausted,
                error.message);
  ew::fuzz::CheckErrorRenders(error);
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  if (size == 0) return 0;
  const uint8_t flags = data[0];
  const std::string_view rest(reinterpret_cast<const char*>(data + 1), size - 1);
  const std::string tar_gz = (flags & kRawGzip) != 0 ? std::string(rest) : Gzip(rest);

  auto inspected = ew::containers::InspectPackage(tar_gz, Limits());
  if (!inspected) {
    CheckError(inspected.error());
    return 0;
  }
  EW_FUZZ_CHECK(inspected->sha256.size() == 64, inspected->sha256);
  EW_FUZZ_CHECK(inspected->package_bytes == tar_gz.size(), "package_bytes is not the input size");
  EW_FUZZ_CHECK(inspected->unpacked_bytes <= Limits().max_unpacked_bytes, "unpacked_bytes over the limit");
  if ((flags & kExtract) == 0) return 0;

  const fs::path dir = WorkDir() / "pkg";
  auto extracted = ew::containers::ExtractPackage(tar_gz, dir, Limits());
  EW_FUZZ_CHECK(extracted.has_value(), "a package that inspects fine fails to extract: " + extracted.error().message);
  EW_FUZZ_CHECK(extracted->sha256 == inspected->sha256, "extract and inspect disagree on the hash");
  EW_FUZZ_CHECK(extracted->unpacked_bytes == inspected->unpacked_bytes, "extract and inspect disagree on the size");
  CheckExtracted(*inspected, dir);
  std::error_code ec;
  fs::remove_all(dir, ec);
  return 0;
}
