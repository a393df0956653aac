// A router::Directory for server tests: the one valid ticket is "good" (an admin), and no board
// exists. Header-only.
#pragma once

#include <functional>
#include <string>

#include "cloud-conductor/router/directory.hpp"

namespace ew::testing {

class TicketDirectory final : public router::Directory {
 public:
  void LookupBoard(const std::string&, std::function<void(Result<router::BoardIdentity>)> done) override {
    done(NotFound("none"));
  }
  void VerifyToken(const std::string& token, std::function<void(Result<auth::Principal>)> done) override {
    if (token == "good") return done(auth::Principal{"u", "admin", "", auth::Role::kAdmin, "", 0});
    done(Unauthenticated("bad"));
  }
  void BoardProject(const std::string&, std::function<void(Result<std::string>)> done) override {
    done(NotFound("none"));
  }
  void BoardSeen(const std::string&) override {}
};

}  // namespace ew::testing
