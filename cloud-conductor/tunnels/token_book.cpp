#include "cloud-conductor/tunnels/token_book.hpp"

#include "common/ids/ids.hpp"

namespace ew::conductor::tunnels {

std::string TokenBook::Issue(TokenGrant grant) {
  std::string token = ids::NewSecret(32);
  grant.expires_at = clock_.Now() + ttl_;
  grants_[ids::Sha256Hex(token)] = std::move(grant);
  return token;
}

Result<TokenGrant> TokenBook::Redeem(const std::string& token, const std::string& board_id) {
  auto it = grants_.find(ids::Sha256Hex(token));
  if (it == grants_.end()) return PermissionDenied("unknown or already used tunnel token");
  TokenGrant grant = std::move(it->second);
  grants_.erase(it);
  if (clock_.Now() >= grant.expires_at) return PermissionDenied("tunnel token expired");
  if (grant.board_id != board_id)
    return PermissionDenied("tunnel token presented for board \"" + board_id + "\", not the board it was issued to");
  return grant;
}

bool TokenBook::Forget(const std::string& token) { return grants_.erase(ids::Sha256Hex(token)) > 0; }

std::vector<TokenGrant> TokenBook::Expire() {
  std::vector<TokenGrant> out;
  const auto now = clock_.Now();
  for (auto it = grants_.begin(); it != grants_.end();) {
    if (now >= it->second.expires_at) {
      out.push_back(std::move(it->second));
      it = grants_.erase(it);
    } else {
      ++it;
    }
  }
  return out;
}

}  // namespace ew::conductor::tunnels
