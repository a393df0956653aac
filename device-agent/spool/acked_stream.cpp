// Append, send, acknowledge: a record leaves the spool only after the conductor's RESULT.
#include "device-agent/spool/acked_stream.hpp"

#include "common/contract/publish.hpp"
#include "common/log/log.hpp"

namespace ew::agent::spool {

namespace {

const ew::log::Logger Log{"spool"};

// The conductor looked at the records and will never take them (the topic is no longer ours: a
// flow removed; a malformed record): sending them again would stall everything behind them.
bool RefusedForGood(ErrorCode code) {
  return code == ErrorCode::kInvalidArgument || code == ErrorCode::kPermissionDenied || code == ErrorCode::kConflict;
}

}  // namespace

AckedStream::AckedStream(boost::asio::io_context& io, AsyncSpool& spool, std::string stream, std::string topic,
                         Render render, AckedStreamOptions options)
    : io_(io),
      spool_(spool),
      stream_(std::move(stream)),
      topic_(std::move(topic)),
      render_(std::move(render)),
      options_(options),
      retry_timer_(io) {
  options_.window = std::max<size_t>(options_.window, 1);
  options_.records_per_call = std::clamp<size_t>(options_.records_per_call, 1, contract::publish::kMaxRecords);
}

AckedStream::~AckedStream() {
  alive_.reset();
  retry_timer_.cancel();
}

uint64_t AckedStream::pending() const {
  auto stats = spool_.Stats(stream_);
  return stats ? stats->records : 0;
}

void AckedStream::Append(std::string data, AsyncSpool::AppendDone done) {
  spool_.Append(stream_, std::move(data),
                [this, alive = std::weak_ptr<bool>(alive_), done = std::move(done)](Result<uint64_t> seq) {
                  if (done) done(seq);
                  if (alive.expired()) return;
                  if (!seq) Log()->warn("{}: record not stored: {}", stream_, seq.error().message);
                  Pump();
                });
}

void AckedStream::SetOnline(bool online) {
  online_ = online;
  Rewind();
  if (online_) Pump();
}

void AckedStream::Rewind() {
  if (!in_flight_.empty() || sent_seq_ > acked_seq_) ++resends_;
  ++generation_;
  in_flight_.clear();
  sent_seq_ = acked_seq_;
  retry_timer_.cancel();
}

void AckedStream::Discard() {
  Rewind();
  auto stats = spool_.Stats(stream_);
  if (!stats || stats->records == 0) return;
  acked_seq_ = sent_seq_ = stats->next_seq - 1;
  spool_.Ack(stream_, acked_seq_);
}

void AckedStream::Pump() {
  if (!online_ || !conductor_ || peeking_ || in_flight_.size() >= options_.window) return;
  peeking_ = true;
  const uint64_t generation = generation_;
  spool_.Peek(stream_, sent_seq_, PeekLimits{options_.records_per_call, options_.bytes_per_call},
              [this, alive = std::weak_ptr<bool>(alive_), generation](Result<std::vector<Record>> records) {
                if (alive.expired()) return;
                peeking_ = false;
                if (generation != generation_) return Pump();  // rewound meanwhile: peek again
                if (!records) {
                  Log()->error("{}: {}", stream_, records.error().message);
                  return;  // the next Append or session tries again
                }
                if (records->empty()) return;
                SendBatch(std::move(*records));
                Pump();
              });
}

void AckedStream::SendBatch(std::vector<Record> records) {
  contract::publish::PublishRequest request;
  request.topic = topic_;
  request.spool = spool_.id();
  request.stream = stream_;
  for (const Record& record : records) {
    std::optional<rpc::Reply> payload = render_(record);
    if (!payload) {
      // Written by this agent and CRC-checked, so only a bug gets here: skip it, never stall.
      Log()->error("{}: record {} is not a publication; skipped", stream_, record.seq);
      continue;
    }
    request.records.push_back({record.seq, std::move(*payload)});
  }
  const uint64_t last_seq = records.back().seq;
  sent_seq_ = last_seq;
  in_flight_.push_back(Batch{last_seq, false});
  if (request.records.empty()) {
    in_flight_.back().answered = true;
    return AckAnsweredPrefix();
  }
  const size_t count = request.records.size();
  auto sent = std::make_shared<contract::publish::PublishRequest>(std::move(request));
  conductor_->Call(contract::publish::kPublish.uri, sent->ToPayload(), options_.call_timeout,
                   [this, alive = std::weak_ptr<bool>(alive_), generation = generation_, last_seq, count,
                    sent](Result<rpc::Reply> reply) {
                     if (alive.expired()) return;
                     if (!reply && reply.error().code == ErrorCode::kNotFound && generation == generation_)
                       reply = PublishUnacknowledged(*sent);
                     OnAnswer(generation, last_seq, count, std::move(reply));
                   });
}

Result<rpc::Reply> AckedStream::PublishUnacknowledged(const contract::publish::PublishRequest& request) {
  // A conductor from before ew.conductor.publish ("no such procedure"): publish as agents used
  // to, without acknowledgement, rather than let the stream fill up. Upgrade conductors first.
  if (!legacy_warned_) {
    legacy_warned_ = true;
    Log()->warn("{}: the conductor has no ew.conductor.publish; publishing without acknowledgement (a silent "
                "network cut may lose what is sent before the agent notices)",
                stream_);
  }
  contract::publish::PublishReply reply;
  for (const auto& record : request.records) {
    if (!conductor_->Publish(topic_, record.payload)) return Unavailable("no session");
    ++reply.routed;
  }
  reply.through = request.records.back().seq;
  return reply.ToPayload();
}

void AckedStream::OnAnswer(uint64_t generation, uint64_t last_seq, size_t count, Result<rpc::Reply> reply) {
  if (generation != generation_) return;  // sent before a rewind: sent again since
  if (!reply && !RefusedForGood(reply.error().code)) {
    // No session, a timeout, a conductor in trouble: nothing after the last acknowledgement is
    // known to have arrived. Start again from there (the conductor drops what it already took).
    Log()->info("{}: {} record(s) to seq {} not acknowledged ({}); sending again from seq {}", stream_, count, last_seq,
                reply.error().message, acked_seq_ + 1);
    Rewind();
    if (!online_) return;
    retry_timer_.expires_after(options_.retry_delay);
    retry_timer_.async_wait([this, alive = std::weak_ptr<bool>(alive_)](const boost::system::error_code& ec) {
      if (!ec && !alive.expired()) Pump();
    });
    return;
  }
  if (!reply) {
    refused_ += count;
    Log()->warn("{}: {} record(s) to seq {} refused by the conductor, dropped: {}", stream_, count, last_seq,
                reply.error().message);
  } else if (auto answer = contract::publish::PublishReply::Parse(*reply); answer) {
    routed_ += answer->routed;
    duplicates_ += answer->duplicates;
  } else {
    Log()->warn("{}: conductor's answer: {}", stream_, answer.error().message);
  }
  for (Batch& batch : in_flight_) {
    if (batch.last_seq == last_seq) batch.answered = true;
  }
  AckAnsweredPrefix();
}

void AckedStream::AckAnsweredPrefix() {
  uint64_t through = 0;
  while (!in_flight_.empty() && in_flight_.front().answered) {
    through = in_flight_.front().last_seq;
    in_flight_.pop_front();
  }
  if (through > acked_seq_) {
    acked_seq_ = through;
    spool_.Ack(stream_, through, [stream = stream_](Result<void> acked) {
      if (!acked) Log()->error("{}: {}", stream, acked.error().message);
    });
  }
  Pump();
}

}  // namespace ew::agent::spool
