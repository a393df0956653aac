// POST /v1/enrol: a board trades its one-time code for a WAMP-CRA secret. No token: the code is
// the credential, so an unknown code and a used one get the same answer.
#include <cctype>

#include "cloud-conductor/rest/json_body.hpp"
#include "cloud-conductor/rest/resources.hpp"
#include "common/ids/ids.hpp"
#include "common/log/log.hpp"
#include "edgewire/v1/api.pb.h"

namespace ew::rest {

const ew::log::Logger Log{"rest"};

namespace {

constexpr size_t kSecretBytes = 32;
constexpr size_t kSaltBytes = 16;
// Salted WAMP-CRA: the derived key is what both sides sign with. Autobahn derives it on every
// connect, so the cost stays modest for a Pi.
constexpr int kIterations = 1000;
constexpr int kKeyLength = 32;
constexpr size_t kMaxHostnameLength = 253;

// A Host header fit to put in a URL: host name or address characters and a port, nothing that
// could turn the URL handed to the board into another one ("evil/x", "a@b").
bool IsPlainHost(const std::string& host) {
  if (host.empty() || host.size() > 260) return false;
  for (char c : host) {
    const bool ok = std::isalnum(static_cast<unsigned char>(c)) || c == '.' || c == '-' || c == ':' || c == '[' ||
                    c == ']' || c == '_';
    if (!ok) return false;
  }
  return true;
}

Result<std::string> WampUrl(const RestDeps& deps, const server::HttpRequest& request) {
  if (!deps.config.public_url.empty()) return deps.config.public_url;
  std::string host = request.Header("host");
  if (host.empty()) host = deps.config.listen_address + ":" + std::to_string(deps.config.port);
  if (!IsPlainHost(host)) return InvalidArgument("the Host header is not a plain host[:port]");
  // A conductor serving TLS hands out wss://; one behind a TLS proxy (allow_plain) sets public_url.
  return (deps.config.tls_cert.empty() ? "ws://" : "wss://") + host + "/ws";
}

Result<server::HttpResponse> Enrol(const RestDeps& deps, const Exchange& exchange) {
  edgewire::v1::EnrolRequest request;
  EW_TRY_VOID(ParseBody(exchange.request.body, &request));
  if (request.code().empty()) return InvalidArgument("code is required");
  if (request.hostname().size() > kMaxHostnameLength) return InvalidArgument("hostname is too long");
  // Checked before the code is used up, so that a bad request leaves the code usable.
  EW_TRY(std::string wamp_url, WampUrl(deps, exchange.request));

  const std::string secret = ids::NewSecret(kSecretBytes);
  edgewire::v1::BoardCredential credential;
  credential.set_salt(ids::NewSecret(kSaltBytes));
  credential.set_iterations(kIterations);
  credential.set_keylen(kKeyLength);
  credential.set_derived_key(ids::WampCraDeriveKey(secret, credential.salt(), kIterations, kKeyLength));

  auto board = deps.store.ConsumeEnrolmentCode(ids::Sha256Hex(request.code()), UnixSeconds(deps.clock.Now()),
                                               credential);
  if (!board) {
    switch (board.error().code) {
      case ErrorCode::kNotFound:
        Log()->info("enrolment refused: unknown or used code (host \"{}\", peer {})",
                               log::Untrusted(request.hostname()), exchange.request.peer);
        return Unauthenticated("invalid enrolment code");
      case ErrorCode::kDeadlineExceeded:
        Log()->info("enrolment refused: {} (host \"{}\", peer {})", board.error().message,
                               log::Untrusted(request.hostname()), exchange.request.peer);
        return Unauthenticated("enrolment code expired");
      default:
        return tl::unexpected(board.error());
    }
  }
  Log()->info("board={} enrolled: {} (host \"{}\", peer {})", board->id(), board->name(),
                         log::Untrusted(request.hostname()), exchange.request.peer);

  edgewire::v1::EnrolResponse response;
  response.set_board_id(board->id());
  response.set_secret(secret);
  response.set_realm(deps.config.realm);
  response.set_wamp_url(wamp_url);
  response.set_salt(credential.salt());
  response.set_iterations(credential.iterations());
  response.set_keylen(credential.keylen());
  return JsonResponse(200, response);
}

}  // namespace

void AddEnrolRoutes(RouteTable& routes, const RestDeps& deps) {
  routes.Add({"POST", "/v1/enrol", Access::kPublic, Execution::kBlocking,
              Answer([&deps](const Exchange& e) { return Enrol(deps, e); })});
}

}  // namespace ew::rest
