// Function packages on libarchive (zlib checks the gzip stream first). InspectPackage streams the
// archive once and checks every entry; ExtractPackage streams it again, only after it passed, and
// writes the entries with openat(O_NOFOLLOW | O_EXCL) under a directory it just created, so
// nothing in the archive or on disk can redirect a write. (libarchive's own disk writer checks symlinks in every
// component of the absolute destination, which fails on hosts whose state dir sits below one.)
#include "containers/package/package.hpp"

#include <archive.h>
#include <archive_entry.h>
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>
#include <zlib.h>

#include <algorithm>
#include <cerrno>
#include <cstdio>
#include <cstring>
#include <functional>
#include <limits>
#include <map>
#include <memory>
#include <optional>
#include <system_error>
#include <unordered_map>
#include <utility>
#include <vector>

#include "common/ids/ids.hpp"
#include "common/posix/file_io.hpp"
#include "common/posix/unique_fd.hpp"

namespace ew::containers {

namespace fs = std::filesystem;

namespace {

constexpr std::string_view kSpecFile = "function.json";
constexpr uint64_t kMaxSpecBytes = 1 << 20;  // a manifest this large is a mistake
constexpr size_t kMaxPathChars = 4096;       // PATH_MAX

std::string ArchiveError(archive* a) {
  const char* text = archive_error_string(a);
  return text != nullptr ? text : "unknown libarchive error";
}

std::string Errno(const std::string& what) { return what + ": " + std::strerror(errno); }

using posix::UniqueFd;

enum class EntryKind { kFile, kDir };

struct Entry {
  std::string path;  // normalised: relative, no "./" prefix, no trailing '/'
  EntryKind kind = EntryKind::kFile;
  uint64_t size = 0;
  bool executable = false;  // any execute bit set in the archive
};

// "./a/b/" → "a/b"; "./" → "" (the root, skipped). Refuses absolute paths, ".." and anything
// else that is not one plain name per component.
Result<std::string> NormalisePath(std::string path) {
  if (path.size() > kMaxPathChars) return InvalidArgument("package: entry name over 4096 characters");
  if (!path.empty() && path.front() == '/') return InvalidArgument("package: absolute path " + path);
  while (path.rfind("./", 0) == 0) path.erase(0, 2);
  while (!path.empty() && path.back() == '/') path.pop_back();
  if (path == ".") path.clear();
  size_t start = 0;
  while (!path.empty() && start <= path.size()) {
    size_t end = std::min(path.find('/', start), path.size());
    const std::string_view part = std::string_view(path).substr(start, end - start);
    if (part == "..") return InvalidArgument("package: path with '..': " + path);
    if (part.empty() || part == ".") return InvalidArgument("package: path not normalised: " + path);
    start = end + 1;
  }
  return path;
}

// libarchive 3.6 neither verifies the gzip CRC ("XXX TODO: Verify the length and CRC") nor reads
// past the tar end marker, so a corrupt package could pass and be shipped to every board under
// its hash. One zlib pass checks the whole stream first, and bounds what it inflates to (a gzip
// bomb, or huge tar/pax headers, stop here before libarchive parses anything).
Result<void> CheckGzipStream(std::string_view tar_gz, uint64_t max_inflated) {
  if (tar_gz.size() < 2 || static_cast<unsigned char>(tar_gz[0]) != 0x1f ||
      static_cast<unsigned char>(tar_gz[1]) != 0x8b) {
    return InvalidArgument("package: not gzip-compressed");
  }
  if (tar_gz.size() > std::numeric_limits<uInt>::max()) return ResourceExhausted("package: too large");
  z_stream z{};
  if (inflateInit2(&z, 16 + MAX_WBITS) != Z_OK) return Internal("inflateInit2 failed");  // 16: gzip only
  std::unique_ptr<z_stream, int (*)(z_stream*)> end(&z, inflateEnd);
  z.next_in = reinterpret_cast<Bytef*>(const_cast<char*>(tar_gz.data()));
  z.avail_in = static_cast<uInt>(tar_gz.size());
  std::vector<Bytef> scratch(64 * 1024);
  uint64_t inflated = 0;
  for (;;) {
    z.next_out = scratch.data();
    z.avail_out = static_cast<uInt>(scratch.size());
    const int r = inflate(&z, Z_NO_FLUSH);
    inflated += scratch.size() - z.avail_out;
    if (inflated > max_inflated) {
      return ResourceExhausted("package: unpacks to more than " + std::to_string(max_inflated) + " bytes of tar");
    }
    if (r == Z_STREAM_END) break;
    if (r == Z_BUF_ERROR && z.avail_in == 0) return InvalidArgument("package: truncated gzip stream");
    if (r != Z_OK) return InvalidArgument(std::string("package: corrupt gzip stream: ") + (z.msg ? z.msg : "?"));
  }
  // bsdtar and libarchive's writer pad the compressed output with zeros to their block size.
  const std::string_view rest = tar_gz.substr(tar_gz.size() - z.avail_in);
  if (rest.find_first_not_of('\0') != std::string_view::npos) {
    return InvalidArgument("package: data after the gzip stream");
  }
  return Ok();
}

// A libarchive reader over the package bytes (already through CheckGzipStream): gzip tar only.
class PackageReader {
 public:
  static Result<PackageReader> Open(std::string_view tar_gz) {
    PackageReader reader;
    reader.archive_.reset(archive_read_new());
    archive* a = reader.archive_.get();
    if (a == nullptr) return Internal("archive_read_new failed");
    archive_read_support_filter_gzip(a);
    archive_read_support_format_tar(a);
    if (archive_read_open_memory(a, tar_gz.data(), tar_gz.size()) != ARCHIVE_OK) {
      return InvalidArgument("package: not a gzip tar: " + ArchiveError(a));
    }
    return reader;
  }

