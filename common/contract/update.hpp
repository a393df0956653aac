// Agent updates over the air (issue 16): the conductor asks a board to install an agent .deb
// (sys.update), the board fetches it over its own session (ew.conductor.update.fetch, chunk by
// chunk, like function packages) and reports how far it got (ew.conductor.update.report). The
// install itself is done by a root helper on the board (deploy/scripts/edgewire-agent-update),
// which also rolls back; docs/ARCHITECTURE.md "Agent updates".
#pragma once

#include <cstdint>
#include <string>
#include <string_view>

#include "common/contract/fn.hpp"
#include "common/contract/procedure.hpp"

namespace ew::contract::update {

// Where one board is in a rollout. pending (not asked yet) → fetching (sys.update accepted, the
// package is on its way) → installing (verified and staged for the root helper) → online (the new
// agent joined and said so) | rolled-back (the new agent did not join within the deadline: the
// helper put the previous package back) | failed (refused, fetch or install error, or silence).
enum class UpdateState { kPending, kFetching, kInstalling, kOnline, kRolledBack, kFailed };
std::string_view Name(UpdateState state);  // "pending", "fetching", "installing", "online", "rolled-back", "failed"
Result<UpdateState> ParseUpdateState(std::string_view text);
// online, rolled-back and failed: nothing follows.
bool IsFinal(UpdateState state);

// Bounds both sides check.
inline constexpr int64_t kMinDeadlineSeconds = 10;
inline constexpr int64_t kMaxDeadlineSeconds = 3600;
inline constexpr uint64_t kMaxPackageBytes = 64ull << 20;
// An Ed25519 signature (RFC 8032) over a package's bytes: what the board's update helper checks
// against its trusted keys before it installs anything (docs/SECURITY.md "Agent updates").
inline constexpr size_t kSignatureBytes = 64;

// sys.update: kwargs {updateId, sha256, size, version, deadlineSeconds, signature}. updateId is an
// id the conductor made ([A-Za-z0-9_-], 1..64): it names the staged file on the board. signature
// is standard base64 of the kSignatureBytes raw signature; absent only from a conductor older
// than signed updates, whose request the board then refuses (it installs signed packages only).
struct UpdateRequest {
  std::string update_id;
  std::string sha256;  // 64 lowercase hex digits
  uint64_t size = 0;   // 1 .. kMaxPackageBytes
  std::string version;  // the package's Version, for logs and the board's status
  int64_t deadline_seconds = 120;
  std::string signature;  // raw, kSignatureBytes; "" = none sent
  wamp::Payload ToPayload() const;
  static Result<UpdateRequest> Parse(const wamp::Payload& payload);
};

// sys.update reply and ew.conductor.update.report request: kwargs {updateId, state, message,
// agentVersion, packageVersion}. The versions are the reporting agent's own (the binary's, and
// the installed package's when the board knows it).
struct UpdateReport {
  std::string update_id;
  UpdateState state = UpdateState::kFetching;
  std::string message;
  std::string agent_version;
  std::string package_version;
  wamp::Payload ToPayload() const;
  static Result<UpdateReport> Parse(const wamp::Payload& payload);
};

// ew.conductor.update.fetch: kwargs {updateId, offset, length}; the reply is fn.fetch's (chunk
// bytes in args[0], {size}). Only a board the update is addressed to gets its bytes.
struct FetchRequest {
  std::string update_id;
  uint64_t offset = 0;
  uint64_t length = 0;  // 1 .. 256 KiB
  wamp::Payload ToPayload() const;
  static Result<FetchRequest> Parse(const wamp::Payload& payload);
};

// Replies {} (the report was taken, or ignored for an update the conductor does not track).
struct ReportReply {
  wamp::Payload ToPayload() const { return {}; }
  static Result<ReportReply> Parse(const wamp::Payload&) { return ReportReply{}; }
};

inline constexpr BoardProcedure<UpdateRequest, UpdateReport> kUpdate{"sys.update"};
inline constexpr ConductorProcedure<FetchRequest, fn::FetchReply> kFetch{"ew.conductor.update.fetch"};
inline constexpr ConductorProcedure<UpdateReport, ReportReply> kReport{"ew.conductor.update.report"};

// True for an update id the board may use as a file name.
bool IsUpdateId(std::string_view id);

}  // namespace ew::contract::update
