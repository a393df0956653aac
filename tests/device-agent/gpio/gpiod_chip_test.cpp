// GpiodChip. Opening errors need no hardware. The rest runs against a real GPIO character device
// and skips without one:
//   EW_GPIO_TEST_CHIP=/dev/gpiochipN   the chip (default: the first /dev/gpiochip* that opens)
//   EW_GPIO_TEST_LINE=N                a free line the tests may request as an input (default:
//                                      the first line nobody uses)
//   EW_GPIO_TEST_LOOPBACK=OUT,IN       two lines wired together, for writes and edges
// A gpio-sim or gpio-mockup chip works too.
#include "device-agent/gpio/gpiod_chip.hpp"

#include <dirent.h>

#include <algorithm>
#include <cerrno>
#include <chrono>
#include <condition_variable>
#include <cstdlib>
#include <filesystem>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include <gmock/gmock.h>
#include <gtest/gtest.h>

namespace ew::agent::gpio {
namespace {

using ::testing::HasSubstr;
using namespace std::chrono_literals;
using ew::gpio::Direction;
using ew::gpio::EdgeEvent;
using ew::gpio::EdgeKind;
using ew::gpio::Edges;
using ew::gpio::LineRequest;
namespace fs = std::filesystem;

constexpr auto kDeadline = 5s;

// ---- Without hardware ----

TEST(GpiodChipTest, OpeningAMissingDeviceIsNotFoundNamingThePath) {
  auto chip = GpiodChip::Open("gpiochip7", "/dev/ew-test-no-such-gpiochip");
  ASSERT_FALSE(chip);
  EXPECT_EQ(chip.error().code, ErrorCode::kNotFound);
  EXPECT_THAT(chip.error().message, HasSubstr("/dev/ew-test-no-such-gpiochip"));
}

TEST(GpiodChipTest, OpeningSomethingElseIsInvalidArgumentNamingThePath) {
  for (const std::string& path : {std::string("/dev/null"), fs::temp_directory_path().string()}) {
    auto chip = GpiodChip::Open("gpiochip0", path);
    ASSERT_FALSE(chip) << path;
    EXPECT_EQ(chip.error().code, ErrorCode::kInvalidArgument) << chip.error().message;
    EXPECT_THAT(chip.error().message, HasSubstr(path));
    EXPECT_THAT(chip.error().message, HasSubstr("not a GPIO chip"));
  }
}

// The errnos a real chip gives (a board's permissions, a busy line) mapped without a board.
TEST(GpiodChipTest, KernelErrorsMapToCodes) {
  const Error denied = GpiodError(EACCES, "cannot open GPIO chip /dev/gpiochip0");
  EXPECT_EQ(denied.code, ErrorCode::kPermissionDenied);
  EXPECT_THAT(denied.message, HasSubstr("/dev/gpiochip0"));
  EXPECT_THAT(denied.message, HasSubstr("access"));
  EXPECT_EQ(GpiodError(EPERM, "x").code, ErrorCode::kPermissionDenied);
  EXPECT_EQ(GpiodError(ENOENT, "x").code, ErrorCode::kNotFound);
  EXPECT_EQ(GpiodError(EBUSY, "x").code, ErrorCode::kConflict);
  EXPECT_EQ(GpiodError(ENODEV, "x").code, ErrorCode::kInvalidArgument);
  EXPECT_EQ(GpiodError(EINVAL, "x").code, ErrorCode::kInvalidArgument);
  EXPECT_EQ(GpiodError(EIO, "x").code, ErrorCode::kUnavailable);
}

// ---- With a chip ----

std::vector<std::string> GpioChipDevices() {
  std::vector<std::string> devices;
  std::error_code ec;
  for (const auto& entry : fs::directory_iterator("/dev", ec)) {
    if (entry.path().filename().string().rfind("gpiochip", 0) == 0) devices.push_back(entry.path().string());
  }
  std::sort(devices.begin(), devices.end());
  return devices;
}

int ThreadCount() {
  int count = 0;
  for ([[maybe_unused]] const auto& entry : fs::directory_iterator("/proc/self/task")) ++count;
  return count;
}

template <typename Predicate>
bool Eventually(Predicate done) {
  const auto deadline = std::chrono::steady_clock::now() + kDeadline;
  while (!done()) {
    if (std::chrono::steady_clock::now() > deadline) return false;
    std::this_thread::yield();
  }
  return true;
}

class EdgeLog {
 public:
  ew::gpio::EdgeHandler Handler() {
    return [this](const EdgeEvent& event) {
      std::lock_guard lock(mu_);
      events_.push_back(event);
      cv_.notify_all();
    };
  }
  std::vector<EdgeEvent> WaitFor(size_t count, std::chrono::milliseconds timeout = kDeadline) {
    std::unique_lock lock(mu_);
    cv_.wait_for(lock, timeout, [&] { return events_.size() >= count; });
    return events_;
  }

