// A .deb is an ar archive whose control.tar.* holds ./control: libarchive reads both levels from
// memory (the package is at most 64 MiB and already in memory from the upload).
#include "cloud-conductor/agents/agent_package_store.hpp"

#include <archive.h>
#include <archive_entry.h>

#include <algorithm>
#include <fstream>
#include <memory>
#include <sstream>

#include "common/contract/update.hpp"
#include "common/ids/ids.hpp"
#include "common/log/log.hpp"
#include "common/posix/file_io.hpp"

namespace ew::conductor::agents {

namespace fs = std::filesystem;

namespace {

const ew::log::Logger Log{"agents"};
constexpr size_t kMaxControlBytes = 1 << 20;

using ArchivePtr = std::unique_ptr<archive, int (*)(archive*)>;

// The bytes of the first member of `bytes` (format per `open`) whose name satisfies `wanted`.
template <typename Wanted>
Result<std::string> ReadMember(std::string_view bytes, bool ar, Wanted wanted) {
  ArchivePtr a(archive_read_new(), archive_read_free);
  if (!a) return Internal("archive_read_new failed");
  if (ar) {
    archive_read_support_format_ar(a.get());
  } else {
    archive_read_support_format_tar(a.get());
    archive_read_support_filter_all(a.get());
  }
  if (archive_read_open_memory(a.get(), bytes.data(), bytes.size()) != ARCHIVE_OK)
    return InvalidArgument(std::string("not a Debian package: ") + archive_error_string(a.get()));
  archive_entry* entry = nullptr;
  while (true) {
    const int r = archive_read_next_header(a.get(), &entry);
    if (r == ARCHIVE_EOF) return InvalidArgument("not a Debian package: no control file");
    if (r != ARCHIVE_OK) return InvalidArgument(std::string("not a Debian package: ") + archive_error_string(a.get()));
    const char* name = archive_entry_pathname(entry);
    if (name == nullptr || !wanted(std::string_view(name))) continue;
    const la_int64_t size = archive_entry_size(entry);
    if (size < 0 || static_cast<size_t>(size) > kMaxControlBytes) return InvalidArgument("control data is too large");
    std::string out(static_cast<size_t>(size), '\0');
    if (archive_read_data(a.get(), out.data(), out.size()) != size)
      return InvalidArgument("not a Debian package: a truncated member");
    return out;
  }
}

std::string Field(const std::string& control, const std::string& name) {
  std::istringstream in(control);
  std::string line;
  const std::string prefix = name + ":";
  while (std::getline(in, line)) {
    if (line.rfind(prefix, 0) != 0) continue;
    std::string value = line.substr(prefix.size());
    value.erase(0, value.find_first_not_of(" \t"));
    while (!value.empty() && (value.back() == ' ' || value.back() == '\r')) value.pop_back();
    return value;
  }
  return "";
}

// Writes `bytes` to `path` whole or not at all (a unique temporary, fsynced, renamed).
Result<void> WriteFile(const fs::path& path, std::string_view bytes) {
  return ew::posix::WriteFileAtomically(path, bytes, 0644);
}

// The stored signature of a package, "" when there is none or it is not one.
std::string ReadSignature(const fs::path& path) {
  std::error_code ec;
  if (fs::file_size(path, ec) != contract::update::kSignatureBytes || ec) return "";
  std::ifstream in(path, std::ios::binary);
  std::string bytes(contract::update::kSignatureBytes, '\0');
  in.read(bytes.data(), static_cast<std::streamsize>(bytes.size()));
  return in.gcount() == static_cast<std::streamsize>(bytes.size()) ? bytes : "";
}

}  // namespace

Result<AgentPackage> InspectAgentDeb(std::string_view deb) {
  if (deb.substr(0, 8) != "!<arch>\n") return InvalidArgument("not a Debian package (no ar header)");
  EW_TRY(std::string control_tar,
         ReadMember(deb, true, [](std::string_view name) { return name.rfind("control.tar", 0) == 0; }));
  EW_TRY(std::string control, ReadMember(control_tar, false, [](std::string_view name) {
           return name == "./control" || name == "control";
         }));
  AgentPackage out;
  const std::string package = Field(control, "Package");
  if (package != "edgewire-agent")
    return InvalidArgument("the package is \"" + package.substr(0, 64) + "\", not edgewire-agent");
  out.version = Field(control, "Version");
  out.architecture = Field(control, "Architecture");
  contract::update::UpdateRequest check;  // the version travels in sys.update: it must parse there
  check.update_id = "x";
  check.sha256 = std::string(64, '0');
  check.size = 1;
  check.version = out.version;
  if (out.version.empty() || !contract::update::UpdateRequest::Parse(check.ToPayload()))
    return InvalidArgument("the package's Version \"" + out.version.substr(0, 64) + "\" is not usable");
  out.sha256 = ids::Sha256Hex(deb);
  out.size = deb.size();
  return out;
}

Result<void> AgentPackageStore::Open() {
  std::error_code ec;
  fs::create_directories(dir_, ec);
  if (ec) return Internal("cannot create " + dir_.string() + ": " + ec.message());
  std::lock_guard lock(mu_);
  for (const auto& entry : fs::directory_iterator(dir_, ec)) {
    if (entry.path().extension() != ".deb") continue;
    std::ifstream in(entry.path(), std::ios::binary);
    std::string bytes((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
    auto inspected = InspectAgentDeb(bytes);
    if (!inspected || inspected->sha256 + ".deb" != entry.path().filename().string()) {
      Log()->warn("agent package {} skipped: {}", entry.path().string(),
                  inspected ? "its name is not its sha256" : inspected.error().message);
      continue;
    }
    inspected->uploaded_at = std::chrono::duration_cast<std::chrono::seconds>(
                                 fs::last_write_time(entry.path(), ec).time_since_epoch())
                                 .count();
    inspected->signature = ReadSignature(SignaturePathOf(inspected->sha256));
    packages_[inspected->sha256] = *inspected;
  }
  return Ok();
}

Result<AgentPackage> AgentPackageStore::Put(std::string_view deb, std::string_view signature, int64_t now) {
  if (deb.size() > contract::update::kMaxPackageBytes)
    return InvalidArgument("an agent package is at most " + std::to_string(contract::update::kMaxPackageBytes) + " bytes");
  if (!signature.empty() && signature.size() != contract::update::kSignatureBytes)
    return InvalidArgument("signature: an Ed25519 signature is " + std::to_string(contract::update::kSignatureBytes) +
                           " bytes, not " + std::to_string(signature.size()));
  EW_TRY(AgentPackage package, InspectAgentDeb(deb));
  package.uploaded_at = now;
  package.signature = std::string(signature);
  bool stored = false;
  {
    std::lock_guard lock(mu_);
    if (auto it = packages_.find(package.sha256); it != packages_.end()) {
      if (signature.empty() || it->second.signature == signature) return it->second;
      stored = true;  // the same bytes, signed again: only the signature changes
    }
  }
  // The signature first: a package is never listed with a signature that is not on disk.
  if (!signature.empty()) EW_TRY_VOID(WriteFile(SignaturePathOf(package.sha256), signature));
  if (!stored) EW_TRY_VOID(WriteFile(PathOf(package.sha256), deb));
  std::lock_guard lock(mu_);
  if (stored) {
    packages_[package.sha256].signature = package.signature;
    Log()->info("agent package {}: signature replaced", package.sha256.substr(0, 12));
    return packages_[package.sha256];
  }
  packages_[package.sha256] = package;
  Log()->info("agent package {} ({} {}, {} bytes, {}) stored", package.sha256.substr(0, 12), package.version,
              package.architecture, package.size, package.signature.empty() ? "unsigned" : "signed");
  return package;
}

Result<AgentPackage> AgentPackageStore::Get(const std::string& sha256) const {
  std::lock_guard lock(mu_);
  auto it = packages_.find(sha256);
  if (it == packages_.end()) return NotFound("no agent package " + sha256.substr(0, 64));
  return it->second;
}

std::vector<AgentPackage> AgentPackageStore::List() const {
  std::lock_guard lock(mu_);
  std::vector<AgentPackage> out;
  for (const auto& [sha, package] : packages_) out.push_back(package);
  std::sort(out.begin(), out.end(), [](const AgentPackage& a, const AgentPackage& b) {
    return a.uploaded_at != b.uploaded_at ? a.uploaded_at > b.uploaded_at : a.sha256 < b.sha256;
  });
  return out;
}

Result<contract::fn::FetchReply> AgentPackageStore::ReadChunk(const std::string& sha256, uint64_t offset,
                                                              uint64_t length) const {
  EW_TRY(AgentPackage package, Get(sha256));
  if (offset >= package.size) return InvalidArgument("offset is beyond the package's end");
  std::ifstream in(PathOf(sha256), std::ios::binary);
  if (!in) return Internal("agent package " + sha256 + " is missing on disk");
  in.seekg(static_cast<std::streamoff>(offset));
  contract::fn::FetchReply reply;
  reply.size = package.size;
  reply.bytes.resize(static_cast<size_t>(std::min<uint64_t>(length, package.size - offset)));
  in.read(reinterpret_cast<char*>(reply.bytes.data()), static_cast<std::streamsize>(reply.bytes.size()));
  if (static_cast<size_t>(in.gcount()) != reply.bytes.size()) return Internal("agent package " + sha256 + " is short on disk");
  return reply;
}

}  // namespace ew::conductor::agents