  // The next entry, checked and normalised; nullopt at the end. The root entry ("./") is skipped.
  Result<std::optional<Entry>> Next() {
    archive* a = archive_.get();
    for (;;) {
      archive_entry* raw = nullptr;
      const int r = archive_read_next_header(a, &raw);
      if (r == ARCHIVE_EOF) return std::nullopt;
      if (r < ARCHIVE_WARN) return InvalidArgument("package: " + ArchiveError(a));
      const char* name = archive_entry_pathname(raw);
      if (name == nullptr) return InvalidArgument("package: entry without a readable name");
      EW_TRY(std::string path, NormalisePath(name));
      Entry entry;
      entry.path = path;
      const std::string shown = path.empty() ? "." : path;
      if (archive_entry_hardlink(raw) != nullptr) return InvalidArgument("package: hard link " + shown);
      switch (archive_entry_filetype(raw)) {
        case AE_IFREG: entry.kind = EntryKind::kFile; break;
        case AE_IFDIR: entry.kind = EntryKind::kDir; break;
        case AE_IFLNK: return InvalidArgument("package: symbolic link " + shown);
        default: return InvalidArgument("package: " + shown + " is not a regular file or directory");
      }
      if (path.empty()) {
        if (entry.kind == EntryKind::kDir) continue;
        return InvalidArgument("package: file without a name");
      }
      entry.size = archive_entry_size(raw) > 0 ? static_cast<uint64_t>(archive_entry_size(raw)) : 0;
      entry.executable = (archive_entry_perm(raw) & 0111) != 0;
      return entry;
    }
  }

  // Streams the current entry's data to sink(offset, bytes, size); libarchive checks the tar
  // structure and the gzip CRC as it goes. Offsets can jump over holes of sparse entries.
  using Sink = std::function<Result<void>(uint64_t offset, const char* bytes, size_t size)>;
  Result<void> ReadData(const Entry& entry, const Sink& sink) {
    archive* a = archive_.get();
    for (;;) {
      const void* block = nullptr;
      size_t size = 0;
      la_int64_t offset = 0;
      const int r = archive_read_data_block(a, &block, &size, &offset);
      if (r == ARCHIVE_EOF) return Ok();
      if (r < ARCHIVE_WARN) return InvalidArgument("package: " + entry.path + ": " + ArchiveError(a));
      if (offset < 0 || static_cast<uint64_t>(offset) + size > entry.size) {
        return InvalidArgument("package: " + entry.path + ": data beyond the entry's size");
      }
      EW_TRY_VOID(sink(static_cast<uint64_t>(offset), static_cast<const char*>(block), size));
    }
  }

