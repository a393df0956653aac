// The non-template half of TlsStream: the BIO that connects OpenSSL to the stream's byte queues,
// one OpenSSL call and its classification (after Asio's ssl::detail::engine::perform), and the
// non-blocking socket read.
#include "cloud-conductor/server/tls_stream.hpp"

#include <openssl/bio.h>
#include <openssl/err.h>

#include <algorithm>
#include <climits>
#include <new>

#include <boost/asio/ssl/error.hpp>

namespace ew::server {

namespace net = boost::asio;
using boost::system::error_code;

namespace tls_detail {

char* ByteQueue::Prepare(size_t n) {
  if (capacity_ - end_ >= n) return buffer_.get() + end_;
  const size_t held = size();
  if (held + n <= capacity_) {
    std::memmove(buffer_.get(), buffer_.get() + begin_, held);
  } else {
    const size_t capacity = std::max(held + n, 2 * held);
    std::unique_ptr<char[]> grown(new char[capacity]);
    if (held > 0) std::memcpy(grown.get(), buffer_.get() + begin_, held);
    buffer_ = std::move(grown);
    capacity_ = capacity;
  }
  begin_ = 0;
  end_ = held;
  return buffer_.get() + end_;
}

size_t ByteQueue::Take(void* to, size_t n) {
  const size_t taken = std::min(n, size());
  if (taken > 0) std::memcpy(to, buffer_.get() + begin_, taken);
  begin_ += taken;
  if (begin_ == end_) Release();
  return taken;
}

void ByteQueue::Release() {
  buffer_.reset();
  begin_ = end_ = capacity_ = 0;
}

void ByteQueue::Swap(ByteQueue& other) noexcept {
  std::swap(buffer_, other.buffer_);
  std::swap(begin_, other.begin_);
  std::swap(end_, other.end_);
  std::swap(capacity_, other.capacity_);
}

namespace {

// The BIO OpenSSL reads ciphertext from and writes it to: TlsCore::in and TlsCore::out. Reads
// of an empty queue ask OpenSSL to retry (SSL_ERROR_WANT_READ); writes always take everything,
// so OpenSSL never waits on output and the stream decides when to send it.
TlsCore* CoreOf(BIO* bio) { return static_cast<TlsCore*>(BIO_get_data(bio)); }

int BioWrite(BIO* bio, const char* data, int size) {
  BIO_clear_retry_flags(bio);
  if (size <= 0) return 0;
  CoreOf(bio)->out.Append(data, static_cast<size_t>(size));
  return size;
}

int BioRead(BIO* bio, char* data, int size) {
  BIO_clear_retry_flags(bio);
  TlsCore* core = CoreOf(bio);
  if (core->in.empty()) {
    BIO_set_retry_read(bio);
    return -1;
  }
  return static_cast<int>(core->in.Take(data, static_cast<size_t>(std::max(size, 0))));
}

long BioCtrl(BIO* bio, int cmd, long, void*) {
  switch (cmd) {
    case BIO_CTRL_FLUSH:
      return 1;
    case BIO_CTRL_PENDING:
      return static_cast<long>(std::min<size_t>(CoreOf(bio)->in.size(), LONG_MAX));
    case BIO_CTRL_WPENDING:
      return static_cast<long>(std::min<size_t>(CoreOf(bio)->out.size(), LONG_MAX));
    default:
      return 0;
  }
}

int BioCreate(BIO* bio) {
  BIO_set_init(bio, 1);
  return 1;
}

int BioDestroy(BIO*) { return 1; }

// Made once and kept for the process's life, as OpenSSL's own BIO methods are.
const BIO_METHOD* QueueBioMethod() {
  static BIO_METHOD* method = [] {
    BIO_METHOD* m = BIO_meth_new(BIO_get_new_index() | BIO_TYPE_SOURCE_SINK, "edgewire-tls-queue");
    if (m == nullptr) throw std::bad_alloc();
    BIO_meth_set_write(m, BioWrite);
    BIO_meth_set_read(m, BioRead);
    BIO_meth_set_ctrl(m, BioCtrl);
    BIO_meth_set_create(m, BioCreate);
    BIO_meth_set_destroy(m, BioDestroy);
    return m;
  }();
  return method;
}

}  // namespace

TlsCore::TlsCore(TcpStream&& tcp_stream, SSL_CTX* context)
    : tcp(std::move(tcp_stream)), read_gate(tcp.get_executor()), write_gate(tcp.get_executor()) {
  read_gate.expires_at(IoTimer::time_point::max());
  write_gate.expires_at(IoTimer::time_point::max());
  ssl = SSL_new(context);
  if (ssl == nullptr) throw std::bad_alloc();
  BIO* bio = BIO_new(QueueBioMethod());
  if (bio == nullptr) {
    SSL_free(ssl);
    throw std::bad_alloc();
  }
  BIO_set_data(bio, this);
  SSL_set_bio(ssl, bio, bio);  // one BIO both ways; the SSL owns it
  // A write may be retried from another address (the op gathers into its own stack), and a
  // write of n bytes may end after the first records (async_write_some's contract).
  SSL_set_mode(ssl, SSL_MODE_ACCEPT_MOVING_WRITE_BUFFER | SSL_MODE_ENABLE_PARTIAL_WRITE | SSL_MODE_RELEASE_BUFFERS);
}

TlsCore::~TlsCore() { SSL_free(ssl); }

Want TlsCore::Perform(TlsOp op, void* data, size_t size, error_code& ec, size_t& bytes) {
  ERR_clear_error();
  const int length = static_cast<int>(std::min<size_t>(size, INT_MAX));
  int result = 0;
  switch (op) {
    case TlsOp::kHandshake:
      result = SSL_do_handshake(ssl);
      break;
    case TlsOp::kRead:
      result = SSL_read(ssl, data, length);
      break;
    case TlsOp::kWrite:
      result = SSL_write(ssl, data, length);
      break;
    case TlsOp::kShutdown:
      // 0: our close_notify is out, the peer's not in yet; the second call waits for it.
      result = SSL_shutdown(ssl);
      if (result == 0) result = SSL_shutdown(ssl);
      break;
  }
  const int ssl_error = SSL_get_error(ssl, result);
  const unsigned long reason = ERR_get_error();
  ERR_clear_error();
  ec = {};
  bytes = 0;
  switch (ssl_error) {
    case SSL_ERROR_NONE:
      bytes = result > 0 ? static_cast<size_t>(result) : 0;
      return Want::kDone;
    case SSL_ERROR_WANT_READ:
      return Want::kInput;
    case SSL_ERROR_WANT_WRITE:
      return Want::kRetry;
    case SSL_ERROR_ZERO_RETURN:
      ec = net::error::eof;  // the peer's close_notify
      return Want::kDone;
    case SSL_ERROR_SSL:
      // The connection is over (only the alert in `out` is still to go): drop unread input.
      ec = error_code(static_cast<int>(reason), net::error::get_ssl_category());
      in.Release();
      return Want::kDone;
    default:  // SSL_ERROR_SYSCALL and the rest: our BIO never fails, so the record layer ended
      ec = reason != 0 ? error_code(static_cast<int>(reason), net::error::get_ssl_category())
                       : error_code(net::ssl::error::stream_truncated);
      return Want::kDone;
  }
}

void TlsCore::ReadAvailable(error_code& ec) {
  auto& socket = tcp.socket();
  if (!socket.non_blocking()) {
    // Set once the socket is open (a client's may be connected after construction); Asio's
    // async operations ignore this flag.
    socket.non_blocking(true, ec);
    if (ec) return;
  }
  char* to = in.Prepare(kReadChunk);
  const size_t n = socket.read_some(net::buffer(to, kReadChunk), ec);
  in.Commit(n);
  if (in.empty()) in.Release();
  if (ec == net::error::would_block || ec == net::error::try_again) ec = {};
}

error_code TlsCore::EndOfInputError() const {
  if (SSL_get_shutdown(ssl) & SSL_RECEIVED_SHUTDOWN) return net::error::eof;
  return net::ssl::error::stream_truncated;
}

}  // namespace tls_detail

TlsStream::TlsStream(next_layer_type&& tcp, SSL_CTX* context)
    : core_(std::make_unique<tls_detail::TlsCore>(std::move(tcp), context)) {}

void teardown(boost::beast::role_type, TlsStream& stream, error_code& ec) {
  stream.next_layer().socket().close(ec);
}

}  // namespace ew::server
