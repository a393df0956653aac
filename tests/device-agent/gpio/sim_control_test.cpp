// SimControl over a real unix socket and a real SimChip: the socket file (fresh, 0600, removed on
// stop), every op, signals played in real time with ordered gapless edges, and bad requests that
// get an error while the connection keeps serving.
#include "device-agent/gpio/sim_control.hpp"

#include <poll.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include <chrono>
#include <condition_variable>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <mutex>
#include <sstream>
#include <string>
#include <vector>

#include <gmock/gmock.h>
#include <gtest/gtest.h>

namespace ew::agent::gpio {
namespace {

using ::testing::HasSubstr;
using Json = nlohmann::json;
using namespace std::chrono_literals;
namespace fs = std::filesystem;

constexpr auto kDeadline = 10s;

class TempDir {
 public:
  TempDir() {
    std::string pattern = (fs::temp_directory_path() / "ew-sim-XXXXXX").string();
    path_ = ::mkdtemp(pattern.data());
  }
  ~TempDir() { fs::remove_all(path_); }
  std::string Path(const std::string& name) const { return (path_ / name).string(); }

 private:
  fs::path path_;
};

// One persistent connection: several requests on it, answers read line by line with a deadline.
class Client {
 public:
  explicit Client(const std::string& path) : fd_(::socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0)) {
    sockaddr_un addr{};
    addr.sun_family = AF_UNIX;
    path.copy(addr.sun_path, sizeof addr.sun_path - 1);
    connected_ = ::connect(fd_, reinterpret_cast<sockaddr*>(&addr), sizeof addr) == 0;
  }
  ~Client() { ::close(fd_); }
  bool connected() const { return connected_; }

  // False when the server closed before taking it all.
  bool Send(const std::string& text) {
    for (size_t sent = 0; sent < text.size();) {
      const ssize_t n = ::send(fd_, text.data() + sent, text.size() - sent, MSG_NOSIGNAL);
      if (n <= 0) return false;
      sent += static_cast<size_t>(n);
    }
    return true;
  }
  // The next answer line parsed, or a null Json on timeout / EOF.
  Json Next(std::chrono::milliseconds timeout = kDeadline) {
    const auto deadline = std::chrono::steady_clock::now() + timeout;
    for (;;) {
      if (auto newline = buffer_.find('\n'); newline != std::string::npos) {
        std::string line = buffer_.substr(0, newline);
        buffer_.erase(0, newline + 1);
        return Json::parse(line);
      }
      const auto left =
          std::chrono::duration_cast<std::chrono::milliseconds>(deadline - std::chrono::steady_clock::now());
      if (left <= 0ms) return Json();
      pollfd pfd{fd_, POLLIN, 0};
      if (::poll(&pfd, 1, static_cast<int>(left.count())) <= 0) continue;
      char chunk[4096];
      const ssize_t n = ::recv(fd_, chunk, sizeof chunk, 0);
      if (n <= 0) return Json();
      buffer_.append(chunk, static_cast<size_t>(n));
    }
  }
  Json Call(const Json& request) {
    if (!Send(request.dump() + "\n")) return Json();
    return Next();
  }

 private:
  int fd_;
  bool connected_ = false;
  std::string buffer_;
};

// Collects the edges a handler sees, from whichever thread drives.
class Edges {
 public:
  ew::gpio::EdgeHandler Handler() {
    return [this](const ew::gpio::EdgeEvent& event) {
      std::lock_guard lock(mu_);
      events_.push_back(event);
      cv_.notify_all();
    };
  }
  std::vector<ew::gpio::EdgeEvent> WaitFor(size_t count) {
    std::unique_lock lock(mu_);
    cv_.wait_for(lock, kDeadline, [&] { return events_.size() >= count; });
    return events_;
  }
  size_t size() {
    std::lock_guard lock(mu_);
    return events_.size();
  }

