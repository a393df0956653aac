// Certificate checks on the agent side of TLS. Host names are matched by OpenSSL itself
// (X509_VERIFY_PARAM on the context), so a mismatch arrives here as an ordinary chain error
// ("hostname mismatch", "IP address mismatch") and is reported like the others.
#include "device-agent/tls/peer_verifier.hpp"

#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/ssl.h>
#include <openssl/x509.h>
#include <openssl/x509v3.h>

#include <cstdlib>

#include <boost/asio/ip/address.hpp>

#include "common/ids/ids.hpp"

namespace ew::agent::tls {

namespace {

// "sha256:<hex>" of DER bytes, as pins are written.
std::string Sha256Hex(const unsigned char* data, size_t size) {
  return "sha256:" + ids::Sha256Hex(std::string_view(reinterpret_cast<const char*>(data), size));
}

std::string CertDigest(X509* cert) {
  unsigned char* der = nullptr;
  int len = i2d_X509(cert, &der);
  if (len <= 0) return "";
  std::string digest = Sha256Hex(der, static_cast<size_t>(len));
  OPENSSL_free(der);
  return digest;
}

std::string KeyDigest(X509* cert) {
  unsigned char* der = nullptr;
  int len = i2d_X509_PUBKEY(X509_get_X509_PUBKEY(cert), &der);
  if (len <= 0) return "";
  std::string digest = Sha256Hex(der, static_cast<size_t>(len));
  OPENSSL_free(der);
  return digest;
}

std::string Subject(X509* cert) {
  if (!cert) return "?";
  char buffer[256];
  X509_NAME_oneline(X509_get_subject_name(cert), buffer, sizeof buffer);
  return buffer;
}

X509* FromDer(const std::string& der) {
  const unsigned char* p = reinterpret_cast<const unsigned char*>(der.data());
  return d2i_X509(nullptr, &p, static_cast<long>(der.size()));
}

// The system CAs through the hashed directory (/etc/ssl/certs): OpenSSL then reads only the
// issuer it needs, where the bundle file would be parsed whole (~150 certificates, about a
// megabyte of heap for the life of the connection on a board). SSL_CERT_DIR and SSL_CERT_FILE
// are honoured as OpenSSL's defaults honour them.
ew::Result<void> UseSystemCas(SSL_CTX* context) {
  const char* dir = std::getenv(X509_get_default_cert_dir_env());
  const char* file = std::getenv(X509_get_default_cert_file_env());
  if (file && *file && SSL_CTX_load_verify_file(context, file) != 1)
    return ew::Unavailable(std::string("cannot load the CA file ") + file + " ($" + X509_get_default_cert_file_env() + ")");
  if (!dir || !*dir) dir = X509_get_default_cert_dir();
  if (SSL_CTX_load_verify_dir(context, dir) != 1 && !(file && *file))
    return ew::Unavailable(std::string("cannot use the system CAs in ") + dir);
  return ew::Ok();
}

}  // namespace

std::string CertificateSha256(const std::string& der) {
  X509* cert = FromDer(der);
  if (!cert) return "";
  std::string digest = CertDigest(cert);
  X509_free(cert);
  return digest;
}

std::string PublicKeySha256(const std::string& der) {
  X509* cert = FromDer(der);
  if (!cert) return "";
  std::string digest = KeyDigest(cert);
  X509_free(cert);
  return digest;
}

bool PeerVerifier::Verify(bool preverified, boost::asio::ssl::verify_context& context) {
  X509_STORE_CTX* store = context.native_handle();
  const int depth = X509_STORE_CTX_get_error_depth(store);
  X509* cert = X509_STORE_CTX_get_current_cert(store);
  if (!trust_.pin.empty()) {
    // A pin names the conductor's own certificate: what signed it does not matter.
    if (depth > 0) return true;
    if (!cert) return false;
    const std::string cert_digest = CertDigest(cert);
    const std::string key_digest = KeyDigest(cert);
    if (trust_.pin == cert_digest || trust_.pin == key_digest) return true;
    if (failure_.empty())
      failure_ = "pin mismatch: the certificate of " + host_ + " (subject " + Subject(cert) + ") has " +
                 cert_digest + " and public key " + key_digest + ", not the pinned " + trust_.pin;
    return false;
  }
  if (preverified) return true;
  if (failure_.empty()) {
    const int error = X509_STORE_CTX_get_error(store);
    std::string what = X509_verify_cert_error_string(error);
    if (error == X509_V_ERR_HOSTNAME_MISMATCH || error == X509_V_ERR_IP_ADDRESS_MISMATCH)
      what += ": the certificate does not name " + host_;
    failure_ = what + " (subject " + Subject(cert) + ", depth " + std::to_string(depth) + "; checked against " +
               Describe(trust_) + ")";
  }
  return false;
}

ew::Result<std::shared_ptr<boost::asio::ssl::context>> MakeClientContext(const ConductorTrust& trust,
                                                                         const std::string& host,
                                                                         std::shared_ptr<PeerVerifier> verifier) {
  namespace ssl = boost::asio::ssl;
  auto context = std::make_shared<ssl::context>(ssl::context::tls_client);
  SSL_CTX* native = context->native_handle();
  SSL_CTX_set_min_proto_version(native, TLS1_2_VERSION);
  context->set_verify_mode(ssl::verify_peer);
  if (trust.pin.empty()) {
    if (trust.ca_pem.empty()) {
      EW_TRY_VOID(UseSystemCas(native));
    } else {
      X509_STORE* store = SSL_CTX_get_cert_store(native);
      std::unique_ptr<BIO, decltype(&BIO_free)> bio(
          BIO_new_mem_buf(trust.ca_pem.data(), static_cast<int>(trust.ca_pem.size())), &BIO_free);
      int added = 0;
      while (X509* cert = PEM_read_bio_X509(bio.get(), nullptr, nullptr, nullptr)) {
        if (X509_STORE_add_cert(store, cert) == 1) ++added;
        X509_free(cert);
      }
      if (added == 0) return ew::InvalidArgument("no usable CA certificate in " + Describe(trust));
    }
    X509_VERIFY_PARAM* param = SSL_CTX_get0_param(native);
    X509_VERIFY_PARAM_set_hostflags(param, X509_CHECK_FLAG_NO_PARTIAL_WILDCARDS);
    boost::system::error_code ec;
    boost::asio::ip::make_address(host, ec);
    int ok = !ec ? X509_VERIFY_PARAM_set1_ip_asc(param, host.c_str()) : X509_VERIFY_PARAM_set1_host(param, host.c_str(), 0);
    if (ok != 1) return ew::InvalidArgument("cannot check certificates for host \"" + host + "\"");
  }
  context->set_verify_callback([verifier = std::move(verifier)](bool preverified, ssl::verify_context& ctx) {
    return verifier->Verify(preverified, ctx);
  });
  return context;
}

}  // namespace ew::agent::tls
