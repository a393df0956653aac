// The conductor's records of serverless functions: functions and their versions,
// deployments and invocation records, in the registry's SQLite file (schema v2 of
// registry/migrations.cpp) on a connection of its own. Package bytes are not here: they live
// on disk under their sha256 (PackageStore).
//
// Thread-safe and blocking (every method holds the connection's mutex): call from the blocking
// pool. No method changes anything when it returns an error.
#pragma once

#include <algorithm>
#include <cstdint>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <unordered_map>
#include <vector>

#include <SQLiteCpp/Database.h>
#include <nlohmann/json.hpp>

#include "cloud-conductor/placement/placement_book.hpp"
#include "cloud-conductor/registry/page.hpp"
#include "cloud-conductor/registry/sqlite_connection.hpp"
#include "common/contract/states.hpp"
#include "common/error/error.hpp"
#include "common/gpio/trigger_spec.hpp"
#include "containers/package/function_spec.hpp"

namespace ew::functions {

struct FunctionVersion {
  int64_t seq = 0;          // 1, 2, ... per function, in upload order
  std::string version;      // function.json "version"
  std::string sha256;       // the package's content address
  uint64_t size = 0;        // package bytes
  containers::FunctionSpec spec;  // function.json, typed from upload to container (stored as its canonical JSON)
  int64_t created_at = 0;   // unix seconds
};

struct FunctionRecord {
  std::string id;           // "fn-…"
  std::string project_id;
  std::string name;
  int64_t created_at = 0;
  FunctionVersion latest;
};

using contract::DeploymentState;
using contract::InvocationStatus;

// What a board should run and how far it got: pending (board offline) → deploying → deployed
// or failed (error says why). The one Deployment of the conductor (the board's own record of a
// deployed function is contract::fn::DeployedFunction).
struct Deployment {
  std::string function_id;
  std::string board_id;
  std::string version;
  std::string sha256;
  uint64_t size = 0;
  DeploymentState state = DeploymentState::kPending;
  std::string error;
  int64_t updated_at = 0;
  std::vector<gpio::TriggerSpec> triggers;  // GPIO edge triggers the board binds
};

// One invocation as the conductor records it: the one Invocation of the conductor (the WAMP
// message is wamp::Invocation; the agent's incoming call is rpc::Request).
struct Invocation {
  std::string id;           // "inv-…"
  std::string function_id;
  std::string target;       // board id or "cloud"
  InvocationStatus status = InvocationStatus::kRunning;
  nlohmann::json record;    // the invocation record (docs/FUNCTIONS.md)
  int64_t created_at = 0;
};

// What an invocation list shows of each record: everything but the output and the logs (those
// are fetched one invocation at a time), so that a page stays small whatever the functions print.
struct InvocationSummary {
  std::string id;
  std::string function_id;
  std::string target;
  InvocationStatus status = InvocationStatus::kRunning;
  nlohmann::json record;    // SummarizeRecord (stored_record.hpp) of the record: no output, no logs
  int64_t created_at = 0;
};

using registry::Page;
using registry::PageRequest;

// Which invocations a list shows (all by default): created in [from, to] (unix seconds, both
// ends included) and run on `target` (a board id or "cloud"; "" = anywhere).
struct InvocationFilter {
  std::optional<int64_t> from;
  std::optional<int64_t> to;
  std::string target;
};

class FunctionStore {
 public:
  // Opens `path` (the registry's file, already migrated by OpenSqliteStore). ":memory:" gives a
  // private database with the schema applied and foreign keys off (there is no registry to
  // point at): for tests.
  static Result<std::unique_ptr<FunctionStore>> Open(const std::string& path);
  explicit FunctionStore(SQLite::Database db);

