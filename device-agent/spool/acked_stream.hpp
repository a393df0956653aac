// One spool stream delivered with acknowledgement: every record is appended to the spool first,
// sent to the conductor through ew.conductor.publish (common/contract/publish.hpp) in batches, and
// leaves the spool only once the conductor's RESULT has said it was taken. A publication sent into
// a link that died silently is therefore not lost: its call fails (no session, or its timeout),
// and the records from the first unacknowledged one on are sent again, in order, on the next
// session. The conductor routes each (spool, stream, seq) once, so what it took before the cut is
// answered as a duplicate, not delivered twice.
//
// A window of `window` calls may be in flight at once (throughput over a link with latency); acks
// advance only over the leading run of answered calls, so the spool forgets records in order.
// The stream's bound and drop policy are the spool's (Configure); a record dropped there leaves a
// gap in seq that the conductor accepts.
//
// A conductor without ew.conductor.publish (older than the agent) answers "no such procedure":
// then the batch is published as before, without acknowledgement, and a warning says so once.
//
// Threading: io thread only; callbacks hold a liveness token (the spool and the session may
// answer after this object is gone).
#pragma once

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <deque>
#include <functional>
#include <memory>
#include <optional>
#include <string>

#include <boost/asio/io_context.hpp>
#include <boost/asio/steady_timer.hpp>

#include "common/contract/publish.hpp"
#include "device-agent/rpc/conductor_client.hpp"
#include "device-agent/spool/async_spool.hpp"

namespace ew::agent::spool {

struct AckedStreamOptions {
  size_t window = 4;                       // ew.conductor.publish calls in flight at once
  size_t records_per_call = 64;            // records in one call (<= contract kMaxRecords)
  size_t bytes_per_call = 256u << 10;      // spooled bytes in one call (at least one record)
  std::chrono::milliseconds call_timeout{10'000};
  // After a failed call while the session still stands (a timeout, a busy conductor): wait this
  // long, then send again from the first unacknowledged record.
  std::chrono::milliseconds retry_delay{1'000};
};

class AckedStream {
 public:
  // What subscribers get for a stored record; nullopt = unreadable (skipped and acknowledged).
  using Render = std::function<std::optional<rpc::Reply>(const Record& record)>;

  // `spool` outlives the stream; `stream` must be Configure'd by the caller (its limits).
  AckedStream(boost::asio::io_context& io, AsyncSpool& spool, std::string stream, std::string topic, Render render,
              AckedStreamOptions options = {});
  ~AckedStream();
  AckedStream(const AckedStream&) = delete;
  AckedStream& operator=(const AckedStream&) = delete;

  // The session that reaches the conductor; null = none. Must outlive the stream.
  void SetConductor(rpc::ConductorClient* conductor) { conductor_ = conductor; }
  // Stores `data` as the next record and sends it as soon as the window allows. `done`
  // (optional) gets the seq or the spool's error, on the io thread.
  void Append(std::string data, AsyncSpool::AppendDone done = nullptr);
  // A session is up: sending (re)starts at the first unacknowledged record. Down: sending stops;
  // answers of calls made in the old session are ignored.
  void SetOnline(bool online);
  // Acknowledges everything stored so far without sending it (the flow was replaced).
  void Discard();

  const std::string& stream() const { return stream_; }
  const std::string& topic() const { return topic_; }
  uint64_t acked_seq() const { return acked_seq_; }  // highest seq the conductor took (this run)
  uint64_t routed() const { return routed_; }         // records the conductor routed for us
  uint64_t duplicates() const { return duplicates_; } // records it had taken already (re-sent)
  uint64_t refused() const { return refused_; }       // records it refused for good (dropped)
  uint64_t resends() const { return resends_; }       // times sending restarted from the ack
  size_t in_flight() const { return in_flight_.size(); }
  // Records stored and not yet acknowledged.
  uint64_t pending() const;

 private:
  struct Batch {
    uint64_t last_seq = 0;
    bool answered = false;
  };
  void Pump();
  void SendBatch(std::vector<Record> records);
  void OnAnswer(uint64_t generation, uint64_t last_seq, size_t count, Result<rpc::Reply> reply);
  // Fallback for a conductor without ew.conductor.publish: plain PUBLISHes, no acknowledgement.
  Result<rpc::Reply> PublishUnacknowledged(const contract::publish::PublishRequest& request);
  void AckAnsweredPrefix();
  // Forgets the calls in flight and starts again after the last acknowledged record.
  void Rewind();

  boost::asio::io_context& io_;
  AsyncSpool& spool_;
  const std::string stream_;
  const std::string topic_;
  Render render_;
  AckedStreamOptions options_;
  rpc::ConductorClient* conductor_ = nullptr;

  bool online_ = false;
  bool peeking_ = false;
  uint64_t generation_ = 0;  // bumped by Rewind: answers of older calls are ignored
  uint64_t sent_seq_ = 0;    // highest seq sent in this generation (Peek after it)
  uint64_t acked_seq_ = 0;   // highest seq acknowledged in the spool
  std::deque<Batch> in_flight_;
  boost::asio::steady_timer retry_timer_;
  uint64_t routed_ = 0;
  uint64_t duplicates_ = 0;
  uint64_t refused_ = 0;
  uint64_t resends_ = 0;
  bool legacy_warned_ = false;
  std::shared_ptr<bool> alive_ = std::make_shared<bool>(true);
};

}  // namespace ew::agent::spool
