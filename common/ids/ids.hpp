// Identifiers, secrets and the hashing Edgewire needs, on nettle and getrandom(2) (no
// hand-rolled crypto). nettle rather than OpenSSL because OpenSSL 3 costs the board agent
// ~3.5 MB of RSS the first time it hashes (see docs/BENCHMARKS.md).
#pragma once

#include <cstdint>
#include <string>
#include <string_view>

namespace ew::ids {

// Random printable identifier "<prefix>-<16 hex>", e.g. "brd-3f9a0c1d2e4b5a69".
std::string NewId(std::string_view prefix);
// Random URL-safe secret of `bytes` random bytes (base64url, no padding).
std::string NewSecret(size_t bytes = 32);
// `n` bytes from the kernel's CSPRNG (getrandom(2)). Throws std::runtime_error if it fails.
std::string RandomBytes(size_t n);
// Random WAMP id in [1, 2^53].
uint64_t NewWampId();

std::string Sha256Hex(std::string_view data);
std::string Base64(std::string_view data);
// Returns false on malformed input.
bool Base64Decode(std::string_view text, std::string* out);
// URL-safe base64 (RFC 4648 §5, '-' and '_') without padding, and its strict inverse: false
// unless `text` is exactly what Base64Url would have written.
std::string Base64Url(std::string_view data);
bool Base64UrlDecode(std::string_view text, std::string* out);

// Salted password hash for storage: "pbkdf2-sha256$<iterations>$<salt b64>$<hash b64>".
std::string HashPassword(std::string_view password, int iterations = 100'000);
bool VerifyPassword(std::string_view password, std::string_view stored);

// WAMP-CRA (salted variant): key = base64(PBKDF2-HMAC-SHA256(secret, salt, iterations, keylen)),
// signature = base64(HMAC-SHA256(key, challenge)). Matches Autobahn's derive_key/compute_wcs.
std::string WampCraDeriveKey(std::string_view secret, std::string_view salt, int iterations, int keylen);
std::string WampCraSign(std::string_view key, std::string_view challenge);

// Comparison whose time does not depend on where the inputs differ.
bool ConstantTimeEqual(std::string_view a, std::string_view b);

}  // namespace ew::ids
