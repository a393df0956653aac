// GpioService over a simulated chip: the gpio.* procedures, edge publications, watches shared
// and released, and edge triggers. The conductor is a fake that records publications.
#include "device-agent/gpio/gpio_service.hpp"

#include <gtest/gtest.h>

#include <boost/asio/io_context.hpp>

#include "common/gpio/sim_chip.hpp"
#include "tests/support/acked_publications.hpp"

#include <unistd.h>

#include <filesystem>

namespace ew::agent::gpio {
namespace {

using nlohmann::json;
using namespace std::chrono_literals;

class RecordingConductor final : public rpc::ConductorClient {
 public:
  void Call(const std::string& procedure, rpc::Reply arguments, std::chrono::milliseconds,
            std::function<void(Result<rpc::Reply>)> done) override {
    if (procedure != contract::publish::kPublish.uri) return done(NotFound("no procedure " + procedure));
    if (!connected) return done(Unavailable("no session"));
    // A silent cut: the call goes into a dead socket (never seen), or is taken and its answer
    // never comes back. Either way the caller hears nothing until its session is declared dead.
    if (cut == Cut::kBeforeConductor) return unanswered.push_back(std::move(done));
    auto answer = acked.Take(arguments.kwargs);
    for (; taken < acked.events.size(); ++taken) {
      topics.push_back(acked.events[taken].topic);
      events.push_back(acked.events[taken].kwargs);
    }
    if (cut == Cut::kAfterConductor) return unanswered.push_back(std::move(done));
    done(std::move(answer));
  }
  enum class Cut { kNone, kBeforeConductor, kAfterConductor };
  Cut cut = Cut::kNone;
  std::vector<std::function<void(Result<rpc::Reply>)>> unanswered;
  size_t taken = 0;
  bool Publish(const std::string& topic, const rpc::Reply& payload) override {
    if (!connected) return false;
    topics.push_back(topic);
    events.push_back(payload.kwargs);
    return true;
  }
  bool connected = true;
  ew::testing::AckedPublications acked;  // ew.conductor.publish (with a spool)
  std::vector<std::string> topics;
  std::vector<json> events;
};

class GpioServiceTest : public ::testing::Test {
 protected:
  void SetUp() override {
    auto chip = std::make_unique<ew::gpio::SimChip>("sim0", ew::gpio::SimChip::RaspberryPiLines());
    sim_ = chip.get();
    chips_.Add(std::move(chip), "sim");
    service_ = std::make_unique<GpioService>(io_, "brd-1", chips_);
    service_->SetConductor(&conductor_);
    for (auto& procedure : service_->Procedures()) procedures_[procedure.suffix] = procedure;
  }

  Result<json> Call(const std::string& suffix, json kwargs, uint64_t caller = 0) {
    rpc::Request invocation;
    invocation.procedure = "ew.board.brd-1." + suffix;
    invocation.kwargs = std::move(kwargs);
    invocation.caller = caller;
    std::optional<Result<rpc::Reply>> answer;
    procedures_.at(suffix).handler(invocation, [&](Result<rpc::Reply> r) { answer = std::move(r); });
    if (!answer) return Internal("no answer");
    if (!*answer) return tl::unexpected((*answer).error());
    return (*answer)->kwargs;
  }

  // Drives GPIO4 and lets the io thread publish.
  void Drive(int value) {
    now_ += 10ms;
    ASSERT_TRUE(sim_->Drive(4, value, now_));
    io_.restart();
    io_.poll();
  }

