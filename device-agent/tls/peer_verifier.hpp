// Checks the conductor's certificate during a TLS handshake (wss:// sessions and https://
// enrolment) and remembers, in words, why it refused one: the reason reaches the log line and
// the enrol error instead of OpenSSL's bare "certificate verify failed".
#pragma once

#include <memory>
#include <string>

#include <boost/asio/ssl/context.hpp>
#include <boost/asio/ssl/verify_context.hpp>

#include "common/error/error.hpp"
#include "device-agent/tls/conductor_trust.hpp"

namespace ew::agent::tls {

class PeerVerifier {
 public:
  // `host` is the name or address the agent dialled; the certificate must name it (unless a pin
  // is used).
  PeerVerifier(ConductorTrust trust, std::string host) : trust_(std::move(trust)), host_(std::move(host)) {}

  // OpenSSL's verify callback, once per certificate of the chain and per problem found. With a
  // pin: only the leaf's certificate or public key digest counts. Otherwise OpenSSL's verdict
  // (chain to a trusted CA, dates, host name set on the context by MakeClientContext) stands.
  // Called on the thread doing the handshake.
  bool Verify(bool preverified, boost::asio::ssl::verify_context& context);

  // Why the certificate was refused ("" when it was not), e.g. "certificate has expired
  // (subject CN=conductor; checked against the CA file ca.pem)".
  const std::string& failure() const { return failure_; }
  const std::string& host() const { return host_; }

 private:
  ConductorTrust trust_;
  std::string host_;
  std::string failure_;
};

// A TLS client context for one connection to `host`: TLS 1.2 or newer, peer verification on,
// trust anchors from `trust` (the system's default paths, or its PEM CAs), the host name or IP
// address to match, and `verifier`'s callback. InvalidArgument when the PEM cannot be loaded.
ew::Result<std::shared_ptr<boost::asio::ssl::context>> MakeClientContext(const ConductorTrust& trust,
                                                                         const std::string& host,
                                                                         std::shared_ptr<PeerVerifier> verifier);

// "sha256:<hex>" of a DER certificate and of its SubjectPublicKeyInfo (what a pin may name);
// for tests and messages.
std::string CertificateSha256(const std::string& der);
std::string PublicKeySha256(const std::string& der);

}  // namespace ew::agent::tls
