#include "cloud-conductor/functions/invoker.hpp"

#include <boost/asio/post.hpp>

#include "common/contract/fn.hpp"
#include "common/ids/ids.hpp"
#include "common/log/log.hpp"

namespace ew::functions {

using nlohmann::json;

namespace {

const ew::log::Logger Log{"functions"};

namespace fn = contract::fn;

// The status of an outcome's record (set by the board, the cloud host or OutcomeOfError).
InvocationStatus StatusOf(const json& record) {
  auto status = contract::ParseInvocationStatus(record.value("status", ""));
  return status ? *status : InvocationStatus::kFailed;
}

}  // namespace

Invoker::Invoker(FunctionStore& store, router::BoardGateway& gateway, boost::asio::thread_pool& blocking,
                 const Clock& clock, CloudRuntime& cloud, InvokerOptions options)
    : store_(store), gateway_(gateway), blocking_(blocking), clock_(clock), cloud_(cloud), options_(std::move(options)) {}

Result<Invoker::Prepared> Invoker::Prepare(const FunctionRecord& function, const std::string& target,
                                                             const InvokeOptions& options) {
  Prepared prepared;
  prepared.target = target;
  prepared.version = function.latest;
  if (target == kCloudTarget) {
    if (function.latest.spec.board_only)
      return InvalidArgument("function " + function.name + " is boardOnly: it cannot run in the cloud");
  } else {
    if (function.latest.spec.cloud_only)
      return InvalidArgument("function " + function.name + " is cloudOnly: it cannot run on a board");
    EW_TRY(auto deployment, store_.GetDeployment(function.id, target));
    if (!deployment) return Conflict("function " + function.name + " is not deployed on board " + target);
    if (deployment->state == DeploymentState::kFailed)
      return Conflict("the deployment of function " + function.name + " on board " + target +
                      " failed (" + deployment->error + "): deploy it again");
    if (!gateway_.Presence(target)) return Unavailable("board " + target + " is offline");
    // "deploying" is let through: a returning board is redeployed what it already runs.
    if (deployment->state == DeploymentState::kPending)
      return Conflict("function " + function.name + " is not deployed on board " + target + " yet (pending)");
    // The board runs the version it was given, with that version's limits.
    EW_TRY(prepared.version, store_.GetVersion(function.id, deployment->sha256));
  }
  prepared.wait = options.wait.value_or(
      prepared.version.spec.timeout + options_.invoke_grace);
  prepared.id = ids::NewId("inv");
  prepared.created_at = UnixSeconds(clock_.Now());
  return prepared;
}

Result<std::string> Invoker::Invoke(const FunctionRecord& function, const std::string& target, json event,
                                             const InvokeOptions& options, OutcomeDone done) {
  EW_TRY(Prepared prepared, Prepare(function, target, options));
  if (options.async) {
    json running = {{"status", "running"}};
    LabelRecord(running, prepared.id, prepared.target);
    Store(function, prepared, running);
  }
  auto finish = [this, function, prepared, done = std::move(done)](InvocationOutcome outcome) mutable {
    LabelRecord(outcome.record, prepared.id, prepared.target);
    // The caller gets the record in the answer, so the store write comes after it: off the
    // invocation's path (a burst of 100 otherwise queues 100 SQLite commits on the pool first).
    json record = outcome.record;
    if (done) done(std::move(outcome));
    boost::asio::post(blocking_, [this, function, prepared, record = std::move(record)] {
      Store(function, prepared, record);
    });
  };
  Log()->debug("invocation {} of {} on {}", prepared.id, function.id, prepared.target);
  if (prepared.target == kCloudTarget) {
    RunInCloud(function, prepared, std::move(event), std::move(finish));
  } else {
    RunOnBoard(function, prepared, std::move(event), std::move(finish));
  }
  return prepared.id;
}

void Invoker::RunOnBoard(const FunctionRecord& function, const Prepared& prepared, json event,
                                  OutcomeDone done) {
  gateway_.CallBoard(prepared.target, fn::kInvoke.suffix, fn::InvokeRequest{function.id, std::move(event)}.ToPayload(),
                     prepared.wait, [target = prepared.target, done = std::move(done)](Result<wamp::Payload> result) {
                       if (!result) return done(OutcomeOfError(result.error(), target));
                       auto record = fn::InvocationRecord::Parse(*result);
                       if (!record) {
                         return done(OutcomeOfError(
                             Error{ErrorCode::kInternal, "board " + target + " answered without an invocation record (" +
                                                             record.error().message + ")"},
                             target));
                       }
                       done(InvocationOutcome{record->ToJson(), std::nullopt});
                     });
}

void Invoker::Store(const FunctionRecord& function, const Prepared& prepared, const json& record) {
  Invocation invocation;
  invocation.id = prepared.id;
  invocation.function_id = function.id;
  invocation.target = prepared.target;
  invocation.status = StatusOf(record);
  invocation.record = record;
  CapStoredRecord(invocation.record, options_.stored_record);
  invocation.created_at = prepared.created_at;
  if (auto stored = store_.PutInvocation(invocation, options_.invocations_kept); !stored)
    Log()->error("invocation {} of {}: not recorded: {}", prepared.id, function.id, stored.error().message);
}

void Invoker::RunInCloud(const FunctionRecord& function, const Prepared& prepared, json event,
                                  OutcomeDone done) {
  cloud_.Run(function.id, prepared.version, std::move(event), prepared.wait, std::move(done));
}

}  // namespace ew::functions