 private:
  PackageReader() : archive_(nullptr, archive_read_free) {}
  std::unique_ptr<archive, int (*)(archive*)> archive_;
};

// Every path of the package, explicit or implied by a deeper entry, with its kind: catches
// duplicates and file/directory clashes, which would make extraction depend on entry order,
// and bounds the directories extraction creates (max_entries counts them). Linear in the path
// bytes: an entry walks up its parents only until one is known (all of that one's parents are
// then known too: every path is added with all its parents), and paths are hashed, not
// compared prefix by prefix in a tree.
class Tree {
 public:
  Result<void> Add(const Entry& entry) {
    // The parents this entry adds, deepest first.
    std::vector<size_t> missing;
    for (size_t slash = entry.path.rfind('/'); slash != std::string::npos && slash > 0;
         slash = entry.path.rfind('/', slash - 1)) {
      auto it = kinds_.find(entry.path.substr(0, slash));
      if (it != kinds_.end()) {
        if (it->second != EntryKind::kDir) return InvalidArgument("package: " + entry.path + " is below the file " + it->first);
        break;
      }
      missing.push_back(slash);
    }
    auto it = kinds_.find(entry.path);
    if (it != kinds_.end() && !(it->second == EntryKind::kDir && entry.kind == EntryKind::kDir)) {
      return InvalidArgument("package: " + entry.path + " appears twice");
    }
    for (size_t slash : missing) kinds_.emplace(entry.path.substr(0, slash), EntryKind::kDir);
    if (it == kinds_.end()) kinds_.emplace(entry.path, entry.kind);
    return Ok();
  }
  size_t size() const { return kinds_.size(); }
  bool IsFile(const std::string& path) const {
    auto it = kinds_.find(path);
    return it != kinds_.end() && it->second == EntryKind::kFile;
  }

