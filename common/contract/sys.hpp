// ew.board.<id>.sys.*: what a board is and whether it answers. Replies are proto3 JSON of
// edgewire.v1.SysInfo / PingReply (common/proto/edgewire/v1/board_rpc.proto) in kwargs:
// lowerCamelCase, every field printed, int64 as strings, bytes as base64, built without
// protobuf (the agent does not link it; tests/device-agent/proto3_conformance_test.cpp holds
// the mapping to libprotobuf's).
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "common/contract/procedure.hpp"

namespace ew::contract::sys {

// sys.ping: args[0] = the string or bytes to echo (optional).
struct PingRequest {
  std::string echo;
  wamp::Payload ToPayload() const;
  static Result<PingRequest> Parse(const wamp::Payload& payload);
};

// kwargs = PingReply{boardTimeNs, boardId, echo}.
struct PingReply {
  int64_t board_time_ns = 0;
  std::string board_id;
  std::string echo;
  wamp::Payload ToPayload() const;
  static Result<PingReply> Parse(const wamp::Payload& payload);
};

struct GpioChipSummary {
  std::string name;
  std::string backend;
  uint32_t lines = 0;
  uint32_t used = 0;
  std::string error;
  std::vector<std::string> line_names;  // by offset
};

// edgewire.v1.SpoolStreamSummary: one stream of the agent's spool.
struct SpoolStreamSummary {
  std::string name;
  std::string policy;
  int64_t records = 0;
  int64_t bytes = 0;
  int64_t first_seq = 0;
  int64_t next_seq = 0;
  int64_t dropped_oldest = 0;
  int64_t refused = 0;
  int64_t corrupt_records = 0;
};

// edgewire.v1.SessionSummary: the agent's session with the conductor.
struct SessionSummary {
  std::string state;
  std::string last_disconnect_reason;
  int64_t connections = 0;
};

// The fields of edgewire.v1.SysInfo, as a plain struct. kwargs of the sys.info reply.
struct SysInfo {
  std::string board_id;
  std::string agent_version;
  std::string hostname;
  std::string os;        // PRETTY_NAME from /etc/os-release
  std::string kernel;    // uname -r
  std::string machine;   // uname -m
  std::string hardware;  // device-tree model or DMI product name
  double uptime_seconds = 0;
  double agent_uptime_seconds = 0;
  std::vector<double> load_average;  // 1, 5 and 15 minutes; empty when unreadable
  int64_t memory_total_bytes = 0;
  int64_t memory_available_bytes = 0;
  int64_t agent_rss_bytes = 0;
  int32_t cpu_count = 0;
  std::string container_runtime;
  // How function limits are enforced ({"memory", "pids", "cpu", "uid"}: the mechanism, "" when
  // not enforced; edgewire.v1.ContainerLimits); null without a runtime.
  nlohmann::json container_limits;
  std::vector<GpioChipSummary> gpio_chips;
  std::vector<SpoolStreamSummary> spool_streams;
  std::optional<SessionSummary> session;  // a message field: absent when unset
  // Each directory the agent cannot write: "<what> <dir>: <why>" (read-only or full disk); empty
  // when all are fine. The board keeps serving; what needs the directory fails with this reason.
  std::vector<std::string> storage_problems;
  // The installed edgewire-agent package's version as the update helper last recorded it
  // (issue 16); "" when the board was never updated over the air.
  std::string package_version;
  // The agent's [functions] max_running (containers at once): placement's per-board cap. 0 = not
  // reported (an older agent): no cap.
  int32_t functions_max_running = 0;

