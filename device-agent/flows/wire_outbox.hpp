// The sending side of a flow's cross wires on a board (flows contract): each message on
// `ew.flow.<flow>.wire.<node>.<port>` is published with kwargs {seq, from, version}, seq counting
// from 1 per wire and partition version. With the agent's spool every message is appended to a
// spool stream of its wire first, and the stream's record number is its seq: numbering survives
// agent restarts without gaps, and what the conductor does not take (no session) waits on disk,
// bounded by the stream's limits (drop-oldest, counted), and is delivered in order when a session
// is up again. Without a spool (it could not be opened) messages wait in memory instead: at most
// `max_memory_messages` per flow (oldest dropped and counted), lost on restart, and seq restarts
// at 1 with the agent — receivers then see an older seq as a duplicate until it passes the last.
// With the spool a message leaves it only once the conductor acknowledged it (spool::AckedStream
// over ew.conductor.publish), so a silent network cut loses nothing below the stream's bound: what
// was sent into the dead link goes again, in order, and the conductor routes each seq once.
#pragma once

#include <chrono>
#include <cstdint>
#include <deque>
#include <map>
#include <memory>
#include <string>

#include <boost/asio/io_context.hpp>
#include <boost/asio/steady_timer.hpp>
#include <nlohmann/json.hpp>

#include "device-agent/rpc/conductor_client.hpp"
#include "device-agent/spool/acked_stream.hpp"
#include "device-agent/spool/async_spool.hpp"

namespace ew::agent::flows {

struct WireOutboxOptions {
  std::string flow;
  uint64_t version = 0;
  std::string board;  // "from"
  size_t max_memory_messages = 10'000;             // without a spool
  // After a join, what waits is published only after this delay, so that receivers that lost the
  // same conductor (a conductor restart) have rejoined and subscribed again: WAMP keeps no event
  // for a subscriber that is not there. New messages wait behind it, in order.
  std::chrono::milliseconds resume_delay{1500};
  spool::StreamLimits stream_limits{4ull << 20, 20'000, spool::DropPolicy::kDropOldest};  // per wire
};

class WireOutbox {
 public:
  // `conductor` may be null until SetConductor; `spool` may be null (memory only). Io thread.
  WireOutbox(boost::asio::io_context& io, WireOutboxOptions options, rpc::ConductorClient* conductor,
             spool::AsyncSpool* spool);
  ~WireOutbox();

  // Makes the wire known before its first message, so that what an earlier run left in its spool
  // stream is delivered. Io thread.
  void Declare(const std::string& topic) { WireFor(topic); }
  // Queues `msg` for `topic` and publishes it as soon as it may (in order per wire). Io thread.
  void Send(const std::string& topic, nlohmann::json msg);
  // A session is up (or went): delivery resumes (or waits). Io thread.
  void SetOnline(bool online);
  // Drops everything still waiting (the flow stopped or was replaced). Io thread.
  void Discard();

  uint64_t pending() const;   // waiting for a session (spooled or in memory)
  uint64_t dropped() const;   // lost to full spool streams or the memory bound
  uint64_t published() const;  // sent (memory mode) or routed by the conductor (spool mode)

  // The spool stream of a wire topic: "fw.<flow>.<version>.<node>.<port>", made spool-safe.
  static std::string StreamName(const std::string& flow, uint64_t version, const std::string& topic);

 private:
  struct Wire {
    std::string topic;
    std::string stream;
    uint64_t next_seq = 1;      // memory mode
    std::deque<std::pair<uint64_t, nlohmann::json>> waiting;  // memory mode
    std::unique_ptr<spool::AckedStream> acked;  // spool mode
  };

  Wire& WireFor(const std::string& topic);
  void Resume();
  bool Publish(const Wire& wire, uint64_t seq, const nlohmann::json& msg);
  void DrainMemory(Wire& wire);

  boost::asio::io_context& io_;
  WireOutboxOptions options_;
  rpc::ConductorClient* conductor_;
  spool::AsyncSpool* spool_;
  std::map<std::string, Wire> wires_;  // by topic
  bool online_ = false;     // a session is up
  bool resuming_ = false;   // ... but its resume_delay has not passed yet
  boost::asio::steady_timer resume_timer_;
  uint64_t published_ = 0;
  uint64_t memory_dropped_ = 0;
  uint64_t spool_refused_ = 0;
  size_t memory_waiting_ = 0;
  std::shared_ptr<bool> alive_ = std::make_shared<bool>(true);
};

}  // namespace ew::agent::flows
