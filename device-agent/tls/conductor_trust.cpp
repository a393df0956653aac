// Trust settings: reading the CA file once at enrolment and normalizing pins.
#include "device-agent/tls/conductor_trust.hpp"

#include <openssl/bio.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/x509.h>

#include <cctype>
#include <fstream>
#include <memory>

namespace ew::agent::tls {

namespace {

constexpr std::string_view kPinPrefix = "sha256:";

bool IsHex(char c) { return std::isxdigit(static_cast<unsigned char>(c)) != 0; }

}  // namespace

ew::Result<std::string> NormalizePin(std::string_view text) {
  auto bad = [&](const std::string& why) {
    return ew::InvalidArgument("--pin \"" + std::string(text.substr(0, 120)) + "\": " + why +
                               " (expected sha256:<64 hex digits> or sha256:<base64 of 32 bytes>)");
  };
  if (text.size() < kPinPrefix.size() || text.substr(0, kPinPrefix.size()) != kPinPrefix)
    return bad("must start with sha256:");
  std::string_view value = text.substr(kPinPrefix.size());
  if (value.size() > 200) return bad("too long");
  std::string hex;
  bool all_hex = true;
  for (char c : value) {
    if (c == ':') continue;
    if (!IsHex(c)) {
      all_hex = false;
      break;
    }
    hex.push_back(static_cast<char>(std::tolower(static_cast<unsigned char>(c))));
  }
  if (all_hex && hex.size() == 64) return std::string(kPinPrefix) + hex;
  if (value.size() == 44) {  // base64 of 32 bytes, one '=' of padding
    unsigned char bytes[33] = {};
    int n = EVP_DecodeBlock(bytes, reinterpret_cast<const unsigned char*>(value.data()), static_cast<int>(value.size()));
    if (n == 33 && value.back() == '=' && value[42] != '=') {
      static const char* digits = "0123456789abcdef";
      std::string out(kPinPrefix);
      for (int i = 0; i < 32; ++i) {
        out.push_back(digits[bytes[i] >> 4]);
        out.push_back(digits[bytes[i] & 15]);
      }
      return out;
    }
  }
  return bad("not a SHA-256 digest");
}

ew::Result<void> CheckCaPem(const std::string& pem) {
  std::unique_ptr<BIO, decltype(&BIO_free)> bio(BIO_new_mem_buf(pem.data(), static_cast<int>(pem.size())), &BIO_free);
  if (!bio) return ew::Internal("out of memory reading CA certificates");
  X509* cert = PEM_read_bio_X509(bio.get(), nullptr, nullptr, nullptr);
  if (!cert) return ew::InvalidArgument("no PEM certificate in it");
  X509_free(cert);
  return ew::Ok();
}

ew::Result<ConductorTrust> MakeTrust(const std::string& ca_file, const std::string& pin, bool insecure) {
  if (!ca_file.empty() && !pin.empty())
    return ew::InvalidArgument("give --ca-file or --pin, not both: a pin already says which certificate to trust");
  ConductorTrust trust;
  trust.insecure = insecure;
  if (!pin.empty()) {
    EW_TRY(trust.pin, NormalizePin(pin));
  }
  if (!ca_file.empty()) {
    std::ifstream in(ca_file, std::ios::binary);
    if (!in) return ew::InvalidArgument("--ca-file " + ca_file + ": cannot be read");
    std::string pem(kMaxCaFileBytes + 1, '\0');
    in.read(pem.data(), static_cast<std::streamsize>(pem.size()));
    pem.resize(static_cast<size_t>(in.gcount()));
    if (pem.size() > kMaxCaFileBytes)
      return ew::InvalidArgument("--ca-file " + ca_file + ": larger than " + std::to_string(kMaxCaFileBytes) + " bytes");
    if (auto checked = CheckCaPem(pem); !checked)
      return ew::InvalidArgument("--ca-file " + ca_file + ": " + checked.error().message);
    trust.ca_pem = std::move(pem);
    trust.ca_file = ca_file;
  }
  return trust;
}

std::string Describe(const ConductorTrust& trust) {
  if (!trust.pin.empty()) return "the pin " + trust.pin;
  if (!trust.ca_pem.empty()) return "the CA file " + (trust.ca_file.empty() ? std::string("given at enrolment") : trust.ca_file);
  return "the system CAs";
}

}  // namespace ew::agent::tls
