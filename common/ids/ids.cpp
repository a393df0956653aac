#include "common/ids/ids.hpp"

#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <openssl/rand.h>
#include <openssl/sha.h>

#include <stdexcept>
#include <vector>

#include <fmt/format.h>

namespace ew::ids {

namespace {
std::string RandomBytes(size_t n) {
  std::string out(n, '\0');
  if (RAND_bytes(reinterpret_cast<unsigned char*>(out.data()), static_cast<int>(n)) != 1)
    throw std::runtime_error("RAND_bytes failed");
  return out;
}

std::string Pbkdf2(std::string_view password, std::string_view salt, int iterations, int keylen) {
  std::string out(static_cast<size_t>(keylen), '\0');
  PKCS5_PBKDF2_HMAC(password.data(), static_cast<int>(password.size()),
                    reinterpret_cast<const unsigned char*>(salt.data()), static_cast<int>(salt.size()), iterations,
                    EVP_sha256(), keylen, reinterpret_cast<unsigned char*>(out.data()));
  return out;
}
}  // namespace

std::string NewId(std::string_view prefix) {
  std::string bytes = RandomBytes(8);
  std::string hex;
  for (unsigned char c : bytes) hex += fmt::format("{:02x}", c);
  return fmt::format("{}-{}", prefix, hex);
}

std::string NewSecret(size_t bytes) {
  std::string b64 = Base64(RandomBytes(bytes));
  std::string out;
  for (char c : b64) {
    if (c == '+') out += '-';
    else if (c == '/') out += '_';
    else if (c != '=') out += c;
  }
  return out;
}

uint64_t NewWampId() {
  uint64_t v = 0;
  RAND_bytes(reinterpret_cast<unsigned char*>(&v), sizeof v);
  return (v & ((uint64_t{1} << 53) - 1)) + 1;
}

std::string Sha256Hex(std::string_view data) {
  unsigned char digest[SHA256_DIGEST_LENGTH];
  SHA256(reinterpret_cast<const unsigned char*>(data.data()), data.size(), digest);
  std::string hex;
  hex.reserve(64);
  for (unsigned char c : digest) hex += fmt::format("{:02x}", c);
  return hex;
}

std::string Base64(std::string_view data) {
  std::string out(4 * ((data.size() + 2) / 3) + 1, '\0');
  int n = EVP_EncodeBlock(reinterpret_cast<unsigned char*>(out.data()),
                          reinterpret_cast<const unsigned char*>(data.data()), static_cast<int>(data.size()));
  out.resize(static_cast<size_t>(n));
  return out;
}

bool Base64Decode(std::string_view text, std::string* out) {
  if (text.size() % 4 != 0) return false;
  std::string buf(3 * text.size() / 4 + 1, '\0');
  int n = EVP_DecodeBlock(reinterpret_cast<unsigned char*>(buf.data()),
                          reinterpret_cast<const unsigned char*>(text.data()), static_cast<int>(text.size()));
  if (n < 0) return false;
  size_t len = static_cast<size_t>(n);
  // EVP_DecodeBlock counts padding as zero bytes: drop them.
  if (!text.empty() && text.back() == '=') --len;
  if (text.size() >= 2 && text[text.size() - 2] == '=') --len;
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
  unsigned char mac[EVP_MAX_MD_SIZE];
  unsigned int len = 0;
  HMAC(EVP_sha256(), key.data(), static_cast<int>(key.size()), reinterpret_cast<const unsigned char*>(challenge.data()),
       challenge.size(), mac, &len);
  return Base64(std::string_view(reinterpret_cast<const char*>(mac), len));
}

bool ConstantTimeEqual(std::string_view a, std::string_view b) {
  if (a.size() != b.size()) return false;
  return CRYPTO_memcmp(a.data(), b.data(), a.size()) == 0;
}

}  // namespace ew::ids