  // Adds a version of function `name` in `project_id`, creating the function (id `new_id`) on
  // its first upload. Uploading a package the function already has (same sha256) changes
  // nothing and returns the function as it is. Returns the function with `latest` = the version.
  Result<FunctionRecord> AddVersion(const std::string& project_id, const std::string& name, const std::string& new_id,
                                    const FunctionVersion& version);
  Result<FunctionRecord> GetFunction(const std::string& id);
  // The function named `name` in `project_id` (names are unique there); nullopt when none.
  Result<std::optional<FunctionRecord>> FindFunction(const std::string& project_id, const std::string& name);
  // project_id "" lists every function; ordered by name (then id), one page (registry/page.hpp);
  // InvalidArgument for a bad limit or cursor.
  Result<Page<FunctionRecord>> ListFunctions(const std::string& project_id, const PageRequest& page);
  Result<std::vector<FunctionVersion>> ListVersions(const std::string& function_id);
  // The version of the function with package `sha256`; NotFound if it has none.
  Result<FunctionVersion> GetVersion(const std::string& function_id, const std::string& sha256);
  // NotFound if absent; removes its versions, deployments and invocations with it.
  Result<void> DeleteFunction(const std::string& id);
  // Whether any function still has a version with this package (for deleting package files).
  Result<bool> PackageReferenced(const std::string& sha256);

  // Deployments, one per (function, board): Put replaces the previous one.
  Result<void> PutDeployment(const Deployment& deployment);
  // Sets state and error, only if the deployment still names `sha256` (a newer deploy wins).
  // Returns false when it did not apply.
  Result<bool> SetDeploymentState(const std::string& function_id, const std::string& board_id,
                                  const std::string& sha256, DeploymentState state, const std::string& error,
                                  int64_t now);
  Result<std::optional<Deployment>> GetDeployment(const std::string& function_id, const std::string& board_id);
  // Every deployment of the function (the service's own bookkeeping), ordered by board.
  Result<std::vector<Deployment>> ListDeployments(const std::string& function_id);
  // One page of them, ordered by board.
  Result<Page<Deployment>> ListDeployments(const std::string& function_id, const PageRequest& page);
  Result<std::vector<Deployment>> BoardDeployments(const std::string& board_id);
  // NotFound when there is none.
  Result<void> DeleteDeployment(const std::string& function_id, const std::string& board_id);
  // Whether a deployment of package `sha256` targets `board_id` (what fn.fetch allows).
  Result<bool> PackageDeployedTo(const std::string& sha256, const std::string& board_id);

  // Invocations: Put inserts or replaces, then keeps the newest `keep` of the function. The
  // trim's cost grows with `keep`: it runs on the function's first Put in this process and then
  // on every PutsPerTrim(keep)-th, so the newest `keep` are always there and at most
  // keep + PutsPerTrim(keep) - 1 records (about 6 % more).
  Result<void> PutInvocation(const Invocation& invocation, size_t keep);
  static size_t PutsPerTrim(size_t keep) { return std::max<size_t>(1, keep / 16); }
  Result<Invocation> GetInvocation(const std::string& function_id, const std::string& id);
  // Newest first, one page of summaries: the output and logs stay in the store (SQLite's JSON
  // functions drop them in the query).
  Result<Page<InvocationSummary>> ListInvocations(const std::string& function_id, const PageRequest& page,
                                                  const InvocationFilter& filter = {});
  // Every invocation still "running" becomes "failed" with `error` (its record's status and
  // error too): at startup, for the invocations a killed conductor left in flight, whose
  // outcome can no longer arrive. Returns how many changed.
  Result<size_t> FailRunningInvocations(const std::string& error);

  // Placement statistics (registry v8): what PlacementBook learnt, kept across restarts. Put
  // replaces the rows of each function given, all in one transaction (a batch of the functions
  // service, not one call); a function deleted meanwhile is skipped. Load returns every
  // function's, for PlacementBook::Restore at start.
  Result<void> PutPlacementStats(const std::vector<placement::FunctionState>& functions);
  Result<std::vector<placement::FunctionState>> LoadPlacementStats();

 private:
  registry::SqliteConnection connection_;  // every method runs its statements in connection_.Run
  SQLite::Database& db_;                   // connection_'s database: inside connection_.Run only
  // Puts since the function's records were last trimmed (PutInvocation): inside connection_.Run.
  std::unordered_map<std::string, size_t> puts_since_trim_;
};

}  // namespace ew::functions
