#include "device-agent/flows/agent_flow_host.hpp"

#include <boost/asio/post.hpp>

#include "common/log/log.hpp"
#include "common/contract/flow.hpp"
#include "flows/model/wire_topic.hpp"

namespace ew::agent::flows {

namespace {

std::shared_ptr<spdlog::logger> Logger() {
  static auto logger = ew::log::Get("flows");
  return logger;
}

using ew::flows::runtime::GpioEdge;

}  // namespace

AgentFlowHost::AgentFlowHost(boost::asio::io_context& io, AgentFlowHostOptions options, const ew::gpio::ChipSet& chips,
                             const Clock& clock, WireOutbox& outbox, rpc::ConductorClient* conductor)
    : io_(io), options_(std::move(options)), chips_(chips), clock_(clock), outbox_(outbox), conductor_(conductor) {}

AgentFlowHost::~AgentFlowHost() {
  *alive_ = false;
  std::vector<std::string> owners;
  for (const auto& [owner, held] : held_) owners.push_back(owner);
  for (const auto& owner : owners) ReleaseGpio(owner);
}

Result<void> AgentFlowHost::WatchGpio(const std::string& owner, const ew::flows::runtime::GpioWatchSpec& spec,
                                      std::function<void(GpioEdge)> on_edge) {
  EW_TRY(ew::gpio::LineRef ref, chips_.Resolve(spec.line));
  ew::gpio::LineRequest request;
  request.direction = ew::gpio::Direction::kInput;
  request.bias = spec.pull == "up" ? ew::gpio::Bias::kPullUp : spec.pull == "down" ? ew::gpio::Bias::kPullDown
                                                                                   : ew::gpio::Bias::kAsIs;
  request.edges = spec.edge == "rising" ? ew::gpio::Edges::kRising : spec.edge == "falling" ? ew::gpio::Edges::kFalling
                                                                                            : ew::gpio::Edges::kBoth;
  request.debounce = spec.debounce;
  auto alive = std::make_shared<bool>(true);
  // The chip calls on its own thread: hop to the io thread, and only while the watch stands.
  auto handler = [io = &io_, alive, on_edge = std::move(on_edge), clock = &clock_](const ew::gpio::EdgeEvent& edge) {
    const bool rising = edge.kind == ew::gpio::EdgeKind::kRising;
    boost::asio::post(*io, [alive, on_edge, rising, clock] {
      if (!*alive) return;
      int64_t ms = std::chrono::duration_cast<std::chrono::milliseconds>(clock->Now().time_since_epoch()).count();
      on_edge(GpioEdge{rising ? 1 : 0, rising, ms});
    });
  };
  EW_TRY_VOID(ref.chip->Request(ref.offset, request, Consumer(owner), handler));
  held_.emplace(owner, Held{ref, false, alive});
  return Ok();
}

Result<int> AgentFlowHost::ReadGpio(const std::string& line) {
  EW_TRY(ew::gpio::LineRef ref, chips_.Resolve(line));
  return ref.chip->Read(ref.offset);
}

Result<void> AgentFlowHost::WriteGpio(const std::string& owner, const std::string& line, int level) {
  EW_TRY(ew::gpio::LineRef ref, chips_.Resolve(line));
  bool held = false;
  auto range = held_.equal_range(owner);
  for (auto it = range.first; it != range.second; ++it)
    if (it->second.ref.chip == ref.chip && it->second.ref.offset == ref.offset) held = true;
  if (!held) {
    ew::gpio::LineRequest request;
    request.direction = ew::gpio::Direction::kOutput;
    request.initial_value = level;
    EW_TRY_VOID(ref.chip->Request(ref.offset, request, Consumer(owner)));
    held_.emplace(owner, Held{ref, true, std::make_shared<bool>(true)});
  }
  return ref.chip->Write(ref.offset, level, Consumer(owner));
}

void AgentFlowHost::ReleaseGpio(const std::string& owner) {
  auto range = held_.equal_range(owner);
  for (auto it = range.first; it != range.second; ++it) {
    *it->second.alive = false;
    (void)it->second.ref.chip->Release(it->second.ref.offset, Consumer(owner));
  }
  held_.erase(range.first, range.second);
}

void AgentFlowHost::InvokeFunction(const ew::flows::runtime::FunctionCall& call,
                                   std::function<void(Result<nlohmann::json>)> done) {
  if (!conductor_) {
    done(Unavailable("no session with the conductor"));
    return;
  }
  contract::flow::InvokeRequest request;
  request.function = call.function;
  request.placement = call.placement;
  request.event = call.event;
  request.timeout_ms = call.timeout.count();
  conductor_->Call(contract::flow::kInvoke.uri, request.ToPayload(), call.timeout + options_.invoke_grace,
                   [done = std::move(done)](Result<rpc::Reply> reply) {
                     if (!reply) {
                       done(tl::unexpected<Error>(reply.error()));
                       return;
                     }
                     auto answer = contract::flow::InvokeReply::Parse(*reply);
                     if (!answer) {
                       done(tl::unexpected<Error>(answer.error()));
                       return;
                     }
                     done(std::move(answer->result));
                   });
}

void AgentFlowHost::PublishWire(const std::string& topic, nlohmann::json msg) { outbox_.Send(topic, std::move(msg)); }

void AgentFlowHost::Debug(const ew::flows::runtime::DebugEvent& event) {
  if (!online_ || !conductor_) {
    ++debug_dropped_;
    return;
  }
  if (!debug_rate_.Admit(clock_.Steady(), options_.debug_per_second)) {
    ++debug_dropped_;
    return;
  }
  rpc::Reply payload;
  payload.kwargs = {{"board", options_.board}, {"node", event.node},   {"name", event.name},
                    {"msg", event.msg},        {"topic", event.topic}, {"property", event.property}};
  if (!conductor_->Publish(ew::flows::DebugTopic(options_.flow), payload)) ++debug_dropped_;
}

void AgentFlowHost::Status(const std::string& node, const nlohmann::json& status) {
  if (!online_ || !conductor_) return;
  rpc::Reply payload;
  payload.kwargs = {{"board", options_.board}, {"node", node}, {"status", status}};
  conductor_->Publish(ew::flows::StatusTopic(options_.flow), payload);
}

void AgentFlowHost::Log(const std::string& level, const std::string& node, const std::string& text) {
  if (level == "error")
    Logger()->info("flow {} node {}: {}", options_.flow, node, ew::log::Untrusted(text));
  else
    Logger()->debug("flow {} node {}: {}: {}", options_.flow, node, level, ew::log::Untrusted(text));
}

}  // namespace ew::agent::flows
