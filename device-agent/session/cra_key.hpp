// The board's WAMP-CRA secret and the answer to a CHALLENGE. No Autobahn types: the runner
// parses CHALLENGE itself (see session_runner.cpp for why).
#pragma once

#include <string>

namespace ew::agent::session {

class CraKey {
 public:
  explicit CraKey(std::string secret) : secret_(std::move(secret)) {}

  // Signature for a wampcra CHALLENGE: base64(HMAC-SHA256(key, challenge)), where key is the
  // secret itself when `salt` is empty, else base64(PBKDF2-HMAC-SHA256(secret, salt,
  // iterations, keylen)) — what Autobahn and the conductor compute. The derived key is cached:
  // PBKDF2 costs a large fraction of a second on a small board and every reconnect would pay.
  // Throws std::invalid_argument for a salt without positive iterations/keylen.
  std::string Sign(const std::string& challenge, const std::string& salt, int iterations, int keylen);

 private:
  const std::string& KeyFor(const std::string& salt, int iterations, int keylen);

  std::string secret_;
  std::string salt_;
  int iterations_ = 0;
  int keylen_ = 0;
  std::string derived_;
};

}  // namespace ew::agent::session
