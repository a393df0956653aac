// JSON credential file: written through posix::WriteFileAtomically with mode 0600, so a crash
// leaves the old file or the new one.
#include "device-agent/credential/credential.hpp"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <sstream>

#include <nlohmann/json.hpp>

#include "common/json/guarded_json.hpp"
#include "common/posix/file_io.hpp"

namespace ew::agent {

namespace fs = std::filesystem;

namespace {

tl::unexpected<ew::Error> IoError(const std::string& what, const std::string& path, int err) {
  std::string message = what + " " + path + ": " + std::strerror(err);
  if (err == EACCES || err == EPERM || err == EROFS) return ew::PermissionDenied(message);
  return ew::Internal(message);
}

}  // namespace

ew::Result<void> ValidateCredential(const Credential& c) {
  if (c.board_id.empty()) return ew::InvalidArgument("credential has no board_id");
  if (c.secret.empty()) return ew::InvalidArgument("credential has no secret");
  if (c.realm.empty()) return ew::InvalidArgument("credential has no realm");
  if (c.wamp_url.empty()) return ew::InvalidArgument("credential has no wamp_url");
  if (!c.salt.empty() && (c.iterations <= 0 || c.keylen <= 0))
    return ew::InvalidArgument("credential has a salt but no positive iterations/keylen");
  if (!c.trust.pin.empty() && !c.trust.ca_pem.empty()) return ew::InvalidArgument("credential has both a CA and a pin");
  if (!c.trust.pin.empty()) {
    auto pin = tls::NormalizePin(c.trust.pin);
    if (!pin || *pin != c.trust.pin) return ew::InvalidArgument("credential has a malformed tls.pin");
  }
  if (!c.trust.ca_pem.empty() && !tls::CheckCaPem(c.trust.ca_pem))
    return ew::InvalidArgument("credential has tls.ca_pem without a PEM certificate");
  return ew::Ok();
}

namespace {

// The credential's directory, created 0700 when missing.
ew::Result<fs::path> CredentialDirectory(const std::string& path) {
  fs::path dir = fs::path(path).parent_path();
  if (dir.empty()) dir = ".";
  std::error_code ec;
  if (!fs::exists(dir, ec)) {
    fs::create_directories(dir, ec);
    if (ec) return IoError("cannot create directory", dir.string(), ec.value());
    fs::permissions(dir, fs::perms::owner_all, fs::perm_options::replace, ec);
    if (ec) return IoError("cannot set permissions of", dir.string(), ec.value());
  }
  return dir;
}

// A credential is a few hundred bytes, a few KiB with a CA: the probe writes that much.
constexpr size_t kProbeBytes = 8 * 1024;

}  // namespace

ew::Result<void> CheckCredentialWritable(const std::string& path, bool overwrite) {
  std::error_code ec;
  if (fs::exists(path, ec) && !overwrite)
    return ew::Conflict("a credential exists already at " + path +
                        ": enrolling again would replace this board's identity; give --force to do so, or "
                        "--credential with another path");
  EW_TRY(const fs::path dir, CredentialDirectory(path));
  std::string probe = (dir / ".edgewire-enrol-probe-XXXXXX").string();
  const int fd = ::mkstemp(probe.data());
  if (fd < 0) return IoError("cannot write in", dir.string(), errno);
  const std::string bytes(kProbeBytes, '\n');
  int err = 0;
  size_t done = 0;
  while (done < bytes.size()) {
    const ssize_t n = ::write(fd, bytes.data() + done, bytes.size() - done);
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) {
      err = errno;
      break;
    }
    done += static_cast<size_t>(n);
  }
  if (err == 0 && ::fsync(fd) != 0) err = errno;
  ::close(fd);
  ::unlink(probe.c_str());
  if (err == ENOSPC || err == EDQUOT || err == EFBIG)
    return ew::ResourceExhausted("cannot write in " + dir.string() + ": " + std::strerror(err));
  if (err != 0) return IoError("cannot write in", dir.string(), err);
  return ew::Ok();
}

ew::Result<void> WriteCredential(const std::string& path, const Credential& c) {
  EW_TRY_VOID(ValidateCredential(c));
  nlohmann::json json = {{"board_id", c.board_id},   {"secret", c.secret},         {"realm", c.realm},
                         {"wamp_url", c.wamp_url},   {"salt", c.salt},             {"iterations", c.iterations},
                         {"keylen", c.keylen},       {"conductor_url", c.conductor_url}};
  json["tls"] = {{"ca_pem", c.trust.ca_pem}, {"ca_file", c.trust.ca_file}, {"pin", c.trust.pin},
                 {"insecure", c.trust.insecure}};
  std::string data = json.dump(2) + "\n";

  EW_TRY_VOID(CredentialDirectory(path));
  // 0600 from the start (never world-readable, even briefly); durable before it replaces the old.
  return posix::WriteFileAtomically(fs::path(path), data, 0600);
}

ew::Result<Credential> ReadCredential(const std::string& path) {
  std::ifstream in(path);
  if (!in) {
    if (errno == ENOENT) return ew::NotFound("no credential at " + path);
    return IoError("cannot read", path, errno);
  }
  std::stringstream text;
  text << in.rdbuf();
  ew::json::ParseLimits limits;
  limits.what = path;
  // Room for the largest CA file `enrol --ca-file` takes, JSON-escaped, and the rest.
  limits.max_bytes = 2 * tls::kMaxCaFileBytes;
  auto parsed = ew::json::Parse(text.str(), limits);
  if (!parsed) return ew::InvalidArgument(parsed.error().message);
  const nlohmann::json& json = *parsed;
  if (!json.is_object()) return ew::InvalidArgument(path + " is not a JSON object");

  Credential c;
  try {
    c.board_id = json.value("board_id", "");
    c.secret = json.value("secret", "");
    c.realm = json.value("realm", "");
    c.wamp_url = json.value("wamp_url", "");
    c.salt = json.value("salt", "");
    c.iterations = json.value("iterations", 0);
    c.keylen = json.value("keylen", 0);
    c.conductor_url = json.value("conductor_url", "");
    if (json.contains("tls")) {
      const auto& tls = json.at("tls");
      if (!tls.is_object()) return ew::InvalidArgument(path + ": tls is not an object");
      c.trust.ca_pem = tls.value("ca_pem", "");
      c.trust.ca_file = tls.value("ca_file", "");
      c.trust.pin = tls.value("pin", "");
      c.trust.insecure = tls.value("insecure", false);
    }
  } catch (const nlohmann::json::exception& e) {
    return ew::InvalidArgument(path + ": wrong type of field: " + e.what());
  }
  auto valid = ValidateCredential(c);
  if (!valid) return ew::InvalidArgument(path + ": " + valid.error().message);
  return c;
}

}  // namespace ew::agent
