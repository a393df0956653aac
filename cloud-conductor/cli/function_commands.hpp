// `edgewire fn ...`: upload function packages, deploy them to boards and fleets, invoke them and
// read their invocations (docs/FUNCTIONS.md, REST /v1/functions). FN is a function id, or a
// name, which stands for that name's newest version. Errors as in commands.hpp; `fn invoke` and
// `fn deploy --wait` exit kExitFunctionFailed (2) or kExitTimedOut (3), see function_format.hpp.
#pragma once

#include <chrono>
#include <istream>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "cloud-conductor/cli/commands.hpp"
#include "common/error/error.hpp"

namespace ew::cli {

struct DeployOptions {
  std::vector<std::string> boards;          // --board, ids or names; or
  std::string fleet;                        // --fleet, an id or a name
  std::vector<std::string> triggers;        // --trigger LINE[,EDGE[,DEBOUNCE_MS]]: GPIO edge triggers
  bool wait = false;                        // poll until every board is deployed or failed
  std::chrono::seconds timeout{120};        // --timeout, for --wait: a board's first package download
                                            // over a slow uplink takes tens of seconds
  std::chrono::milliseconds poll{250};      // between two GETs of the deployments while waiting
};

struct InvokeOptions {
  std::string board;       // --board, an id or a name; or
  bool cloud = false;      // --cloud: the conductor's cloud runtime; neither: placed by the conductor
  std::string strategy;    // --strategy: the placement strategy of this call ("" = the conductor's)
  std::string event;       // --event, JSON text; or
  std::string event_file;  // --event-file, a path or "-" for standard input; neither = {}
  bool async = false;      // return the invocation id at once
};

// The package bytes for `fn create`: a directory is packed with PackDirectory, a file is read;
// either way it is validated with InspectPackage, so a bad manifest is reported before any
// upload. InvalidArgument "<path>: function.json: timeoutMs: ..." naming the field;
// ResourceExhausted over the size limits.
Result<std::string> LoadPackage(const std::string& path);
// The event of `fn invoke`: `event` parsed, else the file (or `in` for "-") parsed, else {}.
// InvalidArgument naming the option for text that is not JSON or an unreadable file.
Result<nlohmann::json> ReadEvent(const std::string& event, const std::string& event_file, std::istream& in);

// The function object ({id, name, version, sha256, spec, ...}) for an id or a name. A name
// stands for its newest version (createdAt); with `unique`, a name with several versions is
// InvalidArgument listing their ids. NotFound when neither an id nor a name matches.
Result<nlohmann::json> LookUpFunction(Context& ctx, const std::string& text, bool unique = false);

Result<void> FunctionCreate(Context& ctx, const std::string& path);
Result<void> FunctionList(Context& ctx);
Result<void> FunctionDelete(Context& ctx, const std::string& fn);
// Prints a line per board state change while waiting; see DeploymentWatch.
Result<void> FunctionDeploy(Context& ctx, const std::string& fn, const DeployOptions& options);
Result<void> FunctionUndeploy(Context& ctx, const std::string& fn, const std::vector<std::string>& boards);
Result<void> FunctionDeployments(Context& ctx, const std::string& fn);
// Placement statistics of a function (GET .../stats), as a table or --json.
Result<void> FunctionStats(Context& ctx, const std::string& fn, const std::string& strategy);
// On success prints the function's output as one line of JSON (for `| jq`); on failure prints
// the function's logs to ctx.err() and returns the error with exit code 2 (failed) or 3 (timed
// out). --json prints the whole invocation record instead of the output, also on failure.
Result<void> FunctionInvoke(Context& ctx, const std::string& fn, const InvokeOptions& options);
// One invocation's status and logs; without `invocation`, the function's recent invocations.
Result<void> FunctionLogs(Context& ctx, const std::string& fn, const std::string& invocation);

}  // namespace ew::cli
