// Which of a proxied request's headers the conductor keeps from the board's service
// (/v1/boards/{id}/proxy/{port}/, http_session.hpp Proxy): forwarding headers are the
// conductor's to set (the board would believe a client's own: who connected, over what, under
// which host), the caller's credentials stay at the conductor, hop-by-hop headers end here.
// Names are judged as a board's server may read them: case-insensitively and with '_' and '-'
// alike (CGI, PHP, Django, WSGI and nginx with underscores_in_headers map X_Forwarded_For to the
// variable of X-Forwarded-For; security review 2, finding 3). Internal to cloud-conductor/server.
#pragma once

#include <string>
#include <string_view>

namespace ew::server {

// `name` lowercased, each '_' made '-': "X_Forwarded_For" -> "x-forwarded-for".
std::string CanonicalHeaderName(std::string_view name);

// Forwarded, X-Forwarded-* (X-Forwarded-For/-Host/-Proto/-Port/-Prefix/... and X-Forwarded
// itself), X-Real-IP, X-Client-IP, True-Client-IP, X-Cluster-Client-IP, X-Original-Forwarded-For,
// in any case, with '_' for '-'.
bool IsForwardingHeader(std::string_view name);

// How a proxied request's head was asked for: whether the caller's credential is an
// Authorization bearer (no X-Auth-Token), and whether it is a WebSocket upgrade.
struct ProxyHeadKind {
  bool bearer = false;
  bool upgrade = false;
};

// True when the header `name` must not reach the board: forwarding headers (IsForwardingHeader),
// Host (the conductor sets 127.0.0.1:<port>), X-Auth-Token, Authorization when it carried the
// caller's bearer token; every hop-by-hop header of the client's hop: Connection (always: the
// conductor writes its own, ProxiedConnectionHeader, so a client cannot list names in it that the
// board's server would then strip, such as X-Forwarded-For), Keep-Alive, Proxy-Connection, TE,
// Trailer, and Upgrade unless the request is a WebSocket upgrade (no h2c or other protocol
// switch reaches the board); and an underscore spelling of Content-Length or Transfer-Encoding
// (a server reading '_' as '-' would see a second framing of the body). Cookie is filtered, not
// dropped (WithoutCookie). Security review 3, L2.
bool DropFromProxiedHead(std::string_view name, ProxyHeadKind kind);

// The one Connection header the board gets, with its CRLF: "Connection: Upgrade\r\n" for a
// WebSocket upgrade (whatever else the client listed), "Connection: close\r\n" otherwise (one
// request per board connection).
std::string_view ProxiedConnectionHeader(ProxyHeadKind kind);

}  // namespace ew::server
