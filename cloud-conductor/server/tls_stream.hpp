// The conductor's TLS stream: OpenSSL over a BIO of our own, as an AsyncReadStream and
// AsyncWriteStream that Beast's HTTP and WebSocket sit on. It replaces Asio's ssl::stream
// because that one holds ~68 KB per connection for its whole life (two 17 KB record buffers in
// stream_core and a 2 x 17 KB BIO pair); this one holds ciphertext only while it is in flight:
// an idle connection keeps the SSL object (OpenSSL frees its record buffers, SSL_MODE_RELEASE_BUFFERS)
// and this stream's few hundred bytes, nothing else.
//
// Threading: like any Asio stream, one handler at a time (the io thread); at most one read-type
// operation (async_read_some, async_handshake, async_shutdown) and one async_write_some in
// flight, which may overlap (full duplex: a WebSocket reads while it writes).
//
// Errors: OpenSSL's reason (boost::asio::error::get_ssl_category()), net::error::eof after the
// peer's close_notify, ssl::error::stream_truncated when TCP ends without one, and whatever the
// tcp_stream reports (beast::error::timeout past its deadline, connection_reset, ...).
#pragma once

#include <openssl/ssl.h>

#include <cstddef>
#include <chrono>
#include <cstring>
#include <memory>

#include <boost/asio/buffer.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/ssl/error.hpp>
#include <boost/asio/ssl/stream_base.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/write.hpp>
#include <boost/beast/core/async_base.hpp>
#include <boost/beast/core/tcp_stream.hpp>
#include <boost/beast/websocket/teardown.hpp>

namespace ew::server {

// The conductor's sockets run on its one io_context, and their type says so: with the concrete
// executor, every Beast and Asio operation on them (a few per frame read or written) skips
// any_io_executor's type-erased copies, moves and destructions of the executor it carries.
using IoExecutor = boost::asio::io_context::executor_type;
using TcpSocket = boost::asio::basic_stream_socket<boost::asio::ip::tcp, IoExecutor>;
using TcpStream = boost::beast::basic_stream<boost::asio::ip::tcp, IoExecutor>;
using IoTimer = boost::asio::basic_waitable_timer<std::chrono::steady_clock,
                                                  boost::asio::wait_traits<std::chrono::steady_clock>, IoExecutor>;

namespace tls_detail {

// Bytes that own heap memory only while there are any: the buffer is freed as soon as the
// last byte is taken, so an idle connection holds none.
class ByteQueue {
 public:
  bool empty() const { return begin_ == end_; }
  size_t size() const { return end_ - begin_; }
  size_t capacity() const { return capacity_; }
  const char* data() const { return buffer_.get() + begin_; }
  // Room for n more bytes at the back (moved or grown as needed); Commit() what was written.
  char* Prepare(size_t n);
  void Commit(size_t n) { end_ += n; }
  void Append(const void* bytes, size_t n) {
    std::memcpy(Prepare(n), bytes, n);
    Commit(n);
  }
  // Moves up to n bytes from the front into `to`; frees the buffer once empty.
  size_t Take(void* to, size_t n);
  void Release();
  void Swap(ByteQueue& other) noexcept;

 private:
  std::unique_ptr<char[]> buffer_;
  size_t begin_ = 0;
  size_t end_ = 0;
  size_t capacity_ = 0;
};

enum class TlsOp { kHandshake, kRead, kWrite, kShutdown };
// What an OpenSSL call needs next: nothing (done, or failed), more ciphertext from the peer, or
// simply another try (after its output is written).
enum class Want { kDone, kInput, kRetry };

// The per-connection state, on the heap so the stream can move while the BIO points at it.
class TlsCore {
 public:
  TlsCore(TcpStream&& tcp, SSL_CTX* context);
  ~TlsCore();
  TlsCore(const TlsCore&) = delete;
  TlsCore& operator=(const TlsCore&) = delete;

