// How the agent decides that the far end of a wss:// or https:// connection is its conductor:
// the system's CAs (default), a CA file given at enrolment, or a pinned SHA-256 fingerprint of
// the conductor's certificate or public key. Chosen by `edgewire-agent enrol` and kept in the
// credential so that `run` trusts exactly what enrolment trusted. No OpenSSL types here.
#pragma once

#include <string>
#include <string_view>

#include "common/error/error.hpp"

namespace ew::agent::tls {

struct ConductorTrust {
  // PEM CA certificates (the content of `enrol --ca-file`); "" = the system's CAs. Chain, dates
  // and host name are checked against them.
  std::string ca_pem;
  std::string ca_file;  // where ca_pem came from, for messages only
  // "sha256:<64 lower-case hex>" of the conductor's certificate (DER) or of its public key
  // (SubjectPublicKeyInfo DER); "" = none. With a pin only the pin is checked (a self-signed
  // conductor certificate is fine; its dates and names are not looked at).
  std::string pin;
  // Plain ws:// and http:// to a host that is not loopback are allowed (`--insecure`).
  bool insecure = false;
};

// Largest CA file accepted: a bundle of a few hundred certificates.
inline constexpr size_t kMaxCaFileBytes = 1 << 20;

// The trust `enrol` was told to use. InvalidArgument when both a CA file and a pin are given,
// when the file cannot be read, is larger than kMaxCaFileBytes or holds no PEM certificate, or
// when the pin is malformed (see NormalizePin). The message names the option at fault.
ew::Result<ConductorTrust> MakeTrust(const std::string& ca_file, const std::string& pin, bool insecure);

// Accepts "sha256:" followed by 64 hex digits (colons allowed, any case: what
// `openssl x509 -fingerprint -sha256` prints) or by the base64 of the 32 bytes (44 characters,
// as in `openssl dgst -sha256 -binary | base64`). Returns "sha256:<lower hex>".
ew::Result<std::string> NormalizePin(std::string_view text);

// Checks the PEM text holds at least one certificate. InvalidArgument otherwise.
ew::Result<void> CheckCaPem(const std::string& pem);

// For logs and errors: "the system CAs", "the CA file /etc/edgewire/ca.pem", "the pin sha256:…".
std::string Describe(const ConductorTrust& trust);

}  // namespace ew::agent::tls