 private:
  std::unordered_map<std::string, EntryKind> kinds_;
};

// InvalidArgument when `path` has more than `max_depth` components.
Result<void> CheckDepth(const std::string& path, uint32_t max_depth) {
  const size_t depth = static_cast<size_t>(std::count(path.begin(), path.end(), '/')) + 1;
  if (depth <= max_depth) return Ok();
  const std::string shown = path.size() > 64 ? path.substr(0, 64) + "..." : path;
  return InvalidArgument("package: " + shown + " is " + std::to_string(depth) +
                         " directories deep, over the limit of " + std::to_string(max_depth));
}

Result<void> CheckEntrypoints(const FunctionSpec& spec, const Tree& tree) {
  if (!tree.IsFile(spec.entrypoint)) {
    return InvalidArgument("entrypoint: " + spec.entrypoint + " is not a file in the package");
  }
  for (size_t i = 0; i < spec.implementations.size(); ++i) {
    const std::string& path = spec.implementations[i].entrypoint;
    if (!tree.IsFile(path)) {
      return InvalidArgument("implementations[" + std::to_string(i) + "].entrypoint: " + path +
                             " is not a file in the package");
    }
  }
  return Ok();
}

// --- extraction ---

// The directory `rel` below `root` (created 0755 when missing), opened one component at a time
// with O_NOFOLLOW: a symlink anywhere on the way fails instead of being followed.
Result<UniqueFd> OpenDir(int root, const std::string& rel) {
  UniqueFd current(::fcntl(root, F_DUPFD_CLOEXEC, 0));
  if (!current.valid()) return Internal(Errno("dup"));
  size_t start = 0;
  while (!rel.empty() && start <= rel.size()) {
    const size_t end = std::min(rel.find('/', start), rel.size());
    const std::string part = rel.substr(start, end - start);
    const bool created = ::mkdirat(current.get(), part.c_str(), 0755) == 0;
    if (!created && errno != EEXIST) return Internal(Errno("mkdir " + rel));
    UniqueFd next(::openat(current.get(), part.c_str(), O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC));
    if (!next.valid()) return Internal(Errno("open " + rel));
    // mkdirat's mode is cut by the umask; the contract says 0755.
    if (created && ::fchmod(next.get(), 0755) != 0) return Internal(Errno("chmod " + rel));
    current = std::move(next);
    start = end + 1;
  }
  return current;
}

Result<void> WriteFile(int root, PackageReader& reader, const Entry& entry) {
  const size_t slash = entry.path.rfind('/');
  const std::string parent = slash == std::string::npos ? "" : entry.path.substr(0, slash);
  const std::string name = slash == std::string::npos ? entry.path : entry.path.substr(slash + 1);
  EW_TRY(UniqueFd dir, OpenDir(root, parent));
  const mode_t mode = entry.executable ? 0755 : 0644;
  UniqueFd file(::openat(dir.get(), name.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, mode));
  if (!file.valid()) return Internal(Errno("create " + entry.path));
  if (::fchmod(file.get(), mode) != 0) return Internal(Errno("chmod " + entry.path));
  EW_TRY_VOID(reader.ReadData(entry, [&](uint64_t offset, const char* bytes, size_t size) -> Result<void> {
    while (size > 0) {
      const ssize_t n = ::pwrite(file.get(), bytes, size, static_cast<off_t>(offset));
      if (n < 0 && errno == EINTR) continue;
      if (n <= 0) return Internal(Errno("write " + entry.path));
      bytes += n;
      size -= static_cast<size_t>(n);
      offset += static_cast<uint64_t>(n);
    }
    return Ok();
  }));
  // Sets the full size even when the entry ends in a hole; fdatasync so that the renamed
  // directory never holds empty files after a power cut.
  if (::ftruncate(file.get(), static_cast<off_t>(entry.size)) != 0) return Internal(Errno("truncate " + entry.path));
  if (::fdatasync(file.get()) != 0) return Internal(Errno("sync " + entry.path));
  return Ok();
}

// A fresh sibling "<dir>.tmp-XXXXXX", removed on scope exit unless released.
class TempDir {
 public:
  static Result<TempDir> Create(const fs::path& dir) {
    std::error_code ec;
    if (dir.has_parent_path()) fs::create_directories(dir.parent_path(), ec);
    if (ec) return Internal("create " + dir.parent_path().string() + ": " + ec.message());
    std::string name = dir.string() + ".tmp-XXXXXX";
    if (::mkdtemp(name.data()) == nullptr) return Internal(Errno("mkdtemp " + name));
    TempDir tmp;
    tmp.path_ = name;
    tmp.fd_ = UniqueFd(::open(name.c_str(), O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC));
    if (!tmp.fd_.valid()) return Internal(Errno("open " + name));
    return tmp;
  }
  TempDir(TempDir&& other) noexcept : path_(std::exchange(other.path_, {})), fd_(std::move(other.fd_)) {}
  TempDir& operator=(TempDir&&) = delete;
  ~TempDir() {
    std::error_code ec;
    if (!path_.empty()) fs::remove_all(path_, ec);  // remove_all does not follow symlinks
  }
  const fs::path& path() const { return path_; }
  int fd() const { return fd_.get(); }
  void Release() { path_.clear(); }

