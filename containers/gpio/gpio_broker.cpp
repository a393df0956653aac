// GpioBroker: line ownership for one invocation, the socket, and the poll loop that answers the
// function's requests. Requests of one connection are answered in order: while a "wait" of a
// connection is pending, its later requests stay buffered.
#include "containers/gpio/gpio_broker.hpp"

#include <fcntl.h>
#include <poll.h>
#include <sys/eventfd.h>
#include <sys/mount.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cerrno>
#include <chrono>
#include <cstring>
#include <deque>
#include <mutex>
#include <optional>
#include <system_error>
#include <thread>

#include "common/log/log.hpp"
#include "containers/gpio/broker_protocol.hpp"

namespace ew::containers {

namespace fs = std::filesystem;
using SteadyClock = std::chrono::steady_clock;

namespace {

const ew::log::Logger Log{"containers"};

// Edges not yet taken by the broker's thread beyond this are dropped (oldest first): the thread
// drains the inbox on every wake-up, so only a stalled thread gets near it.
constexpr size_t kMaxQueuedEdges = 1024;
// Replies a client has not read yet; beyond this its requests are not read until it catches up.
constexpr size_t kMaxPendingReply = 64u << 10;
constexpr int kListenBacklog = 16;

bool Wanted(gpio::Edges edges, gpio::EdgeKind kind) {
  return edges == gpio::Edges::kBoth || (edges == gpio::Edges::kRising && kind == gpio::EdgeKind::kRising) ||
         (edges == gpio::Edges::kFalling && kind == gpio::EdgeKind::kFalling);
}

// Edges reported by the chips' handlers, taken by the broker's thread. Shared with the handlers:
// a chip may still be running one just after the broker released its lines and went away.
class EdgeInbox {
 public:
  struct Edge {
    size_t line = 0;  // index into the declared lines
    gpio::EdgeKind kind = gpio::EdgeKind::kRising;
    std::chrono::nanoseconds timestamp{0};
    uint64_t count = 0;  // per line, from 1: a wait is answered only by edges after it began
  };

  EdgeInbox(int wake_fd, size_t lines) : wake_fd_(wake_fd), counts_(lines, 0) {}
  ~EdgeInbox() { close(wake_fd_); }
  EdgeInbox(const EdgeInbox&) = delete;
  EdgeInbox& operator=(const EdgeInbox&) = delete;

  // A chip's thread; must not block.
  void Push(size_t line, const gpio::EdgeEvent& event) {
    {
      std::lock_guard<std::mutex> lock(mutex_);
      edges_.push_back({line, event.kind, event.timestamp, ++counts_[line]});
      if (edges_.size() > kMaxQueuedEdges) edges_.pop_front();
    }
    Wake();
  }
  void Wake() {
    uint64_t one = 1;
    // EAGAIN only when the counter is near overflow, which still means "readable".
    [[maybe_unused]] ssize_t n = write(wake_fd_, &one, sizeof(one));
  }
  void Drain() {
    uint64_t value;
    [[maybe_unused]] ssize_t n = read(wake_fd_, &value, sizeof(value));
  }
  std::deque<Edge> Take() {
    std::lock_guard<std::mutex> lock(mutex_);
    return std::exchange(edges_, {});
  }
  uint64_t Count(size_t line) {
    std::lock_guard<std::mutex> lock(mutex_);
    return counts_[line];
  }
  int wake_fd() const { return wake_fd_; }

 private:
  const int wake_fd_;
  std::mutex mutex_;
  std::deque<Edge> edges_;        // GUARDED_BY(mutex_)
  std::vector<uint64_t> counts_;  // GUARDED_BY(mutex_): edges seen per declared line
};

struct DeclaredLine {
  gpio::LineRef ref;
  GpioDirection direction = GpioDirection::kInput;
  std::string declared;  // as function.json names it
  std::string shared_with;  // an input someone else holds as an input (a trigger, a watch): read only
};

// Who holds `ref` as an input, or "" when it is free, an output or unknown.
std::string InputHolder(const gpio::LineRef& ref) {
  for (const gpio::LineInfo& info : ref.chip->Lines()) {
    if (info.offset == ref.offset && info.used && info.direction == gpio::Direction::kInput) return info.consumer;
  }
  return "";
}

struct Client {
  struct Wait {
    size_t line = 0;
    gpio::Edges edges = gpio::Edges::kBoth;
    uint64_t after = 0;  // edges counted up to this one happened before the wait
    std::optional<SteadyClock::time_point> deadline;
  };

