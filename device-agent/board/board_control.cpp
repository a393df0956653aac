// sys.restart / sys.reboot / sys.logs on the agent. The actions are delayed by a timer on the io
// thread so that the RESULT leaves first; the reboot command runs as a tracked child process
// (containers::ChildProcess) so that the agent's child reaper never steals its exit status.
#include "device-agent/board/board_control.hpp"

#include <atomic>
#include <thread>

#include "common/contract/sys.hpp"
#include "common/log/log.hpp"
#include "common/log/recent_lines.hpp"
#include "containers/runtime/child_process.hpp"

extern char** environ;

namespace ew::agent::board {

namespace {
const ew::log::Logger Log{"agent"};
namespace sys = contract::sys;
}  // namespace

BoardControl::BoardControl(boost::asio::io_context& io, BoardControlOptions options,
                           std::function<void(int)> request_exit)
    : io_(io), options_(std::move(options)), request_exit_(std::move(request_exit)), timer_(io), follow_timer_(io) {}

BoardControl::~BoardControl() {
  timer_.cancel();
  follow_timer_.cancel();
  // A reboot command still running holds the agent's exit until it ends (a reboot's command,
  // `systemctl reboot`, returns once the reboot is queued).
  if (reboot_waiter_.joinable()) reboot_waiter_.join();
}

rpc::ProcedureTable BoardControl::Procedures() {
  rpc::ProcedureTable table;
  table.push_back({sys::kRestart.suffix, rpc::Sync([this](const rpc::Request&) { return Restart(); })});
  table.push_back({sys::kReboot.suffix, rpc::Sync([this](const rpc::Request&) { return Reboot(); })});
  table.push_back({sys::kLogs.suffix, rpc::Sync([this](const rpc::Request& request) { return Logs(request); })});
  table.push_back({sys::kLogsFollow.suffix, rpc::Sync([this](const rpc::Request&) { return Follow(); })});
  table.push_back({sys::kLogsUnfollow.suffix, rpc::Sync([this](const rpc::Request&) { return Unfollow(); })});
  return table;
}

Result<rpc::Reply> BoardControl::Restart() {
  if (action_pending_->load()) return Conflict("a restart or reboot of this board is already under way");
  action_pending_->store(true);
  Log()->warn("sys.restart: the agent exits in {} ms for systemd to start it again", options_.action_delay.count());
  timer_.expires_after(options_.action_delay);
  timer_.async_wait([this](const boost::system::error_code& ec) {
    if (!ec) request_exit_(kRestartExitStatus);
  });
  sys::SysActionReply reply{"restart", options_.action_delay.count()};
  return reply.ToPayload();
}

Result<rpc::Reply> BoardControl::Reboot() {
  if (options_.reboot_command.empty())
    return Unavailable(
                 "this board does not reboot on request: set [system] reboot_command in its agent.toml");
  if (action_pending_->load()) return Conflict("a restart or reboot of this board is already under way");
  action_pending_->store(true);
  Log()->warn("sys.reboot: running the reboot command in {} ms", options_.action_delay.count());
  timer_.expires_after(options_.action_delay);
  timer_.async_wait([this](const boost::system::error_code& ec) {
    if (!ec) RunRebootCommand();
  });
  sys::SysActionReply reply{"reboot", options_.action_delay.count()};
  return reply.ToPayload();
}

void BoardControl::RunRebootCommand() {
  containers::SpawnOptions spawn;
  // The command's output is not read: the shell points it at /dev/null before running it (with
  // our pipe ends closed, a command that writes would die of SIGPIPE before it rebooted).
  spawn.argv = {"/bin/sh", "-c", "exec </dev/null >/dev/null 2>&1; " + options_.reboot_command};
  for (char** e = environ; *e != nullptr; ++e) spawn.env.emplace_back(*e);
  auto child = containers::ChildProcess::Spawn(spawn);
  if (!child) {
    Log()->error("sys.reboot: cannot run the reboot command: {}", child.error().message);
    action_pending_->store(false);
    return;
  }
  (*child)->CloseStdin();
  (*child)->CloseStdout();
  (*child)->CloseStderr();
  // Waiting blocks, so on a thread of its own, which shares only the flag: a command that fails
  // lets a later sys.reboot try again.
  // The previous command ended (else this request would have been refused): its thread is done
  // or about to be.
  if (reboot_waiter_.joinable()) reboot_waiter_.join();
  reboot_waiter_ = std::thread([pending = action_pending_, process = std::shared_ptr<containers::ChildProcess>(std::move(*child))] {
    process->Wait();
    const int status = process->exit_code();
    if (status == 0) {
      Log()->info("sys.reboot: the reboot command finished");
    } else {
      Log()->error("sys.reboot: the reboot command failed with status {}", status);
      pending->store(false);
    }
  });
}

Result<rpc::Reply> BoardControl::Logs(const rpc::Request& request) const {
  EW_TRY(sys::LogsRequest parsed, sys::LogsRequest::Parse(request));
  sys::LogsReply reply;
  uint64_t next_seq = 0;
  reply.lines = ew::log::RecentLines(static_cast<size_t>(parsed.lines), &next_seq);
  // Bounded whatever was logged: long lines cut, the oldest left out past the reply's bytes.
  const sys::FittedLogLines fitted = sys::FitLogLines(reply.lines, sys::KeepLines::kNewest);
  reply.cut = static_cast<int64_t>(fitted.cut);
  reply.omitted = static_cast<int64_t>(fitted.dropped);
  reply.capacity = options_.log_capacity;
  reply.next_seq = static_cast<int64_t>(next_seq);
  return reply.ToPayload();
}

Result<rpc::Reply> BoardControl::Follow() {
  if (options_.log_capacity <= 0) return Unavailable("this board keeps no log lines: [log] recent_lines is 0");
  follow_until_ = std::chrono::steady_clock::now() + options_.follow_lease;
  if (!following_) {
    following_ = true;
    follow_next_seq_ = ew::log::NextRecentLineSeq();
    Log()->info("sys.logs: followed, new lines go to {}", sys::kLogTopic.Uri(options_.board_id));
    follow_timer_.expires_after(options_.follow_interval);
    follow_timer_.async_wait([this](const boost::system::error_code& ec) {
      if (!ec) PublishNewLines();
    });
  }
  return sys::LogFollowReply{true, static_cast<int64_t>(follow_next_seq_)}.ToPayload();
}

Result<rpc::Reply> BoardControl::Unfollow() {
  StopFollowing("unfollowed");
  return sys::LogFollowReply{false, static_cast<int64_t>(ew::log::NextRecentLineSeq())}.ToPayload();
}

void BoardControl::OnDisconnected(const std::string&, std::chrono::milliseconds) {
  StopFollowing("the session ended");
}

void BoardControl::StopFollowing(const char* why) {
  if (!following_) return;
  following_ = false;
  follow_timer_.cancel();
  Log()->info("sys.logs: no longer followed ({})", why);
}

void BoardControl::PublishNewLines() {
  if (!following_) return;
  if (std::chrono::steady_clock::now() >= follow_until_) return StopFollowing("the follow lease ran out");
  auto page = ew::log::RecentLinesSince(follow_next_seq_, sys::LogBatch::kMaxLines);
  if (!page.lines.empty() || page.skipped > 0) {
    sys::LogBatch batch;
    batch.first_seq = static_cast<int64_t>(page.next_seq - page.lines.size());
    batch.skipped = static_cast<int64_t>(page.skipped);
    batch.lines = std::move(page.lines);
    // Long lines are cut; lines past the batch's bytes wait for the next tick (they are not
    // skipped): a batch always fits a frame, so the follow never sticks on a batch too large.
    const sys::FittedLogLines fitted = sys::FitLogLines(batch.lines, sys::KeepLines::kOldest);
    batch.cut = static_cast<int64_t>(fitted.cut);
    const uint64_t next = static_cast<uint64_t>(batch.first_seq) + fitted.kept;
    // Without a session the lines stay in the ring (and are skipped if it overflows first).
    if (conductor_ && conductor_->Publish(sys::kLogTopic.Uri(options_.board_id), batch.ToPayload()))
      follow_next_seq_ = next;
  }
  follow_timer_.expires_after(options_.follow_interval);
  follow_timer_.async_wait([this](const boost::system::error_code& ec) {
    if (!ec) PublishNewLines();
  });
}

}  // namespace ew::agent::board