 private:
  TempDir() = default;
  fs::path path_;
  UniqueFd fd_;
};

// Renames without replacing: plain rename(2) would silently replace an empty directory that
// appeared at `to` meanwhile.
Result<void> RenameNoReplace(const fs::path& from, const fs::path& to) {
  int r = ::renameat2(AT_FDCWD, from.c_str(), AT_FDCWD, to.c_str(), RENAME_NOREPLACE);
  if (r != 0 && errno == EINVAL) r = ::rename(from.c_str(), to.c_str());  // filesystem without the flag
  if (r == 0) return Ok();
  if (errno == EEXIST || errno == ENOTEMPTY) return Conflict(to.string() + " already exists");
  return Internal(Errno("rename to " + to.string()));
}

// --- packing ---

la_ssize_t AppendToString(archive*, void* out, const void* buffer, size_t length) {
  static_cast<std::string*>(out)->append(static_cast<const char*>(buffer), length);
  return static_cast<la_ssize_t>(length);
}

using WriterPtr = std::unique_ptr<archive, int (*)(archive*)>;
using EntryPtr = std::unique_ptr<archive_entry, void (*)(archive_entry*)>;

// Everything below `dir`, sorted by relative path; anything but files and directories is an error.
Result<std::vector<std::pair<std::string, EntryKind>>> ListTree(const fs::path& dir) {
  std::vector<std::pair<std::string, EntryKind>> entries;
  std::error_code ec;
  for (fs::recursive_directory_iterator it(dir, ec), end; !ec && it != end; it.increment(ec)) {
    const std::string rel = it->path().lexically_relative(dir).generic_string();
    const fs::file_status status = it->symlink_status(ec);
    if (ec) break;
    if (fs::is_regular_file(status)) {
      entries.emplace_back(rel, EntryKind::kFile);
    } else if (fs::is_directory(status)) {
      entries.emplace_back(rel, EntryKind::kDir);
    } else {
      return InvalidArgument(rel + ": only regular files and directories can be packed");
    }
  }
  if (ec) return InvalidArgument("read " + dir.string() + ": " + ec.message());
  std::sort(entries.begin(), entries.end());
  return entries;
}

// Appends one file or directory; the file is opened with O_NOFOLLOW and its size taken from
// that descriptor, so the header and the data always agree.
Result<void> PackEntry(archive* a, const fs::path& dir, const std::string& rel, EntryKind kind) {
  EntryPtr entry(archive_entry_new(), archive_entry_free);
  archive_entry_set_pathname(entry.get(), rel.c_str());
  archive_entry_set_mtime(entry.get(), 0, 0);  // uid/gid 0 and no owner names by default
  UniqueFd file;
  uint64_t size = 0;
  if (kind == EntryKind::kDir) {
    archive_entry_set_filetype(entry.get(), AE_IFDIR);
    archive_entry_set_perm(entry.get(), 0755);
  } else {
    file = UniqueFd(::open((dir / rel).c_str(), O_RDONLY | O_NOFOLLOW | O_CLOEXEC));
    struct stat st {};
    if (!file.valid() || ::fstat(file.get(), &st) != 0) return InvalidArgument(Errno("open " + rel));
    if (!S_ISREG(st.st_mode)) return InvalidArgument(rel + ": only regular files can be packed");
    size = static_cast<uint64_t>(st.st_size);
    archive_entry_set_filetype(entry.get(), AE_IFREG);
    archive_entry_set_perm(entry.get(), (st.st_mode & 0111) != 0 ? 0755 : 0644);
    archive_entry_set_size(entry.get(), st.st_size);
  }
  if (archive_write_header(a, entry.get()) != ARCHIVE_OK) return Internal("pack " + rel + ": " + ArchiveError(a));
  std::vector<char> buffer(64 * 1024);
  while (size > 0) {
    const ssize_t n = ::read(file.get(), buffer.data(), std::min<uint64_t>(size, buffer.size()));
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) return InvalidArgument(Errno("read " + rel));
    if (n == 0) return InvalidArgument(rel + ": shrank while being packed");
    if (archive_write_data(a, buffer.data(), static_cast<size_t>(n)) != n) {
      return Internal("pack " + rel + ": " + ArchiveError(a));
    }
    size -= static_cast<uint64_t>(n);
  }
  return Ok();
}

}  // namespace

