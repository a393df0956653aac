// What the conductor's HTTP server hands to request handlers, free of Beast types so that
// handlers (REST) do not include Beast.
#pragma once

#include <functional>
#include <map>
#include <string>
#include <utility>
#include <vector>

namespace ew::server {

struct HttpRequest {
  std::string method;                         // "GET", "POST", ...
  std::string target;                         // raw target, "/v1/boards?project=x"
  std::string path;                           // decoded path without the query, "/v1/boards"
  std::map<std::string, std::string> query;   // decoded query parameters
  std::map<std::string, std::string> headers; // header names lower-case
  std::string body;
  std::string peer;                           // "127.0.0.1:54321"

  // Header value or "" when absent; `name` lower-case.
  const std::string& Header(const std::string& name) const {
    static const std::string kEmpty;
    auto it = headers.find(name);
    return it == headers.end() ? kEmpty : it->second;
  }
};

struct HttpResponse {
  int status = 200;
  std::string content_type = "application/json";
  std::string body;
  std::vector<std::pair<std::string, std::string>> headers;
};

// Called exactly once per request, from any thread.
using Respond = std::function<void(HttpResponse)>;

class HttpHandler {
 public:
  virtual ~HttpHandler() = default;
  // Called on the connection's strand for every non-upgrade request. Must not block: blocking
  // work goes to the blocking pool and answers through `respond`.
  virtual void Handle(HttpRequest request, Respond respond) = 0;
};

}  // namespace ew::server
