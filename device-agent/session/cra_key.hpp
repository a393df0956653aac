// The board's WAMP-CRA secret and the answer to a CHALLENGE. No Autobahn types: the runner
// parses CHALLENGE itself (see session_runner.cpp for why).
#pragma once

#include <cstdint>
#include <string>

#include "common/error/error.hpp"

namespace ew::agent::session {

// Bounds on what a CHALLENGE may ask the board to compute. The conductor issues 1,000 PBKDF2
// iterations and 32-byte keys (cloud-conductor/rest/enrol_resource.cpp); 1,000,000 iterations
// is already ~1 s of a small board's CPU, and beyond that a CHALLENGE is an attack (2^31
// iterations would hold the agent's only io thread for hours).
inline constexpr uint64_t kMaxCraIterations = 1'000'000;
inline constexpr uint64_t kMaxCraKeylen = 64;      // bytes; two SHA-256 blocks
inline constexpr size_t kMaxCraSaltBytes = 1024;

// Ok for an unsalted challenge (iterations and keylen then unused), or a salt of at most
// kMaxCraSaltBytes with 1..kMaxCraIterations iterations and a keylen of 1..kMaxCraKeylen.
// InvalidArgument naming the value and its bound otherwise.
ew::Result<void> CheckCraParameters(const std::string& salt, uint64_t iterations, uint64_t keylen);

class CraKey {
 public:
  explicit CraKey(std::string secret) : secret_(std::move(secret)) {}

  // Signature for a wampcra CHALLENGE: base64(HMAC-SHA256(key, challenge)), where key is the
  // secret itself when `salt` is empty, else base64(PBKDF2-HMAC-SHA256(secret, salt,
  // iterations, keylen)) — what Autobahn and the conductor compute. The derived key is cached:
  // PBKDF2 costs a large fraction of a second on a small board and every reconnect would pay.
  // Throws std::invalid_argument when CheckCraParameters refuses the parameters.
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