  boost::asio::io_context io_;
  ew::gpio::ChipSet chips_;
  ew::gpio::SimChip* sim_ = nullptr;
  RecordingConductor conductor_;
  std::unique_ptr<GpioService> service_;
  std::map<std::string, rpc::Procedure> procedures_;
  std::chrono::nanoseconds now_{1'000'000'000};
};

TEST_F(GpioServiceTest, WatchRegistersWithCallerDisclosure) {
  EXPECT_TRUE(procedures_.at("gpio.watch").disclose_caller);
  EXPECT_FALSE(procedures_.at("gpio.read").disclose_caller);
}

TEST_F(GpioServiceTest, LinesListsEveryLineWithItsHolder) {
  ASSERT_TRUE(Call("gpio.write", {{"line", "GPIO17"}, {"value", 1}}));
  auto lines = Call("gpio.lines", json::object());
  ASSERT_TRUE(lines) << lines.error().message;
  ASSERT_EQ((*lines)["chips"].size(), 1u);
  const json& chip = (*lines)["chips"][0];
  EXPECT_EQ(chip["name"], "sim0");
  EXPECT_EQ(chip["backend"], "sim");
  ASSERT_EQ(chip["lines"].size(), 28u);
  EXPECT_EQ(chip["lines"][17]["name"], "GPIO17");
  EXPECT_EQ(chip["lines"][17]["used"], false);  // written and let go, still driving its level
  EXPECT_EQ(chip["lines"][17]["direction"], "output");
  EXPECT_EQ(chip["lines"][17]["value"], 1);
  EXPECT_EQ(chip["lines"][4]["used"], false);
}

TEST_F(GpioServiceTest, WriteThenReadByNameOffsetOrChipPrefix) {
  auto written = Call("gpio.write", {{"line", "GPIO17"}, {"value", true}});
  ASSERT_TRUE(written) << written.error().message;
  EXPECT_EQ(*written, (json{{"chip", "sim0"}, {"line", "GPIO17"}, {"offset", 17}, {"value", 1}}));
  for (const char* name : {"GPIO17", "17", "sim0:17", "sim0:GPIO17"}) {
    auto read = Call("gpio.read", {{"line", name}});
    ASSERT_TRUE(read) << name << ": " << read.error().message;
    EXPECT_EQ((*read)["value"], 1) << name;
    EXPECT_EQ((*read)["line"], "GPIO17") << name;
  }
  ASSERT_TRUE(Call("gpio.write", {{"line", "17"}, {"value", 0}}));
  EXPECT_EQ(sim_->Read(17).value(), 0);
}

TEST_F(GpioServiceTest, BadArgumentsAreRefusedAndChangeNothing) {
  struct Case {
    const char* procedure;
    json kwargs;
    ErrorCode code;
  };
  const std::vector<Case> cases = {
      {"gpio.read", json::object(), ErrorCode::kInvalidArgument},
      {"gpio.read", {{"line", 17}}, ErrorCode::kInvalidArgument},
      {"gpio.read", {{"line", "GPIO99"}}, ErrorCode::kNotFound},
      {"gpio.read", {{"line", "nochip:1"}}, ErrorCode::kNotFound},
      {"gpio.read", {{"line", "GPIO1"}, {"extra", 1}}, ErrorCode::kInvalidArgument},
      {"gpio.write", {{"line", "GPIO17"}}, ErrorCode::kInvalidArgument},
      {"gpio.write", {{"line", "GPIO17"}, {"value", 2}}, ErrorCode::kInvalidArgument},
      {"gpio.write", {{"line", "GPIO17"}, {"value", "1"}}, ErrorCode::kInvalidArgument},
      {"gpio.watch", {{"line", "GPIO4"}, {"edge", "up"}}, ErrorCode::kInvalidArgument},
      {"gpio.watch", {{"line", "GPIO4"}, {"bias", "strong"}}, ErrorCode::kInvalidArgument},
      {"gpio.watch", {{"line", "GPIO4"}, {"debounceMs", -1}}, ErrorCode::kInvalidArgument},
      {"gpio.watch", {{"line", "GPIO4"}, {"debounceMs", 1001}}, ErrorCode::kInvalidArgument},
      {"gpio.watch", {{"line", "GPIO4"}, {"debounceMs", 1.5}}, ErrorCode::kInvalidArgument},
      {"gpio.unwatch", {{"watch", "w404"}}, ErrorCode::kNotFound},
      {"gpio.unwatch", json::object(), ErrorCode::kInvalidArgument},
  };
  for (const Case& c : cases) {
    auto result = Call(c.procedure, c.kwargs);
    ASSERT_FALSE(result) << c.procedure << " " << c.kwargs.dump();
    EXPECT_EQ(result.error().code, c.code) << c.procedure << " " << c.kwargs.dump() << ": " << result.error().message;
  }
  for (const auto& line : sim_->Lines()) EXPECT_FALSE(line.used) << line.name;
  EXPECT_EQ(service_->WatchCount(), 0u);
}

TEST_F(GpioServiceTest, EdgesArePublishedInOrderWithoutGaps) {
  auto watch = Call("gpio.watch", {{"line", "GPIO4"}, {"edge", "both"}});
  ASSERT_TRUE(watch) << watch.error().message;
  EXPECT_EQ((*watch)["line"], "GPIO4");
  for (int i = 0; i < 50; ++i) Drive(i % 2 == 0 ? 1 : 0);
  ASSERT_EQ(conductor_.events.size(), 50u);
  for (size_t i = 0; i < conductor_.events.size(); ++i) {
    const json& e = conductor_.events[i];
    EXPECT_EQ(conductor_.topics[i], "ew.board.brd-1.gpio.event");
    EXPECT_EQ(e["seq"], i + 1);
    EXPECT_EQ(e["edge"], i % 2 == 0 ? "rising" : "falling");
    EXPECT_EQ(e["value"], i % 2 == 0 ? 1 : 0);
    EXPECT_EQ(e["line"], "GPIO4");
    EXPECT_EQ(e["chip"], "sim0");
    EXPECT_EQ(e["timestampNs"], 1'000'000'000 + (i + 1) * 10'000'000);
  }
}

TEST_F(GpioServiceTest, RisingOnlyWatchPublishesRisingEdgesWithConsecutiveSeq) {
  ASSERT_TRUE(Call("gpio.watch", {{"line", "GPIO4"}, {"edge", "rising"}}));
  for (int i = 0; i < 10; ++i) Drive(i % 2 == 0 ? 1 : 0);
  ASSERT_EQ(conductor_.events.size(), 5u);
  for (size_t i = 0; i < 5; ++i) {
    EXPECT_EQ(conductor_.events[i]["edge"], "rising");
    EXPECT_EQ(conductor_.events[i]["seq"], i + 1);
  }
}

TEST_F(GpioServiceTest, DebounceDropsBounces) {
  ASSERT_TRUE(Call("gpio.watch", {{"line", "GPIO4"}, {"debounceMs", 20}}));
  // A press that bounces three times within 3 ms, then a clean release 100 ms later.
  auto t = now_;
  for (auto [dt, v] : std::vector<std::pair<std::chrono::nanoseconds, int>>{
           {0ms, 1}, {1ms, 0}, {2ms, 1}, {3ms, 0}, {4ms, 1}, {100ms, 0}}) {
    ASSERT_TRUE(sim_->Drive(4, v, t + dt));
  }
  io_.poll();
  ASSERT_EQ(conductor_.events.size(), 2u);
  EXPECT_EQ(conductor_.events[0]["edge"], "rising");
  EXPECT_EQ(conductor_.events[1]["edge"], "falling");
  EXPECT_EQ(conductor_.events[1]["seq"], 2);
}

TEST_F(GpioServiceTest, TwoWatchersShareTheLineUntilBothAreGone) {
  auto first = Call("gpio.watch", {{"line", "GPIO4"}, {"edge", "rising"}}, 100);
  auto second = Call("gpio.watch", {{"line", "4"}, {"edge", "falling"}}, 200);
  ASSERT_TRUE(first && second);
  EXPECT_NE((*first)["watch"], (*second)["watch"]);
  Drive(1);
  Drive(0);
  ASSERT_EQ(conductor_.events.size(), 2u);  // each edge once, whoever asked for it

  // Different settings on a watched line → Conflict naming the first settings.
  auto other = Call("gpio.watch", {{"line", "GPIO4"}, {"debounceMs", 5}});
  ASSERT_FALSE(other);
  EXPECT_EQ(other.error().code, ErrorCode::kConflict);
  EXPECT_NE(other.error().message.find("debounce 0 ms"), std::string::npos) << other.error().message;

  ASSERT_TRUE(Call("gpio.unwatch", {{"watch", (*first)["watch"]}}));
  EXPECT_TRUE(sim_->Lines()[4].used);
  Drive(1);  // rising: only the falling watcher is left
  Drive(0);
  ASSERT_EQ(conductor_.events.size(), 3u);
  EXPECT_EQ(conductor_.events[2]["edge"], "falling");
  EXPECT_EQ(conductor_.events[2]["seq"], 3);
  ASSERT_TRUE(Call("gpio.unwatch", {{"watch", (*second)["watch"]}}));
  EXPECT_FALSE(sim_->Lines()[4].used);
}

TEST_F(GpioServiceTest, BusyLineNamesItsHolder) {
  ASSERT_TRUE(sim_->Request(5, {}, "fn:blink:inv-1"));
  for (const auto& [procedure, kwargs] : std::vector<std::pair<std::string, json>>{
           {"gpio.watch", {{"line", "GPIO5"}}}, {"gpio.write", {{"line", "GPIO5"}, {"value", 1}}}}) {
    auto busy = Call(procedure, kwargs);
    ASSERT_FALSE(busy) << procedure;
    EXPECT_EQ(busy.error().code, ErrorCode::kConflict);
    EXPECT_NE(busy.error().message.find("busy"), std::string::npos) << busy.error().message;
    EXPECT_NE(busy.error().message.find("fn:blink:inv-1"), std::string::npos) << busy.error().message;
  }
  // A watched line cannot be written over the API: the watch holds it.
  ASSERT_TRUE(Call("gpio.watch", {{"line", "GPIO6"}}));
  auto written = Call("gpio.write", {{"line", "GPIO6"}, {"value", 1}});
  ASSERT_FALSE(written);
  EXPECT_NE(written.error().message.find("held by watch"), std::string::npos) << written.error().message;
  // A written line is free again at once: a function may take it next.
  ASSERT_TRUE(Call("gpio.write", {{"line", "GPIO7"}, {"value", 1}}));
  EXPECT_TRUE(sim_->Request(7, {ew::gpio::Direction::kOutput}, "fn:blink:inv-2"));
}

TEST_F(GpioServiceTest, SessionEndReleasesWatches) {
  ASSERT_TRUE(Call("gpio.watch", {{"line", "GPIO4"}}));
  ASSERT_TRUE(Call("gpio.watch", {{"line", "GPIO5"}, {"edge", "rising"}}));
  service_->OnDisconnected("conductor gone", 1s);
  EXPECT_EQ(service_->WatchCount(), 0u);
  for (const auto& line : sim_->Lines()) EXPECT_FALSE(line.used) << line.name;
  Drive(1);
  EXPECT_TRUE(conductor_.events.empty());
}

// With a spool, edges of a watched line seen while the conductor is away are kept and published
// in order when the next session is up; then the old session's watches go.
TEST_F(GpioServiceTest, EdgesWhileOfflineGoThroughTheSpool) {
  spool::SpoolOptions options;
  options.dir = std::filesystem::temp_directory_path() / ("ew-gpio-spool-" + std::to_string(::getpid()));
  std::filesystem::remove_all(options.dir);
  auto opened = spool::AsyncSpool::Open(io_, options);
  ASSERT_TRUE(opened) << opened.error().message;
  auto spool = std::move(*opened);
  service_->SetSpool(spool.get());
  service_->OnReady("ws://conductor", 1);
  ASSERT_TRUE(Call("gpio.watch", {{"line", "GPIO4"}}));
  auto run_until = [&](const std::function<bool()>& done) {
    const auto deadline = std::chrono::steady_clock::now() + 10s;
    while (!done() && std::chrono::steady_clock::now() < deadline) {
      io_.restart();
      io_.run_for(2ms);
    }
    return done();
  };
  Drive(1);
  ASSERT_TRUE(run_until([&] { return conductor_.events.size() == 1; }));

  conductor_.connected = false;
  service_->OnDisconnected("conductor gone", 1s);
  EXPECT_EQ(service_->WatchCount(), 1u);  // kept, to see the edges
  Drive(0);
  Drive(1);
  Drive(0);
  ASSERT_TRUE(run_until([&] { return service_->SpooledEdges() == 4; }));
  EXPECT_EQ(conductor_.events.size(), 1u);
  EXPECT_EQ(service_->DroppedEdges(), 0u);

  conductor_.connected = true;
  service_->OnReady("ws://conductor", 2);
  EXPECT_EQ(service_->WatchCount(), 0u);  // the old session's watch is gone now
  ASSERT_TRUE(run_until([&] { return conductor_.events.size() == 4; }));
  for (size_t i = 0; i < conductor_.events.size(); ++i) EXPECT_EQ(conductor_.events[i]["seq"], i + 1);
  EXPECT_EQ(conductor_.events[3]["edge"], "falling");
  ASSERT_TRUE(run_until([&] { return spool->Stats("gpio.event") && spool->Stats("gpio.event")->records == 0; }));
  service_.reset();
  spool.reset();
  std::filesystem::remove_all(options.dir);
}

// Issue 14: a silent cut. Edges published while the link is already dead (but the agent does
// not know yet) are not acknowledged, so they stay in the spool and go again on the next session;
// those the conductor did take before the cut are not routed twice. Every edge arrives once, in
// order, whichever side of the conductor the link died on.
class GpioServiceCutTest : public GpioServiceTest, public ::testing::WithParamInterface<RecordingConductor::Cut> {};

TEST_P(GpioServiceCutTest, EdgesSentIntoADeadLinkAreSentAgainOnce) {
  spool::SpoolOptions options;
  options.dir = std::filesystem::temp_directory_path() / ("ew-gpio-cut-" + std::to_string(::getpid()));
  std::filesystem::remove_all(options.dir);
  auto spool = std::move(*spool::AsyncSpool::Open(io_, options));
  service_->SetSpool(spool.get());
  service_->OnReady("ws://conductor", 1);
  ASSERT_TRUE(Call("gpio.watch", {{"line", "GPIO4"}}));
  auto run_until = [&](const std::function<bool()>& done) {
    const auto deadline = std::chrono::steady_clock::now() + 10s;
    while (!done() && std::chrono::steady_clock::now() < deadline) {
      io_.restart();
      io_.run_for(2ms);
    }
    return done();
  };
  for (int i = 0; i < 5; ++i) Drive(i % 2 == 0);
  ASSERT_TRUE(run_until([&] { return conductor_.events.size() == 5; }));

  conductor_.cut = GetParam();
  for (int i = 5; i < 40; ++i) Drive(i % 2 == 0);
  // Stored, and sent into the dead link (the calls go out after their records are stored).
  ASSERT_TRUE(run_until([&] { return service_->SpooledEdges() == 40 && !conductor_.unanswered.empty(); }));
  // The agent notices: its session ends and the calls in flight fail.
  conductor_.cut = RecordingConductor::Cut::kNone;
  conductor_.connected = false;
  service_->OnDisconnected("connection lost", 1s);
  for (auto& done : conductor_.unanswered) done(Unavailable("connection lost"));
  conductor_.unanswered.clear();
  for (int i = 40; i < 50; ++i) Drive(i % 2 == 0);
  ASSERT_TRUE(run_until([&] { return service_->SpooledEdges() == 50; }));
  EXPECT_GT(spool->Stats("gpio.event")->records, 0u);  // nothing unacknowledged was forgotten

  conductor_.connected = true;
  service_->OnReady("ws://conductor", 2);
  ASSERT_TRUE(run_until([&] { return spool->Stats("gpio.event")->records == 0; }));
  ASSERT_EQ(conductor_.events.size(), 50u);
  for (size_t i = 0; i < conductor_.events.size(); ++i) EXPECT_EQ(conductor_.events[i]["seq"], i + 1) << i;
  if (GetParam() == RecordingConductor::Cut::kAfterConductor) EXPECT_GT(conductor_.acked.duplicates, 0u);
  EXPECT_EQ(service_->DroppedEdges(), 0u);
  service_.reset();
  spool.reset();
  std::filesystem::remove_all(options.dir);
}

INSTANTIATE_TEST_SUITE_P(Cuts, GpioServiceCutTest,
                         ::testing::Values(RecordingConductor::Cut::kBeforeConductor,
                                           RecordingConductor::Cut::kAfterConductor));

TEST_F(GpioServiceTest, CallerLeavingReleasesOnlyItsWatches) {
  auto mine = Call("gpio.watch", {{"line", "GPIO4"}}, 111);
  auto theirs = Call("gpio.watch", {{"line", "GPIO5"}}, 222);
  ASSERT_TRUE(mine && theirs);
  auto leave = service_->SessionLeaveSubscription();
  EXPECT_EQ(leave.topic, "wamp.session.on_leave");
  rpc::Request event;
  event.args = json::array({111, "alice", "operator"});
  leave.handler(event);
  EXPECT_EQ(service_->WatchCount(), 1u);
  EXPECT_FALSE(sim_->Lines()[4].used);
  EXPECT_TRUE(sim_->Lines()[5].used);
  rpc::Request junk;
  junk.args = json::array({"not a session id"});
  leave.handler(junk);
  EXPECT_EQ(service_->WatchCount(), 1u);
}

TEST_F(GpioServiceTest, EdgesWithoutASessionAreCountedAsDropped) {
  ASSERT_TRUE(Call("gpio.watch", {{"line", "GPIO4"}}));
  conductor_.connected = false;
  Drive(1);
  EXPECT_EQ(service_->DroppedEdges(), 1u);
  conductor_.connected = true;
  Drive(0);
  EXPECT_EQ(service_->PublishedEdges(), 1u);
  EXPECT_EQ(conductor_.events.back()["seq"], 2);  // the gap tells the subscriber one was lost
}

TEST_F(GpioServiceTest, TriggersFireOnTheirEdgesAndHoldTheLine) {
  std::vector<json> fired;
  auto trigger = ew::gpio::ParseTrigger({{"line", "GPIO4"}, {"edge", "rising"}, {"debounceMs", 0}});
  ASSERT_TRUE(trigger);
  ASSERT_TRUE(service_->SetTriggers("fn-1", {*trigger}, [&](json event) { fired.push_back(std::move(event)); }));
  EXPECT_EQ(sim_->Lines()[4].consumer, "trigger:fn-1");
  Drive(1);
  Drive(0);
  Drive(1);
  ASSERT_EQ(fired.size(), 2u);
  EXPECT_EQ(fired[0]["trigger"], "gpio");
  EXPECT_EQ(fired[0]["line"], "GPIO4");
  EXPECT_EQ(fired[0]["edge"], "rising");
  EXPECT_EQ(fired[1]["seq"], 2);

  // Watching a trigger's line is busy; clearing the trigger frees it.
  auto busy = Call("gpio.watch", {{"line", "GPIO4"}});
  ASSERT_FALSE(busy);
  EXPECT_NE(busy.error().message.find("trigger:fn-1"), std::string::npos);
  service_->ClearTriggers("fn-1");
  EXPECT_FALSE(sim_->Lines()[4].used);
}

TEST_F(GpioServiceTest, FailedTriggerUpdateKeepsTheOldTriggers) {
  ASSERT_TRUE(service_->SetTriggers("fn-1", {{"GPIO4", ew::gpio::Edges::kRising, 0ms}}, [](json) {}));
  ASSERT_TRUE(sim_->Request(5, {}, "fn:other:inv-9"));
  auto replaced = service_->SetTriggers(
      "fn-1", {{"GPIO4", ew::gpio::Edges::kBoth, 0ms}, {"GPIO5", ew::gpio::Edges::kRising, 0ms}}, [](json) {});
  ASSERT_FALSE(replaced);
  EXPECT_EQ(replaced.error().code, ErrorCode::kConflict);
  EXPECT_EQ(sim_->Lines()[4].consumer, "trigger:fn-1");
  EXPECT_EQ(sim_->Lines()[5].consumer, "fn:other:inv-9");
  auto unknown = service_->SetTriggers("fn-1", {{"GPIO77", ew::gpio::Edges::kRising, 0ms}}, [](json) {});
  ASSERT_FALSE(unknown);
  EXPECT_EQ(unknown.error().code, ErrorCode::kNotFound);
  EXPECT_EQ(sim_->Lines()[4].consumer, "trigger:fn-1");
}

TEST_F(GpioServiceTest, SummaryCountsLinesInUse) {
  chips_.AddBroken({"gpiochip9", "libgpiod", "cannot open /dev/gpiochip9"});
  ASSERT_TRUE(Call("gpio.watch", {{"line", "GPIO17"}}));
  auto summary = service_->Summary();
  ASSERT_EQ(summary.size(), 2u);
  EXPECT_EQ(summary[0].name, "sim0");
  EXPECT_EQ(summary[0].lines, 28u);
  EXPECT_EQ(summary[0].used, 1u);
  ASSERT_EQ(summary[0].line_names.size(), 28u);
  EXPECT_EQ(summary[0].line_names[17], "GPIO17");
  EXPECT_EQ(summary[1].error, "cannot open /dev/gpiochip9");
}

}  // namespace
}  // namespace ew::agent::gpio