  // One OpenSSL call (SSL_do_handshake, SSL_read, SSL_write or SSL_shutdown) over what `in`
  // holds; its ciphertext lands in `out`. Sets ec (and bytes for read and write) when done.
  Want Perform(TlsOp op, void* data, size_t size, boost::system::error_code& ec, size_t& bytes);
  // Reads what the socket already holds into `in` (up to kReadChunk), without blocking;
  // would_block is no error.
  void ReadAvailable(boost::system::error_code& ec);
  // Room for a full record and then some: a burst usually holds one or a few.
  static constexpr size_t kReadChunk = 16 * 1024 + 1024;
  // The error for a read that meets the end of TCP: eof after close_notify, else truncated.
  boost::system::error_code EndOfInputError() const;

  TcpStream tcp;
  SSL* ssl = nullptr;
  ByteQueue in;       // ciphertext from the peer that OpenSSL has not taken yet
  ByteQueue out;      // ciphertext OpenSSL made that no socket write has taken yet
  ByteQueue sending;  // ciphertext of the socket write in flight
  // One socket read and one socket write at a time; an operation that finds one busy waits on
  // its gate (a timer that never expires) and is woken by cancel() when it is free.
  bool reading = false;
  bool writing = false;
  IoTimer read_gate;
  IoTimer write_gate;
  boost::system::error_code write_error;  // sticky: a failed socket write fails all output after it
  bool input_ended = false;               // the socket read end of file or failed
  unsigned char wait_byte = 0;            // an idle read waits for one byte, into here
};

}  // namespace tls_detail

class TlsStream {
 public:
  using next_layer_type = TcpStream;
  using executor_type = next_layer_type::executor_type;

  // A stream over `tcp` using `context` (its certificate, key and options; OpenSSL keeps a
  // reference). The role is chosen by async_handshake.
  TlsStream(next_layer_type&& tcp, SSL_CTX* context);
  TlsStream(TcpSocket&& socket, SSL_CTX* context)
      : TlsStream(next_layer_type(std::move(socket)), context) {}
  TlsStream(TlsStream&&) noexcept = default;
  TlsStream& operator=(TlsStream&&) noexcept = default;
  ~TlsStream() = default;

  executor_type get_executor() { return core_->tcp.get_executor(); }
  next_layer_type& next_layer() { return core_->tcp; }
  const next_layer_type& next_layer() const { return core_->tcp; }
  SSL* native_handle() { return core_->ssl; }
  // Ciphertext bytes this stream holds in its own buffers now (0 when idle): for tests.
  size_t buffered_capacity() const {
    return core_->in.capacity() + core_->out.capacity() + core_->sending.capacity();
  }

  // handler(error_code)
  template <class Handler>
  auto async_handshake(boost::asio::ssl::stream_base::handshake_type type, Handler&& handler);
  // handler(error_code, size_t): at most one TLS record's worth of plaintext.
  template <class MutableBuffers, class Handler>
  auto async_read_some(const MutableBuffers& buffers, Handler&& handler);
  // handler(error_code, size_t): writes up to 16 KB (one record), gathered from the buffers.
  template <class ConstBuffers, class Handler>
  auto async_write_some(const ConstBuffers& buffers, Handler&& handler);
  // Sends close_notify and waits for the peer's. handler(error_code)
  template <class Handler>
  auto async_shutdown(Handler&& handler);

 private:
  std::unique_ptr<tls_detail::TlsCore> core_;
};

// One TLS operation, as Asio's ssl::detail::io_op: run the OpenSSL call, write what it
// produced, read when it wants input, and again until it is done. kWithSize: the handler takes
// (error_code, size_t), else (error_code).
template <class Handler, class Buffers, bool kWithSize>
class TlsIoOp : public boost::beast::async_base<Handler, TlsStream::executor_type> {
  using Base = boost::beast::async_base<Handler, TlsStream::executor_type>;

 public:
  // The largest plaintext one SSL_write takes: one full TLS record.
  static constexpr size_t kMaxRecord = 16 * 1024;

  TlsIoOp(Handler&& handler, tls_detail::TlsCore& core, tls_detail::TlsOp op, const Buffers& buffers)
      : Base(std::move(handler), core.tcp.get_executor()), core_(core), op_(op), buffers_(buffers) {
    const bool data_op = op_ == tls_detail::TlsOp::kRead || op_ == tls_detail::TlsOp::kWrite;
    if (data_op && boost::asio::buffer_size(buffers_) == 0) {
      Complete(false);
    } else {
      Perform(false);
    }
  }
  TlsIoOp(TlsIoOp&&) = default;

