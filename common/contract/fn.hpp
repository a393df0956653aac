// Functions across the board contract (docs/FUNCTIONS.md): ew.board.<id>.fn.{deploy,remove,
// list,invoke}, which the conductor calls, and ew.conductor.fn.{fetch,report}, which boards call
// (a package chunk by chunk; outcomes of invocations the board ran by itself).
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "common/contract/procedure.hpp"
#include "common/contract/states.hpp"
#include "common/gpio/trigger_spec.hpp"

namespace ew::contract::fn {

// The records a report carries at most (ew.conductor.fn.report).
inline constexpr size_t kMaxReportedRecords = 100;

// One function a board runs, as the board records it (deployments.json) and answers it:
// {functionId, name, version, sha256, triggers}. `name` comes from the package's function.json.
struct DeployedFunction {
  std::string function_id;
  std::string name;
  std::string version;
  std::string sha256;
  std::vector<ew::gpio::TriggerSpec> triggers;  // GPIO edges that invoke the function on the board
  nlohmann::json ToJson() const;
  // `what` names the message in errors. functionId is required; the other fields are checked
  // when present and empty when absent (a board's answers are informative: the conductor knows
  // what it asked for, and older agents answered less).
  static Result<DeployedFunction> FromJson(const nlohmann::json& json, const char* what);
};

// fn.deploy request: {functionId, version, sha256, size, triggers?}. functionId is 1-64 of
// [A-Za-z0-9_.-], version 1-64 printable ASCII, sha256 64 lowercase hex digits, size > 0 (the
// board checks its own maximum).
struct DeployRequest {
  std::string function_id;
  std::string version;
  std::string sha256;
  uint64_t size = 0;
  std::vector<ew::gpio::TriggerSpec> triggers;
  wamp::Payload ToPayload() const;
  static Result<DeployRequest> Parse(const wamp::Payload& payload);
};

// fn.deploy reply: the DeployedFunction, whether the package was already in the board's cache,
// and the limits the board cannot enforce (one line each; absent when none). Every field is
// optional here (agents before the contract answered only cached and warnings) and a warning
// that is not a string is dropped: the conductor keeps what it can of an untrusted board's
// words (Issue #11) rather than failing a deployment that worked.
struct DeployReply {
  DeployedFunction function;
  bool cached = false;
  std::vector<std::string> warnings;
  wamp::Payload ToPayload() const;
  static Result<DeployReply> Parse(const wamp::Payload& payload);
};

// fn.remove and fn.invoke name a deployed function: {functionId}.
struct RemoveRequest {
  std::string function_id;
  wamp::Payload ToPayload() const;
  static Result<RemoveRequest> Parse(const wamp::Payload& payload);
};

// fn.remove reply: {functionId, removed: true}.
struct RemoveReply {
  std::string function_id;
  bool removed = true;
  wamp::Payload ToPayload() const;
  static Result<RemoveReply> Parse(const wamp::Payload& payload);
};

// One fn.list entry: a DeployedFunction and its instances on the board.
struct ListedFunction {
  DeployedFunction function;
  uint64_t warm_instances = 0;
  uint64_t running = 0;
  uint64_t queued = 0;
};

// fn.list reply: {functions: [...], runtime} (runtime: "runc", "bwrap", "none (<why>)").
struct ListReply {
  std::vector<ListedFunction> functions;
  std::string runtime;
  wamp::Payload ToPayload() const;
  static Result<ListReply> Parse(const wamp::Payload& payload);
};

// fn.invoke request: {functionId, event}. The event is any JSON value (null when absent); it
// reaches the function's stdin as JSON text.
struct InvokeRequest {
  std::string function_id;
  nlohmann::json event;
  wamp::Payload ToPayload() const;
  static Result<InvokeRequest> Parse(const wamp::Payload& payload);
};

// An invocation record (docs/FUNCTIONS.md: status, output, error, logs, exitCode, runtime,
// cold, queueMs, runMs, boardId, ...): its status typed, the rest kept as the record the
// conductor stores and answers. fn.invoke's reply is one in kwargs; a board never reports
// kRunning.
struct InvocationRecord {
  InvocationStatus status = InvocationStatus::kFailed;
  nlohmann::json record = nlohmann::json::object();  // includes "status", kept in step by ToJson
  nlohmann::json ToJson() const;
  static Result<InvocationRecord> FromJson(const nlohmann::json& json, const char* what);
  wamp::Payload ToPayload() const;
  static Result<InvocationRecord> Parse(const wamp::Payload& payload);
};

// ew.conductor.fn.fetch request: {sha256, offset, length}; length > 0 (the conductor checks
// its own maximum).
struct FetchRequest {
  std::string sha256;
  uint64_t offset = 0;
  uint64_t length = 0;
  wamp::Payload ToPayload() const;
  static Result<FetchRequest> Parse(const wamp::Payload& payload);
};

// ew.conductor.fn.fetch reply: args[0] = the chunk's bytes (msgpack bin), kwargs {size} = the
// whole package's size.
struct FetchReply {
  std::vector<uint8_t> bytes;
  uint64_t size = 0;
  wamp::Payload ToPayload() const;
  static Result<FetchReply> Parse(const wamp::Payload& payload);
};

// ew.conductor.fn.report request: {functionId, records: [1..kMaxReportedRecords objects],
// spool?, seqs?}. Records are the board's invocation records plus "trigger" (the event) and "at"
// (unix seconds on the board's clock); the conductor normalizes their status. `seqs` (with
// `spool`, the board's spool identity, 1-64 of [A-Za-z0-9_-]) are the records' seqs in the
// board's "fn.report" spool stream, one per record, increasing: the conductor stores each once,
// so a report re-sent after its answer was lost is not recorded twice. Without them (older
// agents) every record is stored.
struct ReportRequest {
  std::string function_id;
  std::vector<nlohmann::json> records;
  std::string spool;
  std::vector<uint64_t> seqs;  // empty, or one per record
  wamp::Payload ToPayload() const;
  static Result<ReportRequest> Parse(const wamp::Payload& payload);
};

// ew.conductor.fn.report reply: {stored}.
struct ReportReply {
  uint64_t stored = 0;
  wamp::Payload ToPayload() const;
  static Result<ReportReply> Parse(const wamp::Payload& payload);
};

inline constexpr BoardProcedure<DeployRequest, DeployReply> kDeploy{"fn.deploy"};
inline constexpr BoardProcedure<RemoveRequest, RemoveReply> kRemove{"fn.remove"};
inline constexpr BoardProcedure<Empty, ListReply> kList{"fn.list"};
inline constexpr BoardProcedure<InvokeRequest, InvocationRecord> kInvoke{"fn.invoke"};
inline constexpr ConductorProcedure<FetchRequest, FetchReply> kFetch{"ew.conductor.fn.fetch"};
inline constexpr ConductorProcedure<ReportRequest, ReportReply> kReport{"ew.conductor.fn.report"};

}  // namespace ew::contract::fn
