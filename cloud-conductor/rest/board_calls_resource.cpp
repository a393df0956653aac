// POST /v1/boards/{id}/calls/{procedure}: a WAMP call into the board through its reverse
// session. The answer comes from the gateway's callback on the router's strand.
#include <chrono>
#include <exception>

#include "cloud-conductor/rest/board_admin.hpp"
#include "cloud-conductor/rest/json_body.hpp"
#include "cloud-conductor/rest/resources.hpp"
#include "cloud-conductor/rest/validation.hpp"
#include "common/log/log.hpp"
#include "edgewire/v1/api.pb.h"

namespace ew::rest {

const ew::log::Logger Log{"rest"};

namespace {

// Longer calls belong to functions and flows, which have their own invocation API.
constexpr std::chrono::milliseconds kMaxCallTimeout = std::chrono::minutes(10);

struct ValidCall {
  std::string procedure;
  wamp::Payload payload;
  std::chrono::milliseconds timeout;
};

Result<ValidCall> ParseCall(const RestDeps& deps, const Exchange& exchange) {
  ValidCall call;
  call.procedure = exchange.Param("procedure");
  if (!IsValidProcedure(call.procedure))
    return InvalidArgument("procedure \"" + call.procedure +
                           "\" is not valid: use dotted components of a-z 0-9 _, like \"sys.ping\"");
  edgewire::v1::BoardCallRequest request;
  EW_TRY_VOID(ParseBody(exchange.request.body, &request, /*allow_empty=*/true));
  // Protobuf's parser reads {"args":{}} as an empty ListValue (the message form); say no.
  EW_TRY(const nlohmann::json shape, ParseJson(exchange.request.body, /*allow_empty=*/true));
  if (shape.is_object() && shape.contains("args") && !shape["args"].is_array() && !shape["args"].is_null())
    return InvalidArgument("args must be a JSON array");
  if (request.timeout_ms() < 0) return InvalidArgument("timeoutMs must not be negative");
  if (request.timeout_ms() > kMaxCallTimeout.count())
    return InvalidArgument("timeoutMs must not exceed " + std::to_string(kMaxCallTimeout.count()));
  call.timeout = request.timeout_ms() == 0 ? deps.config.call_timeout : std::chrono::milliseconds(request.timeout_ms());
  call.payload.args = ToWampValue(request.args());
  call.payload.kwargs = ToWampValue(request.kwargs());
  return call;
}

server::HttpResponse RenderResult(Result<wamp::Payload> result, double duration_ms) {
  if (!result) return ErrorResponse(result.error());
  edgewire::v1::BoardCallResponse response;
  // A board that answers something that has no JSON form broke the contract: a bad gateway.
  auto args = FromWampValue(result->args, response.mutable_args());
  auto kwargs = args ? FromWampValue(result->kwargs, response.mutable_kwargs()) : args;
  if (!kwargs) {
    auto bad = ErrorResponse(Error{ErrorCode::kInternal, "the board answered a result with no JSON form: " +
                                                             kwargs.error().message});
    bad.status = 502;
    return bad;
  }
  response.set_duration_ms(duration_ms);
  return JsonResponse(200, response);
}

void CallBoard(const RestDeps& deps, Exchange exchange) {
  auto call = ParseCall(deps, exchange);
  if (!call) return exchange.Reply(ErrorResponse(call.error()));
  if (IsConductorOnlyBoardProcedure(call->procedure)) {
    return exchange.Reply(
        ErrorResponse(Error{ErrorCode::kPermissionDenied, call->procedure + " is called by the conductor only"}));
  }
  if (IsAdminOnlyBoardProcedure(call->procedure)) {
    if (auto admin = RequireAdmin(exchange.principal); !admin) return exchange.Reply(ErrorResponse(admin.error()));
  }
  const std::string board_id = exchange.Param("id");
  auto board = AccessibleBoard(deps.store, exchange.principal, board_id);
  if (!board) return exchange.Reply(ErrorResponse(board.error()));

  Log()->debug("board={} call {} by {}", board_id, call->procedure, exchange.principal.name);
  const auto started = deps.clock.Steady();
  deps.gateway.CallBoard(
      board_id, call->procedure, std::move(call->payload), call->timeout,
      [&clock = deps.clock, started, exchange = std::move(exchange)](Result<wamp::Payload> result) {
        // Runs on the router's strand: nothing may escape.
        try {
          const double ms = std::chrono::duration<double, std::milli>(clock.Steady() - started).count();
          exchange.Reply(RenderResult(std::move(result), ms));
        } catch (const std::exception& e) {
          Log()->error("board call answer failed: {}", e.what());
          exchange.Reply(ErrorResponse(Error{ErrorCode::kInternal, "internal error"}));
        }
      });
}

}  // namespace

void AddBoardCallRoutes(RouteTable& routes, const RestDeps& deps) {
  routes.Add({"POST", "/v1/boards/{id}/calls/{procedure}", Access::kToken, Execution::kBlocking,
              [&deps](Exchange e) { CallBoard(deps, std::move(e)); }});
}

}  // namespace ew::rest
