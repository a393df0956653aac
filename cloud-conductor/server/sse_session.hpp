// The last response of an HTTP connection when its body is streamed (HttpResponse::stream, as
// Server-Sent Events are): the status and headers go out, then the chunks the handler writes,
// chunked (HTTP/1.1) or ended by closing (HTTP/1.0), while a read stays pending to notice the
// client hanging up. The HTTP session hands its stream over to this one, as it does to a
// WebSocket session on an upgrade. Internal to cloud-conductor/server.
#pragma once

#include <algorithm>
#include <atomic>
#include <chrono>
#include <deque>
#include <memory>
#include <string>
#include <vector>

#include <boost/asio/post.hpp>
#include <boost/asio/write.hpp>
#include <boost/beast/http.hpp>

#include "cloud-conductor/server/http_types.hpp"
#include "cloud-conductor/server/server_impl.hpp"

namespace ew::server {

namespace http = beast::http;

template <typename Stream>
class SseSession final : public StreamWriter, public std::enable_shared_from_this<SseSession<Stream>> {
 public:
  using std::enable_shared_from_this<SseSession<Stream>>::shared_from_this;

  SseSession(Stream&& stream, std::shared_ptr<Server::Impl> server, std::string peer, Ticket ticket,
             std::shared_ptr<ssl::context> tls)
      : stream_(std::move(stream)), server_(std::move(server)), peer_(std::move(peer)), ticket_(std::move(ticket)),
        tls_(std::move(tls)) {}

  // Sends the status and headers of `response` (HTTP/1.x as `version`, 10 or 11), then opens
  // the body and hands the writer to the response's StreamHandler. io thread.
  void Start(HttpResponse response, unsigned version) {
    version_ = version;
    stream_handler_ = std::move(response.stream);
    stream_options_ = std::move(response.stream_options);
    stream_options_max_backlog_ = std::max<size_t>(1, stream_options_.max_backlog);
    // HTTP/1.0 has no chunked encoding: the body then ends when the connection closes.
    chunked_ = version_ >= 11;
    auto res = std::make_shared<http::response<http::empty_body>>();
    res->version(version_);
    res->result(static_cast<unsigned>(response.status));
    res->set(http::field::server, "edgewire-conductor");
    if (!response.content_type.empty()) res->set(http::field::content_type, response.content_type);
    for (auto& [name, value] : response.headers) res->set(name, value);
    res->keep_alive(false);
    if (chunked_) res->chunked(true);
    auto serializer = std::make_shared<http::response_serializer<http::empty_body>>(*res);
    Tcp().expires_after(server_->options.http_idle_timeout);
    http::async_write_header(stream_, *serializer,
                             [self = shared_from_this(), res, serializer](beast::error_code ec, size_t) {
                               if (ec) return self->FinishStream("the client went away: " + ec.message());
                               self->OpenStream();
                             });
  }

  // StreamWriter (any thread).
  bool Write(std::string chunk) override {
    if (stream_over_) return false;
    if (backlog_.fetch_add(1) + 1 > stream_options_max_backlog_) {
      stream_over_ = true;
      net::post(server_->io, [self = shared_from_this()] {
        self->FinishStream("the client fell more than " + std::to_string(self->stream_options_.max_backlog) +
                           " chunks behind");
      });
      return false;
    }
    net::post(server_->io, [self = shared_from_this(), chunk = std::move(chunk)]() mutable {
      self->QueueChunk(std::move(chunk), /*counted=*/true);
    });
    return true;
  }

  void End() override {
    net::post(server_->io, [self = shared_from_this()] {
      if (self->stream_finished_ || self->end_requested_) return;
      self->end_requested_ = true;
      if (!self->chunk_writing_) self->WriteNextChunk();
    });
  }

 private:
  TcpStream& Tcp() { return beast::get_lowest_layer(stream_); }

  void OpenStream() {
    // No deadline on the pending read that watches for a hang-up; each write gets its own.
    Tcp().expires_never();
    stream_open_ = true;
    WatchForHangUp();
    last_chunk_at_ = std::chrono::steady_clock::now();
    ArmIdleTimer();
    Log()->debug("stream to {} open", peer_);
    stream_handler_->OnOpen(shared_from_this());
    if (!chunk_writing_) WriteNextChunk();
  }

