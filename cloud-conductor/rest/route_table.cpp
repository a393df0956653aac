// Route matching by path segments: a handful of routes, so a linear scan beats a trie.
#include "cloud-conductor/rest/route_table.hpp"

#include <algorithm>

namespace ew::rest {

namespace {

std::vector<std::string> Split(const std::string& path) {
  std::vector<std::string> segments;
  size_t start = 1;  // paths start with "/"
  while (start <= path.size()) {
    size_t end = path.find('/', start);
    if (end == std::string::npos) end = path.size();
    segments.push_back(path.substr(start, end - start));
    start = end + 1;
  }
  // "/v1/boards/" is "/v1/boards".
  if (segments.size() > 1 && segments.back().empty()) segments.pop_back();
  return segments;
}

bool IsParam(const std::string& segment) {
  return segment.size() > 2 && segment.front() == '{' && segment.back() == '}';
}

bool MatchSegments(const std::vector<std::string>& pattern, const std::vector<std::string>& path,
                   PathParams* params) {
  if (pattern.size() != path.size()) return false;
  PathParams found;
  for (size_t i = 0; i < pattern.size(); ++i) {
    if (IsParam(pattern[i])) {
      if (path[i].empty()) return false;
      found[pattern[i].substr(1, pattern[i].size() - 2)] = path[i];
    } else if (pattern[i] != path[i]) {
      return false;
    }
  }
  *params = std::move(found);
  return true;
}

}  // namespace

void RouteTable::Add(Route route) {
  auto segments = Split(route.pattern);
  entries_.push_back(Entry{std::move(route), std::move(segments)});
}

RouteTable::Match RouteTable::Find(const std::string& method, const std::string& path) const {
  Match match;
  if (path.empty() || path.front() != '/') return match;
  const auto segments = Split(path);
  for (const auto& entry : entries_) {
    PathParams params;
    if (!MatchSegments(entry.segments, segments, &params)) continue;
    if (entry.route.method == method) {
      match.route = &entry.route;
      match.params = std::move(params);
      match.pattern = entry.route.pattern;
      match.allowed.clear();
      return match;
    }
    if (std::find(match.allowed.begin(), match.allowed.end(), entry.route.method) == match.allowed.end())
      match.allowed.push_back(entry.route.method);
    match.pattern = entry.route.pattern;
  }
  return match;
}

}  // namespace ew::rest
