#include "device-agent/gpio/gpiod_chip.hpp"

#include <poll.h>
#include <sys/eventfd.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <system_error>
#include <type_traits>
#include <utility>

#include "common/log/log.hpp"

namespace ew::agent::gpio {

using ew::gpio::Bias;
using ew::gpio::Direction;
using ew::gpio::EdgeEvent;
using ew::gpio::EdgeHandler;
using ew::gpio::EdgeKind;
using ew::gpio::Edges;
using ew::gpio::LineInfo;
using ew::gpio::LineRequest;

struct GpiodChip::Dispatch {
  EdgeHandler handler;
  EdgeEvent event;
};

namespace {

const ew::log::Logger Log{"gpio"};

// Runs a libgpiod call (they throw) and turns what it throws into an error about `what`.
template <typename Call>
auto Kernel(const std::string& what, Call&& call) -> Result<std::invoke_result_t<Call>> {
  try {
    if constexpr (std::is_void_v<std::invoke_result_t<Call>>) {
      call();
      return Ok();
    } else {
      return call();
    }
  } catch (const std::system_error& e) {
    return tl::unexpected(GpiodError(e.code().value(), what));
  } catch (const std::exception& e) {
    return Internal(what + ": " + e.what());
  }
}

int RequestType(const LineRequest& request) {
  if (request.direction == Direction::kOutput) return gpiod::line_request::DIRECTION_OUTPUT;
  switch (request.edges) {
    case Edges::kNone: return gpiod::line_request::DIRECTION_INPUT;
    case Edges::kRising: return gpiod::line_request::EVENT_RISING_EDGE;
    case Edges::kFalling: return gpiod::line_request::EVENT_FALLING_EDGE;
    case Edges::kBoth: return gpiod::line_request::EVENT_BOTH_EDGES;
  }
  return gpiod::line_request::DIRECTION_INPUT;
}

std::bitset<32> BiasFlags(Bias bias) {
  switch (bias) {
    case Bias::kAsIs: return {};
    case Bias::kDisabled: return gpiod::line_request::FLAG_BIAS_DISABLE;
    case Bias::kPullUp: return gpiod::line_request::FLAG_BIAS_PULL_UP;
    case Bias::kPullDown: return gpiod::line_request::FLAG_BIAS_PULL_DOWN;
  }
  return {};
}

bool Wanted(Edges edges, EdgeKind kind) {
  return edges == Edges::kBoth || (edges == Edges::kRising && kind == EdgeKind::kRising) ||
         (edges == Edges::kFalling && kind == EdgeKind::kFalling);
}

// How messages name a line: its label, or its offset when it has none.
std::string Label(const std::string& name, uint32_t offset) { return name.empty() ? std::to_string(offset) : name; }

bool Contains(const std::vector<uint32_t>& offsets, uint32_t offset) {
  return std::find(offsets.begin(), offsets.end(), offset) != offsets.end();
}

}  // namespace

Error GpiodError(int errno_value, const std::string& what) {
  const std::string reason = std::strerror(errno_value);
  switch (errno_value) {
    case ENOENT:
      return Error(ErrorCode::kNotFound, what + ": it does not exist");
    case EACCES:
    case EPERM:
      return Error(ErrorCode::kPermissionDenied,
                   what + ": " + reason + " (the agent's user needs read and write access to the device)");
    case EBUSY:
      return Error(ErrorCode::kConflict, what + ": the line is busy");
    case ENOTTY:
    case ENODEV:
    case EISDIR:
      return Error(ErrorCode::kInvalidArgument, what + ": not a GPIO chip device (" + reason + ")");
    case EINVAL:
    case EOPNOTSUPP:
      return Error(ErrorCode::kInvalidArgument, what + ": the kernel refused the request (" + reason + ")");
    default:
      return Error(ErrorCode::kUnavailable, what + ": " + reason);
  }
}

Result<std::unique_ptr<ew::gpio::GpioChip>> GpiodChip::Open(std::string name, const std::string& device_path) {
  const std::string what = "cannot open GPIO chip " + device_path;
  EW_TRY(gpiod::chip chip, Kernel(what, [&] { return gpiod::chip(device_path, gpiod::chip::OPEN_BY_PATH); }));
  EW_TRY(std::vector<std::string> names, Kernel(what, [&] {
           std::vector<std::string> names;
           for (unsigned offset = 0; offset < chip.num_lines(); ++offset) names.push_back(chip.get_line(offset).name());
           return names;
         }));
  const int wake_fd = ::eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
  if (wake_fd < 0) return tl::unexpected(GpiodError(errno, what + ": eventfd"));
  Log()->info("chip {}: {} ({} lines)", name, device_path, names.size());
  return std::unique_ptr<ew::gpio::GpioChip>(
      new GpiodChip(std::move(name), device_path, std::move(chip), std::move(names), wake_fd));
}

GpiodChip::GpiodChip(std::string name, std::string device_path, gpiod::chip chip, std::vector<std::string> names,
                     int wake_fd)
    : name_(std::move(name)),
      device_path_(std::move(device_path)),
      names_(std::move(names)),
      wake_fd_(wake_fd),
      chip_(std::move(chip)),
      lines_(names_.size()) {
  for (size_t offset = 0; offset < names_.size(); ++offset) lines_[offset].name = names_[offset];
}

GpiodChip::~GpiodChip() {
  std::thread thread;
  {
    std::lock_guard lock(mu_);
    stopping_ = true;
    thread = std::move(event_thread_);
  }
  Wake();
  if (thread.joinable()) thread.join();
  std::lock_guard lock(mu_);
  for (uint32_t offset = 0; offset < lines_.size(); ++offset) {
    if (!lines_[offset].consumer.empty()) ReleaseLocked(offset, lines_[offset]);
  }
  ::close(wake_fd_);
}

Result<GpiodChip::Line*> GpiodChip::LineAt(uint32_t offset) const {
  if (offset >= lines_.size()) return NotFound("no line " + std::to_string(offset) + " on " + name_);
  return &lines_[offset];
}

std::optional<std::string> GpiodChip::UsedOutside(uint32_t offset) const {
  auto used = Kernel("", [&]() -> std::optional<std::string> {
    gpiod::line line = chip_.get_line(offset);
    line.update();
    if (!line.is_used()) return std::nullopt;
    const std::string consumer = line.consumer();
    return (consumer.empty() ? std::string("the kernel") : consumer) + " (outside the agent)";
  });
  return used ? *used : std::nullopt;
}

std::vector<LineInfo> GpiodChip::Lines() const {
  std::lock_guard lock(mu_);
  std::vector<LineInfo> out;
  for (uint32_t offset = 0; offset < lines_.size(); ++offset) {
    const Line& line = lines_[offset];
    LineInfo info;
    info.offset = offset;
    info.name = line.name;
    if (!line.consumer.empty()) {
      info.used = true;
      info.consumer = line.consumer;
      info.direction = line.request.direction;
      info.value = Kernel("", [&] { return line.handle.get_value(); }).value_or(0);
    } else if (std::optional<std::string> outside = UsedOutside(offset)) {
      info.used = true;
      info.consumer = *outside;
      info.direction = Kernel("", [&] { return chip_.get_line(offset).direction(); }).value_or(0) ==
                               gpiod::line::DIRECTION_OUTPUT
                           ? Direction::kOutput
                           : Direction::kInput;
    } else {
      info.value = ReadFreeLocked(offset, line).value_or(0);
    }
    out.push_back(std::move(info));
  }
  return out;
}

Result<uint32_t> GpiodChip::Resolve(std::string_view line) const {
  for (uint32_t offset = 0; offset < names_.size(); ++offset) {
    if (!names_[offset].empty() && names_[offset] == line) return offset;
  }
  if (auto offset = ew::gpio::OffsetFromNumber(line, names_.size())) return *offset;
  return NotFound("no line \"" + std::string(line) + "\" on " + name_);
}

Result<void> GpiodChip::Request(uint32_t offset, const LineRequest& request, const std::string& consumer,
                                EdgeHandler on_edge) {
  EW_TRY_VOID(ew::gpio::CheckRequest(request, consumer));
  std::lock_guard lock(mu_);
  EW_TRY(Line * line, LineAt(offset));
  const std::string label = Label(line->name, offset);
  if (!line->consumer.empty()) return Conflict("line " + label + " is busy: held by " + line->consumer);
  if (std::optional<std::string> outside = UsedOutside(offset))
    return Conflict("line " + label + " is busy: held by " + *outside);

  const gpiod::line_request kernel_request{kKernelConsumer, RequestType(request), BiasFlags(request.bias)};
  EW_TRY(gpiod::line handle, Kernel("cannot request line " + label + " on " + name_, [&] {
           gpiod::line handle = chip_.get_line(offset);
           handle.request(kernel_request, request.initial_value ? 1 : 0);
           return handle;
         }));
  line->consumer = consumer;
  line->request = request;
  line->on_edge = std::move(on_edge);
  line->handle = std::move(handle);
  line->events_failed = false;
  line->last_edge = std::chrono::nanoseconds(-1);
  Log()->debug("chip {}: line {} requested by {}", name_, label, consumer);
  if (request.edges != Edges::kNone) StartEventThreadLocked();
  return Ok();
}

void GpiodChip::ReleaseLocked(uint32_t offset, Line& line) {
  const bool had_edges = line.request.edges != Edges::kNone;
  if (auto released = Kernel("release", [&] { line.handle.release(); }); !released)
    Log()->warn("chip {}: releasing line {}: {}", name_, offset, released.error().message);
  line.handle.reset();
  line.consumer.clear();
  line.request = LineRequest{};
  line.on_edge = nullptr;
  line.events_failed = false;
  if (had_edges) Wake();  // the event thread polls one fd less, or ends
}

void GpiodChip::WaitForHandlersLocked(std::unique_lock<std::mutex>& lock, const std::vector<uint32_t>& offsets) {
  if (std::this_thread::get_id() == event_thread_id_) return;  // a handler releasing lines
  dispatch_done_.wait(lock, [&] {
    return std::none_of(offsets.begin(), offsets.end(),
                        [&](uint32_t offset) { return Contains(dispatching_, offset); });
  });
}

Result<void> GpiodChip::Release(uint32_t offset, const std::string& consumer) {
  std::unique_lock lock(mu_);
  EW_TRY(Line * line, LineAt(offset));
  if (line->consumer != consumer || consumer.empty()) {
    return NotFound("line " + Label(line->name, offset) + " is not held by " + consumer);
  }
  ReleaseLocked(offset, *line);
  WaitForHandlersLocked(lock, {offset});
  return Ok();
}

size_t GpiodChip::ReleaseAll(const std::string& consumer) {
  if (consumer.empty()) return 0;
  std::unique_lock lock(mu_);
  std::vector<uint32_t> released;
  for (uint32_t offset = 0; offset < lines_.size(); ++offset) {
    if (lines_[offset].consumer != consumer) continue;
    ReleaseLocked(offset, lines_[offset]);
    released.push_back(offset);
  }
  WaitForHandlersLocked(lock, released);
  return released.size();
}

Result<int> GpiodChip::ReadFreeLocked(uint32_t offset, const Line& line) const {
  const std::string label = Label(line.name, offset);
  // As-is: the kernel leaves the line's direction (and an output's level) alone.
  const gpiod::line_request as_is{kKernelConsumer, gpiod::line_request::DIRECTION_AS_IS, {}};
  auto value = Kernel("cannot read line " + label + " on " + name_, [&] {
    gpiod::line handle = chip_.get_line(offset);
    handle.request(as_is);
    int level = 0;
    try {
      level = handle.get_value();
    } catch (...) {
      handle.release();
      throw;
    }
    handle.release();
    return level;
  });
  if (!value && value.error().code == ErrorCode::kConflict) {
    if (std::optional<std::string> outside = UsedOutside(offset))
      return Conflict("line " + label + " is busy: held by " + *outside);
  }
  return value;
}

Result<int> GpiodChip::Read(uint32_t offset) const {
  std::lock_guard lock(mu_);
  EW_TRY(Line * line, LineAt(offset));
  if (line->consumer.empty()) return ReadFreeLocked(offset, *line);
  return Kernel("cannot read line " + Label(line->name, offset) + " on " + name_,
                [&] { return line->handle.get_value(); });
}

Result<void> GpiodChip::Write(uint32_t offset, int value, const std::string& consumer) {
  std::lock_guard lock(mu_);
  EW_TRY(Line * line, LineAt(offset));
  const std::string label = Label(line->name, offset);
  if (line->consumer != consumer || consumer.empty() || line->request.direction != Direction::kOutput)
    return PermissionDenied("line " + label + " is not held as an output by " + consumer);
  return Kernel("cannot write line " + label + " on " + name_, [&] { line->handle.set_value(value ? 1 : 0); });
}

// ---- Event thread ----

void GpiodChip::Wake() const {
  const uint64_t one = 1;
  // A full counter (never in practice) still leaves the fd readable, which is all that matters.
  [[maybe_unused]] const ssize_t n = ::write(wake_fd_, &one, sizeof one);
}

void GpiodChip::StartEventThreadLocked() {
  if (event_thread_running_) {
    Wake();  // poll the new line's fd too
    return;
  }
  // A previous thread has decided to end (under mu_) and only has to return: joining is quick.
  if (event_thread_.joinable()) event_thread_.join();
  event_thread_running_ = true;
  event_thread_ = std::thread([this] { EventLoop(); });
  event_thread_id_ = event_thread_.get_id();
}

void GpiodChip::EventLoop() {
  std::vector<pollfd> fds;
  std::vector<uint32_t> offsets;  // offsets[i] is the line of fds[i + 1]; fds[0] is the wake fd
  for (;;) {
    fds.assign(1, pollfd{wake_fd_, POLLIN, 0});
    offsets.clear();
    {
      std::lock_guard lock(mu_);
      for (uint32_t offset = 0; offset < lines_.size() && !stopping_; ++offset) {
        const Line& line = lines_[offset];
        if (line.consumer.empty() || line.request.edges == Edges::kNone || line.events_failed) continue;
        auto fd = Kernel("", [&] { return line.handle.event_get_fd(); });
        if (!fd) continue;
        fds.push_back(pollfd{*fd, POLLIN, 0});
        offsets.push_back(offset);
      }
      if (offsets.empty()) {
        event_thread_running_ = false;  // the next edge request starts a new thread
        return;
      }
    }
    if (::poll(fds.data(), fds.size(), -1) < 0) {
      if (errno == EINTR) continue;
      Log()->error("chip {}: polling edge events failed: {}; edges stop until a line is requested again", name_,
                   std::strerror(errno));
      std::lock_guard lock(mu_);
      event_thread_running_ = false;
      return;
    }
    if (fds[0].revents != 0) {
      uint64_t count = 0;
      [[maybe_unused]] const ssize_t n = ::read(wake_fd_, &count, sizeof count);
    }
    for (size_t i = 1; i < fds.size(); ++i) {
      if (fds[i].revents == 0) continue;
      std::vector<Dispatch> calls = TakeEvents(offsets[i - 1], fds[i].fd, fds[i].revents);
      if (calls.empty()) continue;
      for (const Dispatch& call : calls) call.handler(call.event);
      {
        std::lock_guard lock(mu_);
        dispatching_.erase(std::find(dispatching_.begin(), dispatching_.end(), offsets[i - 1]));
      }
      dispatch_done_.notify_all();
    }
  }
}

std::vector<GpiodChip::Dispatch> GpiodChip::TakeEvents(uint32_t offset, int fd, short revents) {
  std::lock_guard lock(mu_);
  Line& line = lines_[offset];
  if (line.consumer.empty() || line.request.edges == Edges::kNone || line.events_failed) return {};
  std::vector<gpiod::line_event> events;
  auto read = Kernel("reading edge events", [&] {
    // Released and requested again since the poll: this fd is no longer the line's.
    if (line.handle.event_get_fd() != fd) return;
    // Never block under the lock: read only what is there.
    if (line.handle.event_wait(std::chrono::nanoseconds(0))) events = line.handle.event_read_multiple();
  });
  if (!read || (events.empty() && (revents & (POLLERR | POLLHUP | POLLNVAL)) != 0)) {
    line.events_failed = true;
    Log()->error("chip {}: line {} reports no more edges: {}", name_, Label(line.name, offset),
                 read ? "the event fd failed" : read.error().message);
    return {};
  }
  std::vector<Dispatch> calls;
  for (const gpiod::line_event& event : events) {
    const EdgeKind kind = event.event_type == gpiod::line_event::RISING_EDGE ? EdgeKind::kRising : EdgeKind::kFalling;
    if (!Wanted(line.request.edges, kind) || !line.on_edge) continue;
    // Debounce as SimChip does: an edge too close to the last reported one is a bounce.
    if (line.last_edge.count() >= 0 && event.timestamp - line.last_edge < line.request.debounce) continue;
    line.last_edge = event.timestamp;
    calls.push_back(Dispatch{line.on_edge, EdgeEvent{offset, kind, event.timestamp, ++line.sequence}});
  }
  if (!calls.empty()) dispatching_.push_back(offset);
  return calls;
}

}  // namespace ew::agent::gpio
