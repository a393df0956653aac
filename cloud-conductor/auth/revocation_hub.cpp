#include "cloud-conductor/auth/revocation_hub.hpp"

#include <vector>

#include <boost/asio/post.hpp>
#include <boost/asio/strand.hpp>

#include "common/log/log.hpp"

namespace ew::auth {

const ew::log::Logger Log{"auth"};

RevocationHub::RevocationHub(boost::asio::any_io_executor timers, const Clock& clock)
    : timers_(boost::asio::make_strand(std::move(timers))), clock_(clock) {}

RevocationHub::~RevocationHub() {
  alive_.reset();
  std::lock_guard lock(mu_);
  expiries_.clear();  // cancels the timers; their handlers see `alive` expired
}

uint64_t RevocationHub::Subscribe(Listener listener) {
  std::lock_guard lock(mu_);
  const uint64_t id = next_id_++;
  listeners_.emplace(id, std::make_shared<Listener>(std::move(listener)));
  return id;
}

void RevocationHub::Unsubscribe(uint64_t id) {
  std::lock_guard lock(mu_);
  listeners_.erase(id);
}

void RevocationHub::Revoke(const Revocation& revocation) {
  std::vector<std::shared_ptr<Listener>> listeners;
  if (revocation.kind == Revocation::Kind::kToken) {
    // Timers are touched only on their strand: cancel the expiry there.
    boost::asio::post(timers_, [this, id = revocation.id, alive = std::weak_ptr<bool>(alive_)] {
      if (alive.expired()) return;
      std::lock_guard lock(mu_);
      expiries_.erase(id);
    });
  }
  {
    std::lock_guard lock(mu_);
    listeners.reserve(listeners_.size());
    for (const auto& [id, listener] : listeners_) listeners.push_back(listener);
  }
  Log()->info("{} {}: {}; ending its live sessions and streams",
                         revocation.kind == Revocation::Kind::kToken ? "token" : "user", revocation.id,
                         revocation.message);
  // Outside the lock: a listener may subscribe or unsubscribe (a stream that ends).
  for (const auto& listener : listeners) (*listener)(revocation);
}

void RevocationHub::ExpireAt(const std::string& token_id, int64_t expires_at) {
  if (expires_at <= 0 || token_id.empty()) return;
  boost::asio::post(timers_, [this, token_id, expires_at, alive = std::weak_ptr<bool>(alive_)] {
    if (alive.expired()) return;
    std::lock_guard lock(mu_);
    if (expiries_.count(token_id)) return;
    const auto at = std::chrono::system_clock::time_point(std::chrono::seconds(expires_at));
    const auto left = std::max(Clock::TimePoint::duration::zero(), at - clock_.Now());
    auto timer = std::make_unique<boost::asio::steady_timer>(
        timers_, std::chrono::duration_cast<std::chrono::steady_clock::duration>(left));
    timer->async_wait([this, token_id, alive](const boost::system::error_code& ec) {
      if (!ec && !alive.expired()) Expired(token_id);
    });
    expiries_.emplace(token_id, std::move(timer));
  });
}

void RevocationHub::Expired(const std::string& token_id) {
  {
    std::lock_guard lock(mu_);
    if (!expiries_.count(token_id)) return;  // revoked meanwhile
    expiries_.erase(token_id);  // on the strand, in the timer's own handler: safe
  }
  Revocation expired;
  expired.kind = Revocation::Kind::kToken;
  expired.id = token_id;
  expired.reason_uri = "ew.close.token_expired";
  expired.message = "the API token expired";
  Revoke(expired);
}

size_t RevocationHub::ListenerCount() const {
  std::lock_guard lock(mu_);
  return listeners_.size();
}

size_t RevocationHub::PendingExpiries() const {
  std::lock_guard lock(mu_);
  return expiries_.size();
}

}  // namespace ew::auth
