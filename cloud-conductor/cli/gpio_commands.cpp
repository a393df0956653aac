// The `gpio` commands. `gpio watch` reads the conductor's event stream for as long as it runs:
// the conductor watches the line while the connection is open, so ending the command (--count,
// Ctrl-C) is what releases the watch.
#include "cloud-conductor/cli/gpio_commands.hpp"

#include <map>
#include <optional>
#include <ostream>
#include <utility>
#include <vector>

#include <fmt/format.h>

#include "cloud-conductor/cli/board_names.hpp"
#include "cloud-conductor/cli/event_stream.hpp"
#include "cloud-conductor/cli/gpio_format.hpp"

namespace ew::cli {

namespace {

using nlohmann::json;

Result<std::string> GpioPath(Context& ctx, const std::string& board) {
  EW_TRY(std::string id, BoardNames::Resolve(ctx, board));
  return "/v1/boards/" + PathSegment(id) + "/gpio";
}

// "?a=1&b=2" of the parameters that have a value; "" when none has.
std::string QueryString(const std::vector<std::pair<std::string, std::string>>& parameters) {
  std::string query;
  for (const auto& [name, value] : parameters) {
    if (value.empty()) continue;
    query += (query.empty() ? "?" : "&") + name + "=" + PathSegment(value);
  }
  return query;
}

// Why the conductor ended a stream, from its `event: end` data ({"reason": ...}).
std::string EndReason(const std::string& data) {
  const json end = json::parse(data, nullptr, false);
  const std::string reason = JsonString(end, "reason");
  return reason.empty() ? "the conductor ended the stream" : reason;
}

}  // namespace

Result<void> GpioList(Context& ctx, const std::string& board) {
  EW_TRY(std::string path, GpioPath(ctx, board));
  EW_TRY(auto answer, ctx.CallRaw("GET", path));
  if (PrintedRaw(ctx, answer.second)) return Ok();
  ctx.out() << RenderGpioLines(answer.first);
  return Ok();
}

Result<void> GpioGet(Context& ctx, const std::string& board, const std::string& line) {
  EW_TRY(std::string path, GpioPath(ctx, board));
  EW_TRY(auto answer, ctx.CallRaw("GET", path + "/" + PathSegment(line)));
  if (PrintedRaw(ctx, answer.second)) return Ok();
  ctx.out() << RenderLineValue(answer.first);
  return Ok();
}

Result<void> GpioSet(Context& ctx, const std::string& board, const std::string& line, int value) {
  EW_TRY(std::string path, GpioPath(ctx, board));
  EW_TRY(auto answer, ctx.CallRaw("PUT", path + "/" + PathSegment(line), json{{"value", value}}));
  if (PrintedRaw(ctx, answer.second)) return Ok();
  ctx.out() << RenderLineValue(answer.first);
  return Ok();
}

Result<void> GpioWatch(Context& ctx, const std::string& board, const std::string& line,
                       const GpioWatchOptions& options) {
  EW_TRY(std::string path, GpioPath(ctx, board));
  path += "/events" + QueryString({{"line", line},
                                   {"edge", options.edge},
                                   {"debounceMs", std::to_string(options.debounce_ms)}});
  EventStreamParser parser;
  int64_t seen = 0;
  std::optional<std::string> ended;
  std::map<std::string, int64_t> last_seq;  // per chip:line
  auto on_data = [&](std::string_view bytes) {
    for (const ServerSentEvent& event : parser.Feed(bytes)) {
      if (event.type == "end") {
        ended = EndReason(event.data);
        return false;
      }
      if (event.type != "message") continue;
      const json edge = json::parse(event.data, nullptr, false);
      if (!edge.is_object()) continue;
      const int64_t seq = edge.value("seq", int64_t{0});
      const std::string key = JsonString(edge, "chip") + ":" + JsonString(edge, "line");
      if (auto it = last_seq.find(key); it != last_seq.end() && seq > it->second + 1) {
        ctx.err() << fmt::format("warning: {} edge(s) of {} missed (seq {} → {})\n", seq - it->second - 1, key,
                                 it->second, seq);
      }
      last_seq[key] = seq;
      if (ctx.options().json) {
        ctx.out() << edge.dump(-1, ' ', false, json::error_handler_t::replace) << "\n";
      } else {
        const int64_t now_ms =
            std::chrono::duration_cast<std::chrono::milliseconds>(ctx.clock().Now().time_since_epoch()).count();
        ctx.out() << RenderEdge(edge, now_ms);
      }
      ctx.out().flush();
      if (options.count > 0 && ++seen >= options.count) return false;
    }
    return true;
  };
  EW_TRY(HttpResult result, ctx.Stream(path, on_data, options.idle));
  if (result.status != 200) return tl::unexpected(ApiError(result));
  if (options.count > 0 && seen >= options.count) return Ok();
  return Unavailable(ended ? *ended : "the conductor ended the stream");
}

Result<void> GpioHistory(Context& ctx, const std::string& board, const std::string& line,
                         const GpioHistoryOptions& options) {
  EW_TRY(std::string path, GpioPath(ctx, board));
  path += "/" + PathSegment(line) + "/history" +
          QueryString({{"from", options.from},
                       {"to", options.to},
                       {"limit", options.limit > 0 ? std::to_string(options.limit) : ""}});
  EW_TRY(auto answer, ctx.CallRaw("GET", path));
  if (PrintedRaw(ctx, answer.second)) return Ok();
  const json readings = answer.first.value("readings", json::array());
  ctx.out() << RenderReadings(readings);
  if (answer.first.value("truncated", false)) {
    ctx.err() << fmt::format("(the newest {} readings; there are older ones: narrow with --from/--to or raise "
                             "--limit, up to 10000)\n",
                             readings.size());
  }
  return Ok();
}

}  // namespace ew::cli
