// sys.logs follow mode on the conductor's side (issue 16): clients that follow a board's log
// (REST's event stream, `edgewire board logs -f`) share one follow of the board. The first one
// asks the board to follow (sys.logs.follow), the conductor renews it while anyone follows (the
// board's follow lease), and the last one to leave unfollows. The board's ew.board.<id>.sys.log
// batches go to every follower; its session ending ends them.
//
// Threading: gateway hooks and call answers run on the router's strand; everything here is
// thread-safe and never blocks there.
#pragma once

#include <chrono>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <vector>

#include <boost/asio/any_io_executor.hpp>
#include <boost/asio/steady_timer.hpp>
#include <nlohmann/json.hpp>

#include "cloud-conductor/router/board_gateway.hpp"

namespace ew::conductor::agents {

struct LogFollowOptions {
  // Below the board's follow lease (60 s by default), so that a live follow never lapses.
  std::chrono::milliseconds renew_interval{20'000};
  std::chrono::milliseconds call_timeout{10'000};
  // Follows one user may hold at once, over all boards (issue 14 review): each is a stream the
  // conductor feeds and may hold up to its backlog of batches for; a user cannot open them without
  // bound. 0 = no cap.
  size_t max_follows_per_user = 8;
};

// Where a follower's lines go. Both run on the router's strand and must not block.
struct LogListener {
  // One sys.log batch: {lines, firstSeq, skipped, cut} (numbers as JSON numbers), within the
  // bounds of contract::sys (kMaxLogLineBytes, kMaxLogAnswerBytes) whatever the board sent.
  std::function<void(const nlohmann::json& batch)> on_batch;
  // Once, when the follow ends without Close(): the board went offline or the conductor stops.
  std::function<void(const std::string& reason)> on_end;
};

class LogFollow {
 public:
  class Follower;

  LogFollow(router::BoardGateway& gateway, boost::asio::any_io_executor executor, LogFollowOptions options = {});
  ~LogFollow();

  // Installs the gateway hooks; call once, before boards connect.
  void Start();
  // Ends every follower (on_end) and stops renewing. Later Follow calls fail with Unavailable.
  void Shutdown();

  // Adds a follower of `board_id` for `user_id`. `done` gets it once the board follows (at once
  // when it already does), or ResourceExhausted (the user holds max_follows_per_user follows
  // already; nothing changes), Unavailable (offline), NotFound (an agent without follow mode), or
  // the board's error. `done` runs on the router's strand or the caller's thread.
  void Follow(const std::string& board_id, const std::string& user_id, LogListener listener,
              std::function<void(Result<std::shared_ptr<Follower>>)> done);

  size_t FollowerCount() const;
  // Follows `user_id` holds now (waiting for the board's answer included).
  size_t FollowsOf(const std::string& user_id) const;

 private:
  struct Shared;
  void Renew();
  std::shared_ptr<Shared> shared_;
  router::BoardGateway& gateway_;
  LogFollowOptions options_;
  boost::asio::steady_timer renew_timer_;
};

class LogFollow::Follower {
 public:
  // Stops the lines; the last follower of a board unfollows it. on_end is not called.
  // Thread-safe; later calls do nothing.
  void Close();
  const std::string& board_id() const { return board_id_; }

 private:
  friend class LogFollow;
  std::weak_ptr<LogFollow::Shared> shared_;
  std::string board_id_;
  std::string user_id_;
  LogListener listener_;
  bool closed_ = false;  // GUARDED_BY(Shared::mu); closed followers no longer count for their user
};

}  // namespace ew::conductor::agents
