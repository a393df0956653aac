// The service with a ManualClock, a recording invoker and a registry file of its own: schedules
// fire on the injected time (once per time, one late fire after a restart), MQTT deliveries pass
// the condition and limits, caps and refusals change nothing. The broker side (real mosquitto) is
// tests/integration/test_triggers.py.
#include "cloud-conductor/triggers/trigger_service.hpp"

#include <condition_variable>
#include <future>
#include <ctime>
#include <filesystem>
#include <thread>
#include <unistd.h>

#include <SQLiteCpp/Database.h>
#include <boost/asio/io_context.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/thread_pool.hpp>
#include <gtest/gtest.h>

#include "cloud-conductor/registry/migrations.hpp"
#include "cloud-conductor/registry/sqlite_connection.hpp"

namespace ew::conductor::triggers {
namespace {

using namespace std::chrono_literals;
using nlohmann::json;

Clock::TimePoint Utc(int y, int mo, int d, int h, int mi, int s = 0) {
  std::tm tm{};
  tm.tm_year = y - 1900, tm.tm_mon = mo - 1, tm.tm_mday = d, tm.tm_hour = h, tm.tm_min = mi, tm.tm_sec = s;
  return std::chrono::system_clock::from_time_t(timegm(&tm));
}

// What the service asked to invoke, and a way to wait for it (the pool runs the calls).
class RecordingInvoker {
 public:
  TriggerService::Invoke Bind() {
    return [this](const TriggerSpec& spec, json event, std::function<void(std::string)> done) -> Result<void> {
      std::lock_guard<std::mutex> lock(mu_);
      if (!fail_with.empty()) {
        cv_.notify_all();
        ++refused_;
        return tl::unexpected(Error{fail_code, fail_with});
      }
      calls_.push_back({spec.id, std::move(event)});
      if (hold) {
        held_.push_back(std::move(done));
      } else {
        done("");
      }
      cv_.notify_all();
      return Ok();
    };
  }
  // Waits (bounded, on a condition variable) until `n` calls were made or refused.
  bool WaitFor(size_t n) {
    std::unique_lock<std::mutex> lock(mu_);
    return cv_.wait_for(lock, 5s, [&] { return calls_.size() + refused_ >= n; });
  }
  std::vector<std::pair<std::string, json>> Calls() {
    std::lock_guard<std::mutex> lock(mu_);
    return calls_;
  }
  void Release(const std::string& error) {
    std::vector<std::function<void(std::string)>> held;
    {
      std::lock_guard<std::mutex> lock(mu_);
      held.swap(held_);
    }
    for (auto& done : held) done(error);
  }
  bool hold = false;  // keep `done` until Release (invocations still running)
  std::string fail_with;
  ErrorCode fail_code = ErrorCode::kUnavailable;

 private:
  std::mutex mu_;
  std::condition_variable cv_;
  std::vector<std::pair<std::string, json>> calls_;
  std::vector<std::function<void(std::string)>> held_;
  size_t refused_ = 0;
};

class TriggerServiceTest : public ::testing::Test {
 protected:
  void SetUp() override {
    path_ = std::filesystem::temp_directory_path() / ("ew-triggers-" + std::to_string(getpid()) + "-" +
                                                     ::testing::UnitTest::GetInstance()->current_test_info()->name() + ".db");
    std::filesystem::remove(path_);
    SQLite::Database db = registry::OpenSqliteDatabase(path_.string());
    ASSERT_TRUE(registry::ApplyMigrations(db));
    db.exec("INSERT INTO projects (id, name, created_at) VALUES ('prj-1', 'one', 0)");
    db.exec("INSERT INTO functions (id, project_id, name, created_at) VALUES ('fn-1', 'prj-1', 'alarm', 0)");
    auto store = TriggerStore::Open(path_.string());
    ASSERT_TRUE(store) << store.error().message;
    store_ = std::move(*store);
  }
  void TearDown() override {
    pool_.join();  // as the conductor: the pool first, so no fire runs while the service goes
    service_.reset();
    store_.reset();
    for (const char* suffix : {"", "-wal", "-shm"}) std::filesystem::remove(path_.string() + suffix);
  }