Result<Package> InspectPackage(std::string_view tar_gz, const PackageLimits& limits) {
  if (tar_gz.size() > limits.max_package_bytes) {
    return ResourceExhausted("package: " + std::to_string(tar_gz.size()) + " bytes, over the limit of " +
                             std::to_string(limits.max_package_bytes));
  }
  // The tar stream is the files rounded up to 512-byte blocks plus headers; 16 KiB per entry
  // covers a header with a 4096-character name in a pax extension, 1 MiB the end padding.
  const uint64_t max_tar_bytes = limits.max_unpacked_bytes + uint64_t{limits.max_entries} * 16 * 1024 + (1 << 20);
  EW_TRY_VOID(CheckGzipStream(tar_gz, max_tar_bytes));
  EW_TRY(PackageReader reader, PackageReader::Open(tar_gz));
  Package package;
  package.package_bytes = tar_gz.size();
  Tree tree;
  std::optional<std::string> spec_json;
  for (;;) {
    EW_TRY(std::optional<Entry> entry, reader.Next());
    if (!entry) break;
    EW_TRY_VOID(CheckDepth(entry->path, limits.max_path_depth));
    EW_TRY_VOID(tree.Add(*entry));
    if (tree.size() > limits.max_entries) {
      return ResourceExhausted("package: more than " + std::to_string(limits.max_entries) + " entries");
    }
    if (entry->kind != EntryKind::kFile) continue;
    package.unpacked_bytes += entry->size;
    if (package.unpacked_bytes > limits.max_unpacked_bytes) {
      return ResourceExhausted("package: unpacks to more than " + std::to_string(limits.max_unpacked_bytes) +
                               " bytes");
    }
    PackageReader::Sink sink = [](uint64_t, const char*, size_t) { return Ok(); };
    if (entry->path == kSpecFile) {
      if (entry->size > kMaxSpecBytes) return InvalidArgument("function.json: over 1 MiB");
      spec_json.emplace(entry->size, '\0');
      sink = [&](uint64_t offset, const char* bytes, size_t size) {
        std::memcpy(spec_json->data() + offset, bytes, size);
        return Ok();
      };
    }
    EW_TRY_VOID(reader.ReadData(*entry, sink));
  }
  if (!spec_json) return InvalidArgument("package: no function.json at the top");
  auto spec = ParseFunctionSpec(*spec_json);
  if (!spec) return InvalidArgument("function.json: " + spec.error().message);
  EW_TRY_VOID(CheckEntrypoints(*spec, tree));
  package.spec = std::move(*spec);
  package.sha256 = ids::Sha256Hex(tar_gz);
  return package;
}

Result<Package> ExtractPackage(std::string_view tar_gz, const fs::path& dir, const PackageLimits& limits) {
  EW_TRY(Package package, InspectPackage(tar_gz, limits));
  std::error_code ec;
  if (fs::exists(fs::symlink_status(dir, ec))) return Conflict(dir.string() + " already exists");
  EW_TRY(TempDir tmp, TempDir::Create(dir));
  EW_TRY(PackageReader reader, PackageReader::Open(tar_gz));
  for (;;) {
    EW_TRY(std::optional<Entry> entry, reader.Next());
    if (!entry) break;
    if (entry->kind == EntryKind::kDir) {
      EW_TRY(UniqueFd ignored, OpenDir(tmp.fd(), entry->path));
    } else {
      EW_TRY_VOID(WriteFile(tmp.fd(), reader, *entry));
    }
  }
  // mkdtemp made it 0700.
  if (::fchmod(tmp.fd(), 0755) != 0 || ::fsync(tmp.fd()) != 0) return Internal(Errno("finish " + tmp.path().string()));
  EW_TRY_VOID(RenameNoReplace(tmp.path(), dir));
  tmp.Release();
  // Best effort: makes the rename itself durable.
  const fs::path parent = dir.has_parent_path() ? dir.parent_path() : fs::path(".");
  (void)posix::SyncDirectory(parent);
  return package;
}

Result<std::string> PackDirectory(const fs::path& dir) {
  std::error_code ec;
  if (!fs::is_regular_file(fs::symlink_status(dir / kSpecFile, ec))) {
    return InvalidArgument(dir.string() + ": no function.json");
  }
  EW_TRY(auto entries, ListTree(dir));
  std::string out;
  WriterPtr writer(archive_write_new(), archive_write_free);
  archive* a = writer.get();
  if (a == nullptr) return Internal("archive_write_new failed");
  // No timestamp in the gzip header ("!timestamp"), or the same tree would hash differently
  // every second. pax_restricted is plain ustar unless a name needs an extended header.
  if (archive_write_add_filter_gzip(a) != ARCHIVE_OK ||
      archive_write_set_filter_option(a, "gzip", "timestamp", nullptr) != ARCHIVE_OK ||
      archive_write_set_format_pax_restricted(a) != ARCHIVE_OK ||
      archive_write_set_bytes_in_last_block(a, 1) != ARCHIVE_OK ||
      archive_write_open(a, &out, nullptr, AppendToString, nullptr) != ARCHIVE_OK) {
    return Internal("pack: " + ArchiveError(a));
  }
  for (const auto& [rel, kind] : entries) EW_TRY_VOID(PackEntry(a, dir, rel, kind));
  if (archive_write_close(a) != ARCHIVE_OK) return Internal("pack: " + ArchiveError(a));
  return out;
}

}  // namespace ew::containers
