// What the function and fleet commands print, as pure functions so that tests can pin it down
// (format.hpp has the general ones): function, deployment, invocation and fleet tables, one
// invocation's details, the exit statuses of `fn invoke`.
#pragma once

#include <cstdint>
#include <map>
#include <string>

#include <nlohmann/json.hpp>

#include "common/contract/states.hpp"
#include "common/error/error.hpp"
#include "common/exit/exit_code.hpp"

namespace ew::cli {

// Exit statuses of `fn invoke` and `fn deploy --wait`, from the one convention of all three
// programs (common/exit/exit_code.hpp).
inline constexpr int kExitFunctionFailed = exit_code::kFunctionFailed;  // the function failed, or a deployment did
inline constexpr int kExitTimedOut = exit_code::kTimedOut;  // the function ran past its timeout, or the wait did

// An invocation record's "status", in the board contract's one enum (common/contract/states.hpp);
// an error when it is missing or not one the contract names.
Result<contract::InvocationStatus> InvocationStatusOf(const nlohmann::json& record);

// Where an invocation ran: its "boardId", "cloud" for {"target":"cloud"}, else "-".
std::string InvocationPlace(const nlohmann::json& record);

// "812 B", "2.1 KiB", "3.4 MiB".
std::string FormatBytes(uint64_t bytes);

// `fn list`: ID NAME VERSION SHA256 (its first 12 hex digits, enough to tell versions apart).
std::string RenderFunctionTable(const nlohmann::json& functions);
// `fn create`: "function NAME VERSION created: ID" and "sha256 HEX (SIZE)".
std::string RenderFunctionCreated(const nlohmann::json& function);
// `fn deployments`: BOARD STATE VERSION ERROR; "-" for an empty version or error.
std::string RenderDeploymentTable(const nlohmann::json& deployments);
// GET /v1/functions/{id}/stats as a table: RUNTIME AVAILABLE CALLS FAILURES MEAN-MS WEIGHT,
// lowest weight (the runtime placement would pick) first; weights not measured yet show "-".
std::string RenderStatsTable(const nlohmann::json& stats);
// `fn logs FN`: INVOCATION STATUS WHERE RUN-MS ERROR.
std::string RenderInvocationTable(const nlohmann::json& invocations);
// `fn logs FN INVOCATION`: "key: value" lines (invocation, status, where, runtime, timing,
// output, error), then "logs:" and the logs verbatim, or "logs:      -" when there are none.
std::string RenderInvocation(const nlohmann::json& record);

// `fleet ls`: ID NAME BOARDS (how many).
std::string RenderFleetTable(const nlohmann::json& fleets);
// `fleet show`: id, name, then "boards:" with one board per line, "ID (NAME)" when `names`
// (board id → name) knows it.
std::string RenderFleet(const nlohmann::json& fleet, const std::map<std::string, std::string>& names);

}  // namespace ew::cli
