// A request header as Beast parsed it, turned into the HttpRequestHead handlers see: the path
// and query percent-decoded, header names lower-case.
#pragma once

#include <string>

#include <boost/beast/http/message.hpp>

#include "cloud-conductor/server/http_types.hpp"

namespace ew::server {

// `peer` is "address:port". body_bytes is left unset (the caller knows the framing).
HttpRequestHead RequestHeadOf(const boost::beast::http::request_header<>& header, const std::string& peer);

}  // namespace ew::server
