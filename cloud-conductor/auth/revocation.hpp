// A credential that stopped being valid while sessions or streams opened with it may still be
// live: an API token revoked or expired, a user deleted. Announced through a RevocationHub;
// the router and the GPIO event streams end what was opened with it.
#pragma once

#include <string>

namespace ew::auth {

struct Revocation {
  enum class Kind {
    kToken,  // id = API token id (ApiToken.id, "tok-…"), never the token text
    kUser,   // id = user id: every token of the user, whatever it was opened with
  };
  Kind kind = Kind::kToken;
  std::string id;
  // The WAMP close reason sessions get: "ew.close.revoked" or "ew.close.token_expired".
  std::string reason_uri = "ew.close.revoked";
  // For people and logs ("the API token was revoked"); never a secret.
  std::string message;

  // Whether a session or stream opened with token `token_id` by user `user_id` must end.
  bool Covers(const std::string& token_id, const std::string& user_id) const {
    if (id.empty()) return false;
    return kind == Kind::kToken ? id == token_id : id == user_id;
  }
};

}  // namespace ew::auth