 private:
  std::mutex mu_;
  std::condition_variable cv_;
  std::vector<ew::gpio::EdgeEvent> events_;
};

std::string ErrorCodeOf(const Json& answer) {
  if (!answer.is_object() || !answer.contains("error")) return "";
  return answer["error"].value("code", "");
}

class SimControlTest : public ::testing::Test {
 protected:
  void SetUp() override {
    auto started = SimControl::Start(chip_, path_);
    ASSERT_TRUE(started) << started.error().message;
    control_ = std::move(*started);
  }
  // Watches GPIO4 for both edges into edges_.
  void WatchGpio4(std::chrono::microseconds debounce = 0us) {
    ew::gpio::LineRequest watch;
    watch.edges = ew::gpio::Edges::kBoth;
    watch.debounce = debounce;
    ASSERT_TRUE(chip_.Request(4, watch, "watch", edges_.Handler()));
  }
  Json Call(const Json& request) {
    auto answer = SimControlCall(path_, request, kDeadline);
    EXPECT_TRUE(answer) << answer.error().message;
    return answer ? *answer : Json();
  }

  TempDir dir_;
  const std::string path_ = dir_.Path("run/sim0.sock");  // the parent directory is created
  ew::gpio::SimChip chip_{"sim0", ew::gpio::SimChip::RaspberryPiLines()};
  std::unique_ptr<SimControl> control_;
  Edges edges_;
};

TEST_F(SimControlTest, TheSocketIsPrivateAndRemovedOnStop) {
  struct stat st {};
  ASSERT_EQ(::stat(path_.c_str(), &st), 0);
  EXPECT_TRUE(S_ISSOCK(st.st_mode));
  EXPECT_EQ(st.st_mode & 07777, 0600u);
  EXPECT_EQ(control_->SocketPath(), path_);
  control_->Stop();
  EXPECT_FALSE(fs::exists(fs::symlink_status(path_)));
  EXPECT_EQ(SimControlCall(path_, Json{{"op", "lines"}}, kDeadline).error().code, ErrorCode::kUnavailable);
  control_->Stop();  // idempotent
}

TEST_F(SimControlTest, AStaleSocketIsReplacedButNotALiveOneOrAnotherFile) {
  // Served by a running control: not taken over.
  auto second = SimControl::Start(chip_, path_);
  ASSERT_FALSE(second);
  EXPECT_EQ(second.error().code, ErrorCode::kConflict);
  EXPECT_THAT(second.error().message, HasSubstr(path_));
  EXPECT_EQ(ErrorCodeOf(Call(Json{{"op", "lines"}})), "");  // the first one still serves

  // A socket file nobody serves (an agent that died) is replaced.
  const std::string stale = dir_.Path("stale.sock");
  {
    const int fd = ::socket(AF_UNIX, SOCK_STREAM, 0);
    sockaddr_un addr{};
    addr.sun_family = AF_UNIX;
    stale.copy(addr.sun_path, sizeof addr.sun_path - 1);
    ASSERT_EQ(::bind(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr), 0);
    ::close(fd);
  }
  auto replaced = SimControl::Start(chip_, stale);
  ASSERT_TRUE(replaced) << replaced.error().message;
  EXPECT_EQ(ErrorCodeOf(*SimControlCall(stale, Json{{"op", "lines"}}, kDeadline)), "");

  // Anything else at the path is left alone.
  const std::string file = dir_.Path("notes.txt");
  std::ofstream(file) << "keep me";
  auto refused = SimControl::Start(chip_, file);
  ASSERT_FALSE(refused);
  EXPECT_EQ(refused.error().code, ErrorCode::kInvalidArgument);
  std::ifstream in(file);
  EXPECT_EQ(std::string(std::istreambuf_iterator<char>(in), {}), "keep me");
}

TEST_F(SimControlTest, DriveReachesTheEdgeHandler) {
  WatchGpio4();
  EXPECT_EQ(Call(Json{{"op", "drive"}, {"line", "GPIO4"}, {"value", 1}}), (Json{{"value", 1}}));
  // The answer comes after the drive, and the handler runs during it.
  auto seen = edges_.WaitFor(1);
  ASSERT_EQ(seen.size(), 1u);
  EXPECT_EQ(seen[0].offset, 4u);
  EXPECT_EQ(seen[0].kind, ew::gpio::EdgeKind::kRising);
  EXPECT_EQ(seen[0].sequence, 1u);
  EXPECT_EQ(Call(Json{{"op", "read"}, {"line", "GPIO4"}}), (Json{{"value", 1}}));
  EXPECT_EQ(Call(Json{{"op", "drive"}, {"line", "4"}, {"value", false}}), (Json{{"value", 0}}));
  seen = edges_.WaitFor(2);
  ASSERT_EQ(seen.size(), 2u);
  EXPECT_EQ(seen[1].kind, ew::gpio::EdgeKind::kFalling);
  EXPECT_EQ(seen[1].sequence, 2u);
  EXPECT_GT(seen[1].timestamp, seen[0].timestamp);
}

TEST_F(SimControlTest, ReadShowsWhatTheAgentWroteAndDisconnectFallsBackToTheBias) {
  ew::gpio::LineRequest out;
  out.direction = ew::gpio::Direction::kOutput;
  ASSERT_TRUE(chip_.Request(17, out, "fn:blink:inv-1"));
  ASSERT_TRUE(chip_.Write(17, 1, "fn:blink:inv-1"));
  EXPECT_EQ(Call(Json{{"op", "read"}, {"line", "GPIO17"}}), (Json{{"value", 1}}));

  ew::gpio::LineRequest up;
  up.bias = ew::gpio::Bias::kPullUp;
  ASSERT_TRUE(chip_.Request(5, up, "watch"));
  EXPECT_EQ(Call(Json{{"op", "drive"}, {"line", "GPIO5"}, {"value", 0}}), (Json{{"value", 0}}));
  EXPECT_EQ(Call(Json{{"op", "disconnect"}, {"line", "GPIO5"}}), (Json{{"value", 1}}));

  Json lines = Call(Json{{"op", "lines"}});
  EXPECT_EQ(lines["chip"], "sim0");
  ASSERT_EQ(lines["lines"].size(), 28u);
  EXPECT_EQ(lines["lines"][17], (Json{{"offset", 17}, {"name", "GPIO17"}, {"used", true},
                                       {"consumer", "fn:blink:inv-1"}, {"direction", "output"}, {"value", 1}}));
  EXPECT_EQ(lines["lines"][3]["used"], false);
}

TEST_F(SimControlTest, APacedSquareWavePlaysInRealTimeInOrderWithoutGaps) {
  WatchGpio4();
  Client client(path_);
  ASSERT_TRUE(client.connected());
  const auto before = std::chrono::steady_clock::now();
  // 1 ms period for 200 ms: 400 edges.
  Json started = client.Call(Json{{"op", "square"}, {"line", "GPIO4"}, {"periodUs", 1000}, {"cycles", 200}});
  EXPECT_EQ(started, (Json{{"started", true}}));
  EXPECT_LT(edges_.size(), 400u) << "square answered only after playing";
  Json done = client.Call(Json{{"op", "wait-square"}});
  const auto after = std::chrono::steady_clock::now();
  EXPECT_EQ(done["edges"], 400) << done;
  EXPECT_EQ(done["cancelled"], false);
  EXPECT_TRUE(done["maxLateUs"].is_number_integer());
  // Paced: each level waits for its due time, the last one 199.5 ms after the first.
  EXPECT_GE(after - before, 199ms);

  auto seen = edges_.WaitFor(400);
  ASSERT_EQ(seen.size(), 400u);
  for (size_t i = 0; i < seen.size(); ++i) {
    ASSERT_EQ(seen[i].sequence, i + 1) << "gap at edge " << i;
    ASSERT_EQ(seen[i].kind, i % 2 == 0 ? ew::gpio::EdgeKind::kRising : ew::gpio::EdgeKind::kFalling) << i;
    if (i > 0) {
      ASSERT_GE(seen[i].timestamp, seen[i - 1].timestamp) << i;
    }
  }
  // Stamped with the steady clock, when driven.
  EXPECT_GE(seen.front().timestamp, before.time_since_epoch());
  EXPECT_LE(seen.back().timestamp, after.time_since_epoch());
  EXPECT_GE(seen.back().timestamp - before.time_since_epoch(), 199500us);  // driven at or after its due time
}

TEST_F(SimControlTest, AnUnpacedSquareWaveAndASeriesPlayEveryLevel) {
  WatchGpio4();
  EXPECT_EQ(Call(Json{{"op", "square"}, {"line", "GPIO4"}, {"periodUs", 1000}, {"cycles", 5000}, {"paced", false}}),
            (Json{{"started", true}}));
  EXPECT_EQ(Call(Json{{"op", "wait-square"}})["edges"], 10'000);
  auto seen = edges_.WaitFor(10'000);
  ASSERT_EQ(seen.size(), 10'000u);
  EXPECT_EQ(seen.back().sequence, 10'000u);

  // A series: levels after delays; repeated levels drive no edge.
  const auto before = std::chrono::steady_clock::now();
  EXPECT_EQ(Call(Json{{"op", "series"}, {"line", "GPIO4"}, {"samples", {{0, 1}, {2000, 1}, {2000, 0}, {1000, 1}}}}),
            (Json{{"started", true}}));
  EXPECT_EQ(Call(Json{{"op", "wait-square"}})["edges"], 4);
  seen = edges_.WaitFor(10'003);
  ASSERT_EQ(seen.size(), 10'003u);
  EXPECT_EQ(seen[10'000].kind, ew::gpio::EdgeKind::kRising);
  EXPECT_EQ(seen[10'001].kind, ew::gpio::EdgeKind::kFalling);
  EXPECT_EQ(seen[10'002].kind, ew::gpio::EdgeKind::kRising);
  // Paced (the default): the last level is due 5 ms after the start. Edges are stamped when driven,
  // so on a busy machine a late first level can come close to the next one; the total cannot shrink.
  EXPECT_GE(seen[10'002].timestamp - before.time_since_epoch(), 5ms);
  // wait-square again: the last result at once.
  EXPECT_EQ(Call(Json{{"op", "wait-square"}})["edges"], 4);
}

TEST_F(SimControlTest, OneSignalAtATimeAndStopCancelsIt) {
  EXPECT_EQ(ErrorCodeOf(Call(Json{{"op", "wait-square"}})), "not_found");
  EXPECT_EQ(Call(Json{{"op", "stop-square"}}), (Json{{"stopped", false}}));
  // 100 s of square wave: only a stop ends it within the test.
  EXPECT_EQ(Call(Json{{"op", "square"}, {"line", "GPIO4"}, {"periodUs", 1000}, {"cycles", 100'000}}),
            (Json{{"started", true}}));
  EXPECT_EQ(ErrorCodeOf(Call(Json{{"op", "square"}, {"line", "GPIO5"}, {"periodUs", 1000}, {"cycles", 1}})),
            "conflict");
  Client waiter(path_);
  ASSERT_TRUE(waiter.connected());
  ASSERT_TRUE(waiter.Send(Json{{"op", "wait-square"}}.dump() + "\n"));
  EXPECT_TRUE(waiter.Next(50ms).is_null()) << "wait-square answered while the wave plays";
  EXPECT_EQ(Call(Json{{"op", "stop-square"}}), (Json{{"stopped", true}}));
  Json done = waiter.Next();
  EXPECT_EQ(done["cancelled"], true) << done;
  EXPECT_LT(done["edges"].get<int64_t>(), 200'000);
}

TEST_F(SimControlTest, BadRequestsGetAnErrorAndTheConnectionKeepsServing) {
  Client client(path_);
  ASSERT_TRUE(client.connected());
  ASSERT_TRUE(client.Send("{not json\n"));
  Json bad = client.Next();
  EXPECT_EQ(ErrorCodeOf(bad), "invalid_argument") << bad;
  EXPECT_THAT(bad["error"]["message"].get<std::string>(), HasSubstr("bad JSON"));
  EXPECT_EQ(ErrorCodeOf(client.Call(Json::array({1, 2}))), "invalid_argument");
  Json unknown = client.Call(Json{{"op", "explode"}});
  EXPECT_EQ(ErrorCodeOf(unknown), "invalid_argument");
  EXPECT_THAT(unknown["error"]["message"].get<std::string>(), HasSubstr("wait-square"));
  EXPECT_EQ(ErrorCodeOf(client.Call(Json{{"op", "drive"}, {"line", "GPIO99"}, {"value", 1}})), "not_found");
  EXPECT_EQ(ErrorCodeOf(client.Call(Json{{"op", "drive"}, {"line", "GPIO4"}, {"value", 2}})), "invalid_argument");
  EXPECT_EQ(ErrorCodeOf(client.Call(Json{{"op", "drive"}, {"line", "GPIO4"}})), "invalid_argument");
  EXPECT_EQ(ErrorCodeOf(client.Call(Json{{"op", "square"}, {"line", "GPIO4"}, {"periodUs", 1}, {"cycles", 1}})),
            "invalid_argument");
  EXPECT_EQ(ErrorCodeOf(client.Call(Json{{"op", "square"}, {"line", "GPIO4"}, {"periodUs", 1000}, {"cycles", -1}})),
            "invalid_argument");
  EXPECT_EQ(ErrorCodeOf(client.Call(Json{{"op", "series"}, {"line", "GPIO4"}, {"samples", {{0, 1}, {-5, 0}}}})),
            "invalid_argument");
  EXPECT_EQ(ErrorCodeOf(client.Call(Json{{"op", "series"}, {"line", "GPIO4"}, {"samples", Json::array()}})),
            "invalid_argument");
  // Nothing of that changed the chip or started a signal.
  EXPECT_EQ(*chip_.Read(4), 0);
  EXPECT_EQ(ErrorCodeOf(client.Call(Json{{"op", "wait-square"}})), "not_found");
  // Blank lines are skipped; pipelined requests are answered in order.
  ASSERT_TRUE(
      client.Send("\n{\"op\":\"drive\",\"line\":\"GPIO4\",\"value\":1}\n{\"op\":\"read\",\"line\":\"GPIO4\"}\n"));
  EXPECT_EQ(client.Next(), (Json{{"value", 1}}));
  EXPECT_EQ(client.Next(), (Json{{"value", 1}}));
  // Invalid UTF-8 gets an answer too.
  ASSERT_TRUE(client.Send("{\"op\":\"\xff\"}\n"));
  EXPECT_EQ(ErrorCodeOf(client.Next()), "invalid_argument");
  EXPECT_EQ(client.Call(Json{{"op", "read"}, {"line", "GPIO4"}}), (Json{{"value", 1}}));
}

TEST_F(SimControlTest, AnOverlongRequestClosesOnlyItsConnection) {
  Client client(path_);
  ASSERT_TRUE(client.connected());
  client.Send(std::string(2 << 20, 'x'));  // the server stops reading at 1 MiB and closes
  Json answer = client.Next();
  EXPECT_EQ(ErrorCodeOf(answer), "invalid_argument") << answer;
  EXPECT_TRUE(client.Next(2s).is_null());  // closed
  EXPECT_EQ(Call(Json{{"op", "read"}, {"line", "GPIO4"}}), (Json{{"value", 0}}));
}

TEST_F(SimControlTest, TheSimCommandPrintsTheAnswer) {
  std::ostringstream out, err;
  EXPECT_EQ(SimCommand(path_, R"({"op":"drive","line":"GPIO4","value":1})", out, err), 0) << err.str();
  EXPECT_EQ(out.str(), "{\"value\":1}\n");
  EXPECT_EQ(*chip_.Read(4), 1);
  out.str("");
  EXPECT_EQ(SimCommand(path_, R"({"op":"read","line":"GPIO99"})", out, err), 1);
  EXPECT_EQ(ErrorCodeOf(Json::parse(out.str())), "not_found");
  std::ostringstream none_out, none_err;
  EXPECT_EQ(SimCommand(dir_.Path("absent.sock"), R"({"op":"lines"})", none_out, none_err), 1);
  EXPECT_EQ(none_out.str(), "");
  EXPECT_THAT(none_err.str(), HasSubstr("absent.sock"));
}

TEST(SimControlCallTest, NothingListeningIsUnavailable) {
  TempDir dir;
  auto answer = SimControlCall(dir.Path("absent.sock"), Json{{"op", "lines"}}, 1s);
  ASSERT_FALSE(answer);
  EXPECT_EQ(answer.error().code, ErrorCode::kUnavailable);
  EXPECT_THAT(answer.error().message, HasSubstr("absent.sock"));
}

}  // namespace
}  // namespace ew::agent::gpio