  void WatchForHangUp() {
    hangup_buffer_.resize(512);
    stream_.async_read_some(net::buffer(hangup_buffer_), [self = shared_from_this()](beast::error_code ec, size_t) {
      if (self->stream_finished_) return;
      if (ec) return self->FinishStream("the client closed the stream");
      self->WatchForHangUp();  // a client has nothing to say during a stream: ignore it
    });
  }

  void ArmIdleTimer() {
    if (stream_options_.idle_chunk.empty()) return;
    idle_timer_.expires_at(last_chunk_at_ + stream_options_.idle_interval);
    idle_timer_.async_wait([self = shared_from_this()](beast::error_code ec) {
      if (ec || self->stream_finished_ || self->end_requested_) return;
      if (std::chrono::steady_clock::now() >= self->last_chunk_at_ + self->stream_options_.idle_interval)
        self->QueueChunk(self->stream_options_.idle_chunk, /*counted=*/false);
      self->ArmIdleTimer();
    });
  }

  void QueueChunk(std::string chunk, bool counted) {
    if (stream_finished_ || end_requested_) {
      if (counted) --backlog_;
      return;
    }
    last_chunk_at_ = std::chrono::steady_clock::now();
    chunks_.push_back(Chunk{std::move(chunk), counted});
    if (!chunk_writing_ && stream_open_) WriteNextChunk();
  }

  void WriteNextChunk() {
    if (stream_finished_) return;
    if (chunks_.empty()) {
      if (!end_requested_) return;
      chunk_writing_ = true;
      Tcp().expires_after(server_->options.http_idle_timeout);
      auto done = [self = shared_from_this()](beast::error_code ec, size_t) {
        self->chunk_writing_ = false;
        self->FinishStream(ec ? "the last write failed: " + ec.message() : "ended");
      };
      if (chunked_) return net::async_write(stream_, http::make_chunk_last(), std::move(done));
      return done(beast::error_code{}, 0);
    }
    chunk_writing_ = true;
    // A client that stops reading blocks the write; after the idle timeout it is dropped.
    Tcp().expires_after(server_->options.http_idle_timeout);
    auto done = [self = shared_from_this()](beast::error_code ec, size_t) {
      self->chunk_writing_ = false;
      if (!self->chunks_.empty()) {
        if (self->chunks_.front().counted) --self->backlog_;
        self->chunks_.pop_front();
      }
      if (ec) return self->FinishStream("a write failed: " + ec.message());
      self->WriteNextChunk();
    };
    const std::string& data = chunks_.front().data;
    if (chunked_) return net::async_write(stream_, http::make_chunk(net::buffer(data)), std::move(done));
    net::async_write(stream_, net::buffer(data), std::move(done));
  }

  // Ends the stream once, whatever ended it, and tells the handler.
  void FinishStream(const std::string& reason) {
    if (stream_finished_) return;
    stream_finished_ = true;
    stream_over_ = true;
    idle_timer_.cancel();
    CloseSocket(stream_);
    // A write in flight still reads chunks_.front(): its completion finds the stream finished.
    if (!chunk_writing_) chunks_.clear();
    Log()->debug("stream to {} over: {}", peer_, reason);
    if (auto handler = std::move(stream_handler_)) handler->OnClose(reason);
  }

  struct Chunk {
    std::string data;
    bool counted = false;  // a Write() (not an idle chunk): part of the backlog
  };

  Stream stream_;
  std::shared_ptr<Server::Impl> server_;
  std::string peer_;
  Ticket ticket_;                      // this connection's place under the connection caps
  std::shared_ptr<ssl::context> tls_;  // the context the TLS stream was made from (null: plain)
  unsigned version_ = 11;
  // stream_over_ and backlog_ are read by Write() on any thread; the rest is the io thread's.
  std::shared_ptr<StreamHandler> stream_handler_;
  StreamOptions stream_options_;
  size_t stream_options_max_backlog_ = 1;
  std::atomic<bool> stream_over_{false};
  std::atomic<size_t> backlog_{0};
  std::deque<Chunk> chunks_;
  std::vector<char> hangup_buffer_;
  net::steady_timer idle_timer_{stream_.get_executor()};
  std::chrono::steady_clock::time_point last_chunk_at_;
  bool chunked_ = true;
  bool stream_open_ = false;
  bool chunk_writing_ = false;
  bool end_requested_ = false;
  bool stream_finished_ = false;
};

}  // namespace ew::server
