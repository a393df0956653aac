#include "device-agent/gpio/sim_control.hpp"

#include <sys/stat.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <filesystem>
#include <functional>
#include <utility>

#include <boost/asio/buffer.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/read_until.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/streambuf.hpp>
#include <boost/asio/write.hpp>

#include "common/json/guarded_json.hpp"
#include "common/log/log.hpp"

namespace ew::agent::gpio {

namespace asio = boost::asio;
using Json = nlohmann::json;
using stream_protocol = asio::local::stream_protocol;
using namespace std::chrono_literals;

namespace {

// A request line longer than this (a series of ~50k samples) closes the connection.
constexpr size_t kMaxLineBytes = 1 << 20;
constexpr int64_t kMaxPeriodUs = int64_t{3600} * 1000 * 1000;  // an hour
constexpr int64_t kMaxCycles = 1'000'000'000;
constexpr size_t kMaxSamples = 100'000;

const ew::log::Logger Log{"gpio"};

Json ErrorAnswer(const Error& error) {
  return Json{{"error", {{"code", std::string(ErrorCodeName(error.code))}, {"message", error.message}}}};
}

// Answers never fail to print: bytes that are not UTF-8 (from a bad request) are replaced.
std::string Line(const Json& answer) { return answer.dump(-1, ' ', false, Json::error_handler_t::replace) + "\n"; }

Result<std::string> StringField(const Json& request, const char* key) {
  auto it = request.find(key);
  if (it == request.end()) return InvalidArgument(std::string("\"") + key + "\" is required");
  if (!it->is_string()) return InvalidArgument(std::string("\"") + key + "\" must be a string");
  return it->get<std::string>();
}

Result<int64_t> IntegerField(const Json& request, const char* key, int64_t min, int64_t max) {
  auto it = request.find(key);
  if (it == request.end()) return InvalidArgument(std::string("\"") + key + "\" is required");
  if (!it->is_number_integer() || it->get<int64_t>() < min || it->get<int64_t>() > max ||
      (it->is_number_unsigned() && it->get<uint64_t>() > static_cast<uint64_t>(max))) {
    return InvalidArgument(std::string("\"") + key + "\" must be an integer from " + std::to_string(min) + " to " +
                           std::to_string(max));
  }
  return it->get<int64_t>();
}

Result<bool> BoolField(const Json& request, const char* key, bool fallback) {
  auto it = request.find(key);
  if (it == request.end()) return fallback;
  if (!it->is_boolean()) return InvalidArgument(std::string("\"") + key + "\" must be true or false");
  return it->get<bool>();
}

Result<int> LevelOf(const Json& value, const std::string& what) {
  if (value.is_boolean()) return value.get<bool>() ? 1 : 0;
  if (value.is_number_integer() && (value.get<int64_t>() == 0 || value.get<int64_t>() == 1))
    return static_cast<int>(value.get<int64_t>());
  return InvalidArgument(what + " must be 0 or 1");
}

std::chrono::nanoseconds SteadyNow() {
  return std::chrono::duration_cast<std::chrono::nanoseconds>(std::chrono::steady_clock::now().time_since_epoch());
}

}  // namespace

// A signal to play: `count` levels, the i-th driven `at(i).first` after the start.
struct SimControl::Signal {
  uint32_t offset = 0;
  std::string line;
  uint64_t count = 0;
  std::function<std::pair<std::chrono::nanoseconds, int>(uint64_t)> at;
  bool paced = true;
};

// One client: reads a line, answers it, reads the next, so answers keep the requests' order.
class SimControl::Connection : public std::enable_shared_from_this<Connection> {
 public:
  Connection(SimControl& control, stream_protocol::socket socket)
      : control_(control), socket_(std::move(socket)), input_(kMaxLineBytes) {}

  void ReadNext() {
    asio::async_read_until(socket_, input_, '\n', [self = shared_from_this()](boost::system::error_code ec, size_t n) {
      self->OnLine(ec, n);
    });
  }

