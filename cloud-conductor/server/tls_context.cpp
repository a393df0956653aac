// Builds the server's ssl::context. OpenSSL errors are read off its error queue so the operator
// sees why a certificate did not load ("no such file", "key values mismatch").
#include "cloud-conductor/server/tls_context.hpp"

#include <openssl/err.h>
#include <openssl/ssl.h>
#include <openssl/x509.h>

#include "common/log/log.hpp"

namespace ew::server {

const ew::log::Logger Log{"server"};

namespace {

namespace ssl = boost::asio::ssl;

// Mozilla "intermediate": ECDHE key exchange, AES-GCM or ChaCha20-Poly1305.
constexpr char kTls12Ciphers[] =
    "ECDHE-ECDSA-AES128-GCM-SHA256:ECDHE-RSA-AES128-GCM-SHA256:ECDHE-ECDSA-AES256-GCM-SHA384:"
    "ECDHE-RSA-AES256-GCM-SHA384:ECDHE-ECDSA-CHACHA20-POLY1305:ECDHE-RSA-CHACHA20-POLY1305";

std::string Reason(const boost::system::error_code& ec) {
  std::string why = ec.message();
  // Asio reports the first error; the rest of OpenSSL's queue is noise for the operator.
  ERR_clear_error();
  return why;
}

std::string Asn1TimeText(const ASN1_TIME* time) {
  BIO* bio = BIO_new(BIO_s_mem());
  if (bio == nullptr) return "?";
  ASN1_TIME_print(bio, time);
  char* data = nullptr;
  const long n = BIO_get_mem_data(bio, &data);
  std::string text(data, n > 0 ? static_cast<size_t>(n) : 0);
  BIO_free(bio);
  return text;
}

void LogCertificate(SSL_CTX* ctx, const std::string& cert_file) {
  auto log = Log();
  X509* cert = SSL_CTX_get0_certificate(ctx);
  if (cert == nullptr) return;
  char subject[256] = {0};
  X509_NAME_oneline(X509_get_subject_name(cert), subject, sizeof(subject) - 1);
  const ASN1_TIME* not_after = X509_get0_notAfter(cert);
  if (X509_cmp_current_time(not_after) <= 0) {
    log->warn("TLS certificate {} ({}) expired on {}: clients that verify it will refuse the conductor", cert_file,
              subject, Asn1TimeText(not_after));
  } else {
    log->info("TLS certificate {} ({}) valid until {}", cert_file, subject, Asn1TimeText(not_after));
  }
}

}  // namespace

Result<std::shared_ptr<ssl::context>> LoadTlsServerContext(const std::string& cert_file, const std::string& key_file) {
  auto context = std::make_shared<ssl::context>(ssl::context::tls_server);
  boost::system::error_code ec;
  context->set_options(ssl::context::default_workarounds | ssl::context::no_sslv2 | ssl::context::no_sslv3 |
                           ssl::context::no_tlsv1 | ssl::context::no_tlsv1_1 | ssl::context::single_dh_use |
                           ssl::context::no_compression,
                       ec);
  if (ec) return Internal("TLS options: " + Reason(ec));
  SSL_CTX* ctx = context->native_handle();
  if (SSL_CTX_set_min_proto_version(ctx, TLS1_2_VERSION) != 1 ||
      SSL_CTX_set_cipher_list(ctx, kTls12Ciphers) != 1) {
    ERR_clear_error();
    return Internal("TLS: cannot restrict protocol versions and ciphers");
  }
  // Renegotiation costs the server a handshake per request of the peer's choosing.
  SSL_CTX_set_options(ctx, SSL_OP_NO_RENEGOTIATION | SSL_OP_CIPHER_SERVER_PREFERENCE);
  // An idle board session holds no record buffers (about 34 KB each way otherwise): they are
  // taken from the allocator when a record comes and given back when it is done.
  SSL_CTX_set_mode(ctx, SSL_MODE_RELEASE_BUFFERS);
  // Sessions are not resumed (boards hold one long connection): no cache to grow.
  SSL_CTX_set_session_cache_mode(ctx, SSL_SESS_CACHE_OFF);
  context->use_certificate_chain_file(cert_file, ec);
  if (ec) return InvalidArgument("TLS certificate " + cert_file + ": " + Reason(ec));
  context->use_private_key_file(key_file, ssl::context::pem, ec);
  if (ec) return InvalidArgument("TLS key " + key_file + ": " + Reason(ec));
  if (SSL_CTX_check_private_key(ctx) != 1) {
    ERR_clear_error();
    return InvalidArgument("TLS key " + key_file + " does not match the certificate " + cert_file);
  }
  LogCertificate(ctx, cert_file);
  return context;
}

}  // namespace ew::server
