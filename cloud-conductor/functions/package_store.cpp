#include "cloud-conductor/functions/package_store.hpp"

#include <fstream>
#include <iterator>
#include <system_error>
#include <vector>

#include "common/ids/ids.hpp"
#include "common/posix/file_io.hpp"

namespace ew::functions {

namespace fs = std::filesystem;

Result<void> PackageStore::Create() const {
  std::error_code ec;
  fs::create_directories(dir_, ec);
  if (ec) return Internal("cannot create " + dir_.string() + ": " + ec.message());
  return Ok();
}

Result<void> PackageStore::Put(const std::string& sha256, std::string_view bytes) const {
  const fs::path path = PathOf(sha256);
  if (fs::exists(path)) return Ok();
  // The conductor's own disk: whatever fails there is Internal, never the client's doing.
  auto stored = posix::WriteFileAtomically(path, bytes, 0644);
  if (!stored) return Internal(stored.error().message);
  return Ok();
}

void PackageStore::Remove(const std::string& sha256) const {
  std::error_code ec;
  fs::remove(PathOf(sha256), ec);
}

Result<contract::fn::FetchReply> PackageStore::ReadChunk(const std::string& sha256, uint64_t offset,
                                                         uint64_t length) const {
  std::ifstream in(PathOf(sha256), std::ios::binary | std::ios::ate);
  if (!in) return NotFound("package " + sha256 + " is not stored on the conductor");
  const uint64_t size = static_cast<uint64_t>(in.tellg());
  if (offset > size) return InvalidArgument("offset: beyond the package's " + std::to_string(size) + " bytes");
  contract::fn::FetchReply out;
  out.size = size;
  out.bytes.resize(std::min<uint64_t>(length, size - offset));
  in.seekg(static_cast<std::streamoff>(offset));
  in.read(reinterpret_cast<char*>(out.bytes.data()), static_cast<std::streamsize>(out.bytes.size()));
  if (!in) return Internal("cannot read package " + sha256);
  return out;
}

Result<std::string> PackageStore::ReadAll(const std::string& sha256) const {
  std::ifstream in(PathOf(sha256), std::ios::binary);
  if (!in) return Internal("package " + sha256 + " is not stored on the conductor");
  std::string bytes((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  if (in.bad()) return Internal("cannot read package " + sha256);
  return bytes;
}

}  // namespace ew::functions