  // Proto3 JSON object, every field present (defaults included), so callers always see the
  // same keys; equal to what MessageToJsonString prints with always_print_primitive_fields.
  nlohmann::json ToJson() const;
  wamp::Payload ToPayload() const;
  static Result<SysInfo> Parse(const wamp::Payload& payload);
};

// sys.restart / sys.reboot reply: kwargs = SysActionReply{action, delayMs}.
struct SysActionReply {
  std::string action;  // "restart" or "reboot"
  int64_t delay_ms = 0;
  wamp::Payload ToPayload() const;
  static Result<SysActionReply> Parse(const wamp::Payload& payload);
};

// sys.logs: kwargs = LogsRequest{lines}; 0 or absent = kDefaultLogLines, else 1 .. kMaxLogLines.
struct LogsRequest {
  static constexpr int32_t kDefaultLogLines = 100;
  static constexpr int32_t kMaxLogLines = 1000;
  int32_t lines = kDefaultLogLines;
  wamp::Payload ToPayload() const;
  static Result<LogsRequest> Parse(const wamp::Payload& payload);
};

// What one answer carries of the log (issue 14 review): a line can quote untrusted input of any
// length, and a sys.logs reply or a sys.log batch must stay far below the router's frame bound
// (1 MiB) whatever the board logged. Both sides apply it: the agent before it sends, the
// conductor to what an older agent sends.
inline constexpr size_t kMaxLogLineBytes = 4096;          // a longer line is cut, kLogCutMarker appended
inline constexpr size_t kMaxLogAnswerBytes = 256 * 1024;  // the lines of one reply or batch, together
inline constexpr char kLogCutMarker[] = " [line cut]";

// Which lines stay when the lines do not fit kMaxLogAnswerBytes: the oldest (follow mode sends
// the rest in its next batch) or the newest (sys.logs asks for the newest).
enum class KeepLines { kOldest, kNewest };
struct FittedLogLines {
  size_t kept = 0;     // lines left in the vector
  size_t dropped = 0;  // lines removed to fit the answer's bytes
  size_t cut = 0;      // kept lines shortened to kMaxLogLineBytes (marker included)
};
// Cuts every line longer than `max_line_bytes` (at a UTF-8 character boundary, then the marker)
// and removes lines, oldest or newest first as `keep` says, until the rest fit `max_bytes`; at
// least one line stays when there was one.
FittedLogLines FitLogLines(std::vector<std::string>& lines, KeepLines keep, size_t max_line_bytes = kMaxLogLineBytes,
                           size_t max_bytes = kMaxLogAnswerBytes);

// kwargs = LogsReply{lines, capacity, nextSeq, cut, omitted}. nextSeq: the number of the next line
// the agent will log (follow mode's LogBatch.firstSeq counts on from there), so a client that
// follows and also asked for the recent lines can drop what it has already shown. cut: lines
// shortened to kMaxLogLineBytes; omitted: older lines asked for but left out to stay within
// kMaxLogAnswerBytes.
struct LogsReply {
  std::vector<std::string> lines;
  int32_t capacity = 0;
  int64_t next_seq = 0;
  int64_t cut = 0;
  int64_t omitted = 0;
  wamp::Payload ToPayload() const;
  static Result<LogsReply> Parse(const wamp::Payload& payload);
};

// sys.logs.follow / sys.logs.unfollow reply: kwargs = LogFollowReply{following, nextSeq}.
struct LogFollowReply {
  bool following = false;
  int64_t next_seq = 0;
  wamp::Payload ToPayload() const;
  static Result<LogFollowReply> Parse(const wamp::Payload& payload);
};

// ew.board.<id>.sys.log: kwargs = LogBatch{lines, firstSeq, skipped, cut}: the lines logged since
// the previous batch (numbered firstSeq, firstSeq+1, ...); skipped = lines the board dropped
// before sending them (its ring overflowed or the batch rate cap held them back too long);
// cut = lines of this batch shortened to kMaxLogLineBytes. A batch's lines fit
// kMaxLogAnswerBytes: what does not fit comes in the next batch.
struct LogBatch {
  static constexpr size_t kMaxLines = 200;  // per batch: the follow mode's rate bound
  std::vector<std::string> lines;
  int64_t first_seq = 0;
  int64_t skipped = 0;
  int64_t cut = 0;
  wamp::Payload ToPayload() const;
  static Result<LogBatch> Parse(const wamp::Payload& payload);
};

inline constexpr BoardProcedure<Empty, SysInfo> kInfo{"sys.info"};
inline constexpr BoardProcedure<PingRequest, PingReply> kPing{"sys.ping"};
// Board management (issue 16). sys.restart: the agent leaves its session and exits so that
// systemd starts it again. sys.reboot: the agent runs the board's configured reboot command
// (off unless [system] reboot_command is set). sys.logs: the agent's recent log lines.
inline constexpr BoardProcedure<Empty, SysActionReply> kRestart{"sys.restart"};
inline constexpr BoardProcedure<Empty, SysActionReply> kReboot{"sys.reboot"};
inline constexpr BoardProcedure<LogsRequest, LogsReply> kLogs{"sys.logs"};
// Follow mode (issue 16): while followed, the board publishes its new log lines on kLogTopic, in
// batches at a bounded rate; unfollow (or the end of the session) stops it. Idempotent.
inline constexpr BoardProcedure<Empty, LogFollowReply> kLogsFollow{"sys.logs.follow"};
inline constexpr BoardProcedure<Empty, LogFollowReply> kLogsUnfollow{"sys.logs.unfollow"};
inline constexpr BoardTopic<LogBatch> kLogTopic{"sys.log"};

}  // namespace ew::contract::sys
