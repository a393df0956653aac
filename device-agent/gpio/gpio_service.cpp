#include "device-agent/gpio/gpio_service.hpp"

#include <boost/asio/post.hpp>

#include "common/contract/gpio.hpp"
#include "common/log/log.hpp"

namespace ew::agent::gpio {

namespace {

using nlohmann::json;
using ew::gpio::Bias;
using ew::gpio::EdgeEvent;
using ew::gpio::EdgeKind;
using ew::gpio::Edges;
using ew::gpio::LineRef;

const ew::log::Logger Log{"gpio"};

using ew::gpio::EdgesName;
using ew::gpio::ParseEdges;

std::string KeyOf(const LineRef& ref) { return ref.chip->Name() + ":" + std::to_string(ref.offset); }

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

contract::gpio::LineValue LineValueOf(const LineRef& ref, int value) {
  return {ref.chip->Name(), ref.name, ref.offset, value};
}

}  // namespace

std::string TriggerConsumer(const std::string& function_id) { return "trigger:" + function_id; }

GpioService::GpioService(boost::asio::io_context& io, std::string board_id, const ew::gpio::ChipSet& chips)
    : io_(io), board_id_(std::move(board_id)), event_topic_(contract::gpio::kEvent.Uri(board_id_)), chips_(chips) {}

GpioService::~GpioService() {
  alive_.reset();
  chips_.ReleaseAll(kWatchConsumer);
  for (const auto& [function_id, triggers] : triggers_) chips_.ReleaseAll(TriggerConsumer(function_id));
}

rpc::ProcedureTable GpioService::Procedures() {
  rpc::ProcedureTable table;
  namespace contract = ew::contract::gpio;
  table.push_back({contract::kLines.suffix, rpc::Sync([this](const rpc::Request&) { return Lines(); })});
  table.push_back({contract::kRead.suffix, rpc::Sync([this](const rpc::Request& i) { return Read(i); })});
  table.push_back({contract::kWrite.suffix, rpc::Sync([this](const rpc::Request& i) { return Write(i); })});
  table.push_back({contract::kWatch.suffix, rpc::Sync([this](const rpc::Request& i) { return WatchLine(i); }),
                   /*disclose_caller=*/true});
  table.push_back({contract::kUnwatch.suffix, rpc::Sync([this](const rpc::Request& i) { return Unwatch(i); })});
  return table;
}

rpc::Subscription GpioService::SessionLeaveSubscription() {
  return {"wamp.session.on_leave", [this](const rpc::Request& event) {
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
  contract::gpio::LinesReply reply;
  for (const auto& entry : chips_.Chips()) {
    contract::gpio::ChipLines chip{entry.chip->Name(), entry.backend, "", {}};
    for (const auto& line : entry.chip->Lines()) {
      chip.lines.push_back({line.offset, line.name, line.used, line.consumer,
                            std::string(ew::gpio::DirectionName(line.direction)), line.value});
    }
    reply.chips.push_back(std::move(chip));
  }
  for (const auto& broken : chips_.BrokenChips()) reply.chips.push_back({broken.name, broken.backend, broken.error, {}});
  return reply.ToPayload();
}

Result<rpc::Reply> GpioService::Read(const rpc::Request& invocation) const {
  EW_TRY(auto request, contract::gpio::ReadRequest::Parse(invocation));
  EW_TRY(LineRef ref, chips_.Resolve(request.line));
  EW_TRY(int value, ref.chip->Read(ref.offset));
  return LineValueOf(ref, value).ToPayload();
}

Result<rpc::Reply> GpioService::Write(const rpc::Request& invocation) {
  EW_TRY(auto request, contract::gpio::WriteRequest::Parse(invocation));
  EW_TRY(LineRef ref, chips_.Resolve(request.line));
  // As gpioset does: take the line as an output at `value` and let go. It keeps driving that
  // level, and a function or trigger may take it next; a held line (watched, a function's) is
  // busy and says by whom.
  ew::gpio::LineRequest line_request;
  line_request.direction = ew::gpio::Direction::kOutput;
  line_request.initial_value = request.value;
  EW_TRY_VOID(ref.chip->Request(ref.offset, line_request, kApiConsumer));
  (void)ref.chip->Release(ref.offset, kApiConsumer);
  return LineValueOf(ref, request.value).ToPayload();
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

Result<rpc::Reply> GpioService::WatchLine(const rpc::Request& invocation) {
  EW_TRY(auto request, contract::gpio::WatchRequest::Parse(invocation));
  EW_TRY(Edges edges, ParseEdges(request.edge));
  EW_TRY(Bias bias, ParseBias(request.bias.empty() ? "as-is" : request.bias));
  const std::chrono::milliseconds debounce(request.debounce_ms);
  EW_TRY(LineRef ref, chips_.Resolve(request.line));
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
  return contract::gpio::WatchReply{id, ref.chip->Name(), ref.name, ref.offset, ref.chip->Read(ref.offset).value_or(0)}
      .ToPayload();
}

Result<rpc::Reply> GpioService::Unwatch(const rpc::Request& invocation) {
  EW_TRY(auto request, contract::gpio::UnwatchRequest::Parse(invocation));
  if (!watches_.count(request.watch)) return NotFound("no watch \"" + request.watch + "\" on this board");
  RemoveWatch(request.watch);
  return contract::Empty{}.ToPayload();
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
  const rpc::Reply event = contract::gpio::EdgeEvent{line.ref.chip->Name(),
                                                    line.ref.name,
                                                    line.ref.offset,
                                                    std::string(ew::gpio::EdgeKindName(edge.kind)),
                                                    edge.kind == EdgeKind::kRising ? 1 : 0,
                                                    static_cast<int64_t>(edge.timestamp.count()),
                                                    seq}
                                 .ToPayload();
  if (events_) {
    SpoolEdge(event);
  } else if (conductor_ && conductor_->Publish(event_topic_, event)) {
    ++published_;
  } else {
    ++dropped_;
  }
}

void GpioService::SetSpool(spool::AsyncSpool* spool, spool::StreamLimits limits) {
  spool_ = spool;
  events_.reset();
  if (!spool_) return;
  if (auto configured = spool_->Configure(kEventStream, limits); !configured)
    Log()->error("gpio events: {}", configured.error().message);
  // Edges of an earlier run may wait there: they go out first, once a session is up.
  events_ = std::make_unique<spool::AckedStream>(
      io_, *spool_, kEventStream, event_topic_, [](const spool::Record& record) -> std::optional<rpc::Reply> {
        rpc::Reply event;
        event.kwargs = json::from_msgpack(record.data, true, false);
        if (!event.kwargs.is_object()) return std::nullopt;
        return event;
      });
  events_->SetConductor(conductor_);
}

void GpioService::SpoolEdge(const rpc::Reply& event) {
  std::vector<uint8_t> bytes = json::to_msgpack(event.kwargs);
  events_->Append(std::string(bytes.begin(), bytes.end()), [this, alive = std::weak_ptr<bool>(alive_)](Result<uint64_t> seq) {
    if (alive.expired()) return;
    if (seq) {
      ++spooled_;
    } else {
      ++dropped_;
      Log()->warn("gpio event not spooled: {}", seq.error().message);
    }
  });
}

void GpioService::OnReady(const std::string&, uint64_t) {
  if (!stale_watches_.empty()) {
    // Only the old session's: a watch asked for in this one may already exist.
    for (const std::string& id : stale_watches_) RemoveWatch(id);
    Log()->info("session up: {} watch(es) of the previous session released", stale_watches_.size());
    stale_watches_.clear();
  }
  if (events_) events_->SetOnline(true);
}

void GpioService::OnDisconnected(const std::string&, std::chrono::milliseconds) {
  if (events_) events_->SetOnline(false);
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