  TriggerService& Start(TriggerOptions options = {}) {
    service_ = std::make_unique<TriggerService>(*store_, pool_, io_.get_executor(), clock_, invoker_.Bind(), options);
    EXPECT_TRUE(service_->Start());
    return *service_;
  }

  // Waits until the pool ran everything queued before (it has one thread).
  void Drain() {
    std::promise<void> done;
    boost::asio::post(pool_, [&done] { done.set_value(); });
    ASSERT_EQ(done.get_future().wait_for(5s), std::future_status::ready);
  }

  TriggerSpec Spec(const json& body) {
    auto spec = TriggerSpec::FromRequest(body);
    EXPECT_TRUE(spec) << spec.error().message;
    spec->id = "trg-" + std::to_string(++next_id_);
    spec->project_id = "prj-1";
    spec->created_at = UnixSeconds(clock_.Now());
    return *spec;
  }
  TriggerSpec Schedule(const char* expression) {
    return Spec({{"type", "schedule"}, {"functionId", "fn-1"}, {"schedule", expression}});
  }
  // A broker nobody listens at: connections keep retrying, deliveries are simulated with OnMessage.
  static TriggerOptions DeadBroker() {
    TriggerOptions o;
    o.broker.emplace();
    o.broker->host = "127.0.0.1";
    o.broker->port = 1;
    return o;
  }

