// A certificate authority made by a test, with the OpenSSL API: EC P-256 keys, a CA and
// certificates it signs for "localhost" / 127.0.0.1, valid now or already expired, written as
// PEM files into a directory of the test's own. Link OpenSSL::SSL OpenSSL::Crypto.
#pragma once

#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/x509.h>
#include <openssl/x509v3.h>

#include <cstdio>
#include <ctime>
#include <filesystem>
#include <memory>
#include <stdexcept>
#include <string>

namespace ew::testing {

class TestPki {
 public:
  struct Issued {
    std::string cert_file;  // PEM certificate
    std::string key_file;   // PEM private key
  };

  // A new CA named `name`, its files in `dir` (created).
  TestPki(std::filesystem::path dir, const std::string& name) : dir_(std::move(dir)) {
    std::filesystem::create_directories(dir_);
    key_.reset(NewKey());
    cert_.reset(NewCert(name, key_.get(), nullptr, nullptr, /*is_ca=*/true, -3600, 3650L * 86400));
    ca_file_ = Write(name + "-ca.pem", cert_.get(), nullptr).cert_file;
  }

  const std::string& ca_file() const { return ca_file_; }

  // A server certificate for localhost and 127.0.0.1 signed by this CA, valid from
  // `not_before_s` to `not_after_s` seconds from now (negative = in the past).
  Issued IssueServer(const std::string& file_stem, long not_before_s = -3600, long not_after_s = 86400) {
    std::unique_ptr<EVP_PKEY, decltype(&EVP_PKEY_free)> key(NewKey(), &EVP_PKEY_free);
    std::unique_ptr<X509, decltype(&X509_free)> cert(
        NewCert("localhost", key.get(), cert_.get(), key_.get(), /*is_ca=*/false, not_before_s, not_after_s),
        &X509_free);
    return Write(file_stem, cert.get(), key.get());
  }

  // A client certificate named `common_name` (extended key usage clientAuth), valid for a day.
  Issued IssueClient(const std::string& file_stem, const std::string& common_name) {
    std::unique_ptr<EVP_PKEY, decltype(&EVP_PKEY_free)> key(NewKey(), &EVP_PKEY_free);
    std::unique_ptr<X509, decltype(&X509_free)> cert(
        NewCert(common_name, key.get(), cert_.get(), key_.get(), /*is_ca=*/false, -3600, 86400, /*client=*/true),
        &X509_free);
    return Write(file_stem, cert.get(), key.get());
  }

 private:
  static EVP_PKEY* NewKey() {
    EVP_PKEY* key = EVP_EC_gen("P-256");
    if (key == nullptr) throw std::runtime_error("EC key generation failed");
    return key;
  }

  static void AddExtension(X509* cert, X509* issuer, int nid, const char* value) {
    X509V3_CTX ctx;
    X509V3_set_ctx_nodb(&ctx);
    X509V3_set_ctx(&ctx, issuer != nullptr ? issuer : cert, cert, nullptr, nullptr, 0);
    X509_EXTENSION* ext = X509V3_EXT_conf_nid(nullptr, &ctx, nid, value);
    if (ext == nullptr) throw std::runtime_error("bad certificate extension");
    X509_add_ext(cert, ext, -1);
    X509_EXTENSION_free(ext);
  }

  static X509* NewCert(const std::string& common_name, EVP_PKEY* key, X509* issuer, EVP_PKEY* issuer_key, bool is_ca,
                       long not_before_s, long not_after_s, bool client = false) {
    static long serial = 1;
    X509* cert = X509_new();
    X509_set_version(cert, 2);
    ASN1_INTEGER_set(X509_get_serialNumber(cert), ++serial + static_cast<long>(::time(nullptr)) % 100000 * 1000);
    X509_gmtime_adj(X509_getm_notBefore(cert), not_before_s);
    X509_gmtime_adj(X509_getm_notAfter(cert), not_after_s);
    X509_set_pubkey(cert, key);
    X509_NAME* name = X509_get_subject_name(cert);
    X509_NAME_add_entry_by_txt(name, "CN", MBSTRING_ASC, reinterpret_cast<const unsigned char*>(common_name.c_str()),
                               -1, -1, 0);
    X509_set_issuer_name(cert, issuer != nullptr ? X509_get_subject_name(issuer) : name);
    if (is_ca) {
      AddExtension(cert, issuer, NID_basic_constraints, "critical,CA:TRUE");
      AddExtension(cert, issuer, NID_key_usage, "critical,keyCertSign,cRLSign");
    } else if (client) {
      AddExtension(cert, issuer, NID_basic_constraints, "critical,CA:FALSE");
      AddExtension(cert, issuer, NID_ext_key_usage, "clientAuth");
    } else {
      AddExtension(cert, issuer, NID_basic_constraints, "critical,CA:FALSE");
      AddExtension(cert, issuer, NID_ext_key_usage, "serverAuth");
      AddExtension(cert, issuer, NID_subject_alt_name, "DNS:localhost,IP:127.0.0.1");
    }
    if (X509_sign(cert, issuer_key != nullptr ? issuer_key : key, EVP_sha256()) == 0) {
      X509_free(cert);
      throw std::runtime_error("certificate signing failed");
    }
    return cert;
  }

  Issued Write(const std::string& stem, X509* cert, EVP_PKEY* key) {
    Issued out;
    out.cert_file = (dir_ / (stem + ".crt")).string();
    FILE* f = std::fopen(out.cert_file.c_str(), "w");
    if (f == nullptr) throw std::runtime_error("cannot write " + out.cert_file);
    PEM_write_X509(f, cert);
    std::fclose(f);
    if (key != nullptr) {
      out.key_file = (dir_ / (stem + ".key")).string();
      f = std::fopen(out.key_file.c_str(), "w");
      if (f == nullptr) throw std::runtime_error("cannot write " + out.key_file);
      PEM_write_PrivateKey(f, key, nullptr, nullptr, 0, nullptr, nullptr);
      std::fclose(f);
    }
    return out;
  }

  std::filesystem::path dir_;
  std::unique_ptr<EVP_PKEY, decltype(&EVP_PKEY_free)> key_{nullptr, &EVP_PKEY_free};
  std::unique_ptr<X509, decltype(&X509_free)> cert_{nullptr, &X509_free};
  std::string ca_file_;
};

}  // namespace ew::testing
