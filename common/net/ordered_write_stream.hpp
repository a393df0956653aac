// A stream layer under a Beast WebSocket that lets its owner write many WebSocket frames in one
// socket write. Beast writes one message per async_write (one sendmsg, one wake-up of the peer
// per frame: most of the conductor's CPU per routed call, docs/BENCHMARKS.md "RPC path"); the
// conductor's WsSession frames its queued messages itself and hands them here as one gather
// write. Beast still writes through this layer on its own (the handshake response, pings, pongs,
// close frames), so every write is made whole and in order: a write starts only when the one
// before it has put all its bytes on the stream, and completes having written all of them.
// Without that, a pong Beast sends while one of our writes is half done (a full socket buffer)
// could land inside one of our frames.
//
// Reads pass straight through, shown first to a ReadObserver when one is set (the conductor's
// WsSession counts the WebSocket messages the peer has sent with it, ws_message_counter.hpp).
//
// Threading: the next layer's executor (one io thread), like any Asio stream. Any number of
// writes may be pending (they run in call order); one read at a time.
#pragma once

#include <algorithm>
#include <cstddef>
#include <utility>

#include <boost/asio/async_result.hpp>
#include <boost/asio/buffer.hpp>
#include <boost/asio/compose.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/write.hpp>
#include <boost/beast/core/role.hpp>
#include <boost/beast/core/stream_traits.hpp>
#include <boost/beast/websocket/teardown.hpp>
#include <boost/system/error_code.hpp>

namespace ew::net {

// Sees every byte read through an OrderedWriteStream, in order, before the reader does.
class ReadObserver {
 public:
  virtual void BytesRead(const char* data, size_t n) = 0;

 protected:
  ~ReadObserver() = default;
};

template <typename NextLayer>
class OrderedWriteStream {
 public:
  using next_layer_type = NextLayer;
  using executor_type = typename NextLayer::executor_type;

  template <typename... Args>
  explicit OrderedWriteStream(Args&&... args)
      : next_(std::forward<Args>(args)...), gate_(next_.get_executor(), boost::asio::steady_timer::time_point::max()) {}

  executor_type get_executor() { return next_.get_executor(); }
  NextLayer& next_layer() { return next_; }
  const NextLayer& next_layer() const { return next_; }

  // `observer` (null: none) must outlive every read started after this call.
  void ObserveReads(ReadObserver* observer) { observer_ = observer; }

  template <typename MutableBuffers, typename Handler>
  auto async_read_some(const MutableBuffers& buffers, Handler&& handler) {
    return boost::asio::async_compose<Handler, void(boost::system::error_code, size_t)>(
        ReadOp<MutableBuffers>{*this, buffers}, handler, next_);
  }

  // Writes all of `buffers` after every write started before it; completes with their whole
  // size, or the first error. `buffers` (and what it points to) must live until completion.
  template <typename ConstBuffers, typename Handler>
  auto async_write_some(const ConstBuffers& buffers, Handler&& handler) {
    return boost::asio::async_compose<Handler, void(boost::system::error_code, size_t)>(
        WriteOp<ConstBuffers>{*this, buffers}, handler, next_);
  }

 private:
  template <typename ConstBuffers>
  struct WriteOp {
    OrderedWriteStream& s;
    ConstBuffers buffers;
    enum class Step { kStart, kWaiting, kWriting } step = Step::kStart;

    template <typename Self>
    void operator()(Self& self, boost::system::error_code ec = {}, size_t n = 0) {
      switch (step) {
        case Step::kStart:
          if (s.busy_) {
            // Woken by cancel_one() when the write ahead of us is done; it hands us the stream.
            step = Step::kWaiting;
            ++s.waiting_;
            s.gate_.async_wait(std::move(self));
            return;
          }
          s.busy_ = true;
          break;
        case Step::kWaiting:
          --s.waiting_;  // ec is operation_aborted: the gate is opened by cancelling its wait
          break;
        case Step::kWriting:
          // Hand the stream to the next writer in line (busy_ stays set), or free it.
          if (s.waiting_ > 0) {
            s.gate_.cancel_one();
          } else {
            s.busy_ = false;
          }
          return self.complete(ec, n);
      }
      step = Step::kWriting;
      boost::asio::async_write(s.next_, buffers, std::move(self));
    }
  };

  template <typename MutableBuffers>
  struct ReadOp {
    OrderedWriteStream& s;
    MutableBuffers buffers;
    bool started = false;

    template <typename Self>
    void operator()(Self& self, boost::system::error_code ec = {}, size_t n = 0) {
      if (!started) {
        started = true;
        s.next_.async_read_some(buffers, std::move(self));
        return;
      }
      if (s.observer_ != nullptr) {
        size_t left = n;
        for (auto it = boost::asio::buffer_sequence_begin(buffers), end = boost::asio::buffer_sequence_end(buffers);
             left > 0 && it != end; ++it) {
          const boost::asio::mutable_buffer b = *it;
          const size_t take = std::min(left, b.size());
          s.observer_->BytesRead(static_cast<const char*>(b.data()), take);
          left -= take;
        }
      }
      self.complete(ec, n);
    }
  };

  NextLayer next_;
  ReadObserver* observer_ = nullptr;
  boost::asio::steady_timer gate_;  // never expires: writers wait on it, cancel_one wakes one
  bool busy_ = false;               // a write is in flight (or handed to a woken writer)
  size_t waiting_ = 0;              // writers parked on gate_
};

// Beast's WebSocket ends its connection through these (argument-dependent lookup): the next
// layer's own teardown.
template <typename NextLayer, typename Handler>
void async_teardown(boost::beast::role_type role, OrderedWriteStream<NextLayer>& stream, Handler&& handler) {
  using boost::beast::websocket::async_teardown;
  async_teardown(role, stream.next_layer(), std::forward<Handler>(handler));
}
template <typename NextLayer>
void teardown(boost::beast::role_type role, OrderedWriteStream<NextLayer>& stream, boost::system::error_code& ec) {
  using boost::beast::websocket::teardown;
  teardown(role, stream.next_layer(), ec);
}

}  // namespace ew::net
