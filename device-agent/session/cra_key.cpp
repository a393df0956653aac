#include "device-agent/session/cra_key.hpp"

#include <stdexcept>

#include "common/ids/ids.hpp"

namespace ew::agent::session {

const std::string& CraKey::KeyFor(const std::string& salt, int iterations, int keylen) {
  if (salt.empty()) return secret_;
  if (iterations <= 0 || keylen <= 0 || keylen > 1024)
    throw std::invalid_argument("WAMP-CRA challenge with a salt but bad iterations/keylen");
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
