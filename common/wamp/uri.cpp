// WAMP URI validation and the "ew.board.<id>." naming helpers.
#include "common/wamp/uri.hpp"

namespace ew::wamp {

namespace {

constexpr std::string_view kBoardPrefix = "ew.board.";

bool IsUriChar(char c) { return (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '_' || c == '-'; }

}  // namespace

bool IsValidUri(std::string_view uri, bool allow_empty_components) {
  if (uri.empty()) return false;
  size_t component_length = 0;
  for (char c : uri) {
    if (c == '.') {
      if (component_length == 0 && !allow_empty_components) return false;
      component_length = 0;
    } else if (IsUriChar(c)) {
      ++component_length;
    } else {
      return false;
    }
  }
  // The last component (after the final '.') follows the same rule.
  return component_length > 0 || allow_empty_components;
}

std::string BoardUri(std::string_view board_id, std::string_view suffix) {
  std::string uri;
  uri.reserve(kBoardPrefix.size() + board_id.size() + 1 + suffix.size());
  uri += kBoardPrefix;
  uri += board_id;
  if (!suffix.empty()) {
    uri += '.';
    uri += suffix;
  }
  return uri;
}

std::optional<BoardUriParts> SplitBoardUri(std::string_view uri) {
  if (uri.substr(0, kBoardPrefix.size()) != kBoardPrefix) return std::nullopt;
  std::string_view rest = uri.substr(kBoardPrefix.size());
  size_t dot = rest.find('.');
  // "ew.board.<id>" (a prefix pattern) or "ew.board.<id>.<rest>" with a non-empty rest.
  if (dot == 0 || rest.empty() || (dot != std::string_view::npos && dot + 1 == rest.size())) return std::nullopt;
  if (dot == std::string_view::npos) return BoardUriParts{rest, {}};
  return BoardUriParts{rest.substr(0, dot), rest.substr(dot + 1)};
}

std::optional<std::string> BoardIdFromUri(std::string_view uri) {
  auto parts = SplitBoardUri(uri);
  if (!parts) return std::nullopt;
  return std::string(parts->board_id);
}

bool HasPrefix(std::string_view uri, std::string_view prefix) {
  if (prefix.empty()) return true;
  if (uri.substr(0, prefix.size()) != prefix) return false;
  if (uri.size() == prefix.size() || prefix.back() == '.') return true;
  return uri[prefix.size()] == '.';
}

}  // namespace ew::wamp
