// AckedStream (issue 14): a record leaves the spool only once the conductor acknowledged it; a
// window of calls in flight; acks in order whatever order answers come in; after a session ends,
// the unacknowledged records go again in order and the conductor (tests/support's, which routes
// each seq once as the router does) takes each once; the drop policy at the bound is the spool's;
// records survive a restart of the agent. A real spool under /tmp, a fake conductor, no network.
#include "device-agent/spool/acked_stream.hpp"

#include <gtest/gtest.h>

#include <filesystem>

#include "common/ids/ids.hpp"
#include "tests/support/acked_publications.hpp"

namespace ew::agent::spool {
namespace {

namespace fs = std::filesystem;
using nlohmann::json;
using namespace std::chrono_literals;

// Calls wait for the test to answer them (or answer at once when `auto_answer`).
class HeldConductor final : public rpc::ConductorClient {
 public:
  struct Pending {
    json kwargs;
    std::function<void(Result<rpc::Reply>)> done;
  };
  void Call(const std::string& procedure, rpc::Reply arguments, std::chrono::milliseconds,
            std::function<void(Result<rpc::Reply>)> done) override {
    EXPECT_EQ(procedure, "ew.conductor.publish");
    if (!connected) return done(Unavailable("no session"));
    if (legacy) return done(NotFound("no procedure ew.conductor.publish is registered"));
    if (auto_answer) return done(acked.Take(arguments.kwargs));
    pending.push_back({arguments.kwargs, std::move(done)});
  }
  bool Publish(const std::string& topic, const rpc::Reply& payload) override {
    if (!connected) return false;
    plain.push_back({topic, "", 0, payload.args, payload.kwargs});
    return true;
  }
  // Delivers call `i` of those pending to the conductor and answers it.
  void Answer(size_t i) {
    auto p = std::move(pending.at(i));
    pending.erase(pending.begin() + static_cast<long>(i));
    p.done(acked.Take(p.kwargs));
  }
  bool connected = true;
  bool auto_answer = true;
  bool legacy = false;  // a conductor from before ew.conductor.publish
  std::vector<ew::testing::AckedPublications::Event> plain;  // PUBLISHes without acknowledgement
  std::vector<Pending> pending;
  ew::testing::AckedPublications acked;
};

class AckedStreamTest : public ::testing::Test {
 protected:
  void SetUp() override { options_.dir = fs::temp_directory_path() / ("ew-acked-" + ids::NewId("t")); }
  void TearDown() override {
    stream_.reset();
    spool_.reset();
    std::error_code ec;
    fs::remove_all(options_.dir, ec);
  }
  void Open(AckedStreamOptions stream_options = {}, StreamLimits limits = {}) {
    stream_.reset();
    spool_.reset();
    auto opened = AsyncSpool::Open(io_, options_);
    ASSERT_TRUE(opened) << opened.error().message;
    spool_ = std::move(*opened);
    ASSERT_TRUE(spool_->Configure("gpio.event", limits));
    stream_ = std::make_unique<AckedStream>(
        io_, *spool_, "gpio.event", "ew.board.b1.gpio.event",
        [](const Record& record) -> std::optional<rpc::Reply> {
          if (record.data == "junk") return std::nullopt;
          rpc::Reply event;
          event.kwargs = {{"n", record.data}};
          return event;
        },
        stream_options);
    stream_->SetConductor(&conductor_);
  }
  void RunUntil(const std::function<bool()>& done) {
    const auto deadline = std::chrono::steady_clock::now() + 20s;
    while (!done() && std::chrono::steady_clock::now() < deadline) {
      io_.restart();
      io_.run_for(2ms);
    }
    ASSERT_TRUE(done()) << "timed out";
  }
  void Settle() {
    for (int i = 0; i < 20; ++i) {
      io_.restart();
      io_.run_for(2ms);
    }
  }
  // Unacknowledged records; max until the stream's stats exist (the spool's writer got to it).
  uint64_t Stored() {
    auto stats = spool_->Stats("gpio.event");
    return stats && stats->next_seq > 1 ? stats->records : UINT64_MAX;
  }
  void AppendN(int from, int to) {
    for (int i = from; i < to; ++i) stream_->Append(std::to_string(i));
  }
  std::vector<std::string> Delivered() const {
    std::vector<std::string> out;
    for (const auto& e : conductor_.acked.events) out.push_back(e.kwargs["n"]);
    return out;
  }
  static std::vector<std::string> Range(int from, int to) {
    std::vector<std::string> out;
    for (int i = from; i < to; ++i) out.push_back(std::to_string(i));
    return out;
  }

