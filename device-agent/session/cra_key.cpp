#include "device-agent/session/cra_key.hpp"

#include <stdexcept>

#include "common/ids/ids.hpp"

namespace ew::agent::session {

ew::Result<void> CheckCraParameters(const std::string& salt, uint64_t iterations, uint64_t keylen) {
  if (salt.empty()) return ew::Ok();
  if (salt.size() > kMaxCraSaltBytes)
    return ew::InvalidArgument("salt of " + std::to_string(salt.size()) + " bytes (at most " +
                               std::to_string(kMaxCraSaltBytes) + ")");
  if (iterations < 1 || iterations > kMaxCraIterations)
    return ew::InvalidArgument("iterations " + std::to_string(iterations) + " out of range (1.." +
                               std::to_string(kMaxCraIterations) + ")");
  if (keylen < 1 || keylen > kMaxCraKeylen)
    return ew::InvalidArgument("keylen " + std::to_string(keylen) + " out of range (1.." + std::to_string(kMaxCraKeylen) +
                               " bytes)");
  return ew::Ok();
}

const std::string& CraKey::KeyFor(const std::string& salt, int iterations, int keylen) {
  if (salt.empty()) return secret_;
  if (iterations <= 0 || keylen <= 0) throw std::invalid_argument("WAMP-CRA challenge with a salt but bad iterations/keylen");
  if (auto sane = CheckCraParameters(salt, static_cast<uint64_t>(iterations), static_cast<uint64_t>(keylen)); !sane)
    throw std::invalid_argument("WAMP-CRA challenge: " + sane.error().message);
  if (derived_.empty() || salt != salt_ || iterations != iterations_ || keylen != keylen_) {
    derived_ = ew::ids::WampCraDeriveKey(secret_, salt, iterations, keylen);
    salt_ = salt;
    iterations_ = iterations;
    keylen_ = keylen;
  }
  return derived_;
}

std::string CraKey::Sign(const std::string& challenge, const std::string& salt, int iterations, int keylen) {
  return ew::ids::WampCraSign(KeyFor(salt, iterations, keylen), challenge);
}

}  // namespace ew::agent::session
