// What the conductor's HTTP server hands to request handlers, free of Beast types so that
// handlers (REST) do not include Beast: requests, responses, and streamed response bodies.
#pragma once

#include <any>
#include <chrono>
#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <utility>
#include <vector>

namespace ew::server {

// A request as the server knows it once its header is read, before any of its body: what
// HttpHandler::Admit sees, and the first part of the HttpRequest that Handle gets.
struct HttpRequestHead {
  std::string method;                         // "GET", "POST", ...
  std::string target;                         // raw target, "/v1/boards?project=x"
  std::string path;                           // decoded path without the query, "/v1/boards"
  std::map<std::string, std::string> query;   // decoded query parameters
  std::map<std::string, std::string> headers; // header names lower-case
  std::string peer;                           // "127.0.0.1:54321"
  // Bytes of body that follow: Content-Length, or nullopt for a chunked body (size unknown).
  std::optional<uint64_t> body_bytes;

  // Header value or "" when absent; `name` lower-case.
  const std::string& Header(const std::string& name) const {
    static const std::string kEmpty;
    auto it = headers.find(name);
    return it == headers.end() ? kEmpty : it->second;
  }
  bool has_body() const { return !body_bytes || *body_bytes > 0; }
};

// A whole request: its head, then the body read after Admit let it in.
struct HttpRequest : HttpRequestHead {
  std::string body;
  // What HttpHandler::Admit attached to this request when it admitted it (REST: the verified
  // caller), empty when Admit attached nothing.
  std::any admission;
};

// The writing end of a streamed response body (Server-Sent Events), given to the handler by
// the server once the status and headers are out. Thread-safe.
class StreamWriter {
 public:
  virtual ~StreamWriter() = default;
  // Queues `chunk` for the client. false once the stream is over (then nothing is sent). A
  // client that falls more than StreamOptions::max_backlog chunks behind is disconnected rather
  // than buffered for: this call then returns false and OnClose follows.
  virtual bool Write(std::string chunk) = 0;
  // Sends what is queued, ends the body and closes the connection. Later calls do nothing.
  virtual void End() = 0;
};

// What a handler implements for a response whose body it writes over time.
class StreamHandler {
 public:
  virtual ~StreamHandler() = default;
  // Once, on the server's io thread, after the status and headers were sent: write through
  // `writer` from then on, from any thread.
  virtual void OnOpen(std::shared_ptr<StreamWriter> writer) = 0;
  // Exactly once for every streamed response the server was handed (also when OnOpen never
  // came: the client left first), on the io thread, when the stream is over: End() done, the
  // client closed or failed, it fell behind, or a write timed out. `reason` is for logs. Not
  // called when the io_context stops with the stream open.
  virtual void OnClose(const std::string& reason) = 0;
};

struct StreamOptions {
  // Chunks queued that the client has not taken yet; past this it is disconnected.
  size_t max_backlog = 1024;
  // After this long without a chunk, `idle_chunk` is sent (an SSE comment keeps proxies and
  // clients from timing the stream out). "" sends nothing.
  std::chrono::milliseconds idle_interval{15'000};
  std::string idle_chunk;
};

struct HttpResponse {
  int status = 200;
  std::string content_type = "application/json";
  std::string body;
  std::vector<std::pair<std::string, std::string>> headers;
  // Set for a streamed body: the status and headers go out (chunked, no Content-Length,
  // Connection: close), `body` is ignored, and `stream` writes the body.
  std::shared_ptr<StreamHandler> stream;
  StreamOptions stream_options;
};

// Called exactly once per request, from any thread.
using Respond = std::function<void(HttpResponse)>;

// Admit's verdict: `refusal` is sent instead of reading the body (the connection then closes
// if a body was due); otherwise the body is read and `context` reaches Handle as
// HttpRequest::admission.
struct Admission {
  std::optional<HttpResponse> refusal;
  std::any context;
};
using AdmitDone = std::function<void(Admission)>;

class HttpHandler {
 public:
  virtual ~HttpHandler() = default;
  // Called on the connection's strand once the header of a non-upgrade request is read and its
  // declared size is within the route's limit, before its body is read: the place to refuse a
  // caller (401) without spending a read on what it sends. `admit` runs exactly once, from any
  // thread. Must not block. The default admits everything.
  virtual void Admit(const HttpRequestHead& head, AdmitDone admit) {
    (void)head;
    admit(Admission{});
  }
  // Called on the connection's strand for every non-upgrade request. Must not block: blocking
  // work goes to the blocking pool and answers through `respond`.
  virtual void Handle(HttpRequest request, Respond respond) = 0;
};

}  // namespace ew::server
