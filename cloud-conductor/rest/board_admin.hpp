// Board management routes (issue 16): restart, reboot, logs. Separate from resources.hpp so that
// the admin-only rule is visible to the one other route that can reach sys.reboot.
#pragma once

#include <string>

#include "cloud-conductor/rest/rest_api.hpp"
#include "cloud-conductor/rest/route_table.hpp"

namespace ew::rest {

// POST /v1/boards/{id}/restart, POST /v1/boards/{id}/reboot, GET /v1/boards/{id}/logs.
void AddBoardAdminRoutes(RouteTable& routes, const RestDeps& deps);

// Board procedures only admins may call, whichever route reaches them (sys.reboot): the generic
// POST /v1/boards/{id}/calls/{procedure} checks this too.
bool IsAdminOnlyBoardProcedure(const std::string& procedure);

}  // namespace ew::rest
