#include "common/contract/tunnel.hpp"

#include <algorithm>
#include <cctype>

#include "common/contract/fields.hpp"

namespace ew::contract::tunnel {

bool IsTokenShaped(const std::string& token) {
  return token.size() >= 16 && token.size() <= kMaxTokenChars &&
         std::all_of(token.begin(), token.end(), [](char c) {
           return std::isalnum(static_cast<unsigned char>(c)) || c == '-' || c == '_';
         });
}

wamp::Payload OpenRequest::ToPayload() const {
  wamp::Payload out;
  out.kwargs = {{"token", token}, {"port", port}, {"service", service}};
  return out;
}

Result<OpenRequest> OpenRequest::Parse(const wamp::Payload& payload) {
  EW_TRY(Fields f, Fields::Of(payload.kwargs, "tunnel.open", {"token", "port", "service"}));
  OpenRequest out;
  EW_TRY(out.token, f.String("token"));
  if (!IsTokenShaped(out.token)) return f.Bad("token", "must be 16 to 128 characters of [A-Za-z0-9_-]");
  EW_TRY(uint64_t port, f.Count("port"));
  if (port < 1 || port > 65535) return f.Bad("port", "must be from 1 to 65535");
  out.port = static_cast<uint32_t>(port);
  EW_TRY(out.service, f.StringOr("service", ""));
  // The board logs it: a caller must not be able to write lines of its own there.
  const bool safe = std::all_of(out.service.begin(), out.service.end(), [](char c) {
    return std::isalnum(static_cast<unsigned char>(c)) || c == '-' || c == '_' || c == '.' || c == ' ';
  });
  if (out.service.size() > kMaxServiceChars || !safe)
    return f.Bad("service", "must be at most 128 characters of [A-Za-z0-9._ -]");
  return out;
}

}  // namespace ew::contract::tunnel
