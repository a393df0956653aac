#include "cloud-conductor/gpio/board_gpio.hpp"

#include <algorithm>

#include "common/log/log.hpp"

namespace ew::conductor::gpio {

namespace {

using nlohmann::json;

const ew::log::Logger Log{"gpio"};

int64_t NowNs(const Clock& clock) {
  return std::chrono::duration_cast<std::chrono::nanoseconds>(clock.Now().time_since_epoch()).count();
}

bool IsString(const json& object, const char* key) {
  auto it = object.find(key);
  return it != object.end() && it->is_string() && !it->get_ref<const std::string&>().empty();
}

bool IsCount(const json& object, const char* key) {
  auto it = object.find(key);
  return it != object.end() && (it->is_number_unsigned() || (it->is_number_integer() && it->get<int64_t>() >= 0));
}

bool IsLevel(const json& object, const char* key) {
  auto it = object.find(key);
  return it != object.end() && it->is_number_integer() && (it->get<int64_t>() == 0 || it->get<int64_t>() == 1);
}

// {chip, line, offset, value} of a gpio.read/gpio.write answer, or why it is not one.
Result<json> LineAnswer(const std::string& board_id, const std::string& procedure, const json& answer) {
  if (!answer.is_object() || !IsString(answer, "chip") || !IsString(answer, "line") || !IsCount(answer, "offset") ||
      !IsLevel(answer, "value"))
    return Internal("board " + board_id + " answered " + procedure + " without {chip, line, offset, value 0|1}");
  return json{{"chip", answer["chip"]}, {"line", answer["line"]}, {"offset", answer["offset"]}, {"value", answer["value"]}};
}

// The edge of a gpio.event publication as a reading (time_ns left to the caller), or why not.
Result<Reading> EdgeReading(const std::string& board_id, const json& event) {
  if (!event.is_object() || !IsString(event, "chip") || !IsString(event, "line") || !IsCount(event, "offset") ||
      !IsLevel(event, "value") || !IsCount(event, "seq") || !event.contains("timestampNs") ||
      !event["timestampNs"].is_number_integer() || !IsString(event, "edge"))
    return InvalidArgument("not {chip, line, offset, edge, value, timestampNs, seq}");
  Reading r;
  r.board_id = board_id;
  r.chip = event["chip"].get<std::string>();
  r.line = event["line"].get<std::string>();
  r.offset = event["offset"].get<int64_t>();
  r.kind = ReadingKind::kEdge;
  r.value = event["value"].get<int>();
  r.edge = event["edge"].get<std::string>();
  if (r.edge != "rising" && r.edge != "falling") return InvalidArgument("edge must be rising or falling");
  r.board_time_ns = event["timestampNs"].get<int64_t>();
  r.seq = event["seq"].get<int64_t>();
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
    wamp::Payload payload;
    payload.kwargs = {{"watch", watch.info_["watch"]}};
    gateway.CallBoard(watch.board_id_, "gpio.unwatch", std::move(payload), options.unwatch_timeout,
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
  if (suffix != "gpio.event") return;
  events_total_.Inc();
  auto edge = EdgeReading(board_id, payload.kwargs);
  if (!edge) {
    invalid_events_total_.Inc();
    Log()->debug("board={} gpio.event ignored: {}", board_id, edge.error().message);
    return;
  }
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
    if (!watch->ended_ && watch->listener_.on_event) watch->listener_.on_event(payload.kwargs);
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

void BoardGpio::Call(const std::string& board_id, const std::string& procedure, json kwargs, Answer done) {
  wamp::Payload payload;
  payload.kwargs = std::move(kwargs);
  gateway_.CallBoard(board_id, procedure, std::move(payload), options_.call_timeout,
                     [board_id, procedure, done = std::move(done)](Result<wamp::Payload> result) {
                       if (!result) return done(tl::unexpected(result.error()));
                       if (!result->kwargs.is_object())
                         return done(Internal("board " + board_id + " answered " + procedure +
                                              " without keyword results"));
                       done(std::move(result->kwargs));
                     });
}

void BoardGpio::Record(const std::string& board_id, const json& answer, ReadingKind kind) {
  Reading r;
  r.board_id = board_id;
  r.chip = answer["chip"].get<std::string>();
  r.line = answer["line"].get<std::string>();
  r.offset = answer["offset"].get<int64_t>();
  r.value = answer["value"].get<int>();
  r.kind = kind;
  r.time_ns = NowNs(clock_);
  recorder_.Record(std::move(r));
}

void BoardGpio::Lines(const std::string& board_id, Answer done) {
  Call(board_id, "gpio.lines", json::object(), std::move(done));
}

void BoardGpio::Read(const std::string& board_id, const std::string& line, Answer done) {
  std::weak_ptr<Shared> alive = shared_;
  Call(board_id, "gpio.read", {{"line", line}}, [this, alive, board_id, done = std::move(done)](Result<json> answer) {
    if (!answer) return done(std::move(answer));
    auto reading = LineAnswer(board_id, "gpio.read", *answer);
    if (reading && !alive.expired()) Record(board_id, *reading, ReadingKind::kRead);
    done(std::move(reading));
  });
}

void BoardGpio::Write(const std::string& board_id, const std::string& line, int value, Answer done) {
  std::weak_ptr<Shared> alive = shared_;
  Call(board_id, "gpio.write", {{"line", line}, {"value", value}},
       [this, alive, board_id, done = std::move(done)](Result<json> answer) {
         if (!answer) return done(std::move(answer));
         auto written = LineAnswer(board_id, "gpio.write", *answer);
         if (written && !alive.expired()) Record(board_id, *written, ReadingKind::kWrite);
         done(std::move(written));
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
  json kwargs = {{"line", request.line}, {"edge", request.edge}, {"debounceMs", request.debounce_ms}};
  if (!request.bias.empty()) kwargs["bias"] = request.bias;
  std::weak_ptr<Shared> weak = shared_;
  Call(board_id, "gpio.watch", std::move(kwargs),
       [this, weak, board_id, edge = request.edge, session = presence->session_id, listener = std::move(listener),
        done = std::move(done)](Result<json> answer) mutable {
         if (!answer) return done(tl::unexpected(answer.error()));
         auto shared = weak.lock();
         auto watch = std::make_shared<Watch>();
         watch->shared_ = weak;
         watch->board_id_ = board_id;
         watch->session_id_ = session;
         watch->edge_ = edge;
         watch->listener_ = std::move(listener);
         const json& a = *answer;
         if (!IsString(a, "watch") || !IsString(a, "chip") || !IsCount(a, "offset") || !IsString(a, "line")) {
           if (shared && IsString(a, "watch")) {
             watch->info_ = {{"watch", a["watch"]}};
             shared->Unwatch(*watch, nullptr);
           }
           return done(Internal("board " + board_id + " answered gpio.watch without {watch, chip, line, offset}"));
         }
         watch->info_ = {{"watch", a["watch"]}, {"chip", a["chip"]}, {"line", a["line"]}, {"offset", a["offset"]}};
         if (a.contains("value")) watch->info_["value"] = a["value"];
         watch->chip_ = a["chip"].get<std::string>();
         watch->offset_ = a["offset"].get<int64_t>();
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
         Log()->info("board={} watch {} on {} ({}:{}), edge {}", board_id, a["watch"].dump(), a["line"].dump(),
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
