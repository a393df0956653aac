// `edgewire package keygen|sign|verify` (issue 16, signed agent updates): local commands, no
// conductor involved; the cryptography is package_signing's.
#pragma once

#include <string>

#include "cloud-conductor/cli/commands.hpp"

namespace ew::cli {

// Writes NAME.key (private, 0600) and NAME.pem (public: copy it into a board's
// /etc/edgewire/update-keys/) and prints both with the key's fingerprint. Conflict when either
// exists.
Result<void> PackageKeygen(Context& ctx, const std::string& name);
// Signs FILE with the private key KEY into `signature` ("" = FILE.sig), replacing what is there.
Result<void> PackageSign(Context& ctx, const std::string& key, const std::string& file, const std::string& signature);
// Checks `signature` ("" = FILE.sig) over FILE against the public (or private) key KEY;
// PermissionDenied when it does not verify.
Result<void> PackageVerify(Context& ctx, const std::string& key, const std::string& file, const std::string& signature);

// The bytes of `path` (at most `limit`), InvalidArgument naming the file when it cannot be read.
Result<std::string> ReadLocalFile(const std::string& path, uint64_t limit);

}  // namespace ew::cli
