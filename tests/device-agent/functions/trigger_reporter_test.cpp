// TriggerReporter over a real spool directory and a fake conductor: outcomes stored while the
// conductor is away go out in order, one function per call, after a restart too, and leave the
// spool only once the conductor has answered.
#include "device-agent/functions/trigger_reporter.hpp"

#include <gtest/gtest.h>

#include <filesystem>

#include <boost/asio/post.hpp>

#include "common/ids/ids.hpp"

namespace ew::agent::functions {
namespace {

namespace fs = std::filesystem;
using nlohmann::json;
using namespace std::chrono_literals;

// Answers ew.conductor.fn.report on the io thread: Unavailable while `up` is false.
class ReportConductor final : public rpc::ConductorClient {
 public:
  explicit ReportConductor(boost::asio::io_context& io) : io_(io) {}
  void Call(const std::string& procedure, rpc::Reply arguments, std::chrono::milliseconds,
            std::function<void(Result<rpc::Reply>)> done) override {
    boost::asio::post(io_, [this, procedure, arguments = std::move(arguments), done = std::move(done)] {
      if (!up) return done(Unavailable("no session"));
      if (procedure != "ew.conductor.fn.report") return done(NotFound("no procedure " + procedure));
      calls.push_back(arguments.kwargs);
      if (refuse) return done(PermissionDenied("function not deployed on this board"));
      done(rpc::Reply{});
    });
  }
  bool Publish(const std::string&, const rpc::Reply&) override { return false; }

  bool up = false;
  bool refuse = false;
  std::vector<json> calls;

 private:
  boost::asio::io_context& io_;
};

class TriggerReporterTest : public ::testing::Test {
 protected:
  void SetUp() override { options_.dir = fs::temp_directory_path() / ("ew-reporter-" + ids::NewId("t")); }
  void TearDown() override {
    reporter_.reset();
    spool_.reset();
    std::error_code ec;
    fs::remove_all(options_.dir, ec);
  }
  void Start() {
    reporter_.reset();
    spool_.reset();
    auto opened = spool::AsyncSpool::Open(io_, options_);
    ASSERT_TRUE(opened) << opened.error().message;
    spool_ = std::move(*opened);
    TriggerReporterOptions options;
    options.reports_per_call = 3;
    reporter_ = std::make_shared<TriggerReporter>(*spool_, options);
    reporter_->SetConductor(&conductor_);
  }
  void RunUntil(const std::function<bool()>& done) {
    const auto deadline = std::chrono::steady_clock::now() + 10s;
    while (!done() && std::chrono::steady_clock::now() < deadline) {
      io_.restart();
      io_.run_for(2ms);
    }
    ASSERT_TRUE(done()) << "timed out";
  }
  // Lets queued work settle (the spool's writer thread and the io thread).
  void Settle() {
    for (int i = 0; i < 20; ++i) {
      io_.restart();
      io_.run_for(2ms);
    }
  }
  static json Outcome(int n) { return {{"status", "succeeded"}, {"output", {{"n", n}}}}; }

  boost::asio::io_context io_;
  spool::SpoolOptions options_;
  ReportConductor conductor_{io_};
  std::unique_ptr<spool::AsyncSpool> spool_;
  std::shared_ptr<TriggerReporter> reporter_;
};

TEST_F(TriggerReporterTest, OutcomesWaitForTheConductorAcrossARestartAndArriveInOrder) {
  Start();
  for (int n = 1; n <= 4; ++n) reporter_->Report("fn-a", Outcome(n));
  reporter_->Report("fn-b", Outcome(5));
  reporter_->Report("fn-a", Outcome(6));
  RunUntil([&] { return reporter_->Pending() == 6; });
  Settle();
  EXPECT_TRUE(conductor_.calls.empty());

  Start();  // the agent restarts while the conductor is away
  EXPECT_EQ(reporter_->Pending(), 6u);
  conductor_.up = true;
  reporter_->Flush();  // the session is up
  RunUntil([&] { return reporter_->Pending() == 0; });
  // Batches of at most 3, one function each, in the order the outcomes happened.
  ASSERT_EQ(conductor_.calls.size(), 4u);
  std::vector<std::pair<std::string, int>> seen;
  for (const auto& call : conductor_.calls) {
    EXPECT_LE(call["records"].size(), 3u);
    for (const auto& record : call["records"]) seen.emplace_back(call["functionId"], record["output"]["n"]);
  }
  const std::vector<std::pair<std::string, int>> expected = {{"fn-a", 1}, {"fn-a", 2}, {"fn-a", 3},
                                                             {"fn-a", 4}, {"fn-b", 5}, {"fn-a", 6}};
  EXPECT_EQ(seen, expected);
  // Acknowledged: nothing comes again.
  Start();
  conductor_.calls.clear();
  reporter_->Flush();
  Settle();
  EXPECT_TRUE(conductor_.calls.empty());
}

TEST_F(TriggerReporterTest, OutcomesTheConductorRefusesAreNotRetriedForever) {
  Start();
  conductor_.up = true;
  conductor_.refuse = true;
  reporter_->Report("gone", Outcome(1));
  RunUntil([&] { return conductor_.calls.size() == 1 && reporter_->Pending() == 0; });
  conductor_.refuse = false;
  reporter_->Report("fn-a", Outcome(2));
  RunUntil([&] { return conductor_.calls.size() == 2 && reporter_->Pending() == 0; });
  EXPECT_EQ(conductor_.calls[1]["functionId"], "fn-a");
}

TEST_F(TriggerReporterTest, TheStreamBoundDropsTheOldestAndCountsThem) {
  Start();
  TriggerReporterOptions options;
  options.limits = {1u << 20, 3, spool::DropPolicy::kDropOldest};
  reporter_ = std::make_shared<TriggerReporter>(*spool_, options);
  reporter_->SetConductor(&conductor_);
  for (int n = 1; n <= 5; ++n) reporter_->Report("fn-a", Outcome(n));
  RunUntil([&] { return reporter_->Dropped() == 2; });
  conductor_.up = true;
  reporter_->Flush();
  RunUntil([&] { return reporter_->Pending() == 0; });
  ASSERT_EQ(conductor_.calls.size(), 1u);
  EXPECT_EQ(conductor_.calls[0]["records"][0]["output"]["n"], 3);
}

}  // namespace
}  // namespace ew::agent::functions
