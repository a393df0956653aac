#include "device-agent/gpio/gpio_service.hpp"

#include <boost/asio/post.hpp>

#include "common/log/log.hpp"

namespace ew::agent::gpio {

namespace {

using nlohmann::json;
using ew::gpio::Bias;
using ew::gpio::EdgeEvent;
using ew::gpio::EdgeKind;
using ew::gpio::Edges;
using ew::gpio::LineRef;

std::shared_ptr<spdlog::logger> Log() {
  static auto logger = ew::log::Get("gpio");
  return logger;
}

using ew::gpio::EdgesName;
using ew::gpio::kMaxDebounceMs;
using ew::gpio::ParseEdges;

std::string KeyOf(const LineRef& ref) { return ref.chip->Name() + ":" + std::to_string(ref.offset); }

// Keyword arguments, checked: unknown keys are errors, so a typo never passes silently.
class Args {
 public:
  static Result<Args> Of(const rpc::Invocation& invocation, std::initializer_list<const char*> allowed) {
    if (!invocation.kwargs.is_object()) return InvalidArgument("keyword arguments must be an object");
    for (const auto& [key, value] : invocation.kwargs.items()) {
      bool known = false;
      for (const char* name : allowed) known = known || key == name;
      if (!known) return InvalidArgument("unknown argument \"" + key + "\"");
    }
    return Args(invocation.kwargs);
  }

  Result<std::string> String(const char* key) const {
    auto it = kwargs_.find(key);
    if (it == kwargs_.end()) return InvalidArgument(std::string(key) + " is required");
    if (!it->is_string() || it->get_ref<const std::string&>().empty())
      return InvalidArgument(std::string(key) + " must be a non-empty string");
    return it->get<std::string>();
  }
  Result<std::string> StringOr(const char* key, std::string fallback) const {
    if (!kwargs_.contains(key)) return fallback;
    return String(key);
  }
  Result<int64_t> IntOr(const char* key, int64_t fallback, int64_t min, int64_t max) const {
    auto it = kwargs_.find(key);
    if (it == kwargs_.end()) return fallback;
    if (!it->is_number_integer() || it->get<int64_t>() < min || it->get<int64_t>() > max)
      return InvalidArgument(std::string(key) + " must be an integer from " + std::to_string(min) + " to " +
                             std::to_string(max));
    return it->get<int64_t>();
  }
  // 0/1 or false/true.
  Result<int> Level(const char* key) const {
    auto it = kwargs_.find(key);
    if (it == kwargs_.end()) return InvalidArgument(std::string(key) + " is required");
    if (it->is_boolean()) return it->get<bool>() ? 1 : 0;
    if (it->is_number_integer() && (it->get<int64_t>() == 0 || it->get<int64_t>() == 1)) return static_cast<int>(it->get<int64_t>());
    return InvalidArgument(std::string(key) + " must be 0 or 1");
  }