 private:
  std::mutex mu_;
  std::condition_variable cv_;
  std::vector<EdgeEvent> events_;
};

class GpiodChipHardwareTest : public ::testing::Test {
 protected:
  void SetUp() override {
    std::vector<std::string> candidates;
    if (const char* chosen = std::getenv("EW_GPIO_TEST_CHIP")) {
      candidates.push_back(chosen);
    } else {
      candidates = GpioChipDevices();
    }
    if (candidates.empty()) GTEST_SKIP() << "no /dev/gpiochip* on this machine";
    std::string why;
    for (const std::string& path : candidates) {
      auto opened = GpiodChip::Open("gpiochip-test", path);
      if (opened) {
        path_ = path;
        chip_ = std::move(*opened);
        break;
      }
      why += (why.empty() ? "" : "; ") + opened.error().message;
    }
    if (!chip_) GTEST_SKIP() << "no accessible /dev/gpiochip* on this machine (" << why << ")";
    kernel_ = gpiod::chip(path_, gpiod::chip::OPEN_BY_PATH);

    if (const char* line = std::getenv("EW_GPIO_TEST_LINE")) {
      auto offset = chip_->Resolve(line);
      ASSERT_TRUE(offset) << offset.error().message;
      line_ = *offset;
    } else {
      const auto lines = chip_->Lines();
      auto free = std::find_if(lines.begin(), lines.end(), [](const auto& info) { return !info.used; });
      if (free == lines.end()) GTEST_SKIP() << "every line of " << path_ << " is in use";
      line_ = free->offset;
    }
  }

  gpiod::line KernelLine(uint32_t offset) {
    gpiod::line line = kernel_.get_line(offset);
    line.update();
    return line;
  }

