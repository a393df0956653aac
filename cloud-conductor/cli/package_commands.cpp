#include "cloud-conductor/cli/package_commands.hpp"

#include <filesystem>
#include <fstream>
#include <iterator>
#include <ostream>

#include "cloud-conductor/cli/package_signing.hpp"
#include "common/contract/update.hpp"

namespace ew::cli {

namespace fs = std::filesystem;

Result<std::string> ReadLocalFile(const std::string& path, uint64_t limit) {
  std::error_code ec;
  const uintmax_t size = fs::file_size(path, ec);
  if (ec) return InvalidArgument("cannot read " + path + ": " + ec.message());
  if (size > limit) return InvalidArgument(path + " is larger than " + std::to_string(limit) + " bytes");
  std::ifstream in(path, std::ios::binary);
  if (!in) return InvalidArgument("cannot read " + path);
  return std::string((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
}

namespace {

constexpr uint64_t kMaxKeyBytes = 16 << 10;

std::string SignatureFile(const std::string& file, const std::string& signature) {
  return signature.empty() ? file + ".sig" : signature;
}

}  // namespace

Result<void> PackageKeygen(Context& ctx, const std::string& name) {
  const std::string private_path = name + ".key";
  const std::string public_path = name + ".pem";
  EW_TRY_VOID(GenerateSigningKey(private_path, public_path));
  EW_TRY(std::string pem, ReadLocalFile(public_path, kMaxKeyBytes));
  EW_TRY(PublicKeyInfo info, PublicKeyOf(pem));
  ctx.out() << "private key " << private_path << " (keep it off the boards and the conductor)\n"
            << "public key  " << public_path << " (install it on each board as /etc/edgewire/update-keys/"
            << fs::path(public_path).filename().string() << ", root's, mode 0644)\n"
            << "fingerprint " << info.fingerprint << "\n";
  return Ok();
}

Result<void> PackageSign(Context& ctx, const std::string& key, const std::string& file, const std::string& signature) {
  EW_TRY(std::string private_pem, ReadLocalFile(key, kMaxKeyBytes));
  EW_TRY(std::string deb, ReadLocalFile(file, contract::update::kMaxPackageBytes));
  EW_TRY(std::string sig, SignPackage(private_pem, deb));
  EW_TRY(PublicKeyInfo info, PublicKeyOf(private_pem));
  const std::string out = SignatureFile(file, signature);
  const std::string tmp = out + ".tmp";
  {
    std::ofstream f(tmp, std::ios::binary | std::ios::trunc);
    f.write(sig.data(), static_cast<std::streamsize>(sig.size()));
    f.flush();
    if (!f) return Internal("cannot write " + tmp);
  }
  std::error_code ec;
  fs::rename(tmp, out, ec);
  if (ec) return Internal("cannot write " + out + ": " + ec.message());
  ctx.out() << out << ": " << file << " signed by key " << info.fingerprint << "\n";
  return Ok();
}

Result<void> PackageVerify(Context& ctx, const std::string& key, const std::string& file, const std::string& signature) {
  EW_TRY(std::string pem, ReadLocalFile(key, kMaxKeyBytes));
  EW_TRY(std::string deb, ReadLocalFile(file, contract::update::kMaxPackageBytes));
  const std::string sig_path = SignatureFile(file, signature);
  EW_TRY(std::string sig, ReadLocalFile(sig_path, 4096));
  EW_TRY(PublicKeyInfo info, PublicKeyOf(pem));
  if (auto verified = VerifyPackage(pem, deb, sig); !verified) {
    return PermissionDenied(file + ": " + verified.error().message + " (key " + info.fingerprint + ", " + sig_path + ")");
  }
  ctx.out() << file << ": good signature by key " << info.fingerprint << "\n";
  return Ok();
}

}  // namespace ew::cli
