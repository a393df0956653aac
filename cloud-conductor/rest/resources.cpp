// Helpers the resource files share: answering from a computed result, and who may reach what.
#include "cloud-conductor/rest/resources.hpp"

#include "cloud-conductor/rest/json_body.hpp"
#include "common/log/log.hpp"

namespace ew::rest {

const ew::log::Logger Log{"rest"};

RouteHandler Answer(std::function<Result<server::HttpResponse>(const Exchange&)> compute) {
  return [compute = std::move(compute)](Exchange exchange) {
    auto response = compute(exchange);
    if (!response && response.error().code == ErrorCode::kInternal)
      Log()->error("{} {}: {}", exchange.request.method, exchange.request.path, response.error().message);
    exchange.Reply(response ? std::move(*response) : ErrorResponse(response.error()));
  };
}

void AnswerOnHashPool(const RestDeps& deps, Exchange exchange,
                      std::function<Result<server::HttpResponse>(const Exchange&)> compute) {
  auto handler = Answer(std::move(compute));
  if (!deps.hashing) return handler(std::move(exchange));
  auto shared = std::make_shared<Exchange>(std::move(exchange));
  auto respond = shared->respond;
  if (deps.hashing->TryPost([handler, shared] { handler(std::move(*shared)); })) return;
  Log()->warn("password hashing queue full: {} {} refused with 503", shared->request.method,
                         shared->request.path);
  handler = nullptr;  // what the job held (a login's limiter slot) is given back before the answer
  server::HttpResponse busy =
      ErrorResponse(Error{ErrorCode::kUnavailable, "too many password checks in progress; retry in a second"});
  busy.headers.emplace_back("Retry-After", "1");
  respond(std::move(busy));
}

Result<void> RequireAdmin(const auth::Principal& who) {
  if (who.is_admin()) return Ok();
  return PermissionDenied("this needs the admin role; " + who.name + " is " + auth::RoleName(who.role));
}

Result<edgewire::v1::Board> AccessibleBoard(registry::Store& store, const auth::Principal& who, const std::string& id) {
  EW_TRY(auto board, store.GetBoard(id));
  if (!auth::Authenticator::CanAccessProject(who, board.project_id()))
    return PermissionDenied("board " + id + " belongs to another project");
  return board;
}

Result<int64_t> QueryInteger(const Exchange& exchange, const std::string& name, int64_t fallback, int64_t min,
                             int64_t max) {
  auto it = exchange.request.query.find(name);
  if (it == exchange.request.query.end()) return fallback;
  const std::string& text = it->second;
  // At most 18 digits: any such number fits in int64_t, so std::stoll cannot throw.
  const bool digits = !text.empty() && text.size() <= 18 && text.find_first_not_of("0123456789") == std::string::npos;
  const int64_t value = digits ? std::stoll(text) : -1;
  if (!digits || value < min || value > max)
    return InvalidArgument(name + " must be an integer from " + std::to_string(min) + " to " + std::to_string(max) +
                           ", not \"" + text + "\"");
  return value;
}

Result<std::string> ListedProject(const Exchange& exchange) {
  const auth::Principal& who = exchange.principal;
  auto filter = exchange.request.query.find("project");
  const std::string asked = filter == exchange.request.query.end() ? "" : filter->second;
  if (who.is_admin()) return asked;
  if (!asked.empty() && asked != who.project_id) return PermissionDenied("project " + asked + " is not yours");
  return who.project_id;
}

Result<registry::PageRequest> PageOf(const Exchange& exchange, size_t default_limit, size_t max_limit) {
  registry::PageRequest page;
  EW_TRY(const int64_t limit, QueryInteger(exchange, "limit", static_cast<int64_t>(default_limit), 1,
                                           static_cast<int64_t>(max_limit)));
  page.limit = static_cast<size_t>(limit);
  const auto& query = exchange.request.query;
  if (auto it = query.find("cursor"); it != query.end()) page.cursor = it->second;  // "" = the first page
  return page;
}

server::HttpResponse PagedResponse(const google::protobuf::Message& message, const std::string& next_cursor) {
  server::HttpResponse response = JsonResponse(200, message);
  // The cursor is base64url (registry/page.hpp): nothing to escape.
  if (!next_cursor.empty() && response.body.size() >= 2 && response.body.back() == '}') {
    response.body.pop_back();
    response.body += (response.body.size() > 1 ? ",\"nextCursor\":\"" : "\"nextCursor\":\"") + next_cursor + "\"}";
  }
  return response;
}

server::HttpResponse PagedResponse(nlohmann::json body, const std::string& next_cursor) {
  if (!next_cursor.empty()) body["nextCursor"] = next_cursor;
  return JsonResponse(200, body);
}

void FillLiveStatus(const router::BoardGateway& gateway, edgewire::v1::Board* board) {
  if (auto presence = gateway.Presence(board->id())) {
    board->set_status("online");
    board->set_session_peer(presence->peer);
  } else {
    board->set_status(board->enrolled_at() > 0 ? "offline" : "pending");
    board->clear_session_peer();
  }
}

}  // namespace ew::rest
