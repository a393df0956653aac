// Every procedure and topic of the board contract, both ways: a request and a reply survive
// ToPayload → the WAMP codec (msgpack and JSON, as the router and the agent carry them) →
// Parse unchanged, and bad input is refused with an error that names the field.
#include <cmath>
#include <string>

#include <gtest/gtest.h>

#include "common/contract/flow.hpp"
#include "common/contract/fn.hpp"
#include "common/contract/gpio.hpp"
#include "common/contract/proto3_json.hpp"
#include "common/contract/publish.hpp"
#include "common/contract/states.hpp"
#include "common/contract/sys.hpp"
#include "common/contract/tunnel.hpp"
#include "common/contract/update.hpp"
#include "common/wamp/codec.hpp"

namespace ew::contract {
namespace {

using nlohmann::json;

// The payload as the other side sees it after a trip through the codec in a CALL.
wamp::Payload OverTheWire(const wamp::Payload& payload, wamp::Serializer serializer) {
  wamp::Call call;
  call.request = 1;
  call.procedure = "ew.board.brd-1.x";
  call.payload = payload;
  auto decoded = wamp::Decode(serializer, wamp::Encode(serializer, wamp::Message{call}));
  EXPECT_TRUE(decoded.has_value()) << (decoded ? "" : decoded.error().message);
  return std::get<wamp::Call>(*decoded).payload;
}

// Round trip of `message` through both serializers; the parsed value prints the same payload.
template <typename T>
T RoundTrip(const T& message) {
  T last;
  for (auto serializer : {wamp::Serializer::kMsgpack, wamp::Serializer::kJson}) {
    const wamp::Payload sent = message.ToPayload();
    auto parsed = T::Parse(OverTheWire(sent, serializer));
    EXPECT_TRUE(parsed.has_value()) << (parsed ? "" : parsed.error().message);
    if (!parsed) return message;
    const wamp::Payload again = parsed->ToPayload();
    // JSON has no bin: compare bytes as the msgpack side has them.
    if (serializer == wamp::Serializer::kMsgpack) {
      EXPECT_EQ(again.args, sent.args);
    }
    EXPECT_EQ(again.kwargs, sent.kwargs);
    last = std::move(*parsed);
  }
  return last;
}

template <typename T>
void ExpectRefused(json kwargs, const std::string& mentions, json args = json::array()) {
  auto parsed = T::Parse(wamp::Payload{std::move(args), std::move(kwargs)});
  ASSERT_FALSE(parsed.has_value()) << "accepted";
  EXPECT_EQ(parsed.error().code, ErrorCode::kInvalidArgument);
  EXPECT_NE(parsed.error().message.find(mentions), std::string::npos) << parsed.error().message;
}

const std::string kSha(64, 'a');

TEST(ContractNames, BoardAndConductorUris) {
  EXPECT_EQ(sys::kPing.Uri("brd-1"), "ew.board.brd-1.sys.ping");
  EXPECT_EQ(gpio::kEvent.Uri("brd-1"), "ew.board.brd-1.gpio.event");
  EXPECT_EQ(fn::kDeploy.Uri("b"), "ew.board.b.fn.deploy");
  EXPECT_STREQ(fn::kFetch.uri, "ew.conductor.fn.fetch");
  EXPECT_STREQ(fn::kReport.uri, "ew.conductor.fn.report");
  EXPECT_EQ(flow::kDeploy.Uri("b"), "ew.board.b.flow.deploy");
  EXPECT_EQ(flow::kStop.Uri("b"), "ew.board.b.flow.stop");
  EXPECT_EQ(flow::kList.Uri("b"), "ew.board.b.flow.list");
  EXPECT_STREQ(flow::kSync.uri, "ew.conductor.flow.sync");
  EXPECT_STREQ(flow::kInvoke.uri, "ew.conductor.fn.invoke");
}

TEST(ContractStates, EveryNameParsesBack) {
  for (auto s : {DeploymentState::kPending, DeploymentState::kDeploying, DeploymentState::kDeployed,
                 DeploymentState::kFailed})
    EXPECT_EQ(*ParseDeploymentState(Name(s)), s);
  for (auto s : {InvocationStatus::kRunning, InvocationStatus::kSucceeded, InvocationStatus::kFailed,
                 InvocationStatus::kTimedOut})
    EXPECT_EQ(*ParseInvocationStatus(Name(s)), s);
  for (auto s : {PartitionState::kPending, PartitionState::kDeployed, PartitionState::kOffline,
                 PartitionState::kFailed, PartitionState::kExternal})
    EXPECT_EQ(*ParsePartitionState(Name(s)), s);
  for (auto s : {FlowRunState::kRunning, FlowRunState::kFailed, FlowRunState::kStopped})
    EXPECT_EQ(*ParseFlowRunState(Name(s)), s);
  EXPECT_FALSE(ParseDeploymentState("removing"));
  EXPECT_FALSE(ParseInvocationStatus("ok"));
  EXPECT_FALSE(ParsePartitionState("running"));
  EXPECT_FALSE(ParseFlowRunState("deployed"));
}

TEST(ContractSys, Ping) {
  auto request = RoundTrip(sys::PingRequest{"hello"});
  EXPECT_EQ(request.echo, "hello");
  EXPECT_EQ(RoundTrip(sys::PingRequest{}).echo, "");
  // Bytes (msgpack bin) echo too.
  auto bytes = sys::PingRequest::Parse(wamp::Payload{json::array({json::binary({1, 2, 0})}), json::object()});
  ASSERT_TRUE(bytes);
  EXPECT_EQ(bytes->echo, std::string("\x01\x02\x00", 3));
  ExpectRefused<sys::PingRequest>(json::object(), "string or bytes", json::array({42}));

  sys::PingReply reply{1'700'000'000'123'456'789, "brd-1", std::string("\0\xff", 2)};
  auto back = RoundTrip(reply);
  EXPECT_EQ(back.board_time_ns, reply.board_time_ns);
  EXPECT_EQ(back.board_id, "brd-1");
  EXPECT_EQ(back.echo, reply.echo);
  EXPECT_EQ(reply.ToPayload().kwargs["boardTimeNs"], "1700000000123456789");  // proto3 int64
  ExpectRefused<sys::PingReply>({{"boardTimeNs", "soon"}, {"boardId", "b"}}, "boardTimeNs");
  ExpectRefused<sys::PingReply>({{"boardTimeNs", "1"}, {"boardId", "b"}, {"echo", "%%%"}}, "echo");
}

TEST(ContractSys, Info) {
  RoundTrip(Empty{});
  sys::SysInfo info;
  info.board_id = "brd-1";
  info.os = "Debian GNU/Linux 12";
  info.uptime_seconds = 12.5;
  info.load_average = {0.5, 1, std::nan("")};
  info.memory_total_bytes = int64_t{8} << 30;
  info.cpu_count = 4;
  info.functions_max_running = 3;
  info.container_limits = {{"memory", "cgroup v2"}, {"pids", ""}};
  info.gpio_chips.push_back({"gpiochip0", "sim", 2, 1, "", {"GPIO4", "GPIO5"}});
  auto back = RoundTrip(info);
  EXPECT_EQ(back.board_id, "brd-1");
  EXPECT_EQ(back.memory_total_bytes, info.memory_total_bytes);
  EXPECT_TRUE(std::isnan(back.load_average[2]));
  EXPECT_EQ(back.gpio_chips.at(0).line_names.at(1), "GPIO5");
  EXPECT_EQ(back.functions_max_running, 3);  // issue 18: the board's cap for placement
  json older = info.ToJson();
  older.erase("functionsMaxRunning");  // an agent from before the cap: no cap known
  EXPECT_EQ(sys::SysInfo::Parse(wamp::Payload{json::array(), older})->functions_max_running, 0);
  json bad = info.ToJson();
  bad["functionsMaxRunning"] = -1;
  ExpectRefused<sys::SysInfo>(bad, "functionsMaxRunning");
  bad = info.ToJson();
  bad["cpuCount"] = "four";
  ExpectRefused<sys::SysInfo>(bad, "cpuCount");
  bad = info.ToJson();
  bad.erase("memoryTotalBytes");
  ExpectRefused<sys::SysInfo>(bad, "memoryTotalBytes: required");
}

TEST(ContractGpio, Lines) {
  gpio::LinesReply reply;
  reply.chips.push_back({"gpiochip0", "sim", "", {{4, "GPIO4", true, "watch", "input", 1}}});
  reply.chips.push_back({"gpiochip9", "libgpiod", "cannot open", {}});
  auto back = RoundTrip(reply);
  ASSERT_EQ(back.chips.size(), 2u);
  EXPECT_EQ(back.chips[0].lines.at(0).consumer, "watch");
  EXPECT_EQ(back.chips[1].error, "cannot open");
  ExpectRefused<gpio::LinesReply>({{"chips", {{{"name", "c"}, {"backend", "sim"}, {"lines", 3}}}}}, "lines");
}

TEST(ContractGpio, ReadWrite) {
  EXPECT_EQ(RoundTrip(gpio::ReadRequest{"GPIO4"}).line, "GPIO4");
  ExpectRefused<gpio::ReadRequest>(json::object(), "line: required");
  ExpectRefused<gpio::ReadRequest>({{"line", "GPIO4"}, {"lien", 1}}, "unknown argument \"lien\"");
  auto write = RoundTrip(gpio::WriteRequest{"GPIO4", 1});
  EXPECT_EQ(write.value, 1);
  EXPECT_EQ(gpio::WriteRequest::Parse(wamp::Payload{json::array(), {{"line", "x"}, {"value", true}}})->value, 1);
  ExpectRefused<gpio::WriteRequest>({{"line", "GPIO4"}, {"value", 2}}, "value: must be 0 or 1");
  auto value = RoundTrip(gpio::LineValue{"gpiochip0", "GPIO4", 4, 1});
  EXPECT_EQ(value.offset, 4u);
  ExpectRefused<gpio::LineValue>({{"chip", "c"}, {"line", "l"}, {"offset", -1}, {"value", 0}}, "offset");
}

TEST(ContractGpio, Watch) {
  auto request = RoundTrip(gpio::WatchRequest{"GPIO4", "rising", "pull-up", 20});
  EXPECT_EQ(request.bias, "pull-up");
  EXPECT_EQ(request.debounce_ms, 20);
  auto defaults = gpio::WatchRequest::Parse(wamp::Payload{json::array(), {{"line", "GPIO4"}}});
  ASSERT_TRUE(defaults);
  EXPECT_EQ(defaults->edge, "both");
  EXPECT_EQ(defaults->bias, "");
  ExpectRefused<gpio::WatchRequest>({{"line", "GPIO4"}, {"edge", "up"}}, "edge");
  ExpectRefused<gpio::WatchRequest>({{"line", "GPIO4"}, {"bias", "strong"}}, "bias");
  ExpectRefused<gpio::WatchRequest>({{"line", "GPIO4"}, {"debounceMs", 5000}}, "debounceMs");
  auto reply = RoundTrip(gpio::WatchReply{"w1", "gpiochip0", "GPIO4", 4, 0});
  EXPECT_EQ(reply.watch, "w1");
  ExpectRefused<gpio::WatchReply>({{"chip", "c"}, {"line", "l"}, {"offset", 1}}, "watch: required");
  EXPECT_EQ(RoundTrip(gpio::UnwatchRequest{"w1"}).watch, "w1");
  ExpectRefused<gpio::UnwatchRequest>({{"watch", ""}}, "watch");
}

TEST(ContractGpio, Event) {
  gpio::EdgeEvent event{"gpiochip0", "GPIO4", 4, "rising", 1, 123456789, 7};
  auto back = RoundTrip(event);
  EXPECT_EQ(back.seq, 7u);
  EXPECT_EQ(back.timestamp_ns, 123456789);
  json bad = event.ToJson();
  bad["edge"] = "both";
  ExpectRefused<gpio::EdgeEvent>(bad, "edge");
  bad = event.ToJson();
  bad.erase("seq");
  ExpectRefused<gpio::EdgeEvent>(bad, "seq");
}

TEST(ContractFn, Deploy) {
  fn::DeployRequest request{"fn-1", "1.0.0", kSha, 1234, {}};
  request.triggers.push_back(*ew::gpio::ParseTrigger({{"line", "GPIO4"}, {"edge", "falling"}, {"debounceMs", 5}}));
  auto back = RoundTrip(request);
  EXPECT_EQ(back.size, 1234u);
  ASSERT_EQ(back.triggers.size(), 1u);
  EXPECT_EQ(back.triggers[0].line, "GPIO4");
  fn::DeployRequest tiny{"fn-1", "1", kSha, 1, {}};
  EXPECT_FALSE(tiny.ToPayload().kwargs.contains("triggers"));
  json ok = request.ToPayload().kwargs;
  for (auto [key, value, mentions] : std::initializer_list<std::tuple<const char*, json, const char*>>{
           {"functionId", "has space", "functionId"},
           {"version", "", "version"},
           {"sha256", "ABC", "sha256: must be 64 lowercase hex digits"},
           {"size", 0, "size"},
           {"size", -5, "size"},
           {"triggers", json::array({{{"edge", "up"}}}), "triggers"}}) {
    json bad = ok;
    bad[key] = value;
    ExpectRefused<fn::DeployRequest>(bad, mentions);
  }

  fn::DeployReply reply{{"fn-1", "hello", "1.0.0", kSha, request.triggers}, true, {"not enforced: CPU quota"}};
  auto answered = RoundTrip(reply);
  EXPECT_TRUE(answered.cached);
  EXPECT_EQ(answered.function.name, "hello");
  EXPECT_EQ(answered.warnings.at(0), "not enforced: CPU quota");
  json bad = reply.ToPayload().kwargs;
  bad["warnings"] = "one line";
  ExpectRefused<fn::DeployReply>(bad, "warnings");
  bad["warnings"] = {1, "kept"};  // an untrusted board's non-strings are dropped (Issue #11)
  EXPECT_EQ(fn::DeployReply::Parse(wamp::Payload{json::array(), bad})->warnings, std::vector<std::string>{"kept"});
  bad["sha256"] = "xyz";
  ExpectRefused<fn::DeployReply>(bad, "sha256");
  // What agents before the contract answered still parses.
  EXPECT_TRUE(fn::DeployReply::Parse(wamp::Payload{json::array(), {{"cached", false}}}));
}

TEST(ContractFn, RemoveAndList) {
  EXPECT_EQ(RoundTrip(fn::RemoveRequest{"fn-1"}).function_id, "fn-1");
  ExpectRefused<fn::RemoveRequest>(json::object(), "functionId: required");
  EXPECT_TRUE(RoundTrip(fn::RemoveReply{"fn-1", true}).removed);

  fn::ListReply list;
  list.runtime = "runc";
  list.functions.push_back({{"fn-1", "hello", "1", kSha, {}}, 1, 2, 3});
  auto back = RoundTrip(list);
  ASSERT_EQ(back.functions.size(), 1u);
  EXPECT_EQ(back.functions[0].queued, 3u);
  EXPECT_EQ(back.runtime, "runc");
  ExpectRefused<fn::ListReply>({{"functions", {{{"name", "hello"}}}}, {"runtime", "runc"}}, "functions[]: functionId: required");
  ExpectRefused<fn::ListReply>({{"functions", {{{"functionId", "fn-1"}, {"queued", -1}}}}, {"runtime", "runc"}}, "queued");
}

TEST(ContractFn, Invoke) {
  auto request = RoundTrip(fn::InvokeRequest{"fn-1", {{"x", 1}, {"list", {1, "two"}}}});
  EXPECT_EQ(request.event["list"][1], "two");
  auto absent = fn::InvokeRequest::Parse(wamp::Payload{json::array(), {{"functionId", "fn-1"}}});
  ASSERT_TRUE(absent);
  EXPECT_TRUE(absent->event.is_null());

  fn::InvocationRecord record{InvocationStatus::kTimedOut, {{"error", "too slow"}, {"boardId", "brd-1"}}};
  auto back = RoundTrip(record);
  EXPECT_EQ(back.status, InvocationStatus::kTimedOut);
  EXPECT_EQ(back.record["status"], "timed_out");
  ExpectRefused<fn::InvocationRecord>({{"output", 1}}, "status: required");
  ExpectRefused<fn::InvocationRecord>({{"status", "running"}}, "status");
  ExpectRefused<fn::InvocationRecord>({{"status", "ok"}}, "status");
}

TEST(ContractFn, Fetch) {
  auto request = RoundTrip(fn::FetchRequest{kSha, 262144, 1000});
  EXPECT_EQ(request.offset, 262144u);
  ExpectRefused<fn::FetchRequest>({{"sha256", kSha}, {"offset", 0}, {"length", 0}}, "length");
  ExpectRefused<fn::FetchRequest>({{"sha256", kSha}, {"offset", -1}, {"length", 1}}, "offset");

  fn::FetchReply reply{{0, 1, 2, 255}, 4096};
  auto back = RoundTrip(reply);
  EXPECT_EQ(back.bytes, reply.bytes);
  EXPECT_EQ(back.size, 4096u);
  ExpectRefused<fn::FetchReply>({{"size", 4}}, "no bytes");
  ExpectRefused<fn::FetchReply>(json::object(), "size: required", json::array({json::binary({1})}));
}

TEST(ContractFn, Report) {
  fn::ReportRequest request{"fn-1", {{{"status", "succeeded"}, {"at", 1700000000}}}};
  auto back = RoundTrip(request);
  ASSERT_EQ(back.records.size(), 1u);
  EXPECT_EQ(back.records[0]["at"], 1700000000);
  ExpectRefused<fn::ReportRequest>({{"functionId", "fn-1"}, {"records", json::array()}}, "records");
  ExpectRefused<fn::ReportRequest>({{"functionId", "fn-1"}, {"records", {1}}}, "each must be an object");
  json many = json::array();
  for (size_t i = 0; i <= fn::kMaxReportedRecords; ++i) many.push_back(json::object());
  ExpectRefused<fn::ReportRequest>({{"functionId", "fn-1"}, {"records", many}}, "records");
  EXPECT_EQ(RoundTrip(fn::ReportReply{3}).stored, 3u);
  ExpectRefused<fn::ReportReply>({{"stored", "3"}}, "stored");
}

TEST(ContractFn, ReportWithSpoolSeqs) {
  fn::ReportRequest request{"fn-1", {{{"status", "succeeded"}}, {{"status", "failed"}}}, "0123456789abcdef", {4, 7}};
  auto back = RoundTrip(request);
  EXPECT_EQ(back.seqs, (std::vector<uint64_t>{4, 7}));
  EXPECT_EQ(back.spool, "0123456789abcdef");
  EXPECT_TRUE(RoundTrip(fn::ReportRequest{"fn-1", {json::object()}}).seqs.empty());  // older agents
  const json record = json::object();
  ExpectRefused<fn::ReportRequest>(
      {{"functionId", "fn-1"}, {"records", {record, record}}, {"spool", "ab"}, {"seqs", {1}}}, "one seq per record");
  ExpectRefused<fn::ReportRequest>(
      {{"functionId", "fn-1"}, {"records", {record, record}}, {"spool", "ab"}, {"seqs", {2, 2}}}, "increasing");
  ExpectRefused<fn::ReportRequest>({{"functionId", "fn-1"}, {"records", {record}}, {"seqs", {1}}}, "spool");
}

TEST(ContractPublish, AcknowledgedPublication) {
  EXPECT_STREQ(publish::kPublish.uri, "ew.conductor.publish");
  publish::PublishRequest request{"ew.board.b1.gpio.event", "0123456789abcdef", "gpio.event", {}};
  request.records.push_back({1, wamp::Payload{json::array(), {{"line", "GPIO4"}}}});
  request.records.push_back({5, wamp::Payload{json::array({{{"payload", 1}}}), {{"seq", 5}}}});
  auto back = RoundTrip(request);
  ASSERT_EQ(back.records.size(), 2u);
  EXPECT_EQ(back.records[0].seq, 1u);
  EXPECT_EQ(back.records[0].payload.kwargs["line"], "GPIO4");
  EXPECT_EQ(back.records[1].payload.args[0]["payload"], 1);
  EXPECT_EQ(back.stream, "gpio.event");
  auto reply = RoundTrip(publish::PublishReply{5, 1, 1});
  EXPECT_EQ(reply.routed, 1u);
  EXPECT_EQ(reply.duplicates, 1u);
  EXPECT_EQ(reply.through, 5u);

  const json base = {{"topic", "ew.board.b1.gpio.event"}, {"spool", "0123456789abcdef"}, {"stream", "gpio.event"}};
  auto with = [&](const char* key, json value) {
    json kwargs = base;
    kwargs["records"] = {{{"seq", 1}}};
    kwargs[key] = std::move(value);
    return kwargs;
  };
  ExpectRefused<publish::PublishRequest>(with("records", json::array()), "records");
  ExpectRefused<publish::PublishRequest>(with("records", {{{"seq", 2}}, {{"seq", 2}}}), "increase");
  ExpectRefused<publish::PublishRequest>(with("records", {{{"seq", 0}}}), "increase");
  ExpectRefused<publish::PublishRequest>(with("records", {{{"seq", 1}, {"args", {{"k", 1}}}}}), "args");
  ExpectRefused<publish::PublishRequest>(with("records", {{{"seq", 1}, {"extra", 1}}}), "extra");
  ExpectRefused<publish::PublishRequest>(with("spool", "not/an/id"), "spool");
  ExpectRefused<publish::PublishRequest>(with("stream", ".hidden"), "stream");
  ExpectRefused<publish::PublishRequest>(with("unknown", 1), "unknown");
  json many = json::array();
  for (size_t i = 1; i <= publish::kMaxRecords + 1; ++i) many.push_back({{"seq", i}});
  ExpectRefused<publish::PublishRequest>(with("records", many), "records");
  ExpectRefused<publish::PublishReply>({{"through", -1}}, "through");
}

TEST(ContractFlow, DeployAndStop) {
  const json partition = {{"flow", "flw-1"}, {"version", 3}, {"board", "brd-1"}, {"nodes", json::array()}};
  auto request = RoundTrip(flow::DeployRequest{partition});
  EXPECT_EQ(request.partition, partition);
  ExpectRefused<flow::DeployRequest>(json::array({1}), "partition object");
  ExpectRefused<flow::DeployRequest>(json(), "partition object");

  auto state = RoundTrip(flow::FlowState{"flw-1", 3, FlowRunState::kRunning});
  EXPECT_EQ(state.flow, "flw-1");
  EXPECT_EQ(state.version, 3);
  EXPECT_EQ(state.state, FlowRunState::kRunning);
  // A board's answer is informative: absent fields are empty, mistyped ones refused.
  auto bare = flow::FlowState::Parse(wamp::Payload{});
  ASSERT_TRUE(bare.has_value());
  EXPECT_EQ(bare->version, 0);
  ExpectRefused<flow::FlowState>({{"version", "3"}}, "version");
  ExpectRefused<flow::FlowState>({{"state", 1}}, "state");
  ExpectRefused<flow::FlowState>({{"state", "sleeping"}}, "flow state must be running, failed or stopped");
  EXPECT_FALSE(bare->state.has_value());

  EXPECT_EQ(RoundTrip(flow::StopRequest{"flw-1"}).flow, "flw-1");
  ExpectRefused<flow::StopRequest>(json::object(), "flow.stop: flow: required");
  ExpectRefused<flow::StopRequest>({{"flow", 7}}, "flow: must be a string");
  ExpectRefused<flow::StopRequest>({{"flow", ""}}, "flow: must be a non-empty string");
}

TEST(ContractFlow, List) {
  flow::ListReply list;
  list.flows.push_back({"flw-1", 2, FlowRunState::kRunning, 5, 1, 0, ""});
  list.flows.push_back({"flw-2", 1, FlowRunState::kFailed, 1, 0, 4, "GPIO4 is busy"});
  EXPECT_FALSE(list.ToPayload().kwargs["flows"][0].contains("error"));
  auto back = RoundTrip(list);
  ASSERT_EQ(back.flows.size(), 2u);
  EXPECT_EQ(back.flows[0].nodes, 5u);
  EXPECT_EQ(back.flows[0].spooled, 1u);
  EXPECT_EQ(back.flows[1].dropped, 4u);
  EXPECT_EQ(back.flows[1].error, "GPIO4 is busy");
  EXPECT_EQ(back.flows[1].state, FlowRunState::kFailed);
  EXPECT_TRUE(RoundTrip(flow::ListReply{}).flows.empty());
  ExpectRefused<flow::ListReply>(json::object(), "flows: required");
  ExpectRefused<flow::ListReply>({{"flows", json::array({"flw-1"})}}, "flows[]");
  ExpectRefused<flow::ListReply>({{"flows", json::array({{{"version", 1}}})}}, "flow: required");
  ExpectRefused<flow::ListReply>({{"flows", json::array({{{"flow", "f"}, {"version", 1}, {"spooled", -1}}})}},
                                 "spooled");
}

TEST(ContractFlow, Sync) {
  auto request = RoundTrip(flow::SyncRequest{{{"flw-1", 2}, {"flw-2", 7}}});
  ASSERT_EQ(request.flows.size(), 2u);
  EXPECT_EQ(request.flows[1].flow, "flw-2");
  EXPECT_EQ(request.flows[1].version, 7);
  // A board that holds nothing may leave flows out.
  EXPECT_TRUE(flow::SyncRequest::Parse(wamp::Payload{json::array(), {{"flows", nullptr}}})->flows.empty());
  EXPECT_TRUE(flow::SyncRequest::Parse(wamp::Payload{})->flows.empty());
  ExpectRefused<flow::SyncRequest>({{"flows", "flw-1"}}, "flows: must be an array");
  ExpectRefused<flow::SyncRequest>({{"flows", json::array({{{"flow", "f"}}})}}, "version: required");
  ExpectRefused<flow::SyncRequest>({{"flows", json::array({{{"flow", "f"}, {"version", 1.5}}})}}, "version");

  const json partition = {{"flow", "flw-1"}, {"version", 3}, {"board", "brd-1"}};
  auto reply = RoundTrip(flow::SyncReply{{partition}, {"flw-9"}});
  ASSERT_EQ(reply.deploy.size(), 1u);
  EXPECT_EQ(reply.deploy[0], partition);
  EXPECT_EQ(reply.stop, std::vector<std::string>{"flw-9"});
  ExpectRefused<flow::SyncReply>({{"deploy", json::array({"flw-1"})}}, "deploy");
  ExpectRefused<flow::SyncReply>({{"stop", json::array({1})}}, "stop");
  ExpectRefused<flow::SyncReply>({{"stop", "flw-1"}}, "stop: must be an array");
}

TEST(ContractFlow, Invoke) {
  flow::InvokeRequest request;
  request.function = "blink";
  request.placement = "board:brd-2";
  request.event = {{"x", 1}};
  request.timeout_ms = 1500;
  auto back = RoundTrip(request);
  EXPECT_EQ(back.function, "blink");
  EXPECT_EQ(back.placement, "board:brd-2");
  EXPECT_EQ(back.event, json({{"x", 1}}));
  EXPECT_EQ(back.timeout_ms, 1500);
  // Defaults: placement auto, event null, the conductor's timeout; a fractional one is cut.
  auto least = flow::InvokeRequest::Parse(wamp::Payload{json::array(), {{"function", "blink"}, {"placement", ""}}});
  ASSERT_TRUE(least.has_value());
  EXPECT_EQ(least->placement, "auto");
  EXPECT_TRUE(least->event.is_null());
  EXPECT_FALSE(least->timeout_ms.has_value());
  EXPECT_EQ(flow::InvokeRequest::Parse(wamp::Payload{json::array(), {{"function", "f"}, {"timeout_ms", 2.5}}})->timeout_ms, 2);
  ExpectRefused<flow::InvokeRequest>(json::object(), "function: required");
  ExpectRefused<flow::InvokeRequest>({{"function", ""}}, "function");
  ExpectRefused<flow::InvokeRequest>({{"function", "f"}, {"placement", 3}}, "placement: must be a string");
  ExpectRefused<flow::InvokeRequest>({{"function", "f"}, {"timeout_ms", 0}}, "timeout_ms");
  ExpectRefused<flow::InvokeRequest>({{"function", "f"}, {"timeout_ms", 3'600'001}}, "timeout_ms");
  ExpectRefused<flow::InvokeRequest>({{"function", "f"}, {"timeout_ms", "1s"}}, "timeout_ms");

  EXPECT_EQ(RoundTrip(flow::InvokeReply{{{"on", true}}}).result, json({{"on", true}}));
  EXPECT_TRUE(flow::InvokeReply::Parse(wamp::Payload{})->result.is_null());
  ExpectRefused<flow::InvokeReply>(json::array({1}), "keyword arguments must be an object");
}

TEST(ContractTunnel, Open) {
  EXPECT_EQ(tunnel::kOpen.Uri("brd-1"), "ew.board.brd-1.tunnel.open");
  tunnel::OpenRequest request;
  request.token = "AbCdEfGhIjKlMnOpQrStUvWxYz012345678_-abcdef";
  request.port = 8022;
  request.service = "svc-1";
  auto back = RoundTrip(request);
  EXPECT_EQ(back.token, request.token);
  EXPECT_EQ(back.port, 8022u);
  EXPECT_EQ(back.service, "svc-1");
  const std::string token = request.token;
  ExpectRefused<tunnel::OpenRequest>({{"port", 22}}, "token: required");
  ExpectRefused<tunnel::OpenRequest>({{"token", "short"}, {"port", 22}}, "token");
  ExpectRefused<tunnel::OpenRequest>({{"token", token + "/../x"}, {"port", 22}}, "token");
  ExpectRefused<tunnel::OpenRequest>({{"token", std::string(129, 'a')}, {"port", 22}}, "token");
  ExpectRefused<tunnel::OpenRequest>({{"token", token}}, "port");
  ExpectRefused<tunnel::OpenRequest>({{"token", token}, {"port", 0}}, "port");
  ExpectRefused<tunnel::OpenRequest>({{"token", token}, {"port", 65536}}, "port");
  ExpectRefused<tunnel::OpenRequest>({{"token", token}, {"port", -1}}, "port");
  ExpectRefused<tunnel::OpenRequest>({{"token", token}, {"port", 22}, {"host", "10.0.0.1"}}, "host");
  // Review 3, L4: `service` goes into the board's log lines: no newline, control character or
  // flood of text can forge one there.
  ExpectRefused<tunnel::OpenRequest>({{"token", token}, {"port", 22}, {"service", "svc-1\nERROR forged line"}},
                                     "service");
  ExpectRefused<tunnel::OpenRequest>({{"token", token}, {"port", 22}, {"service", "svc\x1b[2K"}}, "service");
  ExpectRefused<tunnel::OpenRequest>({{"token", token}, {"port", 22}, {"service", "svc\r"}}, "service");
  ExpectRefused<tunnel::OpenRequest>({{"token", token}, {"port", 22}, {"service", std::string(129, 's')}}, "service");
  // What the conductor sends passes: a service id, or "proxy to <board>".
  for (const std::string& service : std::vector<std::string>{"svc-0a1b2c", "proxy to brd-1.x_y", std::string(128, 's')}) {
    request.service = service;
    EXPECT_EQ(RoundTrip(request).service, service);
  }
  EXPECT_TRUE(tunnel::IsTokenShaped(token));
  EXPECT_FALSE(tunnel::IsTokenShaped("abc"));
}

// Updates over the air and log follow (issue 16): what crosses the wire, both codecs, and what is
// refused (an update id names a file on the board; a version travels to a shell helper).
TEST(ContractUpdate, RequestsReportsAndBatchesRoundTripAndBadOnesAreRefused) {
  update::UpdateRequest request{"upd-1", kSha, 4096, "0.1.0-2", 30, ""};
  auto back = RoundTrip(request);
  EXPECT_EQ(back.update_id, "upd-1");
  EXPECT_EQ(back.size, 4096u);
  EXPECT_EQ(back.deadline_seconds, 30);
  EXPECT_EQ(back.signature, "");
  request.signature = std::string(64, '\xab');
  EXPECT_EQ(RoundTrip(request).signature, request.signature);
  ExpectRefused<update::UpdateRequest>({{"updateId", "u"}, {"sha256", kSha}, {"size", 1}, {"signature", "q83v"}},
                                       "signature");  // 3 bytes
  ExpectRefused<update::UpdateRequest>({{"updateId", "u"}, {"sha256", kSha}, {"size", 1}, {"signature", "!!"}},
                                       "signature");
  ExpectRefused<update::UpdateRequest>({{"updateId", "../x"}, {"sha256", kSha}, {"size", 1}}, "updateId");
  ExpectRefused<update::UpdateRequest>({{"updateId", "u"}, {"sha256", "ABC"}, {"size", 1}}, "sha256");
  ExpectRefused<update::UpdateRequest>({{"updateId", "u"}, {"sha256", kSha}, {"size", 0}}, "size");
  ExpectRefused<update::UpdateRequest>({{"updateId", "u"}, {"sha256", kSha}, {"size", 1}, {"version", "1;reboot"}},
                                       "version");
  ExpectRefused<update::UpdateRequest>({{"updateId", "u"}, {"sha256", kSha}, {"size", 1}, {"deadlineSeconds", 9}},
                                       "deadlineSeconds");
  ExpectRefused<update::UpdateRequest>({{"updateId", "u"}, {"sha256", kSha}, {"size", 1}, {"extra", 1}}, "extra");

  update::UpdateReport report;
  report.update_id = "upd-1";
  report.state = update::UpdateState::kRolledBack;
  EXPECT_EQ(RoundTrip(report).state, update::UpdateState::kRolledBack);  // empty strings are fine
  ExpectRefused<update::UpdateReport>({{"updateId", "u"}, {"state", "exploded"}}, "state");
  for (auto state : {update::UpdateState::kPending, update::UpdateState::kFetching, update::UpdateState::kInstalling,
                     update::UpdateState::kOnline, update::UpdateState::kRolledBack, update::UpdateState::kFailed})
    EXPECT_EQ(*update::ParseUpdateState(update::Name(state)), state);

  ExpectRefused<update::FetchRequest>({{"updateId", "u"}, {"offset", 0}, {"length", 0}}, "length");
  ExpectRefused<update::FetchRequest>({{"updateId", "u"}, {"offset", 0}, {"length", 1 << 20}}, "length");

  sys::LogBatch batch;
  batch.lines = {"a", "b"};
  batch.first_seq = 41;
  EXPECT_EQ(RoundTrip(batch).first_seq, 41);
  ExpectRefused<sys::LogBatch>({{"lines", json::array({1})}}, "lines");
  ExpectRefused<sys::LogBatch>({{"lines", json(std::vector<std::string>(201, "x"))}}, "lines");
}

// Issue 14 review: the bounds of one log answer, shared by the agent and the conductor.
TEST(ContractTest, Issue14LogLinesAreFittedToTheAnswersBounds) {
  // A line over the bound is cut at a character boundary, marker included in the bound.
  std::vector<std::string> lines = {"short", std::string(10, 'a') + "\xc3\xa9\xc3\xa9\xc3\xa9" + std::string(20, 'b')};
  auto fitted = sys::FitLogLines(lines, sys::KeepLines::kOldest, 24, 1000);
  EXPECT_EQ(fitted.cut, 1u);
  EXPECT_EQ(fitted.dropped, 0u);
  EXPECT_EQ(lines[0], "short");
  EXPECT_LE(lines[1].size(), 24u);
  EXPECT_EQ(lines[1], std::string(10, 'a') + "\xc3\xa9" + sys::kLogCutMarker) << "no half character";
  // Past the answer's bytes: the oldest stay (follow) or the newest (sys.logs); one always stays.
  std::vector<std::string> many(10, std::string(100, 'z'));
  for (size_t i = 0; i < many.size(); ++i) many[i][0] = static_cast<char>('0' + i);
  auto oldest = many;
  auto kept = sys::FitLogLines(oldest, sys::KeepLines::kOldest, 4096, 350);
  EXPECT_EQ(kept.kept, 3u);
  EXPECT_EQ(kept.dropped, 7u);
  EXPECT_EQ(oldest.front()[0], '0');
  auto newest = many;
  kept = sys::FitLogLines(newest, sys::KeepLines::kNewest, 4096, 350);
  EXPECT_EQ(kept.kept, 3u);
  EXPECT_EQ(newest.front()[0], '7');
  EXPECT_EQ(newest.back()[0], '9');
  std::vector<std::string> one = {std::string(100, 'q')};
  EXPECT_EQ(sys::FitLogLines(one, sys::KeepLines::kOldest, 4096, 10).kept, 1u);
  // The counts travel in the batch and the reply.
  sys::LogBatch batch;
  batch.lines = {"x"};
  batch.cut = 3;
  EXPECT_EQ(sys::LogBatch::Parse(batch.ToPayload())->cut, 3);
  sys::LogsReply reply;
  reply.omitted = 5;
  reply.cut = 2;
  auto parsed = sys::LogsReply::Parse(reply.ToPayload());
  EXPECT_EQ(parsed->omitted, 5);
  EXPECT_EQ(parsed->cut, 2);
}

TEST(ContractProto3, ReadersAcceptWhatTheWritersPrint) {
  for (int64_t v : {int64_t{0}, int64_t{-5}, INT64_MAX}) EXPECT_EQ(*ReadProto3Int64(Proto3Int64(v)), v);
  for (double v : {0.0, 1.5, 1e300}) EXPECT_EQ(*ReadProto3Double(Proto3Double(v)), v);
  EXPECT_EQ(*ReadProto3Bytes(Proto3Bytes(std::string("\0ab", 3))), std::string("\0ab", 3));
  EXPECT_FALSE(ReadProto3Int64("12x"));
  EXPECT_FALSE(ReadProto3Double(json::array()));
}

}  // namespace
}  // namespace ew::contract