 private:
  explicit Args(const json& kwargs) : kwargs_(kwargs) {}
  const json& kwargs_;
};

Result<Bias> ParseBias(const std::string& text) {
  if (text == "as-is") return Bias::kAsIs;
  if (text == "disabled") return Bias::kDisabled;
  if (text == "pull-up") return Bias::kPullUp;
  if (text == "pull-down") return Bias::kPullDown;
  return InvalidArgument("bias must be as-is, disabled, pull-up or pull-down, not \"" + text + "\"");
}

std::string_view BiasName(Bias bias) {
  switch (bias) {
    case Bias::kAsIs: return "as-is";
    case Bias::kDisabled: return "disabled";
    case Bias::kPullUp: return "pull-up";
    case Bias::kPullDown: return "pull-down";
  }
  return "as-is";
}

bool Wants(Edges edges, EdgeKind kind) {
  return edges == Edges::kBoth || (edges == Edges::kRising && kind == EdgeKind::kRising) ||
         (edges == Edges::kFalling && kind == EdgeKind::kFalling);
}

json LineJson(const LineRef& ref, int value) {
  return {{"chip", ref.chip->Name()}, {"line", ref.name}, {"offset", ref.offset}, {"value", value}};
}

rpc::Reply KwargsReply(json kwargs) {
  rpc::Reply reply;
  reply.kwargs = std::move(kwargs);
  return reply;
}

}  // namespace

std::string TriggerConsumer(const std::string& function_id) { return "trigger:" + function_id; }

GpioService::GpioService(boost::asio::io_context& io, std::string board_id, const ew::gpio::ChipSet& chips)
    : io_(io), board_id_(std::move(board_id)), event_topic_("ew.board." + board_id_ + ".gpio.event"), chips_(chips) {}

GpioService::~GpioService() {
  alive_.reset();
  chips_.ReleaseAll(kWatchConsumer);
  for (const auto& [function_id, triggers] : triggers_) chips_.ReleaseAll(TriggerConsumer(function_id));
}

rpc::ProcedureTable GpioService::Procedures() {
  rpc::ProcedureTable table;
  table.push_back({"gpio.lines", rpc::Sync([this](const rpc::Invocation&) { return Lines(); })});
  table.push_back({"gpio.read", rpc::Sync([this](const rpc::Invocation& i) { return Read(i); })});
  table.push_back({"gpio.write", rpc::Sync([this](const rpc::Invocation& i) { return Write(i); })});
  table.push_back({"gpio.watch", rpc::Sync([this](const rpc::Invocation& i) { return WatchLine(i); }),
                   /*disclose_caller=*/true});
  table.push_back({"gpio.unwatch", rpc::Sync([this](const rpc::Invocation& i) { return Unwatch(i); })});
  return table;
}

rpc::Subscription GpioService::SessionLeaveSubscription() {
  return {"wamp.session.on_leave", [this](const rpc::Invocation& event) {
            if (!event.args.is_array() || event.args.empty() || !event.args[0].is_number_integer() ||
                event.args[0].get<int64_t>() < 0)
              return;
            const uint64_t session = event.args[0].get<uint64_t>();
            std::vector<std::string> gone;
            for (const auto& [id, watch] : watches_) {
              if (watch->caller == session) gone.push_back(id);
            }
            for (const std::string& id : gone) RemoveWatch(id);
            if (!gone.empty()) Log()->info("session {} left: {} watch(es) released", session, gone.size());
          }};
}

std::vector<rpc::GpioChipSummary> GpioService::Summary() const {
  std::vector<rpc::GpioChipSummary> out;
  for (const auto& entry : chips_.Chips()) {
    rpc::GpioChipSummary summary{entry.chip->Name(), entry.backend, 0, 0, "", {}};
    for (const auto& line : entry.chip->Lines()) {
      ++summary.lines;
      if (line.used) ++summary.used;
      summary.line_names.push_back(line.name);
    }
    out.push_back(std::move(summary));
  }
  for (const auto& broken : chips_.BrokenChips()) out.push_back({broken.name, broken.backend, 0, 0, broken.error, {}});
  return out;
}

Result<rpc::Reply> GpioService::Lines() const {
  json chips = json::array();
  for (const auto& entry : chips_.Chips()) {
    json lines = json::array();
    for (const auto& line : entry.chip->Lines()) {
      lines.push_back({{"offset", line.offset},
                       {"name", line.name},
                       {"used", line.used},
                       {"consumer", line.consumer},
                       {"direction", ew::gpio::DirectionName(line.direction)},
                       {"value", line.value}});
    }
    chips.push_back({{"name", entry.chip->Name()}, {"backend", entry.backend}, {"lines", std::move(lines)}});
  }
  for (const auto& broken : chips_.BrokenChips()) {
    chips.push_back({{"name", broken.name}, {"backend", broken.backend}, {"error", broken.error}, {"lines", json::array()}});
  }
  return KwargsReply({{"chips", std::move(chips)}});
}

Result<rpc::Reply> GpioService::Read(const rpc::Invocation& invocation) const {
  EW_TRY(Args args, Args::Of(invocation, {"line"}));
  EW_TRY(std::string line, args.String("line"));
  EW_TRY(LineRef ref, chips_.Resolve(line));
  EW_TRY(int value, ref.chip->Read(ref.offset));
  return KwargsReply(LineJson(ref, value));
}

Result<rpc::Reply> GpioService::Write(const rpc::Invocation& invocation) {
  EW_TRY(Args args, Args::Of(invocation, {"line", "value"}));
  EW_TRY(std::string line, args.String("line"));
  EW_TRY(int value, args.Level("value"));
  EW_TRY(LineRef ref, chips_.Resolve(line));
  // As gpioset does: take the line as an output at `value` and let go. It keeps driving that
  // level, and a function or trigger may take it next; a held line (watched, a function's) is
  // busy and says by whom.
  ew::gpio::LineRequest request;
  request.direction = ew::gpio::Direction::kOutput;
  request.initial_value = value;
  EW_TRY_VOID(ref.chip->Request(ref.offset, request, kApiConsumer));
  (void)ref.chip->Release(ref.offset, kApiConsumer);
  return KwargsReply(LineJson(ref, value));
}

ew::gpio::EdgeHandler GpioService::PostEdge(std::function<void(const EdgeEvent&)> on_io) {
  // Shared, so that each edge posts a pointer rather than a copy of the handler (a hot path).
  auto handler = std::make_shared<const std::function<void(const EdgeEvent&)>>(std::move(on_io));
  return [&io = io_, alive = std::weak_ptr<bool>(alive_), handler](const EdgeEvent& edge) {
    boost::asio::post(io, [alive, handler, edge] {
      if (!alive.expired()) (*handler)(edge);
    });
  };
}

Result<rpc::Reply> GpioService::WatchLine(const rpc::Invocation& invocation) {
  EW_TRY(Args args, Args::Of(invocation, {"line", "edge", "bias", "debounceMs"}));
  EW_TRY(std::string line, args.String("line"));
  EW_TRY(std::string edge_text, args.StringOr("edge", "both"));
  EW_TRY(Edges edges, ParseEdges(edge_text));
  EW_TRY(std::string bias_text, args.StringOr("bias", "as-is"));
  EW_TRY(Bias bias, ParseBias(bias_text));
  EW_TRY(int64_t debounce_ms, args.IntOr("debounceMs", 0, 0, kMaxDebounceMs));
  const std::chrono::milliseconds debounce(debounce_ms);
  EW_TRY(LineRef ref, chips_.Resolve(line));
  const std::string key = KeyOf(ref);

  auto it = watched_lines_.find(key);
  if (it != watched_lines_.end()) {
    const WatchedLine& watched = it->second;
    if (watched.bias != bias || watched.debounce != debounce)
      return Conflict("line " + ref.name + " is already watched with bias " + std::string(BiasName(watched.bias)) +
                      " and debounce " + std::to_string(watched.debounce.count()) +
                      " ms; a second watch must ask for the same");
  } else {
    ew::gpio::LineRequest request;
    request.direction = ew::gpio::Direction::kInput;
    request.bias = bias;
    request.edges = Edges::kBoth;
    request.debounce = debounce;
    EW_TRY_VOID(ref.chip->Request(ref.offset, request, kWatchConsumer,
                                  PostEdge([this, key](const EdgeEvent& edge) { OnEdge(key, edge); })));
    WatchedLine watched;
    watched.ref = ref;
    watched.bias = bias;
    watched.debounce = debounce;
    it = watched_lines_.emplace(key, std::move(watched)).first;
  }
  auto watch = std::make_unique<Watch>();
  watch->id = "w" + std::to_string(next_watch_++);
  watch->line_key = key;
  watch->edge = edges;
  watch->caller = invocation.caller;
  it->second.watches[watch->id] = watch.get();
  const std::string id = watch->id;
  watches_.emplace(id, std::move(watch));
  Log()->info("watch {} on {} ({}): edge {}, bias {}, debounce {} ms, caller session {}", id, ref.name,
              ref.chip->Name(), EdgesName(edges), BiasName(bias), debounce.count(), invocation.caller);
  json reply = LineJson(ref, ref.chip->Read(ref.offset).value_or(0));
  reply["watch"] = id;
  return KwargsReply(std::move(reply));
}

Result<rpc::Reply> GpioService::Unwatch(const rpc::Invocation& invocation) {
  EW_TRY(Args args, Args::Of(invocation, {"watch"}));
  EW_TRY(std::string id, args.String("watch"));
  if (!watches_.count(id)) return NotFound("no watch \"" + id + "\" on this board");
  RemoveWatch(id);
  return KwargsReply(json::object());
}

void GpioService::RemoveWatch(const std::string& id) {
  auto it = watches_.find(id);
  if (it == watches_.end()) return;
  auto line = watched_lines_.find(it->second->line_key);
  if (line != watched_lines_.end()) {
    line->second.watches.erase(id);
    if (line->second.watches.empty()) {
      (void)line->second.ref.chip->Release(line->second.ref.offset, kWatchConsumer);
      watched_lines_.erase(line);
    }
  }
  watches_.erase(it);
}

void GpioService::OnEdge(const std::string& line_key, const EdgeEvent& edge) {
  auto it = watched_lines_.find(line_key);
  if (it == watched_lines_.end()) return;  // unwatched since
  WatchedLine& line = it->second;
  bool wanted = false;
  for (const auto& [id, watch] : line.watches) wanted = wanted || Wants(watch->edge, edge.kind);
  if (!wanted) return;
  const uint64_t seq = ++line.seq;
  rpc::Reply event;
  event.kwargs = {{"chip", line.ref.chip->Name()},
                  {"line", line.ref.name},
                  {"offset", line.ref.offset},
                  {"edge", ew::gpio::EdgeKindName(edge.kind)},
                  {"value", edge.kind == EdgeKind::kRising ? 1 : 0},
                  {"timestampNs", edge.timestamp.count()},
                  {"seq", seq}};
  // Straight to the conductor only when nothing older waits in the spool (order).
  if (!backlog_ && conductor_ && conductor_->Publish(event_topic_, event)) {
    ++published_;
  } else if (spool_) {
    SpoolEdge(event);
  } else {
    ++dropped_;
  }
}

void GpioService::SetSpool(spool::AsyncSpool* spool, spool::StreamLimits limits) {
  spool_ = spool;
  if (!spool_) return;
  if (auto configured = spool_->Configure(kEventStream, limits); !configured)
    Log()->error("gpio events: {}", configured.error().message);
  // Edges of an earlier run may wait there.
  if (auto stats = spool_->Stats(kEventStream); stats && stats->records > 0) backlog_ = true;
}

void GpioService::SpoolEdge(const rpc::Reply& event) {
  backlog_ = true;
  ++appends_in_flight_;
  std::vector<uint8_t> bytes = json::to_msgpack(event.kwargs);
  spool_->Append(kEventStream, std::string(bytes.begin(), bytes.end()),
                 [this, alive = std::weak_ptr<bool>(alive_)](Result<uint64_t> seq) {
                   if (alive.expired()) return;
                   --appends_in_flight_;
                   if (seq) {
                     ++spooled_;
                   } else {
                     ++dropped_;
                     Log()->warn("gpio event not spooled: {}", seq.error().message);
                   }
                   if (online_) Drain();
                 });
}

void GpioService::Drain() {
  if (draining_ || !spool_ || !online_) return;
  draining_ = true;
  spool_->Peek(kEventStream, 0, spool::PeekLimits{256, 1u << 20},
               [this, alive = std::weak_ptr<bool>(alive_)](Result<std::vector<spool::Record>> records) {
                 if (alive.expired()) return;
                 if (!records || records->empty()) {
                   if (!records) Log()->error("gpio events: {}", records.error().message);
                   draining_ = false;
                   // Caught up once no spooled edge is still on its way to the spool.
                   if (records && appends_in_flight_ == 0) backlog_ = false;
                   return;
                 }
                 uint64_t sent = 0;
                 for (const auto& record : *records) {
                   rpc::Reply event;
                   event.kwargs = json::from_msgpack(record.data, true, false);
                   if (!event.kwargs.is_object()) {
                     Log()->error("gpio events: spooled record {} is not an event; skipped", record.seq);
                   } else if (!online_ || !conductor_ || !conductor_->Publish(event_topic_, event)) {
                     break;  // the session went: the rest waits for the next one
                   } else {
                     ++published_;
                   }
                   sent = record.seq;
                 }
                 if (sent == 0) {
                   draining_ = false;
                   return;
                 }
                 spool_->Ack(kEventStream, sent, [this, alive](Result<void> acked) {
                   if (alive.expired()) return;
                   if (!acked) Log()->error("gpio events: {}", acked.error().message);
                   draining_ = false;
                   Drain();
                 });
               });
}

void GpioService::OnReady(const std::string&, uint64_t) {
  online_ = true;
  if (!stale_watches_.empty()) {
    // Only the old session's: a watch asked for in this one may already exist.
    for (const std::string& id : stale_watches_) RemoveWatch(id);
    Log()->info("session up: {} watch(es) of the previous session released", stale_watches_.size());
    stale_watches_.clear();
  }
  if (backlog_) Drain();
}

void GpioService::OnDisconnected(const std::string&, std::chrono::milliseconds) {
  online_ = false;
  // With a spool the watched lines stay held, so that edges seen while the conductor is away
  // reach it later; they are released when the next session is up.
  if (spool_ && !watches_.empty()) {
    if (stale_watches_.empty()) {
      for (const auto& [id, watch] : watches_) stale_watches_.push_back(id);
      Log()->info("session ended: {} watch(es) kept; their edges are spooled until the next session",
                  watches_.size());
    }
    return;
  }
  ReleaseSessionState();
}

void GpioService::ReleaseSessionState() {
  if (watches_.empty()) return;
  const size_t watches = watches_.size();
  for (const auto& [key, line] : watched_lines_) (void)line.ref.chip->Release(line.ref.offset, kWatchConsumer);
  watched_lines_.clear();
  watches_.clear();
  Log()->info("session ended: {} watch(es) released", watches);
}

Result<void> GpioService::SetTriggers(const std::string& function_id, const std::vector<TriggerSpec>& triggers,
                                      Fire fire) {
  const std::string consumer = TriggerConsumer(function_id);
  // Resolve everything first, so that a bad line changes nothing.
  std::vector<Trigger> resolved;
  for (const TriggerSpec& spec : triggers) {
    EW_TRY(LineRef ref, chips_.Resolve(spec.line));
    for (const Trigger& other : resolved) {
      if (KeyOf(other.ref) == KeyOf(ref)) return InvalidArgument("line " + ref.name + " has two triggers");
    }
    resolved.push_back({ref, spec});
  }
  // The old triggers go first (a redeploy keeps its lines), and come back if the new ones fail.
  std::vector<Trigger> previous;
  if (auto it = triggers_.find(function_id); it != triggers_.end()) previous = std::move(it->second);
  triggers_.erase(function_id);
  chips_.ReleaseAll(consumer);
  auto hold = [&](const std::vector<Trigger>& set) -> Result<void> {
    for (const Trigger& trigger : set) {
      ew::gpio::LineRequest request;
      request.direction = ew::gpio::Direction::kInput;
      request.edges = trigger.spec.edge;
      request.debounce = trigger.spec.debounce;
      auto on_edge = PostEdge([fire, chip = trigger.ref.chip->Name(), line = trigger.ref.name](const EdgeEvent& edge) {
        fire({{"trigger", "gpio"},
              {"chip", chip},
              {"line", line},
              {"edge", ew::gpio::EdgeKindName(edge.kind)},
              {"value", edge.kind == EdgeKind::kRising ? 1 : 0},
              {"timestampNs", edge.timestamp.count()},
              {"seq", edge.sequence}});
      });
      if (auto held = trigger.ref.chip->Request(trigger.ref.offset, request, consumer, std::move(on_edge)); !held) {
        chips_.ReleaseAll(consumer);
        return tl::unexpected(held.error());
      }
    }
    return Ok();
  };
  if (auto held = hold(resolved); !held) {
    if (!previous.empty() && hold(previous)) triggers_[function_id] = std::move(previous);
    return held;
  }
  for (const Trigger& trigger : resolved)
    Log()->info("trigger: {} on {} edges of {} ({})", function_id, EdgesName(trigger.spec.edge), trigger.ref.name,
                trigger.ref.chip->Name());
  if (!resolved.empty()) triggers_[function_id] = std::move(resolved);
  return Ok();
}

void GpioService::ClearTriggers(const std::string& function_id) {
  if (triggers_.erase(function_id) == 0) return;
  chips_.ReleaseAll(TriggerConsumer(function_id));
  Log()->info("triggers of {} removed", function_id);
}

}  // namespace ew::agent::gpio
