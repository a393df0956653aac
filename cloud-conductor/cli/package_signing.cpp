// Ed25519 through OpenSSL's EVP one-shot calls (EVP_DigestSign/Verify with no digest: Ed25519
// hashes the message itself, which is why the whole .deb is passed at once; it is at most 64 MiB).
#include "cloud-conductor/cli/package_signing.hpp"

#include <fcntl.h>
#include <unistd.h>

#include <openssl/bio.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/x509.h>

#include <cerrno>
#include <cstring>
#include <memory>

#include "common/contract/update.hpp"
#include "common/ids/ids.hpp"

namespace ew::cli {

namespace {

namespace fs = std::filesystem;
using PkeyPtr = std::unique_ptr<EVP_PKEY, decltype(&EVP_PKEY_free)>;
using BioPtr = std::unique_ptr<BIO, decltype(&BIO_free)>;
using MdCtxPtr = std::unique_ptr<EVP_MD_CTX, decltype(&EVP_MD_CTX_free)>;

std::string OpenSslError(const char* what) {
  const unsigned long code = ERR_get_error();
  char text[256] = "unknown error";
  if (code != 0) ERR_error_string_n(code, text, sizeof text);
  ERR_clear_error();
  return std::string(what) + ": " + text;
}

// A private key when the PEM holds one, else a public key; nullptr when neither.
PkeyPtr ReadKey(std::string_view pem, bool want_private) {
  BioPtr bio(BIO_new_mem_buf(pem.data(), static_cast<int>(pem.size())), BIO_free);
  if (!bio) return PkeyPtr(nullptr, EVP_PKEY_free);
  EVP_PKEY* key = want_private ? PEM_read_bio_PrivateKey(bio.get(), nullptr, nullptr, nullptr)
                               : PEM_read_bio_PUBKEY(bio.get(), nullptr, nullptr, nullptr);
  ERR_clear_error();
  return PkeyPtr(key, EVP_PKEY_free);
}

Result<PkeyPtr> Ed25519Key(std::string_view pem, bool want_private) {
  PkeyPtr key = ReadKey(pem, want_private);
  if (!key && !want_private) key = ReadKey(pem, true);  // a private key also holds the public one
  if (!key) return InvalidArgument(want_private ? "not a PEM private key" : "not a PEM public key");
  if (EVP_PKEY_get_id(key.get()) != EVP_PKEY_ED25519) return InvalidArgument("not an Ed25519 key");
  return key;
}

Result<std::string> PublicPem(EVP_PKEY* key) {
  BioPtr bio(BIO_new(BIO_s_mem()), BIO_free);
  if (!bio || PEM_write_bio_PUBKEY(bio.get(), key) != 1) return Internal(OpenSslError("writing the public key"));
  char* data = nullptr;
  const long size = BIO_get_mem_data(bio.get(), &data);
  return std::string(data, static_cast<size_t>(size));
}

// Creates `path` with `mode`, failing when it exists, and writes `bytes`.
Result<void> CreateFile(const fs::path& path, const std::string& bytes, mode_t mode) {
  const int fd = ::open(path.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC | O_NOFOLLOW, mode);
  if (fd < 0) return Internal("cannot create " + path.string() + ": " + std::strerror(errno));
  size_t done = 0;
  while (done < bytes.size()) {
    const ssize_t n = ::write(fd, bytes.data() + done, bytes.size() - done);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) {
      const std::string why = std::strerror(errno);
      ::close(fd);
      return Internal("cannot write " + path.string() + ": " + why);
    }
    done += static_cast<size_t>(n);
  }
  if (::close(fd) != 0) return Internal("cannot write " + path.string() + ": " + std::strerror(errno));
  return Ok();
}

}  // namespace

