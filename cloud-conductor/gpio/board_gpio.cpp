#include "cloud-conductor/gpio/board_gpio.hpp"

#include <algorithm>

#include "common/contract/gpio.hpp"
#include "common/log/log.hpp"

namespace ew::conductor::gpio {

namespace {

using nlohmann::json;

const ew::log::Logger Log{"gpio"};

int64_t NowNs(const Clock& clock) {
  return std::chrono::duration_cast<std::chrono::nanoseconds>(clock.Now().time_since_epoch()).count();
}

namespace wire = ew::contract::gpio;

// The edge of a gpio.event publication as a reading (time_ns left to the caller).
Reading EdgeReading(const std::string& board_id, const wire::EdgeEvent& event) {
  Reading r;
  r.board_id = board_id;
  r.chip = event.chip;
  r.line = event.line;
  r.offset = event.offset;
  r.kind = ReadingKind::kEdge;
  r.value = event.value;
  r.edge = event.edge;
  r.board_time_ns = event.timestamp_ns;
  r.seq = static_cast<int64_t>(event.seq);
  return r;
}

}  // namespace

struct BoardGpio::Shared {
  Shared(router::BoardGateway& g, BoardGpioOptions o, metrics::Gauge& gauge)
      : gateway(g), options(o), watches_gauge(gauge) {}

  router::BoardGateway& gateway;
  BoardGpioOptions options;
  metrics::Gauge& watches_gauge;

  mutable std::mutex mu;
  std::map<std::string, std::vector<std::shared_ptr<Watch>>> watches;  // GUARDED_BY(mu), by board
  size_t count = 0;                                                     // GUARDED_BY(mu)
  bool stopping = false;                                                // GUARDED_BY(mu)

  void Add(std::shared_ptr<Watch> watch) {  // REQUIRES(mu)
    watches[watch->board_id_].push_back(std::move(watch));
    watches_gauge.Set(static_cast<double>(++count));
  }

  void Remove(const Watch& watch) {
    std::lock_guard lock(mu);
    auto it = watches.find(watch.board_id_);
    if (it == watches.end()) return;
    auto& list = it->second;
    auto found = std::find_if(list.begin(), list.end(), [&](const auto& w) { return w.get() == &watch; });
    if (found == list.end()) return;
    list.erase(found);
    if (list.empty()) watches.erase(it);
    watches_gauge.Set(static_cast<double>(--count));
  }

