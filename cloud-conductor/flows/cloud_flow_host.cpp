#include "cloud-conductor/flows/cloud_flow_host.hpp"

#include "common/log/log.hpp"
#include "flows/model/wire_topic.hpp"

namespace ew::conductor::flows {

namespace {

const ew::log::Logger kLog{"flows"};

tl::unexpected<Error> NoGpio() {
  return InvalidArgument("the conductor has no GPIO lines: place GPIO nodes on a board");
}

}  // namespace

CloudFlowHost::CloudFlowHost(CloudFlowHostOptions options, router::BoardGateway& gateway, const Clock& clock,
                             FlowInvoker invoker)
    : options_(std::move(options)), gateway_(gateway), clock_(clock), invoker_(std::move(invoker)) {}

Result<void> CloudFlowHost::WatchGpio(const std::string&, const ew::flows::runtime::GpioWatchSpec&,
                                      std::function<void(ew::flows::runtime::GpioEdge)>) {
  return NoGpio();
}

Result<int> CloudFlowHost::ReadGpio(const std::string&) { return NoGpio(); }

Result<void> CloudFlowHost::WriteGpio(const std::string&, const std::string&, int) { return NoGpio(); }

void CloudFlowHost::InvokeFunction(const ew::flows::runtime::FunctionCall& call,
                                   std::function<void(Result<nlohmann::json>)> done) {
  if (!invoker_) return done(Unavailable("functions are not enabled on this conductor"));
  invoker_(options_.flow, call, std::move(done));
}

void CloudFlowHost::PublishWire(const std::string& topic, nlohmann::json msg) {
  const uint64_t seq = ++seq_[topic];
  wamp::Payload payload;
  payload.args = nlohmann::json::array({std::move(msg)});
  payload.kwargs = {{"seq", seq}, {"from", options_.from}, {"version", options_.version}};
  gateway_.PublishFlowEvent(topic, std::move(payload));
  ++published_;
}

void CloudFlowHost::Debug(const ew::flows::runtime::DebugEvent& event) {
  if (!debug_rate_.Admit(clock_.Steady(), options_.debug_per_second)) {
    ++debug_dropped_;
    return;
  }
  wamp::Payload payload;
  payload.args = nlohmann::json::array();
  // board "" is the cloud, as in the partitions of GET /v1/flows/{id}.
  payload.kwargs = {{"board", ""},           {"node", event.node},   {"name", event.name},
                    {"msg", event.msg},      {"topic", event.topic}, {"property", event.property}};
  gateway_.PublishFlowEvent(ew::flows::DebugTopic(options_.flow), std::move(payload));
}

void CloudFlowHost::Status(const std::string& node, const nlohmann::json& status) {
  wamp::Payload payload;
  payload.args = nlohmann::json::array();
  payload.kwargs = {{"board", ""}, {"node", node}, {"status", status}};
  gateway_.PublishFlowEvent(ew::flows::StatusTopic(options_.flow), std::move(payload));
}

void CloudFlowHost::Log(const std::string& level, const std::string& node, const std::string& text) {
  if (level == "error")
    kLog()->info("cloud flow {} node {}: {}", options_.flow, node, ew::log::Untrusted(text));
  else
    kLog()->debug("cloud flow {} node {}: {}: {}", options_.flow, node, level, ew::log::Untrusted(text));
}

}  // namespace ew::conductor::flows
