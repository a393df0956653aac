// WAMP names of distributed flows (flows contract), named once for the conductor and the agent.
#pragma once

namespace ew::wamp {

// Board procedures, under ew.board.<board>.: kwargs = partition JSON → {flow, version, state};
// {flow} → {}; → {flows: [{flow, version, state, nodes, spooled, dropped}]}.
inline constexpr const char* kFlowDeploySuffix = "flow.deploy";
inline constexpr const char* kFlowStopSuffix = "flow.stop";
inline constexpr const char* kFlowListSuffix = "flow.list";

// Called by a board after it joins: {flows: [{flow, version}]} → {deploy: [partition...], stop: [flow...]}.
inline constexpr const char* kFlowSyncProcedure = "ew.conductor.flow.sync";
// Called by a board's edgewire-function node: {function, placement, event, timeout_ms} → {result}.
inline constexpr const char* kFnInvokeProcedure = "ew.conductor.fn.invoke";

}  // namespace ew::wamp
