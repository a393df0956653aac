#include "cloud-conductor/tunnels/proxy_session_book.hpp"

#include <algorithm>

#include "common/ids/ids.hpp"

namespace ew::conductor::tunnels {

Result<std::string> ProxySessionBook::Add(Entry entry, std::chrono::seconds ttl, std::chrono::seconds* lifetime) {
  SweepLocked();
  if (entries_.size() >= options_.max_entries)
    return ResourceExhausted("too many proxy logins and sessions open; try again later");
  const std::string& user = entry.grant.user_id;
  const size_t held = static_cast<size_t>(std::count_if(
      entries_.begin(), entries_.end(), [&user](const auto& e) { return e.second.grant.user_id == user; }));
  if (held >= options_.max_per_user)
    return ResourceExhausted("user " + user + " has " + std::to_string(held) +
                             " proxy login links and sessions open, the conductor's limit per user ([tunnels] "
                             "proxy_sessions_per_user); let some expire or revoke the token");
  const auto now = clock_.Now();
  auto expires = now + ttl;
  // Never past the API token the grant came from.
  if (entry.grant.token_expires_at > 0) {
    const auto token_end = Clock::TimePoint(std::chrono::seconds(entry.grant.token_expires_at));
    expires = std::min(expires, token_end);
  }
  if (expires <= now) return Unauthenticated("the API token has expired");
  entry.grant.expires_at = expires;
  if (lifetime) *lifetime = std::max(std::chrono::seconds(1), std::chrono::duration_cast<std::chrono::seconds>(expires - now));
  std::string secret = ids::NewSecret(32);
  entries_[ids::Sha256Hex(secret)] = std::move(entry);
  return secret;
}

void ProxySessionBook::SweepLocked() {
  const auto now = clock_.Now();
  for (auto it = entries_.begin(); it != entries_.end();) {
    it = now >= it->second.grant.expires_at ? entries_.erase(it) : std::next(it);
  }
}

Result<std::string> ProxySessionBook::IssueLogin(ProxyGrant grant) {
  std::lock_guard lock(mu_);
  return Add(Entry{false, std::move(grant)}, options_.login_ttl, nullptr);
}

Result<std::string> ProxySessionBook::RedeemLogin(const std::string& code, const std::string& board_id, uint16_t port,
                                                  std::chrono::seconds* lifetime) {
  std::lock_guard lock(mu_);
  auto it = entries_.find(ids::Sha256Hex(code));
  if (it == entries_.end() || it->second.is_session) return Unauthenticated("unknown or already used proxy login link");
  Entry entry = std::move(it->second);
  entries_.erase(it);  // spent, whatever follows
  if (clock_.Now() >= entry.grant.expires_at) return Unauthenticated("proxy login link expired: ask for a new one");
  if (entry.grant.board_id != board_id || entry.grant.port != port)
    return Unauthenticated("this proxy login link is for another board or port");
  entry.is_session = true;
  return Add(std::move(entry), options_.session_ttl, lifetime);
}

Result<ProxyGrant> ProxySessionBook::Check(const std::string& session, const std::string& board_id, uint16_t port) {
  std::lock_guard lock(mu_);
  auto it = entries_.find(ids::Sha256Hex(session));
  if (it == entries_.end() || !it->second.is_session) return Unauthenticated("unknown or ended proxy session");
  const ProxyGrant& grant = it->second.grant;
  if (clock_.Now() >= grant.expires_at) {
    entries_.erase(it);
    return Unauthenticated("proxy session expired: open a new login link");
  }
  if (grant.board_id != board_id || grant.port != port)
    return Unauthenticated("this proxy session is for another board or port");
  return grant;
}

size_t ProxySessionBook::Forget(const std::function<bool(const ProxyGrant&)>& covered) {
  std::lock_guard lock(mu_);
  size_t n = 0;
  for (auto it = entries_.begin(); it != entries_.end();) {
    if (covered(it->second.grant)) {
      it = entries_.erase(it);
      ++n;
    } else {
      ++it;
    }
  }
  return n;
}

size_t ProxySessionBook::size() const {
  std::lock_guard lock(mu_);
  return entries_.size();
}

}  // namespace ew::conductor::tunnels