Result<void> GenerateSigningKey(const fs::path& private_pem, const fs::path& public_pem) {
  std::error_code ec;
  for (const auto& path : {private_pem, public_pem}) {
    if (fs::exists(fs::symlink_status(path, ec)))
      return Conflict(path.string() + " exists: a signing key is never overwritten");
  }
  std::unique_ptr<EVP_PKEY_CTX, decltype(&EVP_PKEY_CTX_free)> ctx(EVP_PKEY_CTX_new_id(EVP_PKEY_ED25519, nullptr),
                                                                   EVP_PKEY_CTX_free);
  EVP_PKEY* raw = nullptr;
  if (!ctx || EVP_PKEY_keygen_init(ctx.get()) != 1 || EVP_PKEY_keygen(ctx.get(), &raw) != 1)
    return Internal(OpenSslError("generating an Ed25519 key"));
  PkeyPtr key(raw, EVP_PKEY_free);
  BioPtr bio(BIO_new(BIO_s_mem()), BIO_free);
  if (!bio || PEM_write_bio_PrivateKey(bio.get(), key.get(), nullptr, nullptr, 0, nullptr, nullptr) != 1)
    return Internal(OpenSslError("writing the private key"));
  char* data = nullptr;
  const long size = BIO_get_mem_data(bio.get(), &data);
  std::string private_text(data, static_cast<size_t>(size));
  EW_TRY(std::string public_text, PublicPem(key.get()));
  // Only its owner reads the private key; the public key goes to every board.
  EW_TRY_VOID(CreateFile(private_pem, private_text, 0600));
  OPENSSL_cleanse(private_text.data(), private_text.size());
  if (auto written = CreateFile(public_pem, public_text, 0644); !written) {
    fs::remove(private_pem, ec);
    return written;
  }
  return Ok();
}

Result<std::string> SignPackage(std::string_view private_pem, std::string_view data) {
  EW_TRY(PkeyPtr key, Ed25519Key(private_pem, true));
  MdCtxPtr ctx(EVP_MD_CTX_new(), EVP_MD_CTX_free);
  std::string signature(contract::update::kSignatureBytes, '\0');
  size_t length = signature.size();
  if (!ctx || EVP_DigestSignInit(ctx.get(), nullptr, nullptr, nullptr, key.get()) != 1 ||
      EVP_DigestSign(ctx.get(), reinterpret_cast<unsigned char*>(signature.data()), &length,
                     reinterpret_cast<const unsigned char*>(data.data()), data.size()) != 1)
    return Internal(OpenSslError("signing"));
  if (length != contract::update::kSignatureBytes) return Internal("an Ed25519 signature of an unexpected length");
  return signature;
}

Result<void> VerifyPackage(std::string_view public_pem, std::string_view data, std::string_view signature) {
  EW_TRY(PkeyPtr key, Ed25519Key(public_pem, false));
  if (signature.size() != contract::update::kSignatureBytes)
    return PermissionDenied("the signature is " + std::to_string(signature.size()) + " bytes, not an Ed25519 signature");
  MdCtxPtr ctx(EVP_MD_CTX_new(), EVP_MD_CTX_free);
  if (!ctx || EVP_DigestVerifyInit(ctx.get(), nullptr, nullptr, nullptr, key.get()) != 1)
    return Internal(OpenSslError("verifying"));
  const int verified = EVP_DigestVerify(ctx.get(), reinterpret_cast<const unsigned char*>(signature.data()),
                                        signature.size(), reinterpret_cast<const unsigned char*>(data.data()),
                                        data.size());
  ERR_clear_error();
  if (verified != 1) return PermissionDenied("the signature does not verify with this key");
  return Ok();
}

Result<PublicKeyInfo> PublicKeyOf(std::string_view pem) {
  EW_TRY(PkeyPtr key, Ed25519Key(pem, false));
  PublicKeyInfo out;
  EW_TRY(out.pem, PublicPem(key.get()));
  unsigned char* der = nullptr;
  const int size = i2d_PUBKEY(key.get(), &der);
  if (size <= 0) return Internal(OpenSslError("encoding the public key"));
  out.fingerprint = ids::Sha256Hex(std::string_view(reinterpret_cast<const char*>(der), static_cast<size_t>(size)))
                        .substr(0, 16);
  OPENSSL_free(der);
  return out;
}

}  // namespace ew::cli
