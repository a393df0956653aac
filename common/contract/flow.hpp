// Distributed flows across the board contract (docs/ARCHITECTURE.md "Flows"): ew.board.<id>.
// flow.{deploy,stop,list}, which the conductor calls, and ew.conductor.flow.sync and
// ew.conductor.fn.invoke, which boards call (after joining; for an edgewire-function node).
//
// A partition travels as a JSON object: its typed mapping (flows/model/partition_json) lives in
// flows/, which depends on common/ and not the other way round. The contract checks it is an
// object; the board's PartitionFromJson validates the rest.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "common/contract/procedure.hpp"
#include "common/contract/states.hpp"

namespace ew::contract::flow {

// flow.deploy request: kwargs = the partition JSON ({flow, version, board, nodes, ...}).
struct DeployRequest {
  nlohmann::json partition = nlohmann::json::object();
  wamp::Payload ToPayload() const;
  static Result<DeployRequest> Parse(const wamp::Payload& payload);
};

// flow.deploy and flow.stop reply: {flow, version, state} (a FlowRunState name).
// Every field is optional and checked when present: the conductor records a deploy the board
// answered as done whatever else it said (Issue #11: keep what can be kept of a board's words).
struct FlowState {
  std::string flow;
  int64_t version = 0;
  std::optional<FlowRunState> state;  // absent when the board did not say
  wamp::Payload ToPayload() const;
  static Result<FlowState> Parse(const wamp::Payload& payload);
};

// flow.stop request: {flow} (non-empty).
struct StopRequest {
  std::string flow;
  wamp::Payload ToPayload() const;
  static Result<StopRequest> Parse(const wamp::Payload& payload);
};

// One flow.list entry: {flow, version, state, nodes, spooled, dropped, error?}. flow and version
// are required; the counts are 0 and state/error empty when absent.
struct ListedFlow {
  std::string flow;
  int64_t version = 0;
  FlowRunState state = FlowRunState::kRunning;  // kRunning when absent
  uint64_t nodes = 0;
  uint64_t spooled = 0;  // wire messages waiting in the board's spool
  uint64_t dropped = 0;  // messages dropped (spool full, runtime queues)
  std::string error;     // why a failed flow failed
};

// flow.list reply: {flows: [...]}.
struct ListReply {
  std::vector<ListedFlow> flows;
  wamp::Payload ToPayload() const;
  static Result<ListReply> Parse(const wamp::Payload& payload);
};

// A flow a board runs, as it tells the conductor when it joins.
struct HeldFlow {
  std::string flow;
  int64_t version = 0;
};

// ew.conductor.flow.sync request: {flows: [{flow, version}]}; flows may be absent or null
// (nothing held).
struct SyncRequest {
  std::vector<HeldFlow> flows;
  wamp::Payload ToPayload() const;
  static Result<SyncRequest> Parse(const wamp::Payload& payload);
};

// ew.conductor.flow.sync reply: {deploy: [partition JSON objects], stop: [flow ids]}; each list
// empty when absent.
struct SyncReply {
  std::vector<nlohmann::json> deploy;
  std::vector<std::string> stop;
  wamp::Payload ToPayload() const;
  static Result<SyncReply> Parse(const wamp::Payload& payload);
};

// ew.conductor.fn.invoke request: {function, placement, event, timeout_ms}. function is a
// non-empty name or id; placement a string ("auto" when absent, null or empty; the conductor
// checks it is auto, cloud or board:<id>); event any JSON (null when absent); timeout_ms a number
// of milliseconds in (0, kMaxInvokeTimeoutMs], absent or null for the conductor's default.
inline constexpr int64_t kMaxInvokeTimeoutMs = 3'600'000;
struct InvokeRequest {
  std::string function;
  std::string placement = "auto";
  nlohmann::json event;
  std::optional<int64_t> timeout_ms;
  wamp::Payload ToPayload() const;
  static Result<InvokeRequest> Parse(const wamp::Payload& payload);
};

// ew.conductor.fn.invoke reply: {result} (the function's output; null when absent). A function
// that failed or timed out is a WAMP error instead.
struct InvokeReply {
  nlohmann::json result;
  wamp::Payload ToPayload() const;
  static Result<InvokeReply> Parse(const wamp::Payload& payload);
};

inline constexpr BoardProcedure<DeployRequest, FlowState> kDeploy{"flow.deploy"};
inline constexpr BoardProcedure<StopRequest, FlowState> kStop{"flow.stop"};
inline constexpr BoardProcedure<Empty, ListReply> kList{"flow.list"};
inline constexpr ConductorProcedure<SyncRequest, SyncReply> kSync{"ew.conductor.flow.sync"};
inline constexpr ConductorProcedure<InvokeRequest, InvokeReply> kInvoke{"ew.conductor.fn.invoke"};

}  // namespace ew::contract::flow