  std::filesystem::path path_;
  std::unique_ptr<TriggerStore> store_;
  boost::asio::io_context io_;
  boost::asio::thread_pool pool_{1};  // one thread: Drain() then means every fire finished
  ManualClock clock_{Utc(2026, 12, 5, 9, 58, 30)};
  RecordingInvoker invoker_;
  std::unique_ptr<TriggerService> service_;
  int next_id_ = 0;
};

TEST_F(TriggerServiceTest, ScheduleFiresOnTheInjectedClockOncePerTime) {
  auto& service = Start();
  auto created = service.Create(Schedule("* * * * *"));
  ASSERT_TRUE(created) << created.error().message;
  EXPECT_EQ(created->state, "scheduled");
  EXPECT_EQ(created->next_fire_at, UnixSeconds(Utc(2026, 12, 5, 9, 59)));
  service.Tick();
  clock_.Advance(29s);
  service.Tick();
  EXPECT_TRUE(invoker_.Calls().empty()) << "nothing before 09:59:00";
  clock_.Advance(1s);
  service.Tick();
  service.Tick();
  ASSERT_TRUE(invoker_.WaitFor(1));
  auto calls = invoker_.Calls();
  ASSERT_EQ(calls.size(), 1u);
  EXPECT_EQ(calls[0].first, created->spec.id);
  EXPECT_EQ(calls[0].second["trigger"], created->spec.id);
  EXPECT_EQ(calls[0].second["scheduledAt"], UnixSeconds(Utc(2026, 12, 5, 9, 59)));
  EXPECT_EQ(calls[0].second["late"], false);
  // Ten minutes of one-second ticks: ten more fires, each recorded in the store.
  for (int i = 0; i < 600; ++i) {
    clock_.Advance(1s);
    service.Tick();
    Drain();  // as the real pool keeps up with one fire a minute
  }
  ASSERT_TRUE(invoker_.WaitFor(11));
  Drain();
  EXPECT_EQ(invoker_.Calls().size(), 11u);
  auto status = service.Get(created->spec.id);
  ASSERT_TRUE(status);
  EXPECT_EQ(status->fire_count, 11u);
  EXPECT_EQ(status->last_fired_at, UnixSeconds(Utc(2026, 12, 5, 10, 9)));
  EXPECT_TRUE(status->last_error.empty()) << status->last_error;
}

// Restored after downtime: one late fire for the missed times, fire count and last fire kept.
TEST_F(TriggerServiceTest, RestartResumesWithOneLateFire) {
  std::string id;
  {
    auto& service = Start();
    auto created = service.Create(Schedule("*/5 * * * *"));
    ASSERT_TRUE(created);
    id = created->spec.id;
    clock_.Advance(90s);  // 10:00:00
    service.Tick();
    ASSERT_TRUE(invoker_.WaitFor(1));
    Drain();
    service_.reset();  // the conductor stops (it joins its pool before, as here)
  }
  clock_.Advance(1h);  // down for an hour: 12 times missed
  auto& service = Start();
  auto restored = service.Get(id);
  ASSERT_TRUE(restored);
  EXPECT_EQ(restored->fire_count, 1u);
  EXPECT_EQ(restored->last_fired_at, UnixSeconds(Utc(2026, 12, 5, 10, 0)));
  service.Tick();
  service.Tick();
  ASSERT_TRUE(invoker_.WaitFor(2));
  auto calls = invoker_.Calls();
  ASSERT_EQ(calls.size(), 2u);
  EXPECT_EQ(calls[1].second["scheduledAt"], UnixSeconds(Utc(2026, 12, 5, 10, 5)));
  EXPECT_EQ(calls[1].second["late"], true);
  EXPECT_EQ(service.Get(id)->next_fire_at, UnixSeconds(Utc(2026, 12, 5, 11, 5)));
}

TEST_F(TriggerServiceTest, MqttDeliveriesPassConditionAndLimits) {
  TriggerOptions options = DeadBroker();
  options.max_payload_bytes = 1024;
  options.max_in_flight_per_trigger = 2;
  auto& service = Start(options);
  auto created = service.Create(Spec({{"type", "mqtt"},
                                      {"functionId", "fn-1"},
                                      {"topic", "lab/+/temp"},
                                      {"condition", {{"field", "temperature"}, {"op", ">"}, {"value", 30}}}}));
  ASSERT_TRUE(created) << created.error().message;
  const std::string id = created->spec.id;
  service.OnMessage(id, R"({"temperature": 25})");
  service.OnMessage(id, R"({"temperature": 31.5, "room": "a"})");
  service.OnMessage(id, "31");                    // not an object: no field
  service.OnMessage(id, std::string(2000, '{'));  // over the payload limit
  ASSERT_TRUE(invoker_.WaitFor(1));
  Drain();
  auto calls = invoker_.Calls();
  ASSERT_EQ(calls.size(), 1u);
  EXPECT_EQ(calls[0].second, json({{"temperature", 31.5}, {"room", "a"}}));
  auto status = service.Get(id);
  ASSERT_TRUE(status);
  EXPECT_EQ(status->skipped, 2u);
  EXPECT_EQ(status->dropped, 1u);  // (its last_error is soon the dead broker's; see the integration test)
  // Two invocations still running: the third message is dropped, not queued without bound.
  invoker_.hold = true;
  for (int i = 0; i < 3; ++i) service.OnMessage(id, R"({"temperature": 40})");
  ASSERT_TRUE(invoker_.WaitFor(3));
  Drain();
  EXPECT_EQ(invoker_.Calls().size(), 3u);
  EXPECT_EQ(service.Get(id)->dropped, 2u);
  invoker_.Release("function failed: exit 1");
  EXPECT_EQ(service.Get(id)->fire_count, 3u);
}

TEST_F(TriggerServiceTest, PayloadsThatAreNotJsonAreStrings) {
  auto& service = Start(DeadBroker());
  auto created = service.Create(Spec({{"type", "mqtt"}, {"functionId", "fn-1"}, {"topic", "raw/#"}}));
  ASSERT_TRUE(created);
  service.OnMessage(created->spec.id, "on");
  ASSERT_TRUE(invoker_.WaitFor(1));
  service.OnMessage(created->spec.id, std::string("\xff\xfe ok", 5));
  ASSERT_TRUE(invoker_.WaitFor(2));
  auto calls = invoker_.Calls();
  EXPECT_EQ(calls[0].second, json("on"));
  EXPECT_EQ(calls[1].second, json("\xEF\xBF\xBD\xEF\xBF\xBD ok"));  // U+FFFD for each bad byte
}

TEST_F(TriggerServiceTest, BrokerUnreachableIsVisible) {
  auto& service = Start(DeadBroker());
  auto created = service.Create(Spec({{"type", "mqtt"}, {"functionId", "fn-1"}, {"topic", "a/b"}}));
  ASSERT_TRUE(created);
  // libmosquitto's thread reports the refused connection; bounded wait on real time (its thread).
  const auto until = std::chrono::steady_clock::now() + 5s;
  Result<TriggerStatus> status = service.Get(created->spec.id);
  while (std::chrono::steady_clock::now() < until && status && status->last_error.empty()) {
    std::this_thread::sleep_for(20ms);
    status = service.Get(created->spec.id);
  }
  ASSERT_TRUE(status);
  EXPECT_NE(status->state.find("disconnected"), std::string::npos) << status->state;
  EXPECT_NE(status->last_error.find("reconnecting"), std::string::npos) << status->last_error;
}

TEST_F(TriggerServiceTest, CapsAndRefusalsChangeNothing) {
  TriggerOptions options;
  options.max_per_project = 2;
  auto& service = Start(options);
  // An unknown function: the store's foreign key.
  auto spec = Schedule("0 0 * * *");
  spec.function_id = "fn-nope";
  auto unknown = service.Create(spec);
  ASSERT_FALSE(unknown);
  EXPECT_EQ(unknown.error().code, ErrorCode::kNotFound) << unknown.error().message;
  ASSERT_TRUE(service.Create(Schedule("0 * * * *")));
  ASSERT_TRUE(service.Create(Schedule("30 * * * *")));
  auto third = service.Create(Schedule("15 * * * *"));
  ASSERT_FALSE(third);
  EXPECT_EQ(third.error().code, ErrorCode::kResourceExhausted);
  // No broker configured: MQTT triggers are refused.
  auto mqtt = service.Create(Spec({{"type", "mqtt"}, {"functionId", "fn-1"}, {"topic", "a"}}));
  ASSERT_FALSE(mqtt);
  EXPECT_EQ(mqtt.error().code, ErrorCode::kUnavailable);
  EXPECT_EQ(service.List("prj-1")->size(), 2u);
  EXPECT_EQ(service.Delete("trg-nope").error().code, ErrorCode::kNotFound);
  ASSERT_TRUE(service.Delete("trg-2"));
  EXPECT_EQ(service.List("")->size(), 1u);
  EXPECT_EQ(service.Get("trg-2").error().code, ErrorCode::kNotFound);
}

// The function was deleted (its triggers' rows with it): the next fire retires the trigger.
TEST_F(TriggerServiceTest, GoneFunctionRetiresTheTrigger) {
  auto& service = Start();
  auto created = service.Create(Schedule("* * * * *"));
  ASSERT_TRUE(created);
  invoker_.fail_with = "function fn-1 does not exist";
  invoker_.fail_code = ErrorCode::kNotFound;
  clock_.Advance(30s);
  service.Tick();
  ASSERT_TRUE(invoker_.WaitFor(1));
  // Retired from the live set; the row is still here in this test (no real cascade), inactive.
  const auto until = std::chrono::steady_clock::now() + 5s;
  while (std::chrono::steady_clock::now() < until && service.Get(created->spec.id)->state != "inactive")
    std::this_thread::sleep_for(10ms);
  EXPECT_EQ(service.Get(created->spec.id)->state, "inactive");
}

}  // namespace
}  // namespace ew::conductor::triggers
