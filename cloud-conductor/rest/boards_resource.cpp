// /v1/boards: register a board (its one-time enrolment code is in the creation answer only),
// list and show boards with their live status, delete a board and drop its session.
#include "cloud-conductor/agents/rollout_manager.hpp"
#include "cloud-conductor/rest/json_body.hpp"
#include "cloud-conductor/rest/resources.hpp"
#include "cloud-conductor/tunnels/tunnel_manager.hpp"
#include "cloud-conductor/rest/validation.hpp"
#include "common/ids/ids.hpp"
#include "common/log/log.hpp"
#include "edgewire/v1/api.pb.h"

namespace ew::rest {

const ew::log::Logger Log{"rest"};

namespace {

// 12 random bytes: 16 base64url characters, short enough to type on a board's console.
constexpr size_t kEnrolmentCodeBytes = 12;

// Live status, and the versions its agent last reported (issue 16).
void FillLive(const RestDeps& deps, edgewire::v1::Board* board) {
  FillLiveStatus(deps.gateway, board);
  if (!deps.rollouts) return;
  if (auto versions = deps.rollouts->VersionsOf(board->id())) {
    board->set_agent_version(versions->agent_version);
    board->set_package_version(versions->package_version);
  }
}

Result<server::HttpResponse> ListBoards(const RestDeps& deps, const Exchange& exchange) {
  EW_TRY(const std::string project, ListedProject(exchange));
  EW_TRY(auto page, PageOf(exchange));
  EW_TRY(auto boards, deps.store.ListBoards(project, page));
  edgewire::v1::ListBoardsResponse response;
  for (auto& board : boards.items) {
    FillLive(deps, &board);
    *response.add_boards() = std::move(board);
  }
  return PagedResponse(response, boards.next_cursor);
}

Result<server::HttpResponse> CreateBoard(const RestDeps& deps, const Exchange& exchange) {
  const auth::Principal& who = exchange.principal;
  edgewire::v1::CreateBoardRequest request;
  EW_TRY_VOID(ParseBody(exchange.request.body, &request));
  EW_TRY_VOID(CheckName("name", request.name()));
  EW_TRY_VOID(CheckLabels(request.labels()));
  if (request.project_id().empty()) request.set_project_id(who.project_id);
  if (!auth::Authenticator::CanAccessProject(who, request.project_id()))
    return PermissionDenied("project " + request.project_id() + " is not yours");
  auto project = deps.store.GetProject(request.project_id());
  if (!project) {
    if (project.error().code == ErrorCode::kNotFound)
      return InvalidArgument("project " + request.project_id() + " does not exist");
    return tl::unexpected(project.error());
  }

  const int64_t now = UnixSeconds(deps.clock.Now());
  edgewire::v1::CreateBoardResponse response;
  edgewire::v1::Board& board = *response.mutable_board();
  board.set_id(ids::NewId("brd"));
  board.set_name(request.name());
  board.set_project_id(request.project_id());
  board.set_created_at(now);
  *board.mutable_labels() = request.labels();
  const std::string code = ids::NewSecret(kEnrolmentCodeBytes);
  const int64_t expires_at = now + deps.config.enrolment_code_ttl.count();
  EW_TRY_VOID(deps.store.CreateBoard(board, ids::Sha256Hex(code), expires_at));
  board.set_status("pending");
  response.set_enrolment_code(code);
  response.set_enrolment_code_expires_at(expires_at);
  Log()->info("board {} ({}) created in project {} by {}", board.name(), board.id(), board.project_id(),
                         who.name);
  return JsonResponse(201, response);
}

Result<server::HttpResponse> GetBoard(const RestDeps& deps, const Exchange& exchange) {
  EW_TRY(auto board, AccessibleBoard(deps.store, exchange.principal, exchange.Param("id")));
  FillLive(deps, &board);
  return JsonResponse(200, board);
}

Result<server::HttpResponse> DeleteBoard(const RestDeps& deps, const Exchange& exchange) {
  EW_TRY(auto board, AccessibleBoard(deps.store, exchange.principal, exchange.Param("id")));
  EW_TRY_VOID(deps.store.DeleteBoard(board.id()));
  deps.gateway.DisconnectBoard(board.id());
  // Its services' rows went with it: their ports and connections, and its proxied
  // connections, close too (security review M1).
  if (deps.tunnels) deps.tunnels->CloseBoard(board.id());
  Log()->info("board {} ({}) deleted by {}", board.name(), board.id(), exchange.principal.name);
  return NoContent();
}

}  // namespace

void AddBoardRoutes(RouteTable& routes, const RestDeps& deps) {
  routes.Add({"GET", "/v1/boards", Access::kToken, Execution::kBlocking,
              Answer([&deps](const Exchange& e) { return ListBoards(deps, e); })});
  routes.Add({"POST", "/v1/boards", Access::kToken, Execution::kBlocking,
              Answer([&deps](const Exchange& e) { return CreateBoard(deps, e); })});
  routes.Add({"GET", "/v1/boards/{id}", Access::kToken, Execution::kBlocking,
              Answer([&deps](const Exchange& e) { return GetBoard(deps, e); })});
  routes.Add({"DELETE", "/v1/boards/{id}", Access::kToken, Execution::kBlocking,
              Answer([&deps](const Exchange& e) { return DeleteBoard(deps, e); })});
}

}  // namespace ew::rest