  int fd = -1;
  std::string in;
  std::string out;
  std::optional<Wait> wait;
  bool read_closed = false;  // the peer shut its side: answer what it sent, then close
  bool closing = false;      // answered with an error it cannot recover from: flush, then close
  bool broken = false;       // gone or unusable: close now
};

}  // namespace

struct GpioBroker::Impl {
  Impl(const gpio::ChipSet& c, std::string fn, std::string inv, uid_t peer)
      : chips(c),
        function(std::move(fn)),
        invocation(std::move(inv)),
        consumer(Consumer(function, invocation)),
        peer_uid(peer) {}

  Result<void> Request(const std::vector<GpioLineSpec>& specs);
  Result<void> Listen(const fs::path& socket_root);
  void Shutdown();

  // The broker's thread.
  void Run();
  void Loop();
  int PollTimeout() const;
  void OnEvents(Client& client, short revents);
  void Accept();
  void Serve(Client& client);
  void Handle(Client& client, const std::string& text);
  Result<size_t> Authorize(const GpioRequest& request);
  void DeliverEdges();
  void ExpireWaits(SteadyClock::time_point now);
  static void Flush(Client& client);
  void Deny(const GpioRequest& request, const std::string& why, Client& client);

  const gpio::ChipSet& chips;
  const std::string function;
  const std::string invocation;
  const std::string consumer;
  const uid_t peer_uid;  // the only uid served
  std::vector<DeclaredLine> lines;
  std::shared_ptr<EdgeInbox> inbox;
  fs::path dir;
  bool mounted = false;  // dir is a tmpfs of its own
  int listen_fd = -1;
  std::thread thread;
  std::atomic<bool> stopping{false};
  std::atomic<size_t> pending_waits{0};
  bool closed = false;
  std::vector<Client> clients;  // the broker's thread only
};

std::string GpioBroker::Consumer(const std::string& function, const std::string& invocation) {
  return "fn:" + function + ":" + invocation;
}

// --- opening and closing ---

Result<void> GpioBroker::Impl::Request(const std::vector<GpioLineSpec>& specs) {
  std::vector<const DeclaredLine*> taken;
  auto rollback = [&](Error error) -> Result<void> {
    for (const DeclaredLine* line : taken) {
      if (auto released = line->ref.chip->Release(line->ref.offset, consumer); !released) {
        Log()->warn("gpio broker {}: cannot release {}: {}", consumer, line->ref.name, released.error().message);
      }
    }
    lines.clear();
    return tl::unexpected(std::move(error));
  };
  lines.reserve(specs.size());  // `taken` points into it
  for (const GpioLineSpec& spec : specs) {
    auto ref = chips.Resolve(spec.line);
    if (!ref) return rollback(ref.error());
    auto same = std::find_if(lines.begin(), lines.end(), [&](const DeclaredLine& l) {
      return l.ref.chip == ref->chip && l.ref.offset == ref->offset;
    });
    if (same != lines.end()) {
      if (same->direction == spec.direction) continue;
      return rollback(Error(ErrorCode::kInvalidArgument, "gpio: line " + spec.line + " is declared both as " +
                                                             std::string(GpioDirectionName(same->direction)) +
                                                             " and as " +
                                                             std::string(GpioDirectionName(spec.direction))));
    }
    const size_t index = lines.size();
    gpio::LineRequest request;
    gpio::EdgeHandler on_edge;
    if (spec.direction == GpioDirection::kOutput) {
      request.direction = gpio::Direction::kOutput;
      // No glitch: an output starts at the level it has (a released output keeps driving it).
      request.initial_value = ref->chip->Read(ref->offset).value_or(0);
    } else {
      request.direction = gpio::Direction::kInput;
      request.edges = gpio::Edges::kBoth;
      on_edge = [inbox = inbox, index](const gpio::EdgeEvent& event) { inbox->Push(index, event); };
    }
    if (auto held = ref->chip->Request(ref->offset, request, consumer, std::move(on_edge)); !held) {
      // An input that a trigger or a watch holds as an input can still be read: the function a
      // trigger runs usually wants the level of the line that fired it.
      std::string holder = spec.direction == GpioDirection::kInput && held.error().code == ErrorCode::kConflict
                               ? InputHolder(*ref)
                               : "";
      if (holder.empty()) return rollback(held.error());
      Log()->debug("gpio broker {}: {} is held as an input by {}: shared for reads", consumer, spec.line, holder);
      lines.push_back({*ref, spec.direction, spec.line, holder});
      continue;
    }
    lines.push_back({*ref, spec.direction, spec.line, ""});
    taken.push_back(&lines.back());
  }
  return Ok();
}

Result<void> GpioBroker::Impl::Listen(const fs::path& socket_root) {
  std::error_code ec;
  if (fs::create_directories(socket_root, ec)) {
    // Only traversal is needed below it; the private directories say who may look inside.
    fs::permissions(socket_root, fs::perms::owner_all | fs::perms::group_exec | fs::perms::others_exec, ec);
  }
  if (ec) return Internal("gpio: cannot create " + socket_root.string() + ": " + ec.message());
  std::string pattern = (socket_root / "gpio-XXXXXX").string();
  if (!mkdtemp(pattern.data())) return Internal("gpio: cannot create a directory in " + socket_root.string() + ": " + std::strerror(errno));
  // Absolute: it becomes a bind mount's source.
  dir = fs::absolute(pattern, ec);
  if (ec) dir = pattern;
  // 0711: the container's uid may reach the socket but not list or add anything.
  if (chmod(dir.c_str(), 0711) != 0) return Internal("gpio: cannot chmod " + dir.string() + ": " + std::strerror(errno));
  // As root, the directory becomes a tiny filesystem of its own: the container's mountinfo
  // then shows its mount at /run/edgewire as "/", not the host path of the directory.
  if (geteuid() == 0) {
    if (mount("tmpfs", dir.c_str(), "tmpfs", MS_NOSUID | MS_NODEV | MS_NOEXEC, "size=16k,nr_inodes=16,mode=0711") == 0) {
      mounted = true;
    } else {
      Log()->debug("gpio broker {}: no tmpfs on {}: {}", consumer, dir.string(), std::strerror(errno));
    }
  }

  const std::string path = (dir / kSocketName).string();
  sockaddr_un address{};
  address.sun_family = AF_UNIX;
  if (path.size() >= sizeof(address.sun_path)) {
    return InvalidArgument("gpio: socket path " + path + " is longer than " + std::to_string(sizeof(address.sun_path) - 1) +
                           " bytes; choose a shorter socket directory");
  }
  std::memcpy(address.sun_path, path.c_str(), path.size() + 1);
  listen_fd = socket(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
  if (listen_fd < 0) return Internal(std::string("gpio: socket: ") + std::strerror(errno));
  if (bind(listen_fd, reinterpret_cast<const sockaddr*>(&address), sizeof(address)) != 0) {
    return Internal("gpio: cannot bind " + path + ": " + std::strerror(errno));
  }
  // Connecting needs write permission on the socket; the function runs as another uid.
  if (chmod(path.c_str(), 0666) != 0) return Internal("gpio: cannot chmod " + path + ": " + std::strerror(errno));
  if (listen(listen_fd, kListenBacklog) != 0) return Internal("gpio: cannot listen on " + path + ": " + std::strerror(errno));
  return Ok();
}

// Everything Open may have set up, in reverse: thread, connections, socket, lines.
void GpioBroker::Impl::Shutdown() {
  if (closed) return;
  closed = true;
  if (thread.joinable()) {
    stopping = true;
    inbox->Wake();
    thread.join();
  }
  for (Client& client : clients) close(client.fd);
  clients.clear();
  pending_waits = 0;
  if (listen_fd >= 0) close(listen_fd);
  listen_fd = -1;
  if (mounted) umount2(dir.c_str(), MNT_DETACH);
  mounted = false;
  if (!dir.empty()) {
    std::error_code ec;
    fs::remove_all(dir, ec);
    if (ec) Log()->warn("gpio broker {}: cannot remove {}: {}", consumer, dir.string(), ec.message());
  }
  if (!lines.empty()) {
    size_t released = chips.ReleaseAll(consumer);
    Log()->debug("gpio broker {}: closed, {} line(s) released", consumer, released);
  }
  lines.clear();
}

Result<std::unique_ptr<GpioBroker>> GpioBroker::Open(const gpio::ChipSet& chips, const std::vector<GpioLineSpec>& lines,
                                                     const std::string& function, const std::string& invocation,
                                                     const fs::path& socket_root, uid_t peer_uid) {
  if (lines.empty()) return InvalidArgument("gpio: function " + function + " declares no GPIO lines");
  auto impl = std::make_unique<Impl>(chips, function, invocation, peer_uid);
  int wake_fd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
  if (wake_fd < 0) return Internal(std::string("gpio: eventfd: ") + std::strerror(errno));
  impl->inbox = std::make_shared<EdgeInbox>(wake_fd, lines.size());
  // From here on the broker's destructor undoes whatever was done.
  std::unique_ptr<GpioBroker> broker(new GpioBroker(std::move(impl)));
  Impl& b = *broker->impl_;
  EW_TRY_VOID(b.Request(lines));
  EW_TRY_VOID(b.Listen(socket_root));
  try {
    b.thread = std::thread([&b] { b.Run(); });
  } catch (const std::system_error& e) {
    return Unavailable(std::string("gpio: cannot start the broker's thread: ") + e.what());
  }
  std::string held;
  for (const auto& line : b.lines) {
    held += (held.empty() ? "" : ", ") + line.declared + " (" + std::string(GpioDirectionName(line.direction)) + ")";
  }
  Log()->debug("gpio broker {}: serving {} on {}", b.consumer, held, broker->socket_path().string());
  return broker;
}

GpioBroker::GpioBroker(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}
GpioBroker::~GpioBroker() { Close(); }
void GpioBroker::Close() { impl_->Shutdown(); }
const std::string& GpioBroker::consumer() const { return impl_->consumer; }
const fs::path& GpioBroker::socket_dir() const { return impl_->dir; }
size_t GpioBroker::PendingWaits() const { return impl_->pending_waits.load(); }

// --- the broker's thread ---

void GpioBroker::Impl::Run() {
  try {
    Loop();
  } catch (const std::exception& e) {
    Log()->error("gpio broker {}: stopped serving: {}", consumer, e.what());
  }
  // Stopped by an error: the clients see end of file instead of waiting forever.
  for (Client& client : clients) close(client.fd);
  clients.clear();
  pending_waits = 0;
}

void GpioBroker::Impl::Loop() {
  std::vector<pollfd> fds;
  while (!stopping.load()) {
    fds.clear();
    fds.push_back({inbox->wake_fd(), POLLIN, 0});
    fds.push_back({listen_fd, POLLIN, 0});
    for (const Client& client : clients) {
      short events = 0;
      if (!client.read_closed && !client.closing && client.in.size() <= kMaxRequestBytes &&
          client.out.size() < kMaxPendingReply) {
        events |= POLLIN;
      }
      if (!client.out.empty()) events |= POLLOUT;
      fds.push_back({client.fd, events, 0});
    }
    if (poll(fds.data(), fds.size(), PollTimeout()) < 0) {
      if (errno == EINTR) continue;
      Log()->error("gpio broker {}: poll: {}", consumer, std::strerror(errno));
      return;
    }
    if (fds[0].revents & POLLIN) inbox->Drain();
    if (stopping.load()) return;
    // fds[2..] are the clients as they were before this round; Accept only appends.
    for (size_t i = 2; i < fds.size(); ++i) OnEvents(clients[i - 2], fds[i].revents);
    if (fds[1].revents & POLLIN) Accept();
    DeliverEdges();
    ExpireWaits(SteadyClock::now());
    for (Client& client : clients) Serve(client);
    // Counted before the answers go out: a client that got one sees its wait uncounted.
    pending_waits = static_cast<size_t>(
        std::count_if(clients.begin(), clients.end(), [](const Client& c) { return c.wait.has_value() && !c.broken; }));
    for (Client& client : clients) Flush(client);
    auto done = [](const Client& c) {
      if (c.broken) return true;
      if (!c.out.empty()) return false;
      return c.closing || (c.read_closed && c.in.empty() && !c.wait);
    };
    clients.erase(std::remove_if(clients.begin(), clients.end(),
                                 [&](const Client& c) {
                                   if (!done(c)) return false;
                                   close(c.fd);
                                   return true;
                                 }),
                  clients.end());
  }
}

int GpioBroker::Impl::PollTimeout() const {
  std::optional<SteadyClock::time_point> next;
  for (const Client& client : clients) {
    if (client.wait && client.wait->deadline && (!next || *client.wait->deadline < *next)) next = client.wait->deadline;
  }
  if (!next) return -1;
  auto left = *next - SteadyClock::now();
  if (left <= SteadyClock::duration::zero()) return 0;
  // Rounded up: waking a little early would only poll again.
  return static_cast<int>(std::chrono::ceil<std::chrono::milliseconds>(left).count());
}

void GpioBroker::Impl::OnEvents(Client& client, short revents) {
  if (revents & (POLLERR | POLLNVAL)) {
    client.broken = true;
    return;
  }
  if (revents & POLLIN) {
    char chunk[4096];
    ssize_t n = read(client.fd, chunk, sizeof(chunk));
    if (n > 0) {
      client.in.append(chunk, static_cast<size_t>(n));
    } else if (n == 0) {
      client.read_closed = true;
    } else if (errno != EAGAIN && errno != EINTR) {
      client.broken = true;
    }
  } else if (revents & POLLHUP) {
    // Both directions closed (a half-close shows as POLLIN with end of file): nobody is left to
    // read an answer.
    client.broken = true;
  }
  if ((revents & POLLOUT) && !client.broken) Flush(client);
}

void GpioBroker::Impl::Accept() {
  for (;;) {
    int fd = accept4(listen_fd, nullptr, nullptr, SOCK_NONBLOCK | SOCK_CLOEXEC);
    if (fd < 0) {
      if (errno != EAGAIN && errno != EWOULDBLOCK && errno != EINTR && errno != ECONNABORTED) {
        Log()->warn("gpio broker {}: accept: {}", consumer, std::strerror(errno));
      }
      return;
    }
    ucred peer{};
    socklen_t length = sizeof(peer);
    if (getsockopt(fd, SOL_SOCKET, SO_PEERCRED, &peer, &length) != 0 || peer.uid != peer_uid) {
      // Another function of this host (or anyone) that found the socket: not this invocation.
      Log()->warn("gpio broker {}: refused a connection from uid {} (pid {}): only uid {} is served", consumer,
                  static_cast<long>(peer.uid), static_cast<long>(peer.pid), static_cast<long>(peer_uid));
      std::string reply =
          GpioErrorReply(Error(ErrorCode::kPermissionDenied, "gpio: this socket serves another invocation"));
      [[maybe_unused]] ssize_t n = send(fd, reply.data(), reply.size(), MSG_NOSIGNAL | MSG_DONTWAIT);
      close(fd);
      continue;
    }
    if (clients.size() >= kMaxClients) {
      Log()->warn("gpio broker {}: refused a connection: {} clients already", consumer, kMaxClients);
      std::string reply = GpioErrorReply(
          Error(ErrorCode::kResourceExhausted, "gpio: at most " + std::to_string(kMaxClients) + " connections at once"));
      [[maybe_unused]] ssize_t n = send(fd, reply.data(), reply.size(), MSG_NOSIGNAL | MSG_DONTWAIT);
      close(fd);
      continue;
    }
    Client client;
    client.fd = fd;
    clients.push_back(std::move(client));
  }
}

// Answers the complete request lines buffered for `client`, in order, until one is a wait.
void GpioBroker::Impl::Serve(Client& client) {
  while (!client.broken && !client.closing && !client.wait && client.out.size() < kMaxPendingReply) {
    size_t newline = client.in.find('\n');
    std::string text;
    if (newline == std::string::npos ? client.in.size() > kMaxRequestBytes : newline > kMaxRequestBytes) {
      client.out += GpioErrorReply(Error(ErrorCode::kInvalidArgument,
                                         "request over " + std::to_string(kMaxRequestBytes) + " bytes"));
      client.closing = true;
      return;
    }
    if (newline == std::string::npos) {
      // At end of file, what is left is the last request even without its newline.
      if (!client.read_closed || client.in.empty()) return;
      text = std::move(client.in);
      client.in.clear();
    } else {
      text = client.in.substr(0, newline);
      client.in.erase(0, newline + 1);
    }
    if (!text.empty() && text.back() == '\r') text.pop_back();
    if (text.find_first_not_of(" \t") == std::string::npos) {
      // Every line gets its answer: a client counting replies must not wait forever.
      client.out += GpioErrorReply(Error(ErrorCode::kInvalidArgument, "empty request: expected one JSON object"));
      continue;
    }
    Handle(client, text);
  }
}

void GpioBroker::Impl::Handle(Client& client, const std::string& text) {
  auto request = ParseGpioRequest(text);
  if (!request) {
    Log()->debug("gpio broker {}: bad request: {}", consumer, request.error().message);
    client.out += GpioErrorReply(request.error());
    return;
  }
  auto index = Authorize(*request);
  if (!index) {
    Deny(*request, index.error().message, client);
    return;
  }
  const DeclaredLine& line = lines[*index];
  switch (request->op) {
    case GpioRequest::Op::kRead: {
      auto value = line.ref.chip->Read(line.ref.offset);
      client.out += value ? GpioValueReply(*value) : GpioErrorReply(value.error());
      Log()->debug("gpio broker {}: read {} → {}", consumer, line.declared, value ? std::to_string(*value) : value.error().message);
      break;
    }
    case GpioRequest::Op::kWrite: {
      auto written = line.ref.chip->Write(line.ref.offset, request->value, consumer);
      client.out += written ? GpioValueReply(request->value) : GpioErrorReply(written.error());
      Log()->debug("gpio broker {}: write {} = {}{}", consumer, line.declared, request->value,
                   written ? "" : ": " + written.error().message);
      break;
    }
    case GpioRequest::Op::kWait: {
      if (line.direction != GpioDirection::kInput) {
        client.out += GpioErrorReply(Error(ErrorCode::kInvalidArgument, "line " + line.declared +
                                                                            " is declared as an output: only inputs can be waited on"));
        break;
      }
      if (!line.shared_with.empty()) {
        client.out += GpioErrorReply(Error(ErrorCode::kConflict, "line " + line.declared + " is held by " +
                                                                     line.shared_with +
                                                                     ": it can be read but not waited on"));
        break;
      }
      Client::Wait wait;
      wait.line = *index;
      wait.edges = request->edges;
      wait.after = inbox->Count(*index);
      if (request->timeout) wait.deadline = SteadyClock::now() + *request->timeout;
      client.wait = wait;
      Log()->debug("gpio broker {}: wait on {}", consumer, line.declared);
      break;
    }
  }
}

// The declared line a request names, by what it resolves to (a function may say "17" for the
// "GPIO17" it declared). PermissionDenied for a line not declared, or a write to an input.
Result<size_t> GpioBroker::Impl::Authorize(const GpioRequest& request) {
  auto ref = chips.Resolve(request.line);
  auto it = lines.end();
  if (ref) {
    it = std::find_if(lines.begin(), lines.end(), [&](const DeclaredLine& l) {
      return l.ref.chip == ref->chip && l.ref.offset == ref->offset;
    });
  }
  if (it == lines.end()) {
    std::string declared;
    for (const auto& line : lines) {
      declared += (declared.empty() ? "" : ", ") + line.declared + " (" + std::string(GpioDirectionName(line.direction)) + ")";
    }
    return PermissionDenied("line " + request.line + " is not declared by function " + function + " (declared: " + declared + ")");
  }
  if (request.op == GpioRequest::Op::kWrite && it->direction == GpioDirection::kInput) {
    return PermissionDenied("line " + it->declared + " is declared as an input: function " + function + " may not write it");
  }
  return static_cast<size_t>(it - lines.begin());
}

void GpioBroker::Impl::Deny(const GpioRequest& request, const std::string& why, Client& client) {
  const char* op = request.op == GpioRequest::Op::kRead ? "read" : request.op == GpioRequest::Op::kWrite ? "write" : "wait";
  // Line names are printable ASCII (ParseGpioRequest), safe to log as they are.
  Log()->warn("gpio: denied {} of line {} to function {} invocation {}: {}", op, request.line, function, invocation, why);
  client.out += GpioErrorReply(Error(ErrorCode::kPermissionDenied, why));
}

void GpioBroker::Impl::DeliverEdges() {
  for (const EdgeInbox::Edge& edge : inbox->Take()) {
    for (Client& client : clients) {
      if (!client.wait || client.wait->line != edge.line || edge.count <= client.wait->after ||
          !Wanted(client.wait->edges, edge.kind)) {
        continue;
      }
      client.out += GpioEdgeReply(edge.kind, edge.timestamp);
      client.wait.reset();
    }
  }
}

void GpioBroker::Impl::ExpireWaits(SteadyClock::time_point now) {
  for (Client& client : clients) {
    if (client.wait && client.wait->deadline && now >= *client.wait->deadline) {
      client.out += GpioTimeoutReply();
      client.wait.reset();
    }
  }
}

void GpioBroker::Impl::Flush(Client& client) {
  while (!client.out.empty() && !client.broken) {
    ssize_t n = send(client.fd, client.out.data(), client.out.size(), MSG_NOSIGNAL | MSG_DONTWAIT);
    if (n > 0) {
      client.out.erase(0, static_cast<size_t>(n));
    } else if (n < 0 && errno == EINTR) {
      continue;
    } else if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) {
      return;
    } else {
      client.broken = true;
    }
  }
}

}  // namespace ew::containers