  // Asks the board to drop `watch`, unless the session that holds it is gone. `answered` (may
  // be empty) runs once either way.
  void Unwatch(const Watch& watch, std::function<void()> answered) {
    auto presence = gateway.Presence(watch.board_id_);
    if (!presence || presence->session_id != watch.session_id_) {
      if (answered) answered();
      return;
    }
    wamp::Payload payload = wire::UnwatchRequest{watch.info_["watch"].get<std::string>()}.ToPayload();
    gateway.CallBoard(watch.board_id_, wire::kUnwatch.suffix, std::move(payload), options.unwatch_timeout,
                      [board = watch.board_id_, id = watch.info_["watch"].dump(),
                       answered = std::move(answered)](Result<wamp::Payload> result) {
                        if (!result)
                          Log()->debug("board={} unwatch {} failed: {}", board, id, result.error().message);
                        if (answered) answered();
                      });
  }
};

void BoardGpio::Watch::Close() {
  if (ended_.exchange(true)) return;
  auto shared = shared_.lock();
  if (!shared) return;
  shared->Remove(*this);
  Log()->debug("board={} watch {} closed", board_id_, info_["watch"].dump());
  shared->Unwatch(*this, nullptr);
}

BoardGpio::BoardGpio(router::BoardGateway& gateway, ReadingRecorder& recorder, GpioStore& store, const Clock& clock,
                     metrics::Registry& metrics, BoardGpioOptions options)
    : gateway_(gateway),
      recorder_(recorder),
      store_(store),
      clock_(clock),
      options_(options),
      events_total_(metrics.GetCounter("ew_gpio_events_total", "gpio.event publications received from boards")),
      invalid_events_total_(
          metrics.GetCounter("ew_gpio_events_invalid_total", "gpio.event publications ignored as malformed")),
      watches_gauge_(metrics.GetGauge("ew_gpio_watches", "GPIO watches the conductor holds on boards")) {
  shared_ = std::make_shared<Shared>(gateway_, options_, watches_gauge_);
}

BoardGpio::~BoardGpio() = default;

void BoardGpio::Start() {
  std::weak_ptr<Shared> alive = shared_;
  gateway_.OnBoardPublication([this, alive](const std::string& board, const std::string& suffix,
                                            const wamp::Payload& payload) {
    if (!alive.expired()) OnPublication(board, suffix, payload);
  });
  gateway_.OnBoardSessionEnded([this, alive](const std::string& board, uint64_t session) {
    if (!alive.expired()) OnSessionEnded(board, session);
  });
}

void BoardGpio::Shutdown(std::function<void()> done) {
  std::vector<std::shared_ptr<Watch>> all;
  {
    std::lock_guard lock(shared_->mu);
    shared_->stopping = true;
    for (auto& [board, list] : shared_->watches)
      for (auto& watch : list) all.push_back(std::move(watch));
    shared_->watches.clear();
    shared_->count = 0;
    watches_gauge_.Set(0);
  }
  if (all.empty()) return done();
  Log()->info("stopping: ending {} GPIO watch(es)", all.size());
  auto remaining = std::make_shared<std::atomic<size_t>>(all.size());
  auto answered = [remaining, done = std::move(done)] {
    if (remaining->fetch_sub(1) == 1) done();
  };
  for (const auto& watch : all) {
    if (!watch->ended_.exchange(true) && watch->listener_.on_end) watch->listener_.on_end("the conductor is stopping");
    shared_->Unwatch(*watch, answered);
  }
}

void BoardGpio::OnPublication(const std::string& board_id, const std::string& suffix, const wamp::Payload& payload) {
  if (suffix != wire::kEvent.suffix) return;
  events_total_.Inc();
  auto event = wire::EdgeEvent::Parse(payload);
  if (!event) {
    invalid_events_total_.Inc();
    Log()->debug("board={} gpio.event ignored: {}", board_id, event.error().message);
    return;
  }
  std::optional<Reading> edge = EdgeReading(board_id, *event);
  edge->time_ns = NowNs(clock_);
  std::vector<std::shared_ptr<Watch>> matching;
  {
    std::lock_guard lock(shared_->mu);
    auto it = shared_->watches.find(board_id);
    if (it != shared_->watches.end()) {
      for (const auto& watch : it->second) {
        if (watch->chip_ == edge->chip && watch->offset_ == edge->offset &&
            (watch->edge_ == "both" || watch->edge_ == edge->edge))
          matching.push_back(watch);
      }
    }
  }
  recorder_.Record(std::move(*edge));
  for (const auto& watch : matching) {
    if (!watch->ended_ && watch->listener_.on_event) watch->listener_.on_event(event->ToJson());
  }
}

void BoardGpio::OnSessionEnded(const std::string& board_id, uint64_t session_id) {
  std::vector<std::shared_ptr<Watch>> ended;
  {
    std::lock_guard lock(shared_->mu);
    auto it = shared_->watches.find(board_id);
    if (it == shared_->watches.end()) return;
    auto& list = it->second;
    for (auto w = list.begin(); w != list.end();) {
      if ((*w)->session_id_ == session_id) {
        ended.push_back(std::move(*w));
        w = list.erase(w);
      } else {
        ++w;
      }
    }
    if (list.empty()) shared_->watches.erase(it);
    shared_->count -= ended.size();
    watches_gauge_.Set(static_cast<double>(shared_->count));
  }
  if (ended.empty()) return;
  // A newer session already in place means the board reconnected: its watches died all the same.
  const std::string reason = gateway_.Presence(board_id) ? "board " + board_id + " reconnected"
                                                         : "board " + board_id + " went offline";
  Log()->info("board={} session={} ended: {} GPIO watch(es) ended", board_id, session_id, ended.size());
  for (const auto& watch : ended) {
    if (!watch->ended_.exchange(true) && watch->listener_.on_end) watch->listener_.on_end(reason);
  }
}

void BoardGpio::Call(const std::string& board_id, const std::string& procedure, wamp::Payload request,
                     std::function<void(Result<wamp::Payload>)> done) {
  gateway_.CallBoard(board_id, procedure, std::move(request), options_.call_timeout, std::move(done));
}

void BoardGpio::Record(const std::string& board_id, const wire::LineValue& answer, ReadingKind kind) {
  Reading r;
  r.board_id = board_id;
  r.chip = answer.chip;
  r.line = answer.line;
  r.offset = answer.offset;
  r.value = answer.value;
  r.kind = kind;
  r.time_ns = NowNs(clock_);
  recorder_.Record(std::move(r));
}

namespace {

// The board's answer as the contract reads it; a malformed one is the board's fault (Internal).
template <typename Reply>
Result<Reply> Answered(const std::string& board_id, const char* procedure, Result<wamp::Payload> answer) {
  if (!answer) return tl::unexpected(answer.error());
  auto parsed = Reply::Parse(*answer);
  if (!parsed) return Internal("board " + board_id + " answered " + procedure + " badly: " + parsed.error().message);
  return parsed;
}

}  // namespace

void BoardGpio::Lines(const std::string& board_id, Answer done) {
  Call(board_id, wire::kLines.suffix, contract::Empty{}.ToPayload(),
       [board_id, done = std::move(done)](Result<wamp::Payload> answer) {
         auto lines = Answered<wire::LinesReply>(board_id, wire::kLines.suffix, std::move(answer));
         if (!lines) return done(tl::unexpected(lines.error()));
         done(lines->ToPayload().kwargs);
       });
}

void BoardGpio::Read(const std::string& board_id, const std::string& line, Answer done) {
  std::weak_ptr<Shared> alive = shared_;
  Call(board_id, wire::kRead.suffix, wire::ReadRequest{line}.ToPayload(),
       [this, alive, board_id, done = std::move(done)](Result<wamp::Payload> answer) {
         auto reading = Answered<wire::LineValue>(board_id, wire::kRead.suffix, std::move(answer));
         if (!reading) return done(tl::unexpected(reading.error()));
         if (!alive.expired()) Record(board_id, *reading, ReadingKind::kRead);
         done(reading->ToJson());
       });
}

void BoardGpio::Write(const std::string& board_id, const std::string& line, int value, Answer done) {
  std::weak_ptr<Shared> alive = shared_;
  Call(board_id, wire::kWrite.suffix, wire::WriteRequest{line, value}.ToPayload(),
       [this, alive, board_id, done = std::move(done)](Result<wamp::Payload> answer) {
         auto written = Answered<wire::LineValue>(board_id, wire::kWrite.suffix, std::move(answer));
         if (!written) return done(tl::unexpected(written.error()));
         if (!alive.expired()) Record(board_id, *written, ReadingKind::kWrite);
         done(written->ToJson());
       });
}

void BoardGpio::StartWatch(const std::string& board_id, const WatchRequest& request, WatchListener listener,
                           std::function<void(Result<std::shared_ptr<Watch>>)> done) {
  {
    std::lock_guard lock(shared_->mu);
    if (shared_->stopping) return done(Unavailable("the conductor is stopping"));
  }
  auto presence = gateway_.Presence(board_id);
  if (!presence) return done(Unavailable("board " + board_id + " is offline"));
  std::weak_ptr<Shared> weak = shared_;
  Call(board_id, wire::kWatch.suffix, request.ToPayload(),
       [this, weak, board_id, edge = request.edge, session = presence->session_id, listener = std::move(listener),
        done = std::move(done)](Result<wamp::Payload> payload) mutable {
         if (!payload) return done(tl::unexpected(payload.error()));
         auto shared = weak.lock();
         auto watch = std::make_shared<Watch>();
         watch->shared_ = weak;
         watch->board_id_ = board_id;
         watch->session_id_ = session;
         watch->edge_ = edge;
         watch->listener_ = std::move(listener);
         auto answer = wire::WatchReply::Parse(*payload);
         if (!answer) {
           // Whatever else is wrong, a watch the board set up is let go.
           const auto id = payload->kwargs.is_object() ? payload->kwargs.find("watch") : payload->kwargs.end();
           if (shared && id != payload->kwargs.end() && id->is_string() && !id->get<std::string>().empty()) {
             watch->info_ = {{"watch", *id}};
             shared->Unwatch(*watch, nullptr);
           }
           return done(Internal("board " + board_id + " answered gpio.watch badly: " + answer.error().message));
         }
         const wire::WatchReply& a = *answer;
         watch->info_ = a.ToJson();
         watch->chip_ = a.chip;
         watch->offset_ = a.offset;
         if (!shared) return done(Unavailable("the conductor is stopping"));
         std::string refused;
         {
           std::lock_guard lock(shared->mu);
           auto now = gateway_.Presence(board_id);
           if (shared->stopping) {
             refused = "the conductor is stopping";
           } else if (!now || now->session_id != session) {
             // The watch lived in a session that is gone (the board reconnected meanwhile).
             refused = "board " + board_id + " went offline while the watch was set up";
           } else {
             shared->Add(watch);
           }
         }
         if (!refused.empty()) {
           watch->ended_ = true;
           shared->Unwatch(*watch, nullptr);
           return done(Unavailable(refused));
         }
         Log()->info("board={} watch {} on {} ({}:{}), edge {}", board_id, a.watch, a.line,
                     watch->chip_, watch->offset_, edge);
         done(std::move(watch));
       });
}

Result<ReadingPage> BoardGpio::History(const ReadingQuery& query) { return store_.Query(query); }

size_t BoardGpio::WatchCount() const {
  std::lock_guard lock(shared_->mu);
  return shared_->count;
}

}  // namespace ew::conductor::gpio
