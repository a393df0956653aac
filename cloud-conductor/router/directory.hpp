// What the router asks the registry while authenticating sessions. The conductor implements it
// on the blocking pool; callbacks must come back on the router's executor. Router tests use a
// fake that answers inline.
#pragma once

#include <functional>
#include <string>

#include "cloud-conductor/auth/principal.hpp"
#include "common/error/error.hpp"
#include "edgewire/v1/registry.pb.h"

namespace ew::router {

struct BoardIdentity {
  edgewire::v1::BoardCredential credential;
  std::string project_id;
};

class Directory {
 public:
  virtual ~Directory() = default;
  // NotFound for an unknown or unenrolled board.
  virtual void LookupBoard(const std::string& board_id, std::function<void(Result<BoardIdentity>)> done) = 0;
  // Unauthenticated for a bad token.
  virtual void VerifyToken(const std::string& token, std::function<void(Result<auth::Principal>)> done) = 0;
  // Project of a board (for subscriptions to its topics); NotFound when it does not exist.
  virtual void BoardProject(const std::string& board_id, std::function<void(Result<std::string>)> done) = 0;
  // A board's session ended or began: record last_seen. Fire and forget.
  virtual void BoardSeen(const std::string& board_id) = 0;
};

}  // namespace ew::router
