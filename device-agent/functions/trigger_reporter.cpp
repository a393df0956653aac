// Store first, then send, then acknowledge: the order that loses nothing.
#include "device-agent/functions/trigger_reporter.hpp"

#include "common/log/log.hpp"
#include "common/wamp/conductor_procedures.hpp"

namespace ew::agent::functions {

namespace {

using nlohmann::json;

const ew::log::Logger Log{"functions"};

}  // namespace

TriggerReporter::TriggerReporter(spool::AsyncSpool& spool, TriggerReporterOptions options)
    : spool_(spool), options_(options) {
  if (auto configured = spool_.Configure(kReportStream, options_.limits); !configured)
    Log()->error("trigger outcomes: {}", configured.error().message);
}

void TriggerReporter::Report(const std::string& function_id, json record) {
  // msgpack, as it goes to the conductor: the record was fitted to the budget in that encoding.
  std::vector<uint8_t> bytes = json::to_msgpack(json{{"functionId", function_id}, {"record", std::move(record)}});
  std::weak_ptr<bool> alive = alive_;
  spool_.Append(kReportStream, std::string(bytes.begin(), bytes.end()), [self = this, alive, function_id](Result<uint64_t> seq) {
    if (alive.expired()) return;
    if (!seq) {
      Log()->error("trigger outcome of {} not stored: {}", function_id, seq.error().message);
      return;
    }
    self->Flush();
  });
}

void TriggerReporter::Flush() {
  if (!conductor_) return;
  if (sending_) {
    again_ = true;
    return;
  }
  sending_ = true;
  again_ = false;
  std::weak_ptr<bool> alive = alive_;
  spool_.Peek(kReportStream, 0, spool::PeekLimits{options_.reports_per_call, options_.report_budget},
              [self = this, alive](Result<std::vector<spool::Record>> records) {
                if (alive.expired()) return;
                if (!records || records->empty()) {
                  if (!records) Log()->error("trigger outcomes: {}", records.error().message);
                  self->sending_ = false;
                  // An outcome stored after this peek was queued asked for a look meanwhile.
                  if (records && self->again_) self->Flush();
                  return;
                }
                self->Send(std::move(*records));
              });
}

void TriggerReporter::Send(std::vector<spool::Record> records) {
  // One function per call: the conductor checks that it is deployed on this board.
  std::string function_id;
  json batch = json::array();
  json seqs = json::array();  // the conductor stores each seq once (a re-sent report)
  uint64_t last_seq = 0;
  size_t bytes = 0;
  for (const auto& stored : records) {
    json entry = json::from_msgpack(stored.data, true, false);
    if (entry.is_discarded() || !entry.contains("functionId") || !entry["functionId"].is_string() ||
        !entry.contains("record")) {
      // Written by this agent and CRC-checked, so only a bug gets here: skip it, never stall.
      Log()->error("trigger outcomes: record {} of the spool is not an outcome; skipped", stored.seq);
      if (!batch.empty()) break;
      last_seq = stored.seq;  // acknowledged with the batch that follows it
      continue;
    }
    const std::string id = entry["functionId"].get<std::string>();
    if (batch.empty() && function_id.empty()) function_id = id;
    if (id != function_id) break;
    if (!batch.empty() && bytes + stored.data.size() > options_.report_budget) break;
    bytes += stored.data.size();
    batch.push_back(std::move(entry["record"]));
    seqs.push_back(stored.seq);
    last_seq = stored.seq;
  }
  std::weak_ptr<bool> alive = alive_;
  auto acknowledge = [self = this, alive](uint64_t seq) {
    if (alive.expired()) return;
    self->spool_.Ack(kReportStream, seq, [self, alive](Result<void> acked) {
      if (alive.expired()) return;
      if (!acked) Log()->error("trigger outcomes: {}", acked.error().message);
      self->sending_ = false;
      self->Flush();
    });
  };
  if (batch.empty()) return acknowledge(last_seq);  // only unreadable records
  const size_t count = batch.size();
  rpc::Reply request;
  request.kwargs = {{"functionId", function_id},
                    {"records", std::move(batch)},
                    {"spool", spool_.id()},
                    {"seqs", std::move(seqs)}};
  conductor_->Call(wamp::kFnReportProcedure, std::move(request), options_.call_timeout,
                   [self = this, alive, function_id, count, last_seq, acknowledge](Result<rpc::Reply> reply) {
                     if (alive.expired()) return;
                     // Only a refusal that looked at the records drops them: anything else (no
                     // session, no answer, a call lost with its connection, a conductor whose
                     // store failed) may not have stored them, so they stay in the spool and the
                     // next Flush (the next outcome, the next session) sends them again; the
                     // conductor stores each seq once.
                     bool retry_later = false;
                     if (!reply) {
                       const ErrorCode code = reply.error().code;
                       retry_later = code != ErrorCode::kInvalidArgument && code != ErrorCode::kPermissionDenied &&
                                     code != ErrorCode::kConflict;
                     }
                     if (retry_later) {
                       self->sending_ = false;
                       return;
                     }
                     if (!reply) {
                       // Refused for good (e.g. the function was removed meanwhile): retrying
                       // would block every outcome behind these.
                       Log()->warn("{} trigger outcome(s) of {} not recorded by the conductor: {}", count, function_id,
                                   reply.error().message);
                     } else {
                       Log()->debug("{} trigger outcome(s) of {} reported (to seq {})", count, function_id, last_seq);
                     }
                     acknowledge(last_seq);
                   });
}

uint64_t TriggerReporter::Pending() const {
  auto stats = spool_.Stats(kReportStream);
  return stats ? stats->records : 0;
}

uint64_t TriggerReporter::Dropped() const {
  auto stats = spool_.Stats(kReportStream);
  return stats ? stats->dropped_oldest + stats->refused : 0;
}

}  // namespace ew::agent::functions