  void Answer(const Json& answer, bool then_close = false) {
    output_ = Line(answer);
    asio::async_write(socket_, asio::buffer(output_),
                      [self = shared_from_this(), then_close](boost::system::error_code ec, size_t) {
                        if (ec || then_close) {
                          self->Close();
                          return;
                        }
                        self->ReadNext();
                      });
  }

  void Close() {
    boost::system::error_code ignored;
    socket_.shutdown(stream_protocol::socket::shutdown_both, ignored);
    socket_.close(ignored);
  }

 private:
  void OnLine(boost::system::error_code ec, size_t n) {
    if (ec == asio::error::not_found) {  // no newline within kMaxLineBytes
      Answer(ErrorAnswer(Error(ErrorCode::kInvalidArgument, "request longer than " + std::to_string(kMaxLineBytes) +
                                                                " bytes; closing")),
             /*then_close=*/true);
      return;
    }
    if (ec) return;  // closed by the client, or Stop()
    const auto data = input_.data();
    std::string line(asio::buffers_begin(data), asio::buffers_begin(data) + static_cast<std::ptrdiff_t>(n - 1));
    input_.consume(n);
    if (line.find_first_not_of(" \t\r") == std::string::npos) {  // blank: nothing to answer
      ReadNext();
      return;
    }
    if (std::optional<Json> answer = control_.Handle(shared_from_this(), line)) Answer(*answer);
  }

