// The `tunnel` commands: one REST call each (a board name resolved to its id first).
#include "cloud-conductor/cli/tunnel_commands.hpp"

#include <ostream>

#include "cloud-conductor/cli/board_names.hpp"
#include "cloud-conductor/cli/format.hpp"
#include "cloud-conductor/cli/service_connector.hpp"
#include "common/url/url.hpp"

namespace ew::cli {

namespace {

std::string Number(const nlohmann::json& object, const char* key) {
  auto it = object.find(key);
  return it != object.end() && it->is_number() ? std::to_string(it->get<int64_t>()) : "";
}

}  // namespace

Result<void> TunnelOpen(Context& ctx, const std::string& board, int64_t board_port, const TunnelOpenOptions& options) {
  EW_TRY(std::string board_id, BoardNames::Resolve(ctx, board));
  nlohmann::json body = {{"boardId", board_id}, {"boardPort", board_port}};
  if (options.conductor_port > 0) body["conductorPort"] = options.conductor_port;
  if (options.max_connections > 0) body["maxConnections"] = options.max_connections;
  if (!options.allow.empty()) body["allowCidrs"] = options.allow;
  if (!options.listen) body["listen"] = false;
  EW_TRY(auto answer, ctx.CallRaw("POST", "/v1/services", body));
  if (PrintedRaw(ctx, answer.second)) return Ok();
  if (!options.listen) {
    const std::string id = JsonString(answer.first, "id");
    ctx.out() << "service " << id << ": connect-only -> " << board << ":" << board_port << " (edgewire tunnel connect "
              << id << ")\n";
    return Ok();
  }
  std::string host = "conductor";
  if (auto url = url::ParseUrl(ctx.url())) host = url->host;
  ctx.out() << "service " << JsonString(answer.first, "id") << ": " << host << ":"
            << Number(answer.first, "conductorPort") << " -> " << board << ":" << board_port << "\n";
  return Ok();
}

Result<void> TunnelList(Context& ctx) {
  EW_TRY(auto answer, ctx.CallRaw("GET", "/v1/services"));
  if (PrintedRaw(ctx, answer.second)) return Ok();
  const auto labels = BoardNames::Load(ctx).Labels();
  std::vector<Row> rows;
  for (const auto& s : answer.first.value("services", nlohmann::json::array())) {
    const std::string board_id = JsonString(s, "boardId");
    auto label = labels.find(board_id);
    std::string state = JsonString(s, "state");
    if (s.contains("error")) state += " (" + JsonString(s, "error") + ")";
    rows.push_back({JsonString(s, "id"), label != labels.end() ? label->second : board_id, Number(s, "boardPort"),
                    s.value("listen", true) ? Number(s, "conductorPort") : "-", state,
                    Number(s, "liveConnections"), Number(s, "bytesToBoard"),
                    Number(s, "bytesFromBoard")});
  }
  ctx.out() << RenderTable({"ID", "BOARD", "BOARD-PORT", "CONDUCTOR-PORT", "STATE", "LIVE", "BYTES-IN", "BYTES-OUT"},
                           rows);
  return Ok();
}

Result<void> TunnelConnect(Context& ctx, const std::string& service, const TunnelConnectOptions& options) {
  EW_TRY_VOID(ctx.RequireToken());
  EW_TRY(Url url, ParseUrl(ctx.url()));
  ConnectOptions connect;
  connect.stdio = options.stdio;
  if (!options.stdio) {
    // [HOST:]PORT, HOST possibly in brackets (IPv6).
    const std::string& listen = options.listen;
    const size_t colon = listen.rfind(':');
    std::string host = colon == std::string::npos ? "127.0.0.1" : listen.substr(0, colon);
    const std::string port = colon == std::string::npos ? listen : listen.substr(colon + 1);
    if (host.size() >= 2 && host.front() == '[' && host.back() == ']') host = host.substr(1, host.size() - 2);
    if (host.empty()) host = "127.0.0.1";
    if (port.empty() || port.size() > 5 || port.find_first_not_of("0123456789") != std::string::npos ||
        std::stoi(port) > 65535)
      return InvalidArgument("--listen " + listen + ": expected [HOST:]PORT with PORT 0..65535");
    connect.listen_host = host;
    connect.listen_port = static_cast<uint16_t>(std::stoi(port));
  }
  ServiceConnector connector(std::move(url), ctx.token(), ctx.options().ca_file, service, connect);
  if (options.stdio) return connector.Stdio(ctx.err());
  return connector.Listen(ctx.out(), ctx.err());
}

Result<void> TunnelClose(Context& ctx, const std::string& service) {
  EW_TRY_VOID(ctx.Call("DELETE", "/v1/services/" + PathSegment(service)));
  if (!ctx.options().json) ctx.out() << "service " << service << " closed\n";
  return Ok();
}

}  // namespace ew::cli
