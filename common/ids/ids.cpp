#include "common/ids/ids.hpp"

#include <nettle/base64.h>
#include <nettle/hmac.h>
#include <nettle/memops.h>
#include <nettle/pbkdf2.h>
#include <nettle/sha2.h>
#include <sys/random.h>

#include <cctype>
#include <cerrno>
#include <cstring>
#include <stdexcept>
#include <vector>

#include <fmt/format.h>

namespace ew::ids {

// The kernel's CSPRNG; getrandom blocks only before the pool is first seeded at boot.
std::string RandomBytes(size_t n) {
  std::string out(n, '\0');
  size_t filled = 0;
  while (filled < n) {
    ssize_t got = getrandom(out.data() + filled, n - filled, 0);
    if (got < 0) {
      if (errno == EINTR) continue;
      throw std::runtime_error("getrandom failed");
    }
    filled += static_cast<size_t>(got);
  }
  return out;
}

namespace {
const uint8_t* Bytes(std::string_view s) { return reinterpret_cast<const uint8_t*>(s.data()); }

std::string Pbkdf2(std::string_view password, std::string_view salt, int iterations, int keylen) {
  std::string out(static_cast<size_t>(keylen), '\0');
  pbkdf2_hmac_sha256(password.size(), Bytes(password), static_cast<unsigned>(iterations), salt.size(), Bytes(salt),
                     out.size(), reinterpret_cast<uint8_t*>(out.data()));
  return out;
}
}  // namespace

std::string NewId(std::string_view prefix) {
  std::string bytes = RandomBytes(8);
  std::string hex;
  for (unsigned char c : bytes) hex += fmt::format("{:02x}", c);
  return fmt::format("{}-{}", prefix, hex);
}

std::string NewSecret(size_t bytes) { return Base64Url(RandomBytes(bytes)); }

uint64_t NewWampId() {
  uint64_t v = 0;
  std::string bytes = RandomBytes(sizeof v);
  std::memcpy(&v, bytes.data(), sizeof v);
  return (v & ((uint64_t{1} << 53) - 1)) + 1;
}

std::string Sha256Hex(std::string_view data) {
  sha256_ctx ctx;
  sha256_init(&ctx);
  sha256_update(&ctx, data.size(), Bytes(data));
  uint8_t digest[SHA256_DIGEST_SIZE];
  sha256_digest(&ctx, sizeof digest, digest);
  std::string hex;
  hex.reserve(64);
  for (unsigned char c : digest) hex += fmt::format("{:02x}", c);
  return hex;
}

std::string Base64(std::string_view data) {
  std::string out(BASE64_ENCODE_RAW_LENGTH(data.size()), '\0');
  base64_encode_raw(out.data(), data.size(), Bytes(data));
  return out;
}

std::string Base64Url(std::string_view data) {
  base64_encode_ctx ctx;
  base64url_encode_init(&ctx);
  std::string out(BASE64_ENCODE_LENGTH(data.size()) + BASE64_ENCODE_FINAL_LENGTH, '\0');
  size_t n = base64_encode_update(&ctx, out.data(), data.size(), Bytes(data));
  n += base64_encode_final(&ctx, out.data() + n);
  out.resize(n);
  while (!out.empty() && out.back() == '=') out.pop_back();
  return out;
}

bool Base64UrlDecode(std::string_view text, std::string* out) {
  if (text.size() % 4 == 1) return false;
  for (char c : text)
    if (!std::isalnum(static_cast<unsigned char>(c)) && c != '-' && c != '_') return false;
  std::string padded(text);
  padded.append((4 - padded.size() % 4) % 4, '=');
  base64_decode_ctx ctx;
  base64url_decode_init(&ctx);
  std::string buf(BASE64_DECODE_LENGTH(padded.size()), '\0');
  size_t len = buf.size();
  if (!base64_decode_update(&ctx, &len, reinterpret_cast<uint8_t*>(buf.data()), padded.size(), padded.data()) ||
      !base64_decode_final(&ctx))
    return false;
  buf.resize(len);
  // Canonical only: unused low bits of the last character must be zero.
  if (Base64Url(buf) != text) return false;
  *out = std::move(buf);
  return true;
}

bool Base64Decode(std::string_view text, std::string* out) {
  // Strict: whole quanta only (nettle alone would accept unpadded input and whitespace).
  if (text.size() % 4 != 0) return false;
  for (char c : text)
    if (!std::isalnum(static_cast<unsigned char>(c)) && c != '+' && c != '/' && c != '=') return false;
  base64_decode_ctx ctx;
  base64_decode_init(&ctx);
  std::string buf(BASE64_DECODE_LENGTH(text.size()), '\0');
  size_t len = buf.size();
  if (!base64_decode_update(&ctx, &len, reinterpret_cast<uint8_t*>(buf.data()), text.size(), text.data()) ||
      !base64_decode_final(&ctx))
    return false;
  buf.resize(len);
  *out = std::move(buf);
  return true;
}

std::string HashPassword(std::string_view password, int iterations) {
  std::string salt = RandomBytes(16);
  return fmt::format("pbkdf2-sha256${}${}${}", iterations, Base64(salt), Base64(Pbkdf2(password, salt, iterations, 32)));
}

bool VerifyPassword(std::string_view password, std::string_view stored) {
  // pbkdf2-sha256$<it>$<salt>$<hash>
  std::vector<std::string_view> parts;
  size_t start = 0;
  while (true) {
    size_t pos = stored.find('$', start);
    parts.push_back(stored.substr(start, pos == std::string_view::npos ? std::string_view::npos : pos - start));
    if (pos == std::string_view::npos) break;
    start = pos + 1;
  }
  if (parts.size() != 4 || parts[0] != "pbkdf2-sha256") return false;
  int iterations = 0;
  try {
    iterations = std::stoi(std::string(parts[1]));
  } catch (...) {
    return false;
  }
  if (iterations <= 0 || iterations > 10'000'000) return false;
  std::string salt, hash;
  if (!Base64Decode(parts[2], &salt) || !Base64Decode(parts[3], &hash)) return false;
  return ConstantTimeEqual(Pbkdf2(password, salt, iterations, static_cast<int>(hash.size())), hash);
}

std::string WampCraDeriveKey(std::string_view secret, std::string_view salt, int iterations, int keylen) {
  return Base64(Pbkdf2(secret, salt, iterations, keylen));
}

std::string WampCraSign(std::string_view key, std::string_view challenge) {
  hmac_sha256_ctx ctx;
  hmac_sha256_set_key(&ctx, key.size(), Bytes(key));
  hmac_sha256_update(&ctx, challenge.size(), Bytes(challenge));
  uint8_t mac[SHA256_DIGEST_SIZE];
  hmac_sha256_digest(&ctx, sizeof mac, mac);
  return Base64(std::string_view(reinterpret_cast<const char*>(mac), sizeof mac));
}

bool ConstantTimeEqual(std::string_view a, std::string_view b) {
  if (a.size() != b.size()) return false;
  return memeql_sec(a.data(), b.data(), a.size()) != 0;
}

}  // namespace ew::ids
