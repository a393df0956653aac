#include "cloud-conductor/agents/log_follow.hpp"

#include <gtest/gtest.h>

#include <boost/asio/io_context.hpp>

#include "common/contract/sys.hpp"
#include "tests/support/fake_board_gateway.hpp"

namespace ew::conductor::agents {
namespace {

namespace sys = contract::sys;

class LogFollowTest : public ::testing::Test {
 protected:
  LogFollowTest() {
    gateway_.SetOnline("brd-1");
    gateway_.SetScript("brd-1", [](const std::string&, const wamp::Payload&) -> Result<wamp::Payload> {
      return sys::LogFollowReply{true, 0}.ToPayload();
    });
    follow_.Start();
  }

  size_t CallsOf(const char* suffix) const {
    size_t n = 0;
    for (const auto& c : gateway_.calls()) n += c.procedure == suffix;
    return n;
  }

  std::shared_ptr<LogFollow::Follower> Follow(std::vector<nlohmann::json>* batches, std::string* ended,
                                              const std::string& user = "usr-1") {
    LogListener listener;
    listener.on_batch = [batches](const nlohmann::json& b) { batches->push_back(b); };
    listener.on_end = [ended](const std::string& reason) { *ended = reason; };
    std::shared_ptr<LogFollow::Follower> out;
    follow_.Follow("brd-1", user, std::move(listener), [&out](Result<std::shared_ptr<LogFollow::Follower>> f) {
      ASSERT_TRUE(f) << f.error().message;
      out = *f;
    });
    return out;
  }