  boost::asio::io_context io_;
  SpoolOptions options_;
  std::unique_ptr<AsyncSpool> spool_;
  std::unique_ptr<AckedStream> stream_;
  HeldConductor conductor_;
};

TEST_F(AckedStreamTest, RecordsStayInTheSpoolUntilAcknowledgedWithABoundedWindow) {
  Open({/*window=*/2, /*records_per_call=*/3});
  conductor_.auto_answer = false;
  stream_->SetOnline(true);
  AppendN(0, 10);
  RunUntil([&] { return conductor_.pending.size() == 2; });
  RunUntil([&] { return Stored() == 10; });  // every append done (nothing acknowledged yet)
  Settle();
  EXPECT_EQ(conductor_.pending.size(), 2u);  // the window: no third call before an answer
  EXPECT_EQ(conductor_.pending[0].kwargs["records"].size(), 3u);
  EXPECT_EQ(Stored(), 10u);

  // Both reach the conductor in order (one connection), the second's answer is handled first:
  // nothing may be forgotten before the first is answered too.
  auto first = conductor_.acked.Take(conductor_.pending[0].kwargs);
  auto second = conductor_.acked.Take(conductor_.pending[1].kwargs);
  auto first_done = std::move(conductor_.pending[0].done);
  auto second_done = std::move(conductor_.pending[1].done);
  conductor_.pending.clear();
  second_done(std::move(second));
  Settle();
  EXPECT_EQ(Stored(), 10u);
  EXPECT_EQ(stream_->acked_seq(), 0u);
  first_done(std::move(first));
  RunUntil([&] { return Stored() == 4; });
  EXPECT_EQ(stream_->acked_seq(), 6u);
  while (Stored() > 0) {
    RunUntil([&] { return !conductor_.pending.empty() || Stored() == 0; });
    if (!conductor_.pending.empty()) conductor_.Answer(0);
    Settle();
  }
  EXPECT_EQ(Delivered(), Range(0, 10));
}

TEST_F(AckedStreamTest, ACutResendsWhatWasNotAcknowledgedInOrderAndEachArrivesOnce) {
  Open({4, 5});
  stream_->SetOnline(true);
  AppendN(0, 10);
  RunUntil([&] { return Stored() == 0; });
  EXPECT_EQ(Delivered(), Range(0, 10));

  // The link dies silently: calls go out, some reach the conductor, no answer comes back.
  conductor_.auto_answer = false;
  AppendN(10, 40);
  RunUntil([&] { return conductor_.pending.size() == 4; });
  conductor_.acked.Take(conductor_.pending[0].kwargs);  // taken, answer lost
  conductor_.acked.Take(conductor_.pending[1].kwargs);
  // The agent notices; the calls in flight fail as the session ends.
  stream_->SetOnline(false);
  for (auto& p : conductor_.pending) p.done(Unavailable("connection lost"));
  conductor_.pending.clear();
  AppendN(40, 60);
  RunUntil([&] { return Stored() == 50; });  // offline: nothing more is acknowledged
  Settle();
  EXPECT_EQ(Stored(), 50u);

  conductor_.auto_answer = true;
  stream_->SetOnline(true);
  RunUntil([&] { return Stored() == 0; });
  EXPECT_EQ(Delivered(), Range(0, 60));
  EXPECT_EQ(conductor_.acked.duplicates, 10u);  // re-sent, not routed again
  EXPECT_EQ(stream_->duplicates(), 10u);
  EXPECT_GE(stream_->resends(), 1u);
}

TEST_F(AckedStreamTest, ATimeoutWhileOnlineSendsAgainAfterTheRetryDelay) {
  AckedStreamOptions options;
  options.retry_delay = 1ms;
  Open(options);
  conductor_.auto_answer = false;
  stream_->SetOnline(true);
  AppendN(0, 3);
  RunUntil([&] { return conductor_.pending.size() == 1; });
  auto lost = std::move(conductor_.pending[0]);
  conductor_.pending.clear();
  conductor_.acked.Take(lost.kwargs);
  conductor_.auto_answer = true;
  lost.done(DeadlineExceeded("no answer in 10 s"));
  RunUntil([&] { return Stored() == 0; });
  EXPECT_EQ(Delivered(), Range(0, 3));
  EXPECT_EQ(conductor_.acked.duplicates, 3u);
}

TEST_F(AckedStreamTest, ARefusedBatchIsDroppedAndCountedInsteadOfStallingTheStream) {
  Open({1, 2});
  conductor_.auto_answer = false;
  stream_->SetOnline(true);
  AppendN(0, 4);
  RunUntil([&] { return conductor_.pending.size() == 1; });
  auto refused = std::move(conductor_.pending[0]);
  conductor_.pending.clear();
  conductor_.auto_answer = true;
  refused.done(PermissionDenied("board b1 may not publish there"));
  RunUntil([&] { return Stored() == 0; });
  EXPECT_EQ(stream_->refused(), 2u);
  EXPECT_EQ(Delivered(), Range(2, 4));
}

TEST_F(AckedStreamTest, TheBoundDropsTheOldestAndTheRestArrivesInOrder) {
  Open({}, StreamLimits{1 << 20, 10, DropPolicy::kDropOldest});
  AppendN(0, 15);  // offline: no session yet
  RunUntil([&] { return spool_->Stats("gpio.event") && spool_->Stats("gpio.event")->next_seq == 16; });
  EXPECT_EQ(spool_->Stats("gpio.event")->dropped_oldest, 5u);
  stream_->SetOnline(true);
  RunUntil([&] { return Stored() == 0; });
  EXPECT_EQ(Delivered(), Range(5, 15));
  EXPECT_EQ(conductor_.acked.events.front().seq, 6u);  // the gap says what the bound cost
}

TEST_F(AckedStreamTest, UnacknowledgedRecordsSurviveARestartAndKeepTheSpoolIdentity) {
  Open();
  AppendN(0, 7);
  RunUntil([&] { return Stored() == 7; });
  const std::string id = spool_->id();
  EXPECT_EQ(id.size(), 16u);
  Open();  // the agent restarted
  EXPECT_EQ(spool_->id(), id);
  stream_->SetOnline(true);
  RunUntil([&] { return Stored() == 0; });
  EXPECT_EQ(Delivered(), Range(0, 7));
}

TEST_F(AckedStreamTest, AnUnreadableRecordIsSkippedNotStalledOn) {
  Open();
  stream_->Append("0");
  stream_->Append("junk");
  stream_->Append("2");
  stream_->SetOnline(true);
  RunUntil([&] { return Stored() == 0; });
  EXPECT_EQ(Delivered(), (std::vector<std::string>{"0", "2"}));
}

TEST_F(AckedStreamTest, AnOlderConductorWithoutThePublishProcedureGetsPlainPublications) {
  Open();
  conductor_.legacy = true;
  stream_->SetOnline(true);
  AppendN(0, 5);
  RunUntil([&] { return Stored() == 0; });
  ASSERT_EQ(conductor_.plain.size(), 5u);
  for (size_t i = 0; i < 5; ++i) EXPECT_EQ(conductor_.plain[i].kwargs["n"], std::to_string(i));
  EXPECT_EQ(conductor_.plain[0].topic, "ew.board.b1.gpio.event");
}

TEST_F(AckedStreamTest, DiscardForgetsWhatWaits) {
  Open();
  AppendN(0, 5);
  RunUntil([&] { return Stored() == 5; });
  stream_->Discard();
  RunUntil([&] { return Stored() == 0; });
  stream_->SetOnline(true);
  AppendN(5, 6);
  RunUntil([&] { return conductor_.acked.events.size() == 1; });
  EXPECT_EQ(Delivered(), Range(5, 6));
}

}  // namespace
}  // namespace ew::agent::spool