  std::string path_;
  std::unique_ptr<ew::gpio::GpioChip> chip_;
  gpiod::chip kernel_;  // a second handle on the device: what the kernel says
  uint32_t line_ = 0;
};

TEST_F(GpiodChipHardwareTest, LinesAreTheKernelsAndResolveByOffsetAndName) {
  const auto lines = chip_->Lines();
  ASSERT_EQ(lines.size(), kernel_.num_lines());
  for (const auto& info : lines) {
    EXPECT_EQ(info.name, KernelLine(info.offset).name());
    EXPECT_EQ(*chip_->Resolve(std::to_string(info.offset)), info.offset);
    if (!info.name.empty()) {  // names may repeat on a chip: the first line of that name
      auto named = chip_->Resolve(info.name);
      ASSERT_TRUE(named) << named.error().message;
      EXPECT_EQ(lines[*named].name, info.name);
      EXPECT_LE(*named, info.offset);
    }
  }
  EXPECT_EQ(chip_->Resolve("no-such-line").error().code, ErrorCode::kNotFound);
  EXPECT_EQ(chip_->Request(static_cast<uint32_t>(lines.size()), LineRequest{}, "x").error().code,
            ErrorCode::kNotFound);
}

TEST_F(GpiodChipHardwareTest, AHeldLineIsEdgewiresInTheKernelAndItsHoldersHere) {
  ASSERT_TRUE(chip_->Request(line_, LineRequest{}, "test-a"));
  EXPECT_TRUE(KernelLine(line_).is_used());
  EXPECT_EQ(KernelLine(line_).consumer(), kKernelConsumer);
  const auto info = chip_->Lines()[line_];
  EXPECT_TRUE(info.used);
  EXPECT_EQ(info.consumer, "test-a");
  EXPECT_EQ(info.direction, Direction::kInput);

  auto busy = chip_->Request(line_, LineRequest{}, "test-b");
  ASSERT_FALSE(busy);
  EXPECT_EQ(busy.error().code, ErrorCode::kConflict);
  EXPECT_THAT(busy.error().message, HasSubstr("is busy: held by test-a"));
  EXPECT_EQ(chip_->Write(line_, 1, "test-a").error().code, ErrorCode::kPermissionDenied);  // an input
  EXPECT_EQ(chip_->Release(line_, "test-b").error().code, ErrorCode::kNotFound);
  auto value = chip_->Read(line_);
  ASSERT_TRUE(value) << value.error().message;
  EXPECT_TRUE(*value == 0 || *value == 1);

  EXPECT_EQ(chip_->ReleaseAll("test-a"), 1u);
  EXPECT_FALSE(KernelLine(line_).is_used());
  EXPECT_TRUE(chip_->Request(line_, LineRequest{}, "test-b"));
  EXPECT_TRUE(chip_->Release(line_, "test-b"));
}

TEST_F(GpiodChipHardwareTest, ReadingAFreeLineLeavesItsDirectionAlone) {
  const int before = KernelLine(line_).direction();
  auto value = chip_->Read(line_);
  ASSERT_TRUE(value) << value.error().message;
  EXPECT_EQ(KernelLine(line_).direction(), before);
  EXPECT_FALSE(KernelLine(line_).is_used());
  EXPECT_FALSE(chip_->Lines()[line_].used);
}

TEST_F(GpiodChipHardwareTest, TheEventThreadRunsWhileALineReportsEdges) {
  const int idle = ThreadCount();
  LineRequest watch;
  watch.edges = Edges::kBoth;
  auto requested = chip_->Request(line_, watch, "watch", [](const EdgeEvent&) {});
  if (!requested) GTEST_SKIP() << "line " << line_ << " cannot report edges: " << requested.error().message;
  EXPECT_TRUE(Eventually([&] { return ThreadCount() == idle + 1; }))
      << ThreadCount() << " threads, " << idle << " idle";
  // Another line with edges shares the chip's one thread.
  const auto lines = chip_->Lines();
  auto other = std::find_if(lines.begin(), lines.end(), [&](const auto& info) { return !info.used; });
  if (other != lines.end() && chip_->Request(other->offset, watch, "watch", [](const EdgeEvent&) {})) {
    EXPECT_EQ(ThreadCount(), idle + 1);
    ASSERT_TRUE(chip_->Release(other->offset, "watch"));
  }
  ASSERT_TRUE(chip_->Release(line_, "watch"));
  EXPECT_TRUE(Eventually([&] { return ThreadCount() == idle; })) << "the event thread did not end";
  ASSERT_TRUE(chip_->Request(line_, watch, "watch", [](const EdgeEvent&) {}));
  EXPECT_TRUE(Eventually([&] { return ThreadCount() == idle + 1; }));
  EXPECT_EQ(chip_->ReleaseAll("watch"), 1u);
  EXPECT_TRUE(Eventually([&] { return ThreadCount() == idle; }));
}

// Writes and edges need two lines wired together.
class GpiodChipLoopbackTest : public GpiodChipHardwareTest {
 protected:
  void SetUp() override {
    GpiodChipHardwareTest::SetUp();
    if (IsSkipped() || HasFatalFailure()) return;
    const char* loopback = std::getenv("EW_GPIO_TEST_LOOPBACK");
    if (loopback == nullptr) GTEST_SKIP() << "EW_GPIO_TEST_LOOPBACK=OUT,IN names no wired pair of lines";
    const std::string pair = loopback;
    const auto comma = pair.find(',');
    ASSERT_NE(comma, std::string::npos) << "EW_GPIO_TEST_LOOPBACK=OUT,IN";
    auto out = chip_->Resolve(pair.substr(0, comma));
    auto in = chip_->Resolve(pair.substr(comma + 1));
    ASSERT_TRUE(out && in) << pair;
    out_ = *out;
    in_ = *in;
    LineRequest output;
    output.direction = Direction::kOutput;
    ASSERT_TRUE(chip_->Request(out_, output, "driver"));
  }
  void TearDown() override {
    if (chip_) chip_->ReleaseAll("driver");
  }
  void Toggle(int times) {
    for (int i = 0; i < times; ++i) ASSERT_TRUE(chip_->Write(out_, i % 2 == 0 ? 1 : 0, "driver"));
  }

