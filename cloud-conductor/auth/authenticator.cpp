// API tokens and password logins for REST and the router's "ticket" authentication. The store
// keeps only the SHA-256 of a token; a wrong name and a wrong password look and time the same.
#include "cloud-conductor/auth/authenticator.hpp"

#include <iterator>
#include <string_view>

#include "common/ids/ids.hpp"
#include "common/log/log.hpp"

namespace ew::auth {

const ew::log::Logger Log{"auth"};

namespace {

// Token texts start with this so that they are recognisable in configs and leak scanners.
constexpr std::string_view kTokenPrefix = "ewt_";
constexpr size_t kTokenSecretBytes = 32;
constexpr std::chrono::seconds kMaxTtl = std::chrono::hours(24 * 30);

// A real PBKDF2 hash (of a password nobody uses) with the same cost as stored hashes: checking it
// when the user does not exist makes a login for an unknown name take as long as a wrong password.
constexpr std::string_view kDummyHash =
    "pbkdf2-sha256$100000$Em0TmppguPoLJ8jLNtzzDA==$izGQZSO0IPAgCiPTba14jjT/fY3DIpMqNBcidRASHm0=";

const char kBadLogin[] = "wrong user name or password";
const char kBadToken[] = "invalid or expired token";

template <typename Map, typename Pred>
void EraseIf(Map& map, Pred pred) {
  for (auto it = map.begin(); it != map.end();) it = pred(*it) ? map.erase(it) : std::next(it);
}

// Issued tokens are the prefix and 43 characters (32 bytes, base64url); anything much longer is
// refused before it is hashed (a header may be 64 KiB, and the io thread hashes what it gets).
constexpr size_t kMaxTokenChars = 128;

bool LooksLikeToken(const std::string& token) {
  return token.size() > kTokenPrefix.size() && token.size() <= kMaxTokenChars &&
         token.compare(0, kTokenPrefix.size(), kTokenPrefix) == 0;
}

}  // namespace

Authenticator::Authenticator(registry::Store& store, const Clock& clock, std::chrono::seconds lifetime)
    : store_(store), clock_(clock), lifetime_(lifetime) {}

std::optional<Principal> Authenticator::VerifiedRecently(const std::string& token) {
  if (!LooksLikeToken(token)) return std::nullopt;
  return Recall(ids::Sha256Hex(token));
}

std::optional<Principal> Authenticator::Recall(const std::string& sha256) {
  std::lock_guard lock(verified_mu_);
  auto it = verified_.find(sha256);
  if (it == verified_.end()) return std::nullopt;
  const int64_t expires_at = it->second.who.token_expires_at;
  if (clock_.Steady() - it->second.verified_at >= kVerifiedFor || (expires_at != 0 && expires_at <= UnixSeconds(clock_.Now()))) {
    verified_.erase(it);
    return std::nullopt;
  }
  return it->second.who;
}

void Authenticator::Remember(const std::string& sha256, const Principal& who, uint64_t invalidations) {
  std::lock_guard lock(verified_mu_);
  if (invalidations != invalidations_) return;
  const auto now = clock_.Steady();
  if (verified_.size() >= kMaxVerified) {
    EraseIf(verified_, [&](const auto& entry) { return now - entry.second.verified_at >= kVerifiedFor; });
    if (verified_.size() >= kMaxVerified) verified_.clear();  // a flood of callers: start over
  }
  verified_.insert_or_assign(sha256, Verified{who, now});
}

Result<Principal> Authenticator::VerifyToken(const std::string& token) {
  if (!LooksLikeToken(token)) return Unauthenticated(kBadToken);
  const std::string sha256 = ids::Sha256Hex(token);
  if (auto who = Recall(sha256)) return *who;
  uint64_t invalidations;
  {
    std::lock_guard lock(verified_mu_);
    invalidations = invalidations_;
  }
  auto record = store_.FindToken(sha256, UnixSeconds(clock_.Now()));
  if (!record) {
    if (record.error().code == ErrorCode::kNotFound) return Unauthenticated(kBadToken);
    return tl::unexpected(record.error());
  }
  auto user = store_.GetUser(record->user_id());
  if (!user) {
    // The user was deleted between the two reads: its tokens are gone with it.
    if (user.error().code == ErrorCode::kNotFound) return Unauthenticated(kBadToken);
    return tl::unexpected(user.error());
  }
  // Roles are checked when a user is created; a stored role this build does not know fails
  // closed rather than granting anything.
  auto role = ParseUserRole(user->role());
  if (!role) return Internal("user " + user->id() + " has an unknown role \"" + user->role() + "\"");
  Principal who{user->id(), user->name(), user->project_id(), *role, record->id(), record->expires_at()};
  Remember(sha256, who, invalidations);
  return who;
}

Result<IssuedToken> Authenticator::IssueToken(const std::string& username, const std::string& password,
                                              std::chrono::seconds ttl) {
  if (ttl < std::chrono::seconds::zero()) return InvalidArgument("ttlSeconds must not be negative");
  const bool never_expire = lifetime_ <= std::chrono::seconds::zero();
  const std::chrono::seconds longest = never_expire ? kMaxTtl : lifetime_;
  if (ttl > longest)
    return InvalidArgument("ttlSeconds must not exceed the conductor's token lifetime (" +
                           std::to_string(longest.count()) + ")");
  if (ttl == std::chrono::seconds::zero()) ttl = lifetime_;

  auto user = store_.GetUserByName(username);
  if (!user) {
    if (user.error().code != ErrorCode::kNotFound) return tl::unexpected(user.error());
    ids::VerifyPassword(password, kDummyHash);
    return Unauthenticated(kBadLogin);
  }
  EW_TRY(std::string hash, store_.GetPasswordHash(user->id()));
  if (!ids::VerifyPassword(password, hash)) return Unauthenticated(kBadLogin);

  const int64_t now = UnixSeconds(clock_.Now());
  IssuedToken issued;
  issued.token = std::string(kTokenPrefix) + ids::NewSecret(kTokenSecretBytes);
  issued.record.set_id(ids::NewId("tok"));
  issued.record.set_user_id(user->id());
  issued.record.set_created_at(now);
  // 0 = never: only when the operator configured tokens that never expire.
  issued.record.set_expires_at(ttl > std::chrono::seconds::zero() ? now + ttl.count() : 0);
  issued.user = std::move(*user);
  EW_TRY_VOID(store_.CreateToken(issued.record, ids::Sha256Hex(issued.token)));
  Log()->info("token {} issued to user {} ({}), {}", issued.record.id(), issued.user.name(),
                         issued.user.id(),
                         ttl > std::chrono::seconds::zero() ? "expires in " + std::to_string(ttl.count()) + "s"
                                                            : std::string("never expires"));
  return issued;
}

Result<std::string> Authenticator::RevokeToken(const std::string& token) {
  if (!LooksLikeToken(token)) return Unauthenticated(kBadToken);
  auto record = store_.FindToken(ids::Sha256Hex(token), UnixSeconds(clock_.Now()));
  if (!record) {
    if (record.error().code == ErrorCode::kNotFound) return Unauthenticated(kBadToken);
    return tl::unexpected(record.error());
  }
  auto deleted = store_.DeleteToken(record->id());
  // Revoked concurrently by another request: the outcome the caller wanted.
  if (!deleted && deleted.error().code != ErrorCode::kNotFound) return tl::unexpected(deleted.error());
  {
    std::lock_guard lock(verified_mu_);
    ++invalidations_;
    EraseIf(verified_, [&](const auto& entry) { return entry.second.who.token_id == record->id(); });
  }
  Log()->info("token {} of user {} revoked", record->id(), record->user_id());
  return record->id();
}

Result<void> Authenticator::DeleteUser(const std::string& id) {
  EW_TRY_VOID(store_.DeleteUser(id));
  std::lock_guard lock(verified_mu_);
  ++invalidations_;
  EraseIf(verified_, [&](const auto& entry) { return entry.second.who.user_id == id; });
  return Ok();
}

bool Authenticator::CanAccessProject(const Principal& who, const std::string& project_id) {
  if (who.is_admin()) return true;
  return !who.project_id.empty() && who.project_id == project_id;
}

}  // namespace ew::auth
