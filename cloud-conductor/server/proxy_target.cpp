#include "cloud-conductor/server/proxy_target.hpp"

namespace ew::server {

namespace {
constexpr std::string_view kBoards = "/v1/boards/";
constexpr std::string_view kProxy = "/proxy/";
}  // namespace

bool IsProxyTarget(std::string_view t) {
  if (t.substr(0, kBoards.size()) != kBoards) return false;
  const size_t id_end = t.find('/', kBoards.size());
  if (id_end == std::string_view::npos || id_end == kBoards.size()) return false;
  return t.substr(id_end, kProxy.size()) == kProxy;
}

Result<ProxyTarget> ParseProxyTarget(std::string_view t) {
  if (!IsProxyTarget(t)) return InvalidArgument("not a proxy path: /v1/boards/{id}/proxy/{port}/");
  const size_t id_end = t.find('/', kBoards.size());
  const std::string_view board = t.substr(kBoards.size(), id_end - kBoards.size());
  for (char c : board) {
    const bool ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '-' ||
                    c == '_' || c == '.';
    if (!ok) return InvalidArgument("proxy path: the board id must be plain (no percent-encoding)");
  }
  const size_t port_start = id_end + kProxy.size();
  const size_t port_end = t.find_first_of("/?", port_start);
  const std::string_view port_text =
      t.substr(port_start, port_end == std::string_view::npos ? std::string_view::npos : port_end - port_start);
  const bool digits = !port_text.empty() && port_text.size() <= 5 && port_text[0] != '0' &&
                      port_text.find_first_not_of("0123456789") == std::string_view::npos;
  const int port = digits ? std::stoi(std::string(port_text)) : 0;
  if (port < 1 || port > 65535)
    return InvalidArgument("proxy port must be from 1 to 65535 in plain digits, not \"" + std::string(port_text) + "\"");
  ProxyTarget out;
  out.board_id = std::string(board);
  out.port = static_cast<uint16_t>(port);
  out.prefix = std::string(t.substr(0, port_start + port_text.size()));
  std::string upstream = port_end == std::string_view::npos ? "" : std::string(t.substr(port_end));
  if (upstream.empty() || upstream[0] == '?') upstream = "/" + upstream;
  out.upstream = std::move(upstream);
  return out;
}

}  // namespace ew::server
