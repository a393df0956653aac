// The conductor's TLS server context: certificate chain and key from PEM files, TLS 1.2 and
// later only, forward-secret AEAD ciphers for TLS 1.2 (TLS 1.3 suites are all modern).
#pragma once

#include <memory>
#include <string>

#include <boost/asio/ssl/context.hpp>

#include "common/error/error.hpp"

namespace ew::server {

// A context ready for server handshakes, or InvalidArgument naming the file and OpenSSL's
// reason: unreadable file, not PEM, key that does not match the certificate. Logs the
// certificate's subject and expiry (warns when it has expired). Blocking file reads: call at
// start-up or on reload, not per connection.
Result<std::shared_ptr<boost::asio::ssl::context>> LoadTlsServerContext(const std::string& cert_file,
                                                                        const std::string& key_file);

}  // namespace ew::server
