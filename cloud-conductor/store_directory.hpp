// The router's Directory on top of the registry: store lookups run on the blocking pool and
// answer on the router's executor. Every token that opens a session gets its expiry watched by
// the RevocationHub, so that the session ends when the token expires.
#pragma once

#include <mutex>
#include <string>
#include <vector>

#include <boost/asio/any_io_executor.hpp>
#include <boost/asio/thread_pool.hpp>

#include "cloud-conductor/auth/authenticator.hpp"
#include "cloud-conductor/auth/revocation_hub.hpp"
#include "cloud-conductor/registry/store.hpp"
#include "cloud-conductor/router/directory.hpp"

namespace ew::conductor {

class StoreDirectory final : public router::Directory {
 public:
  StoreDirectory(registry::Store& store, auth::Authenticator& auth, const Clock& clock,
                 boost::asio::thread_pool& blocking, boost::asio::any_io_executor router_executor,
                 auth::RevocationHub* revocations = nullptr);

  void LookupBoard(const std::string& board_id, std::function<void(Result<router::BoardIdentity>)> done) override;
  void VerifyToken(const std::string& token, std::function<void(Result<auth::Principal>)> done) override;
  void BoardProject(const std::string& board_id, std::function<void(Result<std::string>)> done) override;
  void BoardSeen(const std::string& board_id) override;

 private:
  // Runs `work` on the pool and hands its result to `done` on the router's executor.
  template <typename T>
  void Run(std::function<Result<T>()> work, std::function<void(Result<T>)> done);

  registry::Store& store_;
  auth::Authenticator& auth_;
  const Clock& clock_;
  boost::asio::thread_pool& blocking_;
  boost::asio::any_io_executor router_executor_;
  auth::RevocationHub* revocations_;
  // Boards seen since the last last_seen write: a herd of joins (a conductor restart brings
  // thousands) is one transaction on the pool, not a write per board queued ahead of the
  // lookups the next joins wait for.
  std::mutex seen_mutex_;
  std::vector<std::string> seen_;  // GUARDED_BY(seen_mutex_); non-empty = a flush is queued
};

}  // namespace ew::conductor
