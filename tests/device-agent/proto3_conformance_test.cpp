// Keeps the agent's hand-built proto3 JSON (nlohmann, because the agent does not link protobuf)
// in step with libprotobuf's JSON mapping of the same messages: sys.info / sys.ping replies
// print exactly what MessageToJsonString prints (same keys, same JSON types and values) and
// parse back into equal messages; the enrolment bodies are read and written as protobuf does.
#include <google/protobuf/util/field_comparator.h>
#include <google/protobuf/util/json_util.h>
#include <google/protobuf/util/message_differencer.h>

#include <cfloat>
#include <chrono>
#include <cmath>
#include <limits>
#include <optional>
#include <string>
#include <vector>

#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include "common/contract/sys.hpp"
#include "common/contract/update.hpp"
#include "device-agent/enrol/enrol_messages.hpp"
#include "device-agent/rpc/sys_procedures.hpp"
#include "edgewire/v1/api.pb.h"
#include "edgewire/v1/board_rpc.pb.h"

namespace ew::agent {
namespace {

using nlohmann::json;
namespace pbutil = google::protobuf::util;

// What the agent did before: protobuf prints every field, nlohmann reads the text.
json ProtoReply(const google::protobuf::Message& message) {
  pbutil::JsonPrintOptions options;
  options.always_print_primitive_fields = true;
  std::string text;
  EXPECT_TRUE(pbutil::MessageToJsonString(message, &text, options).ok());
  return json::parse(text);
}

template <typename Message>
std::optional<Message> ProtoParse(const std::string& text, bool ignore_unknown = false) {
  Message message;
  pbutil::JsonParseOptions options;
  options.ignore_unknown_fields = ignore_unknown;
  if (auto status = pbutil::JsonStringToMessage(text, &message, options); !status.ok()) {
    ADD_FAILURE() << "protobuf refused " << text << ": " << status.ToString();
    return std::nullopt;
  }
  return message;
}

// NaN compares equal to NaN: the agent does send NaN as "NaN".
bool SameMessage(const google::protobuf::Message& a, const google::protobuf::Message& b) {
  pbutil::DefaultFieldComparator comparator;
  comparator.set_treat_nan_as_equal(true);
  pbutil::MessageDifferencer differencer;
  differencer.set_field_comparator(&comparator);
  return differencer.Compare(a, b);
}

edgewire::v1::SysInfo ToProto(const rpc::SysInfo& info) {
  edgewire::v1::SysInfo m;
  m.set_board_id(info.board_id);
  m.set_agent_version(info.agent_version);
  m.set_hostname(info.hostname);
  m.set_os(info.os);
  m.set_kernel(info.kernel);
  m.set_machine(info.machine);
  m.set_hardware(info.hardware);
  m.set_uptime_seconds(info.uptime_seconds);
  m.set_agent_uptime_seconds(info.agent_uptime_seconds);
  for (double load : info.load_average) m.add_load_average(load);
  m.set_memory_total_bytes(info.memory_total_bytes);
  m.set_memory_available_bytes(info.memory_available_bytes);
  m.set_agent_rss_bytes(info.agent_rss_bytes);
  m.set_cpu_count(info.cpu_count);
  m.set_functions_max_running(info.functions_max_running);
  m.set_container_runtime(info.container_runtime);
  m.set_package_version(info.package_version);
  if (info.container_limits.is_object()) {
    auto* limits = m.mutable_container_limits();
    limits->set_memory(info.container_limits.value("memory", ""));
    limits->set_pids(info.container_limits.value("pids", ""));
    limits->set_cpu(info.container_limits.value("cpu", ""));
    limits->set_uid(info.container_limits.value("uid", ""));
  }
  for (const rpc::GpioChipSummary& chip : info.gpio_chips) {
    auto* c = m.add_gpio_chips();
    c->set_name(chip.name);
    c->set_backend(chip.backend);
    c->set_lines(chip.lines);
    c->set_used(chip.used);
    c->set_error(chip.error);
    for (const auto& name : chip.line_names) c->add_line_names(name);
  }
  for (const rpc::SpoolStreamSummary& stream : info.spool_streams) {
    auto* s = m.add_spool_streams();
    s->set_name(stream.name);
    s->set_policy(stream.policy);
    s->set_records(stream.records);
    s->set_bytes(stream.bytes);
    s->set_first_seq(stream.first_seq);
    s->set_next_seq(stream.next_seq);
    s->set_dropped_oldest(stream.dropped_oldest);
    s->set_refused(stream.refused);
    s->set_corrupt_records(stream.corrupt_records);
  }
  if (info.session) {
    auto* s = m.mutable_session();
    s->set_state(info.session->state);
    s->set_last_disconnect_reason(info.session->last_disconnect_reason);
    s->set_connections(info.session->connections);
  }
  return m;
}

// Our kwargs must equal protobuf's value for value and type for type (dump() tells 3 from 3.0),
// and protobuf must read ours back into the same message. One loss is shared with the protobuf
// path: -0.0 prints as "-0", which nlohmann reads as the integer 0, so it comes back as +0.
void ExpectSysInfoConforms(const rpc::SysInfo& info) {
  const json ours = rpc::SysInfoJson(info);
  EXPECT_EQ(ours.dump(), ProtoReply(ToProto(info)).dump());
  rpc::SysInfo unsigned_zeros = info;
  for (double* v : {&unsigned_zeros.uptime_seconds, &unsigned_zeros.agent_uptime_seconds}) *v = *v == 0 ? 0.0 : *v;
  for (double& v : unsigned_zeros.load_average) v = v == 0 ? 0.0 : v;
  const edgewire::v1::SysInfo expected = ToProto(unsigned_zeros);
  auto parsed = ProtoParse<edgewire::v1::SysInfo>(ours.dump());
  ASSERT_TRUE(parsed);
  EXPECT_TRUE(SameMessage(*parsed, expected)) << parsed->DebugString() << "\nvs\n" << expected.DebugString();
}

TEST(Proto3ConformanceTest, SysInfoOfThisMachine) {
  rpc::SysInfoCollector collector("brd-1", "0.1.0");
  ExpectSysInfoConforms(collector.Collect());
  // And through the procedure itself.
  auto reply = rpc::Info(collector);
  ASSERT_TRUE(reply);
  EXPECT_TRUE(ProtoParse<edgewire::v1::SysInfo>(reply->kwargs.dump()));
}

TEST(Proto3ConformanceTest, SysInfoDefaultsArePrintedToo) { ExpectSysInfoConforms(rpc::SysInfo{}); }

TEST(Proto3ConformanceTest, SysInfoEdgeValues) {
  rpc::SysInfo info;
  info.board_id = "brd-ü-\"quoted\"-\\-\x01-日本";
  info.agent_version = "1.2.3+git";
  info.hostname = "pi";
  info.hardware = "Raspberry Pi 4 Model B Rev 1.4";
  info.memory_total_bytes = std::numeric_limits<int64_t>::max();
  info.memory_available_bytes = std::numeric_limits<int64_t>::min();
  info.agent_rss_bytes = 7'654'321;
  info.cpu_count = std::numeric_limits<int32_t>::min();
  info.container_runtime = "runc";
  info.container_limits = {{"memory", "cgroup v1"}, {"pids", "cgroup v1"}, {"cpu", ""}, {"uid", "own uid per container"}};
  info.gpio_chips = {{"sim0", "sim", 3, 1, "", {"GPIO0", "", "GPIO2"}},
                     {"gpiochip1", "libgpiod", 0, 0, "cannot open /dev/gpiochip1: No such file", {}},
                     {"gpiochip2", "libgpiod", std::numeric_limits<uint32_t>::max(), 1, "", {"ü"}}};
  info.spool_streams = {{"fn.report", "drop-oldest", 3, 200, 7, 10, 1000, 0, 2},
                        {"gpio.event", "refuse-newest", 0, 0, 1, 1, 0, std::numeric_limits<int64_t>::max(), 0}};
  const std::vector<double> doubles = {
      0.0, -0.0, 3.0, 0.1, 0.52, 12345.67, 1.0 / 3, 123456789.123456789, 1e15, 1e16, 1e17, 1e21,
      9007199254740993.0, -2.5, 5e-324, DBL_MIN, DBL_MAX, -DBL_MAX, 1e-7,
      std::numeric_limits<double>::quiet_NaN(), std::numeric_limits<double>::infinity(),
      -std::numeric_limits<double>::infinity()};
  info.session = rpc::SessionSummary{"refused", "join refused: wamp.error.authentication_failed: ü", 3};
  for (double value : doubles) {
    SCOPED_TRACE(value);
    info.uptime_seconds = value;
    info.agent_uptime_seconds = -value;
    info.load_average = {value, value, 1.5};
    ExpectSysInfoConforms(info);
  }
}

TEST(Proto3ConformanceTest, PingReplies) {
  const std::vector<json> echoes = {
      json(), json("hello"), json(""), json("ü"), json::binary({0x00, 0xff, 0x80}), json::binary({1}),
      json::binary({1, 2}), json::binary({})};
  const std::vector<int64_t> times = {0, 1'700'000'000'123'456'789, -1, std::numeric_limits<int64_t>::max()};
  for (const json& echo : echoes) {
    for (int64_t ns : times) {
      SCOPED_TRACE(echo.dump() + " at " + std::to_string(ns));
      rpc::Request call;
      if (!echo.is_null()) call.args = json::array({echo});
      auto reply = rpc::Ping("brd-7", call, std::chrono::system_clock::time_point(std::chrono::nanoseconds(ns)));
      ASSERT_TRUE(reply) << reply.error().message;

      edgewire::v1::PingReply expected;
      expected.set_board_time_ns(ns);
      expected.set_board_id("brd-7");
      if (echo.is_string()) expected.set_echo(echo.get<std::string>());
      if (echo.is_binary()) expected.set_echo(std::string(echo.get_binary().begin(), echo.get_binary().end()));
      EXPECT_EQ(reply->kwargs.dump(), ProtoReply(expected).dump());
      auto parsed = ProtoParse<edgewire::v1::PingReply>(reply->kwargs.dump());
      ASSERT_TRUE(parsed);
      EXPECT_TRUE(SameMessage(*parsed, expected));
    }
  }
}

// Board management replies (issue 16): sys.restart / sys.reboot and sys.logs.
TEST(Proto3ConformanceTest, BoardManagementRepliesAreWhatProtobufPrints) {
  contract::sys::SysActionReply action{"restart", 500};
  edgewire::v1::SysActionReply expected_action;
  expected_action.set_action("restart");
  expected_action.set_delay_ms(500);
  EXPECT_EQ(action.ToPayload().kwargs.dump(), ProtoReply(expected_action).dump());

  contract::sys::LogsReply logs;
  logs.lines = {"2026-12-05T01:00:00.000 info  [agent] started", "ü \\x1b"};
  logs.capacity = 200;
  logs.next_seq = 4242;
  edgewire::v1::LogsReply expected_logs;
  for (const auto& line : logs.lines) expected_logs.add_lines(line);
  expected_logs.set_capacity(200);
  expected_logs.set_next_seq(4242);
  EXPECT_EQ(logs.ToPayload().kwargs.dump(), ProtoReply(expected_logs).dump());
  auto parsed = ProtoParse<edgewire::v1::LogsReply>(logs.ToPayload().kwargs.dump());
  ASSERT_TRUE(parsed);
  EXPECT_TRUE(SameMessage(*parsed, expected_logs));

  edgewire::v1::LogsRequest expected_request;
  expected_request.set_lines(25);
  contract::sys::LogsRequest request;
  request.lines = 25;
  EXPECT_EQ(request.ToPayload().kwargs.dump(), ProtoReply(expected_request).dump());

  // Follow mode and updates over the air.
  contract::sys::LogBatch batch;
  batch.lines = {"a", "b"};
  batch.first_seq = 7;
  batch.skipped = 3;
  edgewire::v1::LogBatch expected_batch;
  expected_batch.add_lines("a");
  expected_batch.add_lines("b");
  expected_batch.set_first_seq(7);
  expected_batch.set_skipped(3);
  EXPECT_EQ(batch.ToPayload().kwargs.dump(), ProtoReply(expected_batch).dump());
  contract::sys::LogFollowReply follow{true, 12};
  edgewire::v1::LogFollowReply expected_follow;
  expected_follow.set_following(true);
  expected_follow.set_next_seq(12);
  EXPECT_EQ(follow.ToPayload().kwargs.dump(), ProtoReply(expected_follow).dump());
  contract::update::UpdateReport report;
  report.update_id = "upd-1";
  report.state = contract::update::UpdateState::kRolledBack;
  report.message = "no join";
  report.agent_version = "0.1.0";
  report.package_version = "0.1.0-1";
  edgewire::v1::UpdateReport expected_report;
  expected_report.set_update_id("upd-1");
  expected_report.set_state("rolled-back");
  expected_report.set_message("no join");
  expected_report.set_agent_version("0.1.0");
  expected_report.set_package_version("0.1.0-1");
  EXPECT_EQ(report.ToPayload().kwargs.dump(), ProtoReply(expected_report).dump());
}

TEST(Proto3ConformanceTest, EnrolRequestIsWhatProtobufPrints) {
  const std::vector<std::pair<std::string, std::string>> cases = {
      {"ABCD-1234", "pi-kitchen"}, {"code", ""}, {"", "host"}, {"", ""}, {"ü\"\\", "h\x01"}};
  for (const auto& [code, hostname] : cases) {
    edgewire::v1::EnrolRequest expected;
    expected.set_code(code);
    expected.set_hostname(hostname);
    std::string printed;
    ASSERT_TRUE(pbutil::MessageToJsonString(expected, &printed).ok());  // the default options
    const std::string ours = EnrolRequestJson(code, hostname);
    EXPECT_EQ(json::parse(ours), json::parse(printed)) << ours << " vs " << printed;
    auto parsed = ProtoParse<edgewire::v1::EnrolRequest>(ours);
    ASSERT_TRUE(parsed);
    EXPECT_TRUE(SameMessage(*parsed, expected));
  }
}

// Both readers on the same body: both accept with equal fields, or both refuse.
void ExpectEnrolResponseParsesAlike(const std::string& body) {
  SCOPED_TRACE(body);
  edgewire::v1::EnrolResponse message;
  pbutil::JsonParseOptions options;
  options.ignore_unknown_fields = true;  // what the enroller did with protobuf
  const bool protobuf_ok = pbutil::JsonStringToMessage(body, &message, options).ok();
  auto ours = ParseEnrolResponse(body);
  ASSERT_EQ(protobuf_ok, ours.has_value()) << (ours ? "only ours accepts" : "only protobuf accepts: " + ours.error().message);
  if (!protobuf_ok) return;
  EXPECT_EQ(ours->board_id, message.board_id());
  EXPECT_EQ(ours->secret, message.secret());
  EXPECT_EQ(ours->realm, message.realm());
  EXPECT_EQ(ours->wamp_url, message.wamp_url());
  EXPECT_EQ(ours->salt, message.salt());
  EXPECT_EQ(ours->iterations, message.iterations());
  EXPECT_EQ(ours->keylen, message.keylen());
}

TEST(Proto3ConformanceTest, EnrolResponseWhatTheConductorPrints) {
  edgewire::v1::EnrolResponse reply;
  reply.set_board_id("brd-42");
  reply.set_secret("s3cr3t");
  reply.set_realm("edgewire");
  reply.set_wamp_url("ws://127.0.0.1:8080/ws");
  reply.set_salt("salt");
  reply.set_iterations(1000);
  reply.set_keylen(32);
  for (bool snake : {false, true}) {
    for (bool defaults : {false, true}) {
      pbutil::JsonPrintOptions print;
      print.preserve_proto_field_names = snake;
      print.always_print_primitive_fields = defaults;
      const edgewire::v1::EnrolResponse* messages[] = {&reply, &edgewire::v1::EnrolResponse::default_instance()};
      for (const auto* message : messages) {
        std::string text;
        ASSERT_TRUE(pbutil::MessageToJsonString(*message, &text, print).ok());
        ExpectEnrolResponseParsesAlike(text);
      }
    }
  }
}

TEST(Proto3ConformanceTest, EnrolResponseShapesBothAccept) {
  for (const char* body : {
           R"({})",
           R"({"boardId": "b", "secret": "s", "realm": "r", "wampUrl": "ws://h/ws", "salt": "", "iterations": 0})",
           R"({"board_id": "b", "wamp_url": "ws://h/ws", "keylen": 32})",            // proto field names
           R"({"boardId": null, "secret": null, "iterations": null})",                // null = absent
           R"({"iterations": "1000", "keylen": "-5"})",                               // int32 as strings
           R"({"iterations": 1000.0, "keylen": 1e2})",                                // integral numbers
           R"({"iterations": 2147483647, "keylen": -2147483648})",                    // int32 range ends
           R"({"iterations": "2147483647", "keylen": "-2147483648"})",
           R"({"boardId": "b", "future": {"nested": [1, 2]}, "other": 5, "more": null})",  // unknown fields
           R"({"boardId": "ü\u00e9\n"})",
       }) {
    ExpectEnrolResponseParsesAlike(body);
  }
}

TEST(Proto3ConformanceTest, EnrolResponseShapesBothRefuse) {
  for (const char* body : {
           R"({"boardId": 5})", R"({"secret": true})", R"({"realm": ["edgewire"]})", R"({"salt": {}})",
           R"({"iterations": 1.5})", R"({"iterations": "1.5"})", R"({"iterations": " 5"})",
           R"({"iterations": "0x10"})", R"({"iterations": "1e3"})", R"({"iterations": ""})",
           R"({"iterations": 2147483648})", R"({"keylen": -2147483649})", R"({"iterations": "2147483648"})",
           R"({"iterations": true})", R"({"iterations": [1]})", R"({"iterations": 1e300})",
           R"([])", R"("text")", R"(5)", R"({"boardId": )", "",
       }) {
    ExpectEnrolResponseParsesAlike(body);
  }
}

}  // namespace
}  // namespace ew::agent
