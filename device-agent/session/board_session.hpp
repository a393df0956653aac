// The board's Autobahn session: wamp_session plus the WAMP-CRA answer. Internal to
// ew_agent_session (includes Autobahn).
#pragma once

#include <memory>
#include <string>

#include <autobahn/boost_config.hpp>
#include <autobahn/wamp_session.hpp>

namespace ew::agent::session {

// The board's WAMP-CRA secret and a cache of its PBKDF2-derived key: deriving costs a large
// fraction of a second on a small board, and every reconnect would pay it again.
class CraKey {
 public:
  explicit CraKey(std::string secret) : secret_(std::move(secret)) {}
  // HMAC key for a challenge: the secret itself when `salt` is empty, else
  // base64(PBKDF2-HMAC-SHA256(secret, salt, iterations, keylen)) as Autobahn computes it.
  const std::string& KeyFor(const std::string& salt, int iterations, int keylen);

 private:
  std::string secret_;
  std::string salt_;
  int iterations_ = 0;
  int keylen_ = 0;
  std::string derived_;
};

class BoardSession : public autobahn::wamp_session {
 public:
  BoardSession(boost::asio::io_context& io, std::shared_ptr<CraKey> key);

  // Called by Autobahn on the io thread for a CHALLENGE. Throws (which fails the
  // connection) for any method but wampcra.
  boost::future<autobahn::wamp_authenticate> on_challenge(const autobahn::wamp_challenge& challenge) override;

 private:
  std::shared_ptr<CraKey> key_;
};

}  // namespace ew::agent::session
