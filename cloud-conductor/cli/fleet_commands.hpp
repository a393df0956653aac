// `edgewire fleet ...`: named groups of boards that functions are deployed to as one (REST
// /v1/fleets). F is a fleet id or name; BOARD a board id or name. Errors as in commands.hpp.
#pragma once

#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "cloud-conductor/cli/commands.hpp"
#include "common/error/error.hpp"

namespace ew::cli {

// The fleet object ({id, name, boardIds}) for an id or a name. NotFound when neither matches;
// InvalidArgument naming the ids when several fleets have the name.
Result<nlohmann::json> LookUpFleet(Context& ctx, const std::string& text);

Result<void> FleetCreate(Context& ctx, const std::string& name);
Result<void> FleetList(Context& ctx);
Result<void> FleetShow(Context& ctx, const std::string& fleet);
Result<void> FleetDelete(Context& ctx, const std::string& fleet);
// PUT (add) or DELETE (remove) each board's membership, in order; stops at the first error, so
// the boards before it are changed. --json prints the fleet afterwards.
Result<void> FleetAddBoards(Context& ctx, const std::string& fleet, const std::vector<std::string>& boards);
Result<void> FleetRemoveBoards(Context& ctx, const std::string& fleet, const std::vector<std::string>& boards);

}  // namespace ew::cli
