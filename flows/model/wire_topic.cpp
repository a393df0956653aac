#include "flows/model/wire_topic.hpp"

#include <fmt/format.h>

namespace ew::flows {

namespace {
constexpr std::string_view kFlowPrefix = "ew.flow.";
}

std::string UriSafeNodeId(std::string_view node_id) {
  static constexpr char kHex[] = "0123456789abcdef";
  std::string out;
  out.reserve(node_id.size());
  for (unsigned char c : node_id) {
    if ((c >= '0' && c <= '9') || (c >= 'a' && c <= 'z') || c == '_') {
      out.push_back(static_cast<char>(c));
    } else {
      out.push_back('_');
      out.push_back(kHex[c >> 4]);
      out.push_back(kHex[c & 0xf]);
    }
  }
  return out;
}

std::string WireTopic(std::string_view flow_id, std::string_view node_id, std::uint32_t port) {
  return fmt::format("ew.flow.{}.wire.{}.{}", flow_id, UriSafeNodeId(node_id), port);
}

std::string DebugTopic(std::string_view flow_id) { return fmt::format("ew.flow.{}.debug", flow_id); }
std::string StatusTopic(std::string_view flow_id) { return fmt::format("ew.flow.{}.status", flow_id); }
std::string FlowTopicPrefix(std::string_view flow_id) { return fmt::format("ew.flow.{}", flow_id); }

std::optional<std::string> FlowIdFromUri(std::string_view uri) {
  if (uri.substr(0, kFlowPrefix.size()) != kFlowPrefix) return std::nullopt;
  std::string_view rest = uri.substr(kFlowPrefix.size());
  std::string_view id = rest.substr(0, rest.find('.'));
  if (id.empty()) return std::nullopt;
  return std::string(id);
}

}  // namespace ew::flows
