// Board management (issue 16): POST /v1/boards/{id}/restart, POST /v1/boards/{id}/reboot and
// GET /v1/boards/{id}/logs, each one call of the board contract's sys.restart / sys.reboot /
// sys.logs through the board's session. restart and logs: any user who reaches the board (its
// project's operators, admins); reboot: admins only (a board that does not come back from a
// reboot needs someone at the board).
#include <chrono>
#include <exception>

#include "cloud-conductor/rest/board_admin.hpp"
#include "cloud-conductor/rest/json_body.hpp"
#include "cloud-conductor/rest/resources.hpp"
#include "common/contract/sys.hpp"
#include "common/contract/tunnel.hpp"
#include "common/contract/update.hpp"
#include "common/log/log.hpp"
#include "common/wamp/uri.hpp"

namespace ew::rest {

namespace {

const ew::log::Logger Log{"rest"};
namespace sys = contract::sys;

// Restart and reboot answer at once (the board acts after it answered); logs are in memory.
constexpr std::chrono::seconds kBoardAdminTimeout{10};

// Calls `procedure` on the board and answers its reply, checked against the contract: a reply
// that does not parse as Reply is the board's fault (502).
template <typename Procedure>
void CallAndAnswer(const RestDeps& deps, Exchange exchange, const Procedure& procedure,
                   const typename Procedure::RequestType& request) {
  const std::string board_id = exchange.Param("id");
  auto board = AccessibleBoard(deps.store, exchange.principal, board_id);
  if (!board) return exchange.Reply(ErrorResponse(board.error()));
  Log()->info("board={} {} by {}", board_id, procedure.suffix, exchange.principal.name);
  deps.gateway.CallBoard(board_id, procedure.suffix, request.ToPayload(), kBoardAdminTimeout,
                         [exchange = std::move(exchange)](Result<wamp::Payload> result) {
                           // Runs on the router's strand: nothing may escape.
                           try {
                             if (!result) return exchange.Reply(ErrorResponse(result.error()));
                             auto reply = Procedure::ReplyType::Parse(*result);
                             if (!reply) {
                               auto bad = ErrorResponse(Error{ErrorCode::kInternal, "the board broke the contract: " +
                                                                                        reply.error().message});
                               bad.status = 502;
                               return exchange.Reply(std::move(bad));
                             }
                             exchange.Reply(JsonResponse(200, reply->ToPayload().kwargs));
                           } catch (const std::exception& e) {
                             Log()->error("board admin answer failed: {}", e.what());
                             exchange.Reply(ErrorResponse(Error{ErrorCode::kInternal, "internal error"}));
                           }
                         });
}

void Restart(const RestDeps& deps, Exchange exchange) {
  CallAndAnswer(deps, std::move(exchange), sys::kRestart, contract::Empty{});
}

void Reboot(const RestDeps& deps, Exchange exchange) {
  if (auto admin = RequireAdmin(exchange.principal); !admin) return exchange.Reply(ErrorResponse(admin.error()));
  CallAndAnswer(deps, std::move(exchange), sys::kReboot, contract::Empty{});
}

void Logs(const RestDeps& deps, Exchange exchange) {
  if (auto follow = exchange.request.query.find("follow"); follow != exchange.request.query.end()) {
    if (follow->second == "true" || follow->second == "1") return FollowLogs(deps, std::move(exchange));
    if (follow->second != "false" && follow->second != "0")
      return exchange.Reply(ErrorResponse(Error{ErrorCode::kInvalidArgument, "follow must be true or false, not \"" +
                                                          follow->second.substr(0, 32) + "\""}));
  }
  auto lines = QueryInteger(exchange, "lines", sys::LogsRequest::kDefaultLogLines, 1, sys::LogsRequest::kMaxLogLines);
  if (!lines) return exchange.Reply(ErrorResponse(lines.error()));
  sys::LogsRequest request;
  request.lines = static_cast<int32_t>(*lines);
  CallAndAnswer(deps, std::move(exchange), sys::kLogs, request);
}

}  // namespace

void AddBoardAdminRoutes(RouteTable& routes, const RestDeps& deps) {
  routes.Add({"POST", "/v1/boards/{id}/restart", Access::kToken, Execution::kBlocking,
              [&deps](Exchange e) { Restart(deps, std::move(e)); }});
  routes.Add({"POST", "/v1/boards/{id}/reboot", Access::kToken, Execution::kBlocking,
              [&deps](Exchange e) { Reboot(deps, std::move(e)); }});
  routes.Add({"GET", "/v1/boards/{id}/logs", Access::kToken, Execution::kBlocking,
              [&deps](Exchange e) { Logs(deps, std::move(e)); }});
}

bool IsAdminOnlyBoardProcedure(const std::string& procedure) {
  // sys.update installs software as root on the board: it can brick it (issue 16).
  return procedure == sys::kReboot.suffix || procedure == contract::update::kUpdate.suffix;
}

bool IsConductorOnlyBoardProcedure(const std::string& procedure) {
  return wamp::HasPrefix(procedure, contract::tunnel::kPrefix);
}

}  // namespace ew::rest
