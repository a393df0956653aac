// `edgewire-agent enrol`: trades a one-time enrolment code for the board's identity and WAMP
// secret with one POST /v1/enrol (proto3 JSON of EnrolRequest/EnrolResponse).
#pragma once

#include <chrono>
#include <string>

#include <tl/expected.hpp>

#include "device-agent/credential/credential.hpp"

namespace ew::agent {

struct EnrolRequestOptions {
  std::string conductor_url;  // http://host:port
  std::string code;           // one-time enrolment code from `edgewire boards create`
  std::string hostname;       // reported to the conductor
  std::chrono::seconds timeout{30};  // whole exchange: resolve, connect, request, response
};

struct EnrolFailure {
  // kRefused: the conductor answered non-2xx; `message` is its error message.
  // kFailed: no usable answer (unreachable, timeout, malformed reply, bad options).
  enum class Kind { kRefused, kFailed };
  Kind kind = Kind::kFailed;
  int http_status = 0;  // for kRefused
  std::string message;
};

// Blocks the calling thread for at most `timeout`. The credential's conductor_url is the URL
// enrolled with; wamp_url comes from the conductor, or is derived from conductor_url
// (ws://host:port/ws) when the conductor leaves it empty.
tl::expected<Credential, EnrolFailure> Enrol(const EnrolRequestOptions& options);

}  // namespace ew::agent
