// WAMP-CRA for the board session.
//
// Autobahn 17.5 attaches its AUTHENTICATE step to the future returned here with a default
// launch policy continuation, which runs on a new detached thread and captures a raw
// `this`. The future returned below keeps the session alive until that continuation has run,
// so a connection torn down meanwhile cannot leave the thread with a dangling session.
#include "device-agent/session/board_session.hpp"

#include <autobahn/wamp_auth_utils.hpp>
#include <autobahn/wamp_authenticate.hpp>
#include <autobahn/wamp_challenge.hpp>

namespace ew::agent::session {

const std::string& CraKey::KeyFor(const std::string& salt, int iterations, int keylen) {
  if (salt.empty()) return secret_;
  if (derived_.empty() || salt != salt_ || iterations != iterations_ || keylen != keylen_) {
    if (iterations <= 0 || keylen <= 0) throw std::runtime_error("WAMP-CRA challenge with a salt but no iterations/keylen");
    derived_ = ::derive_key(secret_, salt, iterations, keylen);
    salt_ = salt;
    iterations_ = iterations;
    keylen_ = keylen;
  }
  return derived_;
}

BoardSession::BoardSession(boost::asio::io_context& io, std::shared_ptr<CraKey> key)
    : autobahn::wamp_session(io, /*debug_enabled=*/false), key_(std::move(key)) {}

boost::future<autobahn::wamp_authenticate> BoardSession::on_challenge(const autobahn::wamp_challenge& challenge) {
  if (challenge.authmethod() != "wampcra")
    throw std::runtime_error("the router asked for authmethod \"" + challenge.authmethod() +
                             "\"; boards authenticate with wampcra");
  const std::string& key = key_->KeyFor(challenge.salt(), challenge.iterations(), challenge.keylen());
  std::string signature = ::compute_wcs(key, challenge.challenge());

  boost::promise<void> ready;
  ready.set_value();
  auto self = std::static_pointer_cast<BoardSession>(shared_from_this());
  return ready.get_future().then(boost::launch::sync, [self, signature](boost::future<void>) {
    return autobahn::wamp_authenticate(signature);
  });
}

}  // namespace ew::agent::session
