// Runs the cloud partitions of flows deployed with cloud "conductor" in the same C++ flow runtime
// boards use (flows/runtime, flows/nodes), one FlowRuntime + CloudFlowHost per flow, joined to the
// board partitions over the same ew.flow.<flow>.wire.* topics through the router's flow hooks
// (BoardGateway::OnFlowPublication / PublishFlowEvent): what boards publish on a wire the cloud
// partition takes in reaches it in the router's own strand, without a WAMP session of its own.
// Inbound messages go through a WireOrder per flow (in order per (wire, publisher), duplicates
// dropped), as on a board.
//
// The runtimes run on a thread of their own (not the conductor's io thread): a flow with a fast
// inject or a heavy change chain delays only other cloud flows, never REST, board sessions or
// the router. It mirrors a board's flow.deploy / flow.stop / flow.list: a version older than one
// it has seen is refused (Conflict), the same version again is a no-op.
//
// Threading: every public method is thread-safe and returns at once; `done` callbacks run on the
// runner's thread.
#pragma once

#include <chrono>
#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include <boost/asio/executor_work_guard.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/steady_timer.hpp>
#include <nlohmann/json.hpp>

#include "cloud-conductor/flows/cloud_flow_host.hpp"
#include "cloud-conductor/router/board_gateway.hpp"
#include "common/clock/clock.hpp"
#include "common/contract/flow.hpp"
#include "common/error/error.hpp"
#include "flows/runtime/flow_runtime.hpp"
#include "flows/runtime/wire_order.hpp"

namespace ew::conductor::flows {

struct CloudFlowRunnerOptions {
  ew::flows::runtime::RuntimeOptions runtime;       // per-node queue bound, as on boards
  ew::flows::runtime::WireOrderOptions wire_order;  // inbound gap handling, as on boards
  size_t max_flows = 256;                            // cloud partitions run at once
  int debug_per_second = 100;                        // CloudFlowHostOptions::debug_per_second
  // The publisher name on wires is "cloud:<run_id>" (CloudFlowHost explains why); "" = a random id.
  std::string run_id;
};

class CloudFlowRunner {
 public:
  // `gateway` and `clock` outlive the runner. Starts its thread; listens for flow publications.
  CloudFlowRunner(router::BoardGateway& gateway, const Clock& clock, FlowInvoker invoker,
                  CloudFlowRunnerOptions options = {});
  // Stops every flow and joins the thread.
  ~CloudFlowRunner();
  CloudFlowRunner(const CloudFlowRunner&) = delete;
  CloudFlowRunner& operator=(const CloudFlowRunner&) = delete;

  using StateDone = std::function<void(Result<contract::flow::FlowState>)>;
  // Runs `partition` (a cloud partition's JSON, board ""), replacing an older version of its flow.
  // InvalidArgument (bad partition, a node the runtime cannot build, naming it), Conflict (older
  // than a version seen), ResourceExhausted (max_flows); a node that fails to start leaves the flow
  // recorded as failed (state kFailed, the error in `done`).
  void Deploy(nlohmann::json partition, StateDone done);
  // Stops the flow's partition; NotFound when it runs none.
  void Stop(const std::string& flow_id, StateDone done);
  // What runs, as a board's flow.list.
  void List(std::function<void(contract::flow::ListReply)> done);

  const std::string& from() const { return from_; }

 private:
  struct Running;

  Result<contract::flow::FlowState> DeployNow(const nlohmann::json& partition_json);
  void TearDown(const std::string& flow_id);
  void OnWire(const std::string& topic, const wamp::Payload& payload);
  void ExpireGaps();

  router::BoardGateway& gateway_;
  const Clock& clock_;
  FlowInvoker invoker_;
  CloudFlowRunnerOptions options_;
  std::string from_;
  boost::asio::io_context io_{1};
  boost::asio::executor_work_guard<boost::asio::io_context::executor_type> work_;
  boost::asio::steady_timer gap_timer_;
  std::map<std::string, std::unique_ptr<Running>> flows_;  // by flow id; runner thread only
  std::map<std::string, uint64_t> seen_;                   // newest version seen; runner thread only
  // Wire topics the cloud partitions take in → flow id: read by the router's listener.
  std::mutex inbound_mu_;
  std::map<std::string, std::string> inbound_;  // GUARDED_BY(inbound_mu_)
  std::shared_ptr<bool> alive_ = std::make_shared<bool>(true);
  std::thread thread_;  // last: starts once everything above exists
};

}  // namespace ew::conductor::flows