  // Completion of a socket read or write, or a wake-up at a gate.
  void operator()(boost::system::error_code ec = {}, size_t n = 0) {
    switch (step_) {
      case Step::kWaitWriteGate:
        return Flush(true);
      case Step::kWriting:
        return OnWritten(ec);
      case Step::kWaitReadGate:
        return Perform(true);
      case Step::kReading:
        return OnByte(ec, n);
      case Step::kIdle:
        break;
    }
  }

 private:
  enum class Step { kIdle, kWaitWriteGate, kWriting, kWaitReadGate, kReading };

  void Perform(bool cont) {
    namespace net = boost::asio;
    void* data = nullptr;
    size_t size = 0;
    char gathered[kMaxRecord];
    if (op_ == tls_detail::TlsOp::kRead) {
      if constexpr (net::is_mutable_buffer_sequence<Buffers>::value) {
        for (auto it = net::buffer_sequence_begin(buffers_); it != net::buffer_sequence_end(buffers_); ++it) {
          net::mutable_buffer b(*it);
          if (b.size() == 0) continue;
          data = b.data();
          size = b.size();
          break;
        }
      }
    } else if (op_ == tls_detail::TlsOp::kWrite) {
      // One record from as many buffers as fit (a WebSocket frame header and its payload, an
      // HTTP header and body): a record per buffer would cost a record header and a MAC each.
      auto first = net::const_buffer(*net::buffer_sequence_begin(buffers_));
      if (first.size() >= kMaxRecord || net::buffer_size(buffers_) == first.size()) {
        data = const_cast<void*>(first.data());
        size = std::min(first.size(), kMaxRecord);
      } else {
        data = gathered;
        size = net::buffer_copy(net::buffer(gathered), buffers_);
      }
    }
    want_ = core_.Perform(op_, data, size, ec_, bytes_);
    needs_flush_ = !core_.out.empty();
    Flush(cont);
  }

  // Hands what OpenSSL produced to the socket and waits until it is written (by this operation
  // or the one holding the socket's write end), so the caller's writes keep TCP's back-pressure.
  void Flush(bool cont) {
    if (needs_flush_) {
      if (core_.write_error) {
        if (!ec_) ec_ = core_.write_error;
        needs_flush_ = false;
        return Next(cont);
      }
      if (core_.writing) {
        step_ = Step::kWaitWriteGate;
        return core_.write_gate.async_wait(std::move(*this));
      }
      if (!core_.out.empty()) {
        core_.writing = true;
        return WriteOut();
      }
      needs_flush_ = false;
    }
    Next(cont);
  }

  void WriteOut() {
    core_.sending.Swap(core_.out);
    step_ = Step::kWriting;
    boost::asio::async_write(core_.tcp, boost::asio::buffer(core_.sending.data(), core_.sending.size()),
                             std::move(*this));
  }

  void OnWritten(boost::system::error_code ec) {
    core_.sending.Release();
    if (ec) {
      core_.write_error = ec;
      core_.out.Release();
    } else if (!core_.out.empty()) {
      return WriteOut();  // what others produced meanwhile: the socket's write end stays ours
    }
    core_.writing = false;
    core_.write_gate.cancel();
    Flush(true);
  }

  void Next(bool cont) {
    if (ec_ || want_ == tls_detail::Want::kDone) return Complete(cont);
    if (want_ == tls_detail::Want::kRetry) return Perform(cont);
    Input(cont);
  }

  // More ciphertext: what the socket holds now, else wait for a byte without holding a buffer.
  void Input(bool cont) {
    if (core_.input_ended) {
      ec_ = core_.EndOfInputError();
      bytes_ = 0;
      return Complete(cont);
    }
    if (core_.reading) {
      step_ = Step::kWaitReadGate;
      return core_.read_gate.async_wait(std::move(*this));
    }
    boost::system::error_code ec;
    core_.ReadAvailable(ec);
    if (ec) return InputFailed(cont, ec);
    if (!core_.in.empty()) return Perform(cont);
    core_.reading = true;
    step_ = Step::kReading;
    core_.tcp.async_read_some(boost::asio::buffer(&core_.wait_byte, 1), std::move(*this));
  }