  testing::FakeBoardGateway gateway_;
  boost::asio::io_context io_;
  LogFollow follow_{gateway_, io_.get_executor()};
};

TEST_F(LogFollowTest, ClientsShareOneFollowAndTheLastOneUnfollows) {
  std::vector<nlohmann::json> a_batches, b_batches;
  std::string a_end, b_end;
  auto a = Follow(&a_batches, &a_end);
  auto b = Follow(&b_batches, &b_end);
  ASSERT_TRUE(a && b);
  EXPECT_EQ(CallsOf(sys::kLogsFollow.suffix), 1u);

  sys::LogBatch batch;
  batch.lines = {"one", "two"};
  batch.first_seq = 5;
  gateway_.Publish("brd-1", sys::kLogTopic.suffix, batch.ToPayload());
  gateway_.Publish("brd-1", "gpio.event", batch.ToPayload());  // another topic: not a log
  ASSERT_EQ(a_batches.size(), 1u);
  ASSERT_EQ(b_batches.size(), 1u);
  EXPECT_EQ(a_batches[0]["lines"], (nlohmann::json{"one", "two"}));
  EXPECT_EQ(a_batches[0]["firstSeq"], 5);

  // A batch that breaks the contract is dropped, not forwarded.
  gateway_.Publish("brd-1", sys::kLogTopic.suffix, wamp::Payload{{}, {{"lines", "not a list"}}});
  EXPECT_EQ(a_batches.size(), 1u);

  a->Close();
  EXPECT_EQ(CallsOf(sys::kLogsUnfollow.suffix), 0u);
  b->Close();
  EXPECT_EQ(CallsOf(sys::kLogsUnfollow.suffix), 1u);
  EXPECT_EQ(follow_.FollowerCount(), 0u);
  gateway_.Publish("brd-1", sys::kLogTopic.suffix, batch.ToPayload());
  EXPECT_EQ(a_batches.size(), 1u);
}

TEST_F(LogFollowTest, TheBoardGoingOfflineEndsItsFollowers) {
  std::vector<nlohmann::json> batches;
  std::string ended;
  auto f = Follow(&batches, &ended);
  ASSERT_TRUE(f);
  gateway_.EndSession("brd-1");
  EXPECT_NE(ended.find("offline"), std::string::npos) << ended;
  EXPECT_EQ(follow_.FollowerCount(), 0u);
  f->Close();  // after the end: nothing to unfollow
  EXPECT_EQ(CallsOf(sys::kLogsUnfollow.suffix), 0u);
}

TEST_F(LogFollowTest, AnOfflineBoardIsUnavailable) {
  gateway_.SetOffline("brd-1");
  Result<std::shared_ptr<LogFollow::Follower>> got = Internal("not answered");
  follow_.Follow("brd-1", "usr-1", {}, [&got](Result<std::shared_ptr<LogFollow::Follower>> f) { got = std::move(f); });
  ASSERT_FALSE(got);
  EXPECT_EQ(got.error().code, ErrorCode::kUnavailable);
  EXPECT_EQ(follow_.FollowerCount(), 0u);
  EXPECT_EQ(follow_.FollowsOf("usr-1"), 0u) << "a follow that failed does not count";
}

// Issue 14 review: what a board sends is bounded before it reaches a client (an older agent
// sends lines of any length), and a user holds at most max_follows_per_user follows.
TEST_F(LogFollowTest, Issue14LongLinesAreCutAndBatchesBoundedWhateverTheBoardSent) {
  std::vector<nlohmann::json> batches;
  std::string ended;
  auto f = Follow(&batches, &ended);
  ASSERT_TRUE(f);
  sys::LogBatch batch;
  batch.first_seq = 10;
  batch.skipped = 1;
  for (int i = 0; i < 100; ++i) batch.lines.push_back(std::to_string(i) + std::string(10'000, 'y'));
  gateway_.Publish("brd-1", sys::kLogTopic.suffix, batch.ToPayload());
  ASSERT_EQ(batches.size(), 1u);
  const auto& event = batches[0];
  size_t bytes = 0;
  for (const auto& line : event["lines"]) {
    EXPECT_LE(line.get<std::string>().size(), sys::kMaxLogLineBytes);
    bytes += line.get<std::string>().size();
  }
  EXPECT_LE(bytes, sys::kMaxLogAnswerBytes);
  const size_t kept = event["lines"].size();
  EXPECT_EQ(kept, sys::kMaxLogAnswerBytes / sys::kMaxLogLineBytes);
  EXPECT_EQ(event["cut"], kept);
  EXPECT_EQ(event["skipped"], 1 + (100 - static_cast<int64_t>(kept))) << "the board's skips and ours";
  EXPECT_EQ(event["firstSeq"], 10);
  f->Close();
}

TEST_F(LogFollowTest, Issue14AUserHoldsABoundedNumberOfFollows) {
  LogFollowOptions options;
  options.max_follows_per_user = 2;
  LogFollow capped(gateway_, io_.get_executor(), options);
  capped.Start();
  auto follow = [&](const std::string& user) {
    Result<std::shared_ptr<LogFollow::Follower>> got = Internal("not answered");
    capped.Follow("brd-1", user, {}, [&got](Result<std::shared_ptr<LogFollow::Follower>> f) { got = std::move(f); });
    return got;
  };
  auto a = follow("usr-1");
  auto b = follow("usr-1");
  ASSERT_TRUE(a && b);
  auto c = follow("usr-1");
  ASSERT_FALSE(c);
  EXPECT_EQ(c.error().code, ErrorCode::kResourceExhausted);
  EXPECT_EQ(HttpStatus(c.error().code), 429);
  EXPECT_EQ(capped.FollowerCount(), 2u) << "a refused follow changes nothing";
  EXPECT_TRUE(follow("usr-2")) << "another user has follows of its own";
  (*a)->Close();
  EXPECT_EQ(capped.FollowsOf("usr-1"), 1u);
  auto d = follow("usr-1");
  ASSERT_TRUE(d) << "a closed follow frees its place";
  // The board going offline frees them too.
  gateway_.EndSession("brd-1");
  EXPECT_EQ(capped.FollowsOf("usr-1"), 0u);
  EXPECT_EQ(capped.FollowsOf("usr-2"), 0u);
}

}  // namespace
}  // namespace ew::conductor::agents
