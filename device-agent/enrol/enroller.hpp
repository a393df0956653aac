// `edgewire-agent enrol`: trades a one-time enrolment code for the board's identity and WAMP
// secret with one POST /v1/enrol (proto3 JSON of EnrolRequest/EnrolResponse), over https://
// with the conductor's certificate checked (or plain http:// to loopback, or with --insecure).
#pragma once

#include <chrono>
#include <string>

#include <tl/expected.hpp>

#include "device-agent/credential/credential.hpp"
#include "device-agent/tls/conductor_trust.hpp"

namespace ew::agent {

struct EnrolRequestOptions {
  std::string conductor_url;  // https://host:port, or http://host:port
  std::string code;           // one-time enrolment code from `edgewire boards create`
  std::string hostname;       // reported to the conductor
  std::chrono::seconds timeout{30};  // whole exchange: resolve, connect, TLS, request, response
  // How an https conductor's certificate is checked (system CAs by default); kept in the
  // credential. `insecure` allows http:// to a host that is not loopback.
  tls::ConductorTrust trust;
};

struct EnrolFailure {
  // kRefused: the conductor answered non-2xx; `message` is its error message.
  // kFailed: no usable answer (unreachable, timeout, certificate refused, malformed reply, bad
  // options, plain http to a host that is not loopback without `insecure`).
  enum class Kind { kRefused, kFailed };
  Kind kind = Kind::kFailed;
  int http_status = 0;  // for kRefused
  std::string message;
  bool usage = false;   // kFailed because of the options given (bad URL, empty code, plain http)
};

// Blocks the calling thread for at most `timeout`. The credential's conductor_url is the URL
// enrolled with; wamp_url comes from the conductor, or is derived from conductor_url
// (ws(s)://host:port/ws) when the conductor leaves it empty; after an https enrolment a ws://
// wamp_url is made wss:// (SecureWampUrl). The credential carries `options.trust`. A refused
// certificate fails with "TLS handshake with URL failed: <why>" (PeerVerifier's reason).
tl::expected<Credential, EnrolFailure> Enrol(const EnrolRequestOptions& options);

}  // namespace ew::agent
