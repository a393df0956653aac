// Signing agent packages for updates over the air (issue 16): the operator's Ed25519 key pair,
// and signatures over a .deb's exact bytes that the board's update helper verifies with
// `openssl pkeyutl -verify -rawin` against its trusted keys (/etc/edgewire/update-keys/*.pem).
// OpenSSL's EVP does the cryptography. A signature is the raw 64 bytes (RFC 8032), the same as
// `openssl pkeyutl -sign -rawin` writes, so either tool can make or check one.
#pragma once

#include <filesystem>
#include <string>
#include <string_view>

#include "common/error/error.hpp"

namespace ew::cli {

// Makes a new key pair: `private_pem` (PKCS#8 PEM, created 0600; it must not exist) and
// `public_pem` (SubjectPublicKeyInfo PEM, for the boards; it must not exist either). Conflict
// when either exists (a key is never overwritten), Internal on an OpenSSL or disk error.
Result<void> GenerateSigningKey(const std::filesystem::path& private_pem, const std::filesystem::path& public_pem);

// The Ed25519 signature (64 raw bytes) of `data` by the private key in `private_pem` (its PEM
// text). InvalidArgument when the PEM is not an Ed25519 private key.
Result<std::string> SignPackage(std::string_view private_pem, std::string_view data);

// Ok when `signature` is a signature of `data` by the public key in `public_pem` (PEM text, a
// public or a private key). InvalidArgument when the key is not Ed25519; PermissionDenied when
// the signature does not verify.
Result<void> VerifyPackage(std::string_view public_pem, std::string_view data, std::string_view signature);

// The public key in `pem` (public or private key PEM) as PEM, and its fingerprint: the first 16
// hex digits of the sha256 of its DER, for telling keys apart in logs and listings.
struct PublicKeyInfo {
  std::string pem;
  std::string fingerprint;
};
Result<PublicKeyInfo> PublicKeyOf(std::string_view pem);

}  // namespace ew::cli
