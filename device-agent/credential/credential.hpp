// The board's enrolment result on disk: a small JSON file, mode 0600, written by
// `edgewire-agent enrol` and read by `edgewire-agent run`. It holds the WAMP-CRA secret.
#pragma once

#include <string>

#include "common/error/error.hpp"
#include "device-agent/tls/conductor_trust.hpp"

namespace ew::agent {

struct Credential {
  std::string board_id;
  std::string secret;         // WAMP-CRA secret; never logged
  std::string realm;
  std::string wamp_url;       // ws(s)://host:port/ws, from the conductor at enrolment
  std::string salt;           // "" = unsalted WAMP-CRA
  int iterations = 0;         // PBKDF2 iterations when salted
  int keylen = 0;             // PBKDF2 key length (bytes) when salted
  std::string conductor_url;  // http(s)://host:port the board enrolled with
  // How the conductor's certificate is checked, as given to `enrol` (CA PEM, pin, --insecure);
  // stored as "tls": {"ca_pem", "ca_file", "pin", "insecure"}, absent in older files = system CAs.
  tls::ConductorTrust trust;
};

// Checks that the fields a session needs are present, and the trust is well formed (a pin in
// normal form, CA PEM that holds a certificate, not both). InvalidArgument names the field.
ew::Result<void> ValidateCredential(const Credential& credential);

// Writes atomically: parent directory created 0700 if missing, a temp file 0600 in the same
// directory, fsync, rename over `path`. InvalidArgument for an invalid credential,
// PermissionDenied/Internal for I/O errors (message names the path).
ew::Result<void> WriteCredential(const std::string& path, const Credential& credential);

// Checks, before anything is spent on an enrolment, that WriteCredential(path, …) can succeed:
// Conflict "a credential exists already at PATH …" when `path` exists and !`overwrite`; else the
// parent directory is created (0700) if missing and a probe file of a credential's size is
// written, fsynced and removed in it. PermissionDenied / ResourceExhausted / Internal name the
// directory and the errno text (read-only file system, full disk, no permission).
ew::Result<void> CheckCredentialWritable(const std::string& path, bool overwrite);

// NotFound when the file does not exist; InvalidArgument when it is not a valid credential.
ew::Result<Credential> ReadCredential(const std::string& path);

}  // namespace ew::agent