  SimControl& control_;
  stream_protocol::socket socket_;
  asio::streambuf input_;
  std::string output_;
};

SimControl::SimControl(ew::gpio::SimChip& chip, std::string socket_path)
    : chip_(chip), socket_path_(std::move(socket_path)) {}

SimControl::~SimControl() { Stop(); }

Result<std::unique_ptr<SimControl>> SimControl::Start(ew::gpio::SimChip& chip, const std::string& socket_path) {
  namespace fs = std::filesystem;
  const fs::path path(socket_path);
  std::error_code ec;
  if (path.has_parent_path() && !fs::exists(path.parent_path(), ec)) {
    fs::create_directories(path.parent_path(), ec);
    if (ec) return Unavailable("cannot create the directory of " + socket_path + ": " + ec.message());
  }
  const fs::file_status status = fs::symlink_status(path, ec);
  if (fs::exists(status)) {
    if (status.type() != fs::file_type::socket)
      return InvalidArgument(socket_path + " exists and is not a socket; not replacing it");
    asio::io_context probe_io;
    stream_protocol::socket probe(probe_io);
    boost::system::error_code connect_error;
    probe.connect(stream_protocol::endpoint(socket_path), connect_error);
    if (!connect_error) return Conflict(socket_path + " is served by another process (another agent?)");
    fs::remove(path, ec);  // a stale socket of an agent that died
    if (ec) return Unavailable("cannot remove the stale socket " + socket_path + ": " + ec.message());
  }

  std::unique_ptr<SimControl> control(new SimControl(chip, socket_path));
  boost::system::error_code bind_error;
  auto& acceptor = control->acceptor_;
  acceptor.open(stream_protocol(), bind_error);
  if (!bind_error) acceptor.bind(stream_protocol::endpoint(socket_path), bind_error);
  if (bind_error)
    return Unavailable("cannot bind the simulation control socket " + socket_path + ": " + bind_error.message());
  // Nobody can connect before listen(): 0600 is in place before the socket is usable.
  struct stat st {};
  if (::chmod(socket_path.c_str(), 0600) != 0 || ::stat(socket_path.c_str(), &st) != 0) {
    const std::string reason = std::strerror(errno);
    fs::remove(path, ec);
    return Unavailable("cannot set up the simulation control socket " + socket_path + ": " + reason);
  }
  control->socket_dev_ = st.st_dev;
  control->socket_ino_ = st.st_ino;
  acceptor.listen(asio::socket_base::max_listen_connections, bind_error);
  if (bind_error) {
    control->Stop();
    return Unavailable("cannot listen on " + socket_path + ": " + bind_error.message());
  }
  control->Accept();
  control->io_thread_ = std::thread([raw = control.get()] {
    try {
      raw->io_.run();
    } catch (const std::exception& e) {
      Log()->error("sim control {}: {}", raw->socket_path_, e.what());
    }
  });
  Log()->debug("chip {}: simulation control socket {}", chip.Name(), socket_path);
  return control;
}

void SimControl::Stop() {
  std::call_once(stopped_, [this] {
    io_.stop();
    if (io_thread_.joinable()) io_thread_.join();
    // The io thread is gone: its state may be touched from here.
    StopSignal();
    if (generator_.joinable()) generator_.join();
    boost::system::error_code ignored;
    acceptor_.close(ignored);
    for (const std::weak_ptr<Connection>& weak : connections_) {
      if (std::shared_ptr<Connection> connection = weak.lock()) connection->Close();
    }
    connections_.clear();
    waiting_.clear();
    struct stat st {};
    if (socket_ino_ != 0 && ::stat(socket_path_.c_str(), &st) == 0 && st.st_dev == socket_dev_ &&
        st.st_ino == socket_ino_) {
      ::unlink(socket_path_.c_str());
    }
  });
}

void SimControl::Accept() {
  acceptor_.async_accept([this](boost::system::error_code ec, stream_protocol::socket socket) {
    if (ec == asio::error::operation_aborted) return;
    if (ec) {
      // Out of file descriptors, say: try again a little later rather than spin.
      Log()->warn("sim control {}: accept: {}", socket_path_, ec.message());
      auto timer = std::make_shared<asio::steady_timer>(io_, 100ms);
      timer->async_wait([this, timer](boost::system::error_code) { Accept(); });
      return;
    }
    auto connection = std::make_shared<Connection>(*this, std::move(socket));
    connections_.erase(std::remove_if(connections_.begin(), connections_.end(),
                                      [](const std::weak_ptr<Connection>& weak) { return weak.expired(); }),
                       connections_.end());
    connections_.push_back(connection);
    connection->ReadNext();
    Accept();
  });
}

std::optional<Json> SimControl::Handle(const std::shared_ptr<Connection>& from, const std::string& line) {
  ew::json::ParseLimits limits;
  limits.what = "bad JSON";
  auto parsed = ew::json::Parse(line, limits);
  if (!parsed) return ErrorAnswer(parsed.error());
  Json request = std::move(*parsed);
  if (!request.is_object()) return ErrorAnswer(Error(ErrorCode::kInvalidArgument, "a request is a JSON object"));
  bool answer_later = false;
  Result<Json> answer = Dispatch(from, request, answer_later);
  if (!answer) {
    Log()->debug("sim control {}: {}: {}", socket_path_, ew::log::Untrusted(line), answer.error().message);
    return ErrorAnswer(answer.error());
  }
  if (answer_later) return std::nullopt;
  return *answer;
}

Result<Json> SimControl::Dispatch(const std::shared_ptr<Connection>& from, const Json& request, bool& answer_later) {
  EW_TRY(const std::string op, StringField(request, "op"));
  if (op == "lines") {
    Json lines = Json::array();
    for (const ew::gpio::LineInfo& info : chip_.Lines()) {
      lines.push_back(Json{{"offset", info.offset},
                       {"name", info.name},
                       {"used", info.used},
                       {"consumer", info.consumer},
                       {"direction", std::string(ew::gpio::DirectionName(info.direction))},
                       {"value", info.value}});
    }
    return Json{{"chip", chip_.Name()}, {"lines", std::move(lines)}};
  }
  if (op == "wait-square") {
    if (playing_) {
      waiting_.push_back(from);
      answer_later = true;
      return Json();
    }
    if (!last_played_) return NotFound("no square wave or series has been started");
    if (last_played_->error) return tl::unexpected(*last_played_->error);
    return Json{{"edges", last_played_->edges},
                {"maxLateUs", last_played_->max_late.count()},
                {"cancelled", last_played_->cancelled}};
  }
  if (op == "stop-square") return Json{{"stopped", StopSignal()}};

  const char* kOps = "drive, disconnect, read, lines, square, series, wait-square, stop-square";
  if (op != "drive" && op != "disconnect" && op != "read" && op != "square" && op != "series")
    return InvalidArgument("unknown op \"" + op + "\"; expected one of " + kOps);
  EW_TRY(const std::string line, StringField(request, "line"));
  EW_TRY(const uint32_t offset, chip_.Resolve(line));
  if (op == "read") {
    EW_TRY(const int value, chip_.Read(offset));
    return Json{{"value", value}};
  }
  if (op == "drive" || op == "disconnect") {
    if (op == "drive") {
      auto value = request.find("value");
      if (value == request.end()) return InvalidArgument("\"value\" is required");
      EW_TRY(const int level, LevelOf(*value, "\"value\""));
      EW_TRY_VOID(chip_.Drive(offset, level, SteadyNow()));
    } else {
      EW_TRY_VOID(chip_.Disconnect(offset, SteadyNow()));
    }
    EW_TRY(const int value, chip_.Read(offset));
    return Json{{"value", value}};
  }

  Signal signal;
  signal.offset = offset;
  signal.line = line;
  EW_TRY(signal.paced, BoolField(request, "paced", true));
  if (op == "square") {
    EW_TRY(const int64_t period_us, IntegerField(request, "periodUs", 2, kMaxPeriodUs));
    EW_TRY(const int64_t cycles, IntegerField(request, "cycles", 1, kMaxCycles));
    const std::chrono::nanoseconds half = std::chrono::microseconds(period_us) / 2;
    signal.count = static_cast<uint64_t>(cycles) * 2;
    signal.at = [half](uint64_t i) { return std::make_pair(half * static_cast<int64_t>(i), i % 2 == 0 ? 1 : 0); };
    return StartSignal(std::move(signal));
  }
  // series
  auto samples = request.find("samples");
  if (samples == request.end() || !samples->is_array() || samples->empty() || samples->size() > kMaxSamples)
    return InvalidArgument("\"samples\" must be a list of 1 to " + std::to_string(kMaxSamples) +
                           " [delayUs, value] pairs");
  auto due = std::make_shared<std::vector<std::pair<std::chrono::nanoseconds, int>>>();
  std::chrono::nanoseconds at{0};
  for (size_t i = 0; i < samples->size(); ++i) {
    const Json& sample = (*samples)[i];
    const std::string what = "samples[" + std::to_string(i) + "]";
    if (!sample.is_array() || sample.size() != 2) return InvalidArgument(what + " must be [delayUs, value]");
    const Json& delay = sample[0];
    if (!delay.is_number_integer() || delay.get<int64_t>() < 0 || delay.get<int64_t>() > kMaxPeriodUs)
      return InvalidArgument(what + ": delayUs must be an integer from 0 to " + std::to_string(kMaxPeriodUs));
    EW_TRY(const int level, LevelOf(sample[1], what + ": value"));
    at += std::chrono::microseconds(delay.get<int64_t>());
    due->emplace_back(at, level);
  }
  signal.count = due->size();
  signal.at = [due](uint64_t i) { return (*due)[i]; };
  return StartSignal(std::move(signal));
}

Result<Json> SimControl::StartSignal(Signal signal) {
  if (playing_) return Conflict("a signal is already playing (wait-square or stop-square first)");
  if (generator_.joinable()) generator_.join();  // the last one has posted its result: it is ending
  {
    std::lock_guard lock(cancel_mu_);
    cancel_ = false;
  }
  playing_ = true;
  last_played_.reset();
  Log()->debug("sim control {}: playing {} levels on {}{}", socket_path_, signal.count, signal.line,
               signal.paced ? "" : " (unpaced)");
  generator_ = std::thread([this, signal = std::move(signal)] { Play(signal); });
  return Json{{"started", true}};
}

void SimControl::Play(const Signal& signal) {
  Played played;
  const auto start = std::chrono::steady_clock::now();
  for (uint64_t i = 0; i < signal.count; ++i) {
    const auto [offset_from_start, level] = signal.at(i);
    const auto due = start + offset_from_start;
    {
      std::unique_lock lock(cancel_mu_);
      if (signal.paced) cancel_cv_.wait_until(lock, due, [this] { return cancel_; });
      if (cancel_) {
        played.cancelled = true;
        break;
      }
    }
    const auto now = std::chrono::steady_clock::now();
    if (auto driven = chip_.Drive(signal.offset, level, SteadyNow()); !driven) {
      played.error = driven.error();
      break;
    }
    ++played.edges;
    if (signal.paced) {
      played.max_late = std::max(played.max_late, std::chrono::duration_cast<std::chrono::microseconds>(now - due));
    }
  }
  asio::post(io_, [this, played = std::move(played)] { Finished(played); });
}

void SimControl::Finished(Played played) {
  playing_ = false;
  last_played_ = std::move(played);
  for (const std::shared_ptr<Connection>& waiter : waiting_) {
    if (last_played_->error) {
      waiter->Answer(ErrorAnswer(*last_played_->error));
    } else {
      waiter->Answer(Json{{"edges", last_played_->edges},
                          {"maxLateUs", last_played_->max_late.count()},
                          {"cancelled", last_played_->cancelled}});
    }
  }
  waiting_.clear();
}

bool SimControl::StopSignal() {
  {
    std::lock_guard lock(cancel_mu_);
    cancel_ = true;
  }
  cancel_cv_.notify_all();
  return playing_;
}

Result<Json> SimControlCall(const std::string& socket_path, const Json& request, std::chrono::milliseconds timeout) {
  asio::io_context io;
  stream_protocol::socket socket(io);
  boost::system::error_code ec;
  socket.connect(stream_protocol::endpoint(socket_path), ec);
  if (ec) return Unavailable("nothing serves " + socket_path + ": " + ec.message());
  const std::string line = Line(request);
  asio::write(socket, asio::buffer(line), ec);
  if (ec) return Unavailable("cannot send to " + socket_path + ": " + ec.message());
  asio::streambuf input(kMaxLineBytes);
  bool answered = false;
  asio::async_read_until(socket, input, '\n', [&](boost::system::error_code read_ec, size_t) {
    answered = true;
    ec = read_ec;
  });
  if (timeout.count() > 0) {
    io.run_for(timeout);
  } else {
    io.run();
  }
  if (!answered)
    return DeadlineExceeded("no answer from " + socket_path + " within " + std::to_string(timeout.count()) + " ms");
  if (ec) return Unavailable("no answer from " + socket_path + ": " + ec.message());
  const auto data = input.data();
  const std::string answer(asio::buffers_begin(data), asio::buffers_end(data));
  ew::json::ParseLimits limits;
  limits.what = "answer";
  auto parsed = ew::json::Parse(answer, limits);
  if (!parsed) return Internal("bad answer from " + socket_path + ": " + parsed.error().message);
  return std::move(*parsed);
}

int SimCommand(const std::string& socket_path, const std::string& request, std::ostream& out, std::ostream& err) {
  const Json parsed = Json::parse(request, nullptr, /*allow_exceptions=*/false);
  if (parsed.is_discarded() || !parsed.is_object()) {
    err << "edgewire-agent sim: the request must be one JSON object, got " << request << "\n";
    return 1;
  }
  auto answer = SimControlCall(socket_path, parsed, std::chrono::milliseconds(0));
  if (!answer) {
    err << "edgewire-agent sim: " << answer.error().message << "\n";
    return 1;
  }
  out << Line(*answer);
  return answer->contains("error") ? 1 : 0;
}

}  // namespace ew::agent::gpio
