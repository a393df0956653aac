#include "device-agent/flows/wire_outbox.hpp"

#include <functional>

#include "common/log/log.hpp"
#include "device-agent/spool/spool_options.hpp"

namespace ew::agent::flows {

namespace {

std::shared_ptr<spdlog::logger> Log() {
  static auto logger = ew::log::Get("flows");
  return logger;
}

}  // namespace

WireOutbox::WireOutbox(boost::asio::io_context& io, WireOutboxOptions options, rpc::ConductorClient* conductor,
                       spool::AsyncSpool* spool)
    : io_(io), options_(std::move(options)), conductor_(conductor), spool_(spool), resume_timer_(io) {}

WireOutbox::~WireOutbox() {
  *alive_ = false;
  resume_timer_.cancel();
}

std::string WireOutbox::StreamName(const std::string& flow, uint64_t version, const std::string& topic) {
  std::string tail = topic;
  auto at = topic.find(".wire.");
  if (at != std::string::npos) tail = topic.substr(at + 6);
  std::string name = "fw." + flow + "." + std::to_string(version) + "." + tail;
  for (auto& c : name)
    if (!std::isalnum(static_cast<unsigned char>(c)) && c != '_' && c != '-' && c != '.') c = '_';
  if (name.size() > 200) {
    // Long ids: keep a readable head and make the rest unique by its hash.
    char hash[17];
    std::snprintf(hash, sizeof hash, "%016zx", std::hash<std::string>{}(name));
    name = name.substr(0, 180) + "." + hash;
  }
  return name;
}

WireOutbox::Wire& WireOutbox::WireFor(const std::string& topic) {
  auto it = wires_.find(topic);
  if (it != wires_.end()) return it->second;
  Wire& wire = wires_[topic];
  wire.topic = topic;
  wire.stream = StreamName(options_.flow, options_.version, topic);
  if (spool_) {
    if (auto configured = spool_->Configure(wire.stream, options_.stream_limits); !configured)
      Log()->error("flow {}: wire {}: {}", options_.flow, topic, configured.error().message);
    // A restarted agent may find messages of this version waiting from its previous run: they go
    // first, once a session is up.
    wire.acked = std::make_unique<spool::AckedStream>(
        io_, *spool_, wire.stream, topic,
        [from = options_.board, version = options_.version](const spool::Record& record) -> std::optional<rpc::Reply> {
          nlohmann::json msg = nlohmann::json::from_msgpack(record.data, true, false);
          if (!msg.is_object()) return std::nullopt;
          rpc::Reply event;
          event.args = nlohmann::json::array({std::move(msg)});
          event.kwargs = {{"seq", record.seq}, {"from", from}, {"version", version}};
          return event;
        });
    wire.acked->SetConductor(conductor_);
    if (online_ && !resuming_) wire.acked->SetOnline(true);
  }
  return wire;
}

bool WireOutbox::Publish(const Wire& wire, uint64_t seq, const nlohmann::json& msg) {
  if (!online_ || resuming_ || !conductor_) return false;
  rpc::Reply event;
  event.args = nlohmann::json::array({msg});
  event.kwargs = {{"seq", seq}, {"from", options_.board}, {"version", options_.version}};
  if (!conductor_->Publish(wire.topic, event)) return false;
  ++published_;
  return true;
}

void WireOutbox::Send(const std::string& topic, nlohmann::json msg) {
  Wire& wire = WireFor(topic);
  if (!spool_) {
    uint64_t seq = wire.next_seq++;
    if (wire.waiting.empty() && Publish(wire, seq, msg)) return;
    if (memory_waiting_ >= options_.max_memory_messages) {
      // Drop the oldest of this wire (or this message when the wire has none waiting).
      if (wire.waiting.empty()) {
        ++memory_dropped_;
        return;
      }
      wire.waiting.pop_front();
      --memory_waiting_;
      ++memory_dropped_;
    }
    wire.waiting.emplace_back(seq, std::move(msg));
    ++memory_waiting_;
    return;
  }
  std::vector<uint8_t> bytes = nlohmann::json::to_msgpack(msg);
  wire.acked->Append(std::string(bytes.begin(), bytes.end()),
                     [this, alive = std::weak_ptr<bool>(alive_), topic](Result<uint64_t> seq) {
                       if (alive.expired() || seq) return;
                       ++spool_refused_;
                       Log()->warn("flow {}: message on {} not spooled: {}", options_.flow, topic, seq.error().message);
                     });
}

void WireOutbox::SetOnline(bool online) {
  online_ = online;
  resume_timer_.cancel();
  if (!online_) {
    resuming_ = false;
    for (auto& [topic, wire] : wires_)
      if (wire.acked) wire.acked->SetOnline(false);
    return;
  }
  resuming_ = options_.resume_delay.count() > 0;
  if (!resuming_) {
    Resume();
    return;
  }
  resume_timer_.expires_after(options_.resume_delay);
  resume_timer_.async_wait([this, alive = std::weak_ptr<bool>(alive_)](const boost::system::error_code& ec) {
    if (ec || alive.expired() || !online_) return;
    resuming_ = false;
    Resume();
  });
}

void WireOutbox::Resume() {
  for (auto& [topic, wire] : wires_) {
    if (wire.acked) {
      wire.acked->SetOnline(true);
    } else {
      DrainMemory(wire);
    }
  }
}

void WireOutbox::DrainMemory(Wire& wire) {
  while (!wire.waiting.empty() && Publish(wire, wire.waiting.front().first, wire.waiting.front().second)) {
    wire.waiting.pop_front();
    --memory_waiting_;
  }
}

void WireOutbox::Discard() {
  for (auto& [topic, wire] : wires_) {
    memory_dropped_ += wire.waiting.size();
    wire.waiting.clear();
    if (wire.acked) wire.acked->Discard();
  }
  memory_waiting_ = 0;
}

uint64_t WireOutbox::pending() const {
  uint64_t n = memory_waiting_;
  if (spool_) {
    for (const auto& [topic, wire] : wires_)
      if (auto stats = spool_->Stats(wire.stream)) n += stats->records;
  }
  return n;
}

uint64_t WireOutbox::published() const {
  uint64_t n = published_;
  for (const auto& [topic, wire] : wires_)
    if (wire.acked) n += wire.acked->routed();
  return n;
}

uint64_t WireOutbox::dropped() const {
  uint64_t n = memory_dropped_ + spool_refused_;
  if (spool_) {
    for (const auto& [topic, wire] : wires_) {
      if (auto stats = spool_->Stats(wire.stream)) n += stats->dropped_oldest;
      if (wire.acked) n += wire.acked->refused();  // the conductor would not take them
    }
  }
  return n;
}

}  // namespace ew::agent::flows
