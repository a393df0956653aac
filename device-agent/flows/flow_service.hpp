// The board's flow procedures ew.board.<id>.flow.{deploy,stop,list} (flows contract): runs each
// deployed partition in a FlowRuntime on the agent's io thread, with an AgentFlowHost for GPIO,
// functions, cross wires, debug and status. Partitions are kept on disk (<state_dir>/<flow>.json,
// with the newest version seen of each flow, stopped ones included), so a restarted agent resumes
// its flows before — and without — a session, and never runs a version older than one it has
// seen (deploy of an older one: Conflict). After each join it calls ew.conductor.flow.sync with
// what it runs and applies the deploys and stops the conductor answers.
#pragma once

#include <chrono>
#include <filesystem>
#include <map>
#include <memory>
#include <string>

#include <boost/asio/io_context.hpp>
#include <boost/asio/steady_timer.hpp>

#include "common/contract/flow.hpp"
#include "common/clock/clock.hpp"
#include "common/gpio/chip_set.hpp"
#include "device-agent/flows/agent_flow_host.hpp"
#include "device-agent/flows/wire_outbox.hpp"
#include "device-agent/rpc/conductor_client.hpp"
#include "device-agent/rpc/procedure.hpp"
#include "device-agent/session/session_observer.hpp"
#include "device-agent/spool/async_spool.hpp"
#include "flows/model/partition.hpp"
#include "flows/runtime/flow_runtime.hpp"
#include "flows/runtime/wire_order.hpp"

namespace ew::agent::flows {

struct FlowServiceOptions {
  std::string board_id;
  std::filesystem::path state_dir = "/var/lib/edgewire/flows";
  ew::flows::runtime::RuntimeOptions runtime;        // per-node queue bound
  ew::flows::runtime::WireOrderOptions wire_order;   // inbound gap handling
  std::chrono::milliseconds sync_timeout{30'000};    // ew.conductor.flow.sync
  size_t max_flows = 64;                             // partitions one board runs at once
  std::chrono::milliseconds wire_resume_delay{1500};  // WireOutboxOptions::resume_delay
};

class FlowService : public session::SessionObserver {
 public:
  // `chips` and `clock` outlive the service. Io thread.
  FlowService(boost::asio::io_context& io, FlowServiceOptions options, const ew::gpio::ChipSet& chips, const Clock& clock);
  ~FlowService() override;

  // Before Restore(); must outlive the service. Null spool: cross-wire messages wait in memory.
  void SetConductor(rpc::ConductorClient* conductor) { conductor_ = conductor; }
  void SetSpool(spool::AsyncSpool* spool) { spool_ = spool; }

  // Starts the partitions recorded on disk. Internal when the state directory cannot be made;
  // a flow that fails to start is logged and listed as "failed".
  Result<void> Restore();

  rpc::ProcedureTable Procedures();

  void OnReady(const std::string& url, uint64_t session_id) override;
  void OnDisconnected(const std::string& reason, std::chrono::milliseconds retry_in) override;

  // The procedures' work, for tests and sync. Io thread.
  Result<rpc::Reply> Deploy(const nlohmann::json& partition_json);
  Result<rpc::Reply> Stop(const std::string& flow);
  Result<rpc::Reply> List() const;
  // A cross-wire event (topic, args [msg], kwargs {seq, from, version}). Io thread.
  void OnWireEvent(const std::string& flow, const rpc::Request& event);

  size_t running() const;

 private:
  struct Running {
    ew::flows::Partition partition;
    contract::FlowRunState state = contract::FlowRunState::kRunning;
    std::string error;
    std::unique_ptr<WireOutbox> outbox;
    std::unique_ptr<AgentFlowHost> host;
    std::unique_ptr<ew::flows::runtime::FlowRuntime> runtime;
    std::unique_ptr<ew::flows::runtime::WireOrder> order;
  };

  Result<void> Start(ew::flows::Partition partition);
  void Teardown(const std::string& flow, bool discard_spooled);
  Result<void> Persist(const std::string& flow) const;
  std::filesystem::path PathOf(const std::string& flow) const;
  void Sync();
  void ExpireGaps();
  contract::flow::ListedFlow Describe(const Running& r) const;

  boost::asio::io_context& io_;
  FlowServiceOptions options_;
  const ew::gpio::ChipSet& chips_;
  const Clock& clock_;
  rpc::ConductorClient* conductor_ = nullptr;
  spool::AsyncSpool* spool_ = nullptr;
  bool online_ = false;
  std::map<std::string, Running> flows_;          // by flow id
  std::map<std::string, uint64_t> seen_;          // newest version seen, by flow id
  boost::asio::steady_timer gap_timer_;
  bool gap_armed_ = false;
  std::shared_ptr<bool> alive_ = std::make_shared<bool>(true);
};

}  // namespace ew::agent::flows
