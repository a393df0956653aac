// Percent-decoding and header folding for RequestHeadOf.
#include "cloud-conductor/server/request_head.hpp"

#include <cctype>
#include <string_view>

namespace ew::server {

namespace http = boost::beast::http;

namespace {

int FromHex(char c) {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  if (c >= 'A' && c <= 'F') return c - 'A' + 10;
  return -1;
}

// Percent-decoding of a path or query component ('+' is a space only in queries).
std::string Decode(std::string_view in, bool plus_is_space) {
  std::string out;
  out.reserve(in.size());
  for (size_t i = 0; i < in.size(); ++i) {
    if (in[i] == '%' && i + 2 < in.size()) {
      int hi = FromHex(in[i + 1]);
      int lo = FromHex(in[i + 2]);
      if (hi >= 0 && lo >= 0) {
        out += static_cast<char>(hi * 16 + lo);
        i += 2;
        continue;
      }
    }
    out += (plus_is_space && in[i] == '+') ? ' ' : in[i];
  }
  return out;
}

}  // namespace

HttpRequestHead RequestHeadOf(const http::request_header<>& req, const std::string& peer) {
  HttpRequestHead out;
  out.method = std::string(req.method_string());
  out.target = std::string(req.target());
  std::string_view target(req.target().data(), req.target().size());
  auto q = target.find('?');
  out.path = Decode(target.substr(0, q), false);
  if (q != std::string_view::npos) {
    std::string_view query = target.substr(q + 1);
    while (!query.empty()) {
      auto amp = query.find('&');
      std::string_view pair = query.substr(0, amp);
      auto eq = pair.find('=');
      if (!pair.empty()) {
        out.query[Decode(pair.substr(0, eq), true)] =
            eq == std::string_view::npos ? "" : Decode(pair.substr(eq + 1), true);
      }
      if (amp == std::string_view::npos) break;
      query.remove_prefix(amp + 1);
    }
  }
  for (const auto& field : req) {
    std::string name(field.name_string());
    for (auto& c : name) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
    out.headers[name] = std::string(field.value());
  }
  out.peer = peer;
  return out;
}


}  // namespace ew::server
