// The REST API's routes: method + path pattern ("/v1/boards/{id}") → handler. Lookup tells a
// path that no route knows (404) from a known path asked with the wrong method (405 + Allow).
#pragma once

#include <functional>
#include <map>
#include <string>
#include <vector>

#include "cloud-conductor/auth/principal.hpp"
#include "cloud-conductor/server/http_types.hpp"

namespace ew::rest {

using PathParams = std::map<std::string, std::string>;

// One request on its way through a route. Handlers own it and answer through Reply exactly
// once, from any thread.
struct Exchange {
  server::HttpRequest request;
  PathParams params;         // "{id}" in the pattern → params["id"]
  auth::Principal principal; // the caller, for routes that need a token; empty otherwise
  std::string token;         // the token text the caller used, "" for public routes
  server::Respond respond;

  const std::string& Param(const std::string& name) const { return params.at(name); }
  void Reply(server::HttpResponse response) const { respond(std::move(response)); }
};

enum class Access {
  kPublic,  // no token (login, enrolment, health, metrics)
  kToken,   // X-Auth-Token or Authorization: Bearer; the principal is filled before the handler
};

enum class Execution {
  kInline,    // cheap and non-blocking: runs on the connection's strand
  kBlocking,  // touches the store: runs on the blocking pool
};

using RouteHandler = std::function<void(Exchange)>;

struct Route {
  std::string method;   // "GET", "POST", "DELETE"
  std::string pattern;  // "/v1/boards/{id}/calls/{procedure}"; also the metrics label
  Access access = Access::kToken;
  Execution execution = Execution::kBlocking;
  RouteHandler handler;
};

class RouteTable {
 public:
  struct Match {
    const Route* route = nullptr;       // null: no route for this method and path
    PathParams params;
    std::vector<std::string> allowed;   // methods the path has when route is null (405); empty → 404
    std::string pattern;                // the matched pattern (also for 405), "" for 404
  };

  // Patterns are "/"-separated; a "{name}" segment matches one non-empty segment.
  void Add(Route route);
  // A trailing "/" is ignored. Thread-safe once all routes are added.
  Match Find(const std::string& method, const std::string& path) const;

 private:
  struct Entry {
    Route route;
    std::vector<std::string> segments;
  };
  std::vector<Entry> entries_;
};

}  // namespace ew::rest