  void OnByte(boost::system::error_code ec, size_t n) {
    core_.reading = false;
    core_.read_gate.cancel();
    if (ec) return InputFailed(true, ec);
    // Room for the byte and a full read after it in one allocation.
    *core_.in.Prepare(n + tls_detail::TlsCore::kReadChunk) = static_cast<char>(core_.wait_byte);
    core_.in.Commit(n);
    boost::system::error_code ignored;  // a failure shows again on the next read
    core_.ReadAvailable(ignored);
    Perform(true);
  }

  void InputFailed(bool cont, boost::system::error_code ec) {
    core_.input_ended = true;
    ec_ = ec == boost::asio::error::eof ? core_.EndOfInputError() : ec;
    bytes_ = 0;
    Complete(cont);
  }

  void Complete(bool cont) {
    if constexpr (kWithSize) {
      this->complete(cont, ec_, bytes_);
    } else {
      this->complete(cont, ec_);
    }
  }

  tls_detail::TlsCore& core_;
  tls_detail::TlsOp op_;
  Buffers buffers_;
  Step step_ = Step::kIdle;
  tls_detail::Want want_ = tls_detail::Want::kDone;
  boost::system::error_code ec_;
  size_t bytes_ = 0;
  bool needs_flush_ = false;
};

namespace tls_detail {

struct StartOp {
  template <class Handler, class Buffers>
  void operator()(Handler&& handler, TlsCore* core, TlsOp op, const Buffers& buffers) const {
    TlsIoOp<std::decay_t<Handler>, Buffers, true>(std::forward<Handler>(handler), *core, op, buffers);
  }
};

struct StartNoSizeOp {
  template <class Handler>
  void operator()(Handler&& handler, TlsCore* core, TlsOp op) const {
    TlsIoOp<std::decay_t<Handler>, boost::asio::mutable_buffer, false>(std::forward<Handler>(handler), *core, op,
                                                                       boost::asio::mutable_buffer{});
  }
};

}  // namespace tls_detail

template <class Handler>
auto TlsStream::async_handshake(boost::asio::ssl::stream_base::handshake_type type, Handler&& handler) {
  if (type == boost::asio::ssl::stream_base::server) {
    SSL_set_accept_state(core_->ssl);
  } else {
    SSL_set_connect_state(core_->ssl);
  }
  return boost::asio::async_initiate<Handler, void(boost::system::error_code)>(
      tls_detail::StartNoSizeOp{}, handler, core_.get(), tls_detail::TlsOp::kHandshake);
}

template <class MutableBuffers, class Handler>
auto TlsStream::async_read_some(const MutableBuffers& buffers, Handler&& handler) {
  return boost::asio::async_initiate<Handler, void(boost::system::error_code, size_t)>(
      tls_detail::StartOp{}, handler, core_.get(), tls_detail::TlsOp::kRead, buffers);
}

template <class ConstBuffers, class Handler>
auto TlsStream::async_write_some(const ConstBuffers& buffers, Handler&& handler) {
  return boost::asio::async_initiate<Handler, void(boost::system::error_code, size_t)>(
      tls_detail::StartOp{}, handler, core_.get(), tls_detail::TlsOp::kWrite, buffers);
}

template <class Handler>
auto TlsStream::async_shutdown(Handler&& handler) {
  return boost::asio::async_initiate<Handler, void(boost::system::error_code)>(
      tls_detail::StartNoSizeOp{}, handler, core_.get(), tls_detail::TlsOp::kShutdown);
}

// Beast's WebSocket ends its TCP connection through these (found by argument-dependent lookup):
// close_notify, then the peer's.
template <class Handler>
void async_teardown(boost::beast::role_type, TlsStream& stream, Handler&& handler) {
  stream.async_shutdown(std::forward<Handler>(handler));
}
// The conductor never closes synchronously; a synchronous teardown just closes the socket.
void teardown(boost::beast::role_type, TlsStream& stream, boost::system::error_code& ec);

}  // namespace ew::server
