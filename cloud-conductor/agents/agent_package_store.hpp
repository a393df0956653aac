// Agent packages (.deb of edgewire-agent) uploaded by admins for updates over the air (issue 16),
// on the conductor's disk by content address: <dir>/<sha256>.deb, with the operator's Ed25519
// signature over it beside it in <dir>/<sha256>.sig (raw, 64 bytes). What a package is (name,
// version, architecture) is read from its own control file, so the directory is the whole
// record: nothing about packages is kept in the registry. The conductor does not verify the
// signature (the trusted keys are on the boards, docs/SECURITY.md "Agent updates"); it carries
// it to them. Blocking: the blocking pool.
#pragma once

#include <cstdint>
#include <filesystem>
#include <map>
#include <mutex>
#include <string>
#include <string_view>
#include <vector>

#include "common/contract/fn.hpp"
#include "common/error/error.hpp"

namespace ew::conductor::agents {

struct AgentPackage {
  std::string sha256;
  std::string version;       // control Version
  std::string architecture;  // control Architecture (amd64, arm64)
  uint64_t size = 0;
  int64_t uploaded_at = 0;   // unix seconds (the file's mtime)
  std::string signature;     // raw Ed25519 signature over the .deb (contract::update::kSignatureBytes); "" = none
};

// The Package, Version and Architecture of a .deb's control file. InvalidArgument when the bytes
// are not a Debian package or the package is not edgewire-agent.
Result<AgentPackage> InspectAgentDeb(std::string_view deb);

class AgentPackageStore {
 public:
  explicit AgentPackageStore(std::filesystem::path dir) : dir_(std::move(dir)) {}

  // Creates the directory and reads the packages already there (a file that does not inspect is
  // logged and skipped). Internal when the directory cannot be created.
  Result<void> Open();
  // Inspects and stores `deb` with `signature` (temporary files + rename); the same bytes again
  // are the same package, and a signature given with them replaces the one stored (a package
  // signed again with a new key). InvalidArgument (not an edgewire-agent .deb, a signature of
  // another length), Internal (disk).
  Result<AgentPackage> Put(std::string_view deb, std::string_view signature, int64_t now);
  Result<AgentPackage> Get(const std::string& sha256) const;  // NotFound
  std::vector<AgentPackage> List() const;                     // newest first
  // Up to `length` bytes from `offset`, with the package's size. NotFound, InvalidArgument for an
  // offset beyond its end.
  Result<contract::fn::FetchReply> ReadChunk(const std::string& sha256, uint64_t offset, uint64_t length) const;

 private:
  std::filesystem::path PathOf(const std::string& sha256) const { return dir_ / (sha256 + ".deb"); }
  std::filesystem::path SignaturePathOf(const std::string& sha256) const { return dir_ / (sha256 + ".sig"); }

  std::filesystem::path dir_;
  mutable std::mutex mu_;
  std::map<std::string, AgentPackage> packages_;  // GUARDED_BY(mu_), by sha256
};

}  // namespace ew::conductor::agents
