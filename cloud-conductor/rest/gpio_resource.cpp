// /v1/boards/{id}/gpio: the GPIO lines of a live board, reads and writes of one line, the
// readings history, and a line's edges as Server-Sent Events for as long as the client stays.
// The work is in conductor::gpio::BoardGpio; this file validates and renders. docs/REST.md and
// docs/GPIO.md.
#include <memory>
#include <set>

#include "cloud-conductor/gpio/board_gpio.hpp"
#include "cloud-conductor/rest/json_body.hpp"
#include "cloud-conductor/rest/resources.hpp"
#include "cloud-conductor/rest/sse_stream.hpp"
#include "cloud-conductor/rest/validation.hpp"
#include "common/log/log.hpp"

namespace ew::rest {

const ew::log::Logger Log{"rest"};

namespace {

using conductor::gpio::BoardGpio;
using nlohmann::json;

// A client that falls this many events behind is dropped: the events are never buffered
// without bound for a slow client.
constexpr size_t kMaxStreamBacklog = 1024;
constexpr int64_t kMaxDebounceMs = 1000;  // as the board's gpio.watch
constexpr size_t kDefaultHistoryLimit = 1000;

Result<BoardGpio*> Service(const RestDeps& deps) {
  if (!deps.gpio) return Unavailable("GPIO is not enabled on this conductor");
  return deps.gpio;
}

// InvalidArgument for a query parameter the route does not take (a typo must not be ignored).
Result<void> CheckQuery(const Exchange& exchange, std::initializer_list<const char*> allowed) {
  std::set<std::string> known(allowed.begin(), allowed.end());
  for (const auto& [name, value] : exchange.request.query) {
    if (!known.count(name)) return InvalidArgument("unknown query parameter \"" + name + "\"");
  }
  return Ok();
}

std::string Query(const Exchange& exchange, const std::string& name, const std::string& fallback = "") {
  auto it = exchange.request.query.find(name);
  return it == exchange.request.query.end() ? fallback : it->second;
}

// The board of the request, once the service, the line (when the route has one) and the
// caller's access to the board check out.
Result<std::string> AccessibleBoardId(const RestDeps& deps, const Exchange& exchange, const std::string* line) {
  EW_TRY_VOID(Service(deps));
  if (line) EW_TRY_VOID(CheckLineName("line", *line));
  EW_TRY(auto board, AccessibleBoard(deps.store, exchange.principal, exchange.Param("id")));
  return board.id();
}

// Answers from a BoardGpio callback (router strand or the caller's thread).
BoardGpio::Answer ReplyWith(Exchange exchange) {
  auto shared = std::make_shared<Exchange>(std::move(exchange));
  return [shared](Result<json> answer) {
    try {
      shared->Reply(answer ? JsonResponse(200, *answer) : ErrorResponse(answer.error()));
    } catch (const std::exception& e) {
      Log()->error("GPIO answer failed: {}", e.what());
      shared->Reply(ErrorResponse(Error{ErrorCode::kInternal, "internal error"}));
    }
  };
}

void Lines(const RestDeps& deps, Exchange exchange) {
  auto board = AccessibleBoardId(deps, exchange, nullptr);
  if (!board) return exchange.Reply(ErrorResponse(board.error()));
  deps.gpio->Lines(*board, ReplyWith(std::move(exchange)));
}

void Read(const RestDeps& deps, Exchange exchange) {
  const std::string line = exchange.Param("line");
  auto board = AccessibleBoardId(deps, exchange, &line);
  if (!board) return exchange.Reply(ErrorResponse(board.error()));
  deps.gpio->Read(*board, line, ReplyWith(std::move(exchange)));
}

// {"value": 0|1} (true and false too), nothing else.
Result<int> ParseValueBody(const std::string& body) {
  auto object = ParseObject(body, {"value"});
  if (!object) return InvalidArgument(object.error().message + ": the body is {\"value\": 0|1}");
  const json& parsed = *object;
  if (!parsed.contains("value")) return InvalidArgument("value is required: 0 or 1");
  const json& value = parsed["value"];
  if (value.is_boolean()) return value.get<bool>() ? 1 : 0;
  if (value.is_number_integer() && (value.get<int64_t>() == 0 || value.get<int64_t>() == 1))
    return static_cast<int>(value.get<int64_t>());
  return InvalidArgument(std::string("value must be 0, 1, true or false, not a ") + value.type_name());
}

void Write(const RestDeps& deps, Exchange exchange) {
  const std::string line = exchange.Param("line");
  auto checked = [&]() -> Result<std::pair<std::string, int>> {
    EW_TRY_VOID(Service(deps));
    EW_TRY_VOID(CheckLineName("line", line));
    EW_TRY(int value, ParseValueBody(exchange.request.body));
    EW_TRY(std::string board, AccessibleBoardId(deps, exchange, &line));
    return std::make_pair(std::move(board), value);
  }();
  if (!checked) return exchange.Reply(ErrorResponse(checked.error()));
  Log()->info("board={} {} set to {} by {}", checked->first, line, checked->second,
                         exchange.principal.name);
  deps.gpio->Write(checked->first, line, checked->second, ReplyWith(std::move(exchange)));
}

json ReadingJson(const conductor::gpio::Reading& r) {
  json out = {{"time", FormatTimeNs(r.time_ns)}, {"timeNs", r.time_ns},
              {"chip", r.chip},                  {"line", r.line},
              {"offset", r.offset},              {"kind", conductor::gpio::ReadingKindName(r.kind)},
              {"value", r.value}};
  if (r.kind == conductor::gpio::ReadingKind::kEdge) {
    out["edge"] = r.edge;
    out["timestampNs"] = r.board_time_ns.value_or(0);
    out["seq"] = r.seq.value_or(0);
  }
  return out;
}

Result<server::HttpResponse> History(const RestDeps& deps, const Exchange& exchange) {
  const std::string line = exchange.Param("line");
  EW_TRY_VOID(Service(deps));
  EW_TRY_VOID(CheckLineName("line", line));
  EW_TRY_VOID(CheckQuery(exchange, {"from", "to", "limit", "cursor"}));
  conductor::gpio::ReadingQuery query;
  query.line = line;
  const std::string from = Query(exchange, "from");
  const std::string to = Query(exchange, "to");
  if (!from.empty()) {
    EW_TRY(query.from_ns, ParseTimeNs("from", from));
  }
  if (!to.empty()) {
    EW_TRY(query.to_ns, ParseTimeNs("to", to));
  }
  if (query.from_ns > query.to_ns) return InvalidArgument("from must not be after to");
  EW_TRY(const auto requested, PageOf(exchange, kDefaultHistoryLimit, conductor::gpio::kMaxQueryLimit));
  query.limit = requested.limit;
  query.cursor = requested.cursor;
  EW_TRY(query.board_id, AccessibleBoardId(deps, exchange, &line));
  EW_TRY(auto page, deps.gpio->History(query));
  json readings = json::array();
  for (const auto& r : page.readings) readings.push_back(ReadingJson(r));
  return PagedResponse(json{{"boardId", query.board_id},
                            {"line", line},
                            {"readings", std::move(readings)},
                            {"truncated", page.truncated}},
                       page.next_cursor);
}

Result<conductor::gpio::WatchRequest> ParseWatch(const Exchange& exchange) {
  EW_TRY_VOID(CheckQuery(exchange, {"line", "edge", "debounceMs", "bias"}));
  conductor::gpio::WatchRequest request;
  request.line = Query(exchange, "line");
  EW_TRY_VOID(CheckLineName("line", request.line));
  request.edge = Query(exchange, "edge", "both");
  if (request.edge != "rising" && request.edge != "falling" && request.edge != "both")
    return InvalidArgument("edge must be rising, falling or both, not \"" + request.edge + "\"");
  request.bias = Query(exchange, "bias");
  if (!request.bias.empty() && request.bias != "as-is" && request.bias != "disabled" && request.bias != "pull-up" &&
      request.bias != "pull-down")
    return InvalidArgument("bias must be as-is, disabled, pull-up or pull-down, not \"" + request.bias + "\"");
  EW_TRY(request.debounce_ms, QueryInteger(exchange, "debounceMs", 0, 0, kMaxDebounceMs));
  return request;
}

void Events(const RestDeps& deps, Exchange exchange) {
  auto prepared = [&]() -> Result<std::pair<std::string, conductor::gpio::WatchRequest>> {
    EW_TRY_VOID(Service(deps));
    EW_TRY(auto request, ParseWatch(exchange));
    EW_TRY(std::string board, AccessibleBoardId(deps, exchange, nullptr));
    return std::make_pair(std::move(board), std::move(request));
  }();
  if (!prepared) return exchange.Reply(ErrorResponse(prepared.error()));
  const std::string board_id = prepared->first;
  // The watch's events as SSE `data:` messages; `event: end` when the watch ends (board
  // offline, conductor stopping) or the caller's token or user is revoked; unwatches when the
  // client goes.
  auto stream = std::make_shared<SseStream>(board_id, "event stream", kMaxStreamBacklog);
  if (deps.revocations) SseStream::EndOnRevocation(stream, *deps.revocations, exchange.principal);
  conductor::gpio::WatchListener listener;
  std::weak_ptr<SseStream> weak = stream;
  listener.on_event = [weak](const json& event) {
    if (auto s = weak.lock()) s->Data(event);
  };
  listener.on_end = [weak](const std::string& reason) {
    if (auto s = weak.lock()) s->End(reason);
  };
  Log()->debug("board={} event stream for {} by {}", board_id, prepared->second.line,
                          exchange.principal.name);
  auto shared = std::make_shared<Exchange>(std::move(exchange));
  deps.gpio->StartWatch(board_id, prepared->second, std::move(listener),
                        [shared, stream](Result<std::shared_ptr<BoardGpio::Watch>> watch) {
                          if (!watch) return shared->Reply(ErrorResponse(watch.error()));
                          stream->Hold([watch = *watch] { watch->Close(); });  // unwatches, unless it ended
                          shared->Reply(SseStream::Response(stream));
                        });
}

}  // namespace

void AddGpioRoutes(RouteTable& routes, const RestDeps& deps) {
  auto add = [&](const char* method, const char* pattern, void (*handler)(const RestDeps&, Exchange)) {
    routes.Add({method, pattern, Access::kToken, Execution::kBlocking,
                [&deps, handler](Exchange e) { handler(deps, std::move(e)); }});
  };
  add("GET", "/v1/boards/{id}/gpio", Lines);
  // Before /gpio/{line}: "events" is not a line name.
  add("GET", "/v1/boards/{id}/gpio/events", Events);
  add("GET", "/v1/boards/{id}/gpio/{line}", Read);
  add("PUT", "/v1/boards/{id}/gpio/{line}", Write);
  routes.Add({"GET", "/v1/boards/{id}/gpio/{line}/history", Access::kToken, Execution::kBlocking,
              Answer([&deps](const Exchange& e) { return History(deps, e); })});
}

}  // namespace ew::rest