  uint32_t out_ = 0;
  uint32_t in_ = 0;
};

TEST_F(GpiodChipLoopbackTest, WritesReachTheOtherLineAndOnlyTheHolderWrites) {
  ASSERT_TRUE(chip_->Write(out_, 1, "driver"));
  EXPECT_EQ(*chip_->Read(in_), 1);
  EXPECT_EQ(*chip_->Read(out_), 1);
  ASSERT_TRUE(chip_->Write(out_, 0, "driver"));
  EXPECT_EQ(*chip_->Read(in_), 0);
  EXPECT_EQ(chip_->Write(out_, 1, "someone-else").error().code, ErrorCode::kPermissionDenied);
  EXPECT_EQ(*chip_->Read(in_), 0);
}

TEST_F(GpiodChipLoopbackTest, EdgesArriveInOrderWithKernelTimestampsAndSequenceNumbers) {
  ASSERT_TRUE(chip_->Write(out_, 0, "driver"));
  EdgeLog log;
  LineRequest watch;
  watch.edges = Edges::kBoth;
  ASSERT_TRUE(chip_->Request(in_, watch, "watch", log.Handler()));
  const auto before = std::chrono::steady_clock::now().time_since_epoch();
  Toggle(200);
  auto seen = log.WaitFor(200);
  ASSERT_EQ(seen.size(), 200u);
  for (size_t i = 0; i < seen.size(); ++i) {
    ASSERT_EQ(seen[i].offset, in_);
    ASSERT_EQ(seen[i].sequence, i + 1);
    ASSERT_EQ(seen[i].kind, i % 2 == 0 ? EdgeKind::kRising : EdgeKind::kFalling);
    if (i > 0) {
      ASSERT_GE(seen[i].timestamp, seen[i - 1].timestamp);
    }
  }
  EXPECT_GE(seen.front().timestamp, before);  // the kernel's monotonic clock (kernel 5.7+)
  ASSERT_TRUE(chip_->Release(in_, "watch"));

  // Rising only; the sequence goes on counting for the line.
  EdgeLog rising;
  watch.edges = Edges::kRising;
  ASSERT_TRUE(chip_->Request(in_, watch, "watch", rising.Handler()));
  Toggle(10);
  seen = rising.WaitFor(5);
  ASSERT_EQ(seen.size(), 5u);
  for (const EdgeEvent& event : seen) EXPECT_EQ(event.kind, EdgeKind::kRising);
  EXPECT_EQ(seen.front().sequence, 201u);
  EXPECT_TRUE(chip_->Release(in_, "watch"));
}

TEST_F(GpiodChipLoopbackTest, EdgesCloserThanTheDebounceToTheLastReportedOneAreDropped) {
  ASSERT_TRUE(chip_->Write(out_, 0, "driver"));
  EdgeLog log;
  LineRequest watch;
  watch.edges = Edges::kBoth;
  watch.debounce = 10s;  // every toggle below is a bounce of the first edge
  ASSERT_TRUE(chip_->Request(in_, watch, "watch", log.Handler()));
  Toggle(20);
  auto seen = log.WaitFor(1);
  ASSERT_EQ(seen.size(), 1u);
  EXPECT_EQ(seen[0].kind, EdgeKind::kRising);
  // The 19 bounces were read from the kernel and dropped: still one edge once they are through.
  EXPECT_EQ(log.WaitFor(2, 200ms).size(), 1u);
}

}  // namespace
}  // namespace ew::agent::gpio
