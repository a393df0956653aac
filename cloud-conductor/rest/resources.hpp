// Each resource file adds its routes to the table; helpers shared by several resources.
#pragma once

#include <functional>

#include <nlohmann/json.hpp>

#include "cloud-conductor/registry/page.hpp"
#include "cloud-conductor/rest/rest_api.hpp"
#include "cloud-conductor/rest/route_table.hpp"

namespace ew::rest {

void AddAuthRoutes(RouteTable& routes, const RestDeps& deps);       // auth_resource.cpp
void AddProjectRoutes(RouteTable& routes, const RestDeps& deps);    // projects_resource.cpp
void AddUserRoutes(RouteTable& routes, const RestDeps& deps);       // users_resource.cpp
void AddBoardRoutes(RouteTable& routes, const RestDeps& deps);      // boards_resource.cpp
void AddBoardCallRoutes(RouteTable& routes, const RestDeps& deps);  // board_calls_resource.cpp
void AddEnrolRoutes(RouteTable& routes, const RestDeps& deps);      // enrol_resource.cpp
void AddHealthRoutes(RouteTable& routes, const RestDeps& deps);     // health_resource.cpp
void AddFunctionRoutes(RouteTable& routes, const RestDeps& deps);   // functions_resource.cpp
void AddFleetRoutes(RouteTable& routes, const RestDeps& deps);      // fleets_resource.cpp
void AddGpioRoutes(RouteTable& routes, const RestDeps& deps);       // gpio_resource.cpp
void AddFlowRoutes(RouteTable& routes, const RestDeps& deps);       // flows_resource.cpp
void AddTunnelRoutes(RouteTable& routes, const RestDeps& deps);     // tunnels_resource.cpp
void AddTriggerRoutes(RouteTable& routes, const RestDeps& deps);    // triggers_resource.cpp
void AddAgentUpdateRoutes(RouteTable& routes, const RestDeps& deps);  // agent_updates_resource.cpp

// Adapts a handler that computes its answer (blocking is fine: it runs on the pool) into a
// RouteHandler; an error becomes its ErrorJson response.
RouteHandler Answer(std::function<Result<server::HttpResponse>(const Exchange&)> compute);

// Runs `compute` on the password-hashing pool (deps.hashing; inline when null) and answers
// with its result. When that pool's queue is full: 503 with Retry-After: 1, nothing done.
void AnswerOnHashPool(const RestDeps& deps, Exchange exchange,
                      std::function<Result<server::HttpResponse>(const Exchange&)> compute);

// PermissionDenied unless `who` is an admin.
Result<void> RequireAdmin(const auth::Principal& who);

// The board `id` if `who` may reach it: NotFound when it does not exist, PermissionDenied when
// it belongs to another project (the board exists, but not for this caller).
Result<edgewire::v1::Board> AccessibleBoard(registry::Store& store, const auth::Principal& who, const std::string& id);

// The query parameter `name` as an integer in [min, max], `fallback` when absent: the one way
// every resource reads an integer from the query. InvalidArgument naming the parameter, the
// range and the text otherwise (digits only: no sign, no spaces).
Result<int64_t> QueryInteger(const Exchange& exchange, const std::string& name, int64_t fallback, int64_t min,
                             int64_t max);
// The project a list request covers, "" meaning every project: for an admin, ?project= when
// given (any project, or every one when absent or empty); for anyone else always their own
// project, and PermissionDenied when ?project= names another. The one rule of every listing
// that can span projects (an empty ?project= once listed every project to anyone).
Result<std::string> ListedProject(const Exchange& exchange);
// The page a list request asks for: ?limit= (1 .. max_limit, default default_limit, read with
// QueryInteger) and ?cursor= (a nextCursor of an earlier answer). InvalidArgument for a limit
// that is not such an integer; the store judges the cursor.
Result<registry::PageRequest> PageOf(const Exchange& exchange, size_t default_limit = registry::kDefaultPageLimit,
                                     size_t max_limit = registry::kMaxPageLimit);
// A list answer: `message` in proto3 JSON, or `body`, with "nextCursor" added when there is
// more (next_cursor not empty).
server::HttpResponse PagedResponse(const google::protobuf::Message& message, const std::string& next_cursor);
server::HttpResponse PagedResponse(nlohmann::json body, const std::string& next_cursor);

// Fills status and session_peer from the live session table.
void FillLiveStatus(const router::BoardGateway& gateway, edgewire::v1::Board* board);

}  // namespace ew::rest
