// The invoking half of the conductor's functions: runs an invocation on a board (through its
// reverse session) or in the cloud runtime, labels its record and stores it when it ends.
// See docs/FUNCTIONS.md.
//
// Threading: Invoke blocks on the store (the deployment check): call it from the blocking
// pool. `done` runs on the router's strand or a container worker thread; the record is stored
// from the pool right after it.
#pragma once

#include <chrono>
#include <functional>
#include <optional>
#include <string>

#include <boost/asio/thread_pool.hpp>
#include <nlohmann/json.hpp>

#include "cloud-conductor/functions/cloud_runtime.hpp"
#include "cloud-conductor/functions/function_store.hpp"
#include "cloud-conductor/functions/invocation_outcome.hpp"
#include "cloud-conductor/functions/stored_record.hpp"
#include "cloud-conductor/router/board_gateway.hpp"
#include "common/clock/clock.hpp"
#include "common/error/error.hpp"

namespace ew::functions {

struct InvokerOptions {
  std::chrono::milliseconds invoke_grace{30'000};  // on top of the function's timeout (queueing)
  size_t invocations_kept = 1000;                  // records kept per function
  StoredRecordLimits stored_record;                // output and logs kept per stored record
};

struct InvokeOptions {
  bool async = false;
  // How long the caller waits for the answer; nullopt = the function's timeoutMs + invoke_grace.
  // Past it the record says timed_out; the function may still finish where it runs, and that
  // late result is dropped.
  std::optional<std::chrono::milliseconds> wait;
};

class Invoker {
 public:
  using OutcomeDone = std::function<void(InvocationOutcome)>;

  // Everything passed by reference outlives the invoker.
  Invoker(FunctionStore& store, router::BoardGateway& gateway, boost::asio::thread_pool& blocking, const Clock& clock,
          CloudRuntime& cloud, InvokerOptions options);

  // Runs the function on `target` (a board id, or "cloud") with `event`, and returns the new
  // invocation's id. Errors before anything runs (nothing stored): InvalidArgument (cloud for a
  // boardOnly function, or a board for a cloudOnly one), Conflict (not deployed on that board,
  // or its deployment failed or is pending), Unavailable (board offline). Once it started, the
  // record is stored when it ends (with status "running" until then when `options.async`), and
  // `done` (may be null) gets the outcome; no cloud runtime is an Unavailable outcome.
  Result<std::string> Invoke(const FunctionRecord& function, const std::string& target, nlohmann::json event,
                             const InvokeOptions& options, OutcomeDone done = nullptr);

 private:
  struct Prepared {
    std::string id;
    std::string target;
    FunctionVersion version;  // what runs: the board's deployed version, or the latest in the cloud
    std::chrono::milliseconds wait{0};
    int64_t created_at = 0;
  };
  Result<Prepared> Prepare(const FunctionRecord& function, const std::string& target, const InvokeOptions& options);
  void RunOnBoard(const FunctionRecord& function, const Prepared& prepared, nlohmann::json event, OutcomeDone done);
  void RunInCloud(const FunctionRecord& function, const Prepared& prepared, nlohmann::json event, OutcomeDone done);
  void Store(const FunctionRecord& function, const Prepared& prepared, const nlohmann::json& record);

  FunctionStore& store_;
  router::BoardGateway& gateway_;
  boost::asio::thread_pool& blocking_;
  const Clock& clock_;
  CloudRuntime& cloud_;
  InvokerOptions options_;
};

}  // namespace ew::functions
