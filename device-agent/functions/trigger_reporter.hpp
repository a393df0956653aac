// Outcomes of trigger invocations on their way to the conductor (ew.conductor.fn.report):
// each is stored in the spool stream "fn.report" the moment it is known, sent in order in
// batches (one function per call) whenever a session is up, and acknowledged in the spool only
// once the conductor has answered. Each record carries its spool seq (and the spool's id), and the
// conductor stores a seq once: a report whose answer was lost in a network cut is sent again and
// not recorded twice. So an outcome survives the conductor being away, the agent
// being killed, and the two together; the stream's bound and drop policy say what happens when
// the conductor is away for too long (docs/FUNCTIONS.md).
//
// Threading: io thread only (Report, Flush, callbacks); the spool does its disk work on its
// own writer thread.
#pragma once

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <memory>
#include <string>

#include <nlohmann/json.hpp>

#include "device-agent/rpc/conductor_client.hpp"
#include "device-agent/spool/async_spool.hpp"

namespace ew::agent::functions {

inline constexpr const char* kReportStream = "fn.report";

struct TriggerReporterOptions {
  size_t reports_per_call = 50;                   // records in one ew.conductor.fn.report call
  size_t report_budget = 1u << 20;                // msgpack bytes the records of one call may take
  std::chrono::milliseconds call_timeout{10'000};
  // The stream's bound: the newest outcomes are kept, the oldest dropped and counted.
  spool::StreamLimits limits{16ull << 20, 10'000, spool::DropPolicy::kDropOldest};
};

class TriggerReporter {
 public:
  // `spool` outlives the reporter.
  TriggerReporter(spool::AsyncSpool& spool, TriggerReporterOptions options);
  ~TriggerReporter() { alive_.reset(); }

  // The session that reaches the conductor; null = none yet. Must outlive the reporter.
  void SetConductor(rpc::ConductorClient* conductor) { conductor_ = conductor; }

  // Stores the outcome `record` of a trigger invocation of `function_id` (already fitted to
  // report_budget) and sends what is waiting.
  void Report(const std::string& function_id, nlohmann::json record);
  // Sends what is waiting, if nothing is being sent: call when a session comes up.
  void Flush();

  // Outcomes stored and not yet acknowledged by the conductor; dropped for room so far.
  uint64_t Pending() const;
  uint64_t Dropped() const;

 private:
  // The records peeked, as (seq, function id, record); batches the leading run of one function.
  void Send(std::vector<spool::Record> records);

  spool::AsyncSpool& spool_;
  TriggerReporterOptions options_;
  rpc::ConductorClient* conductor_ = nullptr;
  bool sending_ = false;  // a peek or a report call is under way
  bool again_ = false;    // something was stored meanwhile: look again when it ends
  // Liveness token (docs/ARCHITECTURE.md, "Lifetime"): spool and call handlers run on the io
  // thread, where the reporter is destroyed.
  std::shared_ptr<bool> alive_ = std::make_shared<bool>(true);
};

}  // namespace ew::agent::functions
