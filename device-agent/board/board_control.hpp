// Board management procedures (issue 16): sys.restart, sys.reboot and sys.logs, on the board
// contract (common/contract/sys.hpp). The conductor reaches them through REST
// (/v1/boards/{id}/restart|reboot|logs) for operators and admins only (docs/SECURITY.md).
#pragma once

#include <atomic>
#include <chrono>
#include <functional>
#include <memory>
#include <string>
#include <thread>

#include <boost/asio/io_context.hpp>
#include <boost/asio/steady_timer.hpp>

#include "device-agent/rpc/conductor_client.hpp"
#include "device-agent/rpc/procedure.hpp"
#include "device-agent/session/session_observer.hpp"

namespace ew::agent::board {

struct BoardControlOptions {
  // sys.reboot runs this with /bin/sh -c; "" = sys.reboot answers Unavailable (the default).
  std::string reboot_command;
  // The board answers first and acts this much later, so that the reply reaches the caller
  // before the session goes away.
  std::chrono::milliseconds action_delay{500};
  // The ring of recent log lines (ew::log::KeepRecentLines), reported in LogsReply.capacity.
  int32_t log_capacity = 0;
  // Follow mode (sys.logs.follow): new lines go out on ew.board.<board_id>.sys.log at most
  // LogBatch::kMaxLines per follow_interval (800 lines/s by default); more wait for the next
  // batch, and what the ring drops meanwhile is counted as skipped.
  std::string board_id;
  std::chrono::milliseconds follow_interval{250};
  // A follow ends by itself this long after the last sys.logs.follow unless renewed (the
  // conductor renews while someone follows), and always with the session: a conductor that
  // forgot the follower does not leave the board publishing.
  std::chrono::milliseconds follow_lease{60'000};
};

class BoardControl : public session::SessionObserver {
 public:
  // Exit status of an agent restarted by sys.restart: EX_TEMPFAIL. The unit lists it in
  // RestartForceExitStatus= (systemd starts the agent again) and SuccessExitStatus= (the
  // restart is not recorded as a failure).
  static constexpr int kRestartExitStatus = 75;

  // `request_exit(status)` asks the daemon to leave its session and exit with `status`; it is
  // called on the io thread, once, action_delay after sys.restart answered.
  BoardControl(boost::asio::io_context& io, BoardControlOptions options, std::function<void(int)> request_exit);
  ~BoardControl();

  // sys.restart, sys.reboot, sys.logs, sys.logs.follow, sys.logs.unfollow. Handlers run on the
  // io thread and never block it: the reboot command runs on a thread of its own, which logs its
  // exit status.
  rpc::ProcedureTable Procedures();

  // Where follow mode publishes; must outlive this. Io thread.
  void SetConductor(rpc::ConductorClient* conductor) { conductor_ = conductor; }
  // Follow mode ends with the session. Io thread.
  void OnDisconnected(const std::string& reason, std::chrono::milliseconds retry_in) override;

  // Procedure bodies, for tests. Restart and Reboot schedule their action and answer at once;
  // a second call while one is pending is a Conflict.
  Result<rpc::Reply> Restart();
  Result<rpc::Reply> Reboot();
  Result<rpc::Reply> Logs(const rpc::Request& request) const;
  Result<rpc::Reply> Follow();
  Result<rpc::Reply> Unfollow();
  bool following() const { return following_; }

 private:
  void RunRebootCommand();
  // Publishes what was logged since the last batch; rearms itself while following. Io thread.
  void PublishNewLines();
  void StopFollowing(const char* why);

  boost::asio::io_context& io_;
  BoardControlOptions options_;
  std::function<void(int)> request_exit_;
  boost::asio::steady_timer timer_;
  rpc::ConductorClient* conductor_ = nullptr;
  boost::asio::steady_timer follow_timer_;
  bool following_ = false;
  uint64_t follow_next_seq_ = 0;
  std::chrono::steady_clock::time_point follow_until_;
  // Shared with the thread that waits for the reboot command.
  std::shared_ptr<std::atomic<bool>> action_pending_ = std::make_shared<std::atomic<bool>>(false);
  // That thread: joined before the next command starts and by the destructor, so it never runs
  // (and logs) past this object, nor past the process's exit.
  std::thread reboot_waiter_;
};

}  // namespace ew::agent::board
