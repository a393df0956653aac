#include "cloud-conductor/functions/functions_service.hpp"

#include <algorithm>
#include <atomic>
#include <fstream>
#include <regex>
#include <set>
#include <system_error>

#include <boost/asio/post.hpp>
#include <boost/asio/steady_timer.hpp>

#include "common/ids/ids.hpp"
#include "common/log/log.hpp"
#include "common/contract/fn.hpp"
#include "containers/package/package.hpp"
#include "containers/runtime/child_reaper.hpp"
#include "containers/runtime/container_runtime.hpp"

namespace ew::functions {

namespace fs = std::filesystem;
using nlohmann::json;

namespace {

const ew::log::Logger Log{"functions"};

namespace fn = contract::fn;

// The "warnings" of a board's fn.deploy reply (limits it cannot enforce), joined for the
// deployment's message. The board is not trusted: at most 4 strings of 256 bytes are kept.
std::string DeployWarnings(const std::vector<std::string>& warnings) {
  constexpr size_t kMaxWarnings = 4;
  constexpr size_t kMaxWarningBytes = 256;
  std::string out;
  size_t taken = 0;
  for (const auto& warning : warnings) {
    if (taken == kMaxWarnings) break;
    ++taken;
    std::string text = warning.substr(0, kMaxWarningBytes);
    for (char& c : text) {
      if (c == '\n' || c == '\r') c = ' ';  // one log line
    }
    out += (out.empty() ? "" : "; ") + text;
  }
  return out;
}

constexpr const char* kCloud = kCloudTarget;

wamp::Payload DeployArgs(const Deployment& d) {
  return fn::DeployRequest{d.function_id, d.version, d.sha256, d.size, d.triggers}.ToPayload();
}

// The status of an outcome's record (set by the board, the cloud host or OutcomeOfError).
InvocationStatus StatusOf(const json& record) {
  auto status = contract::ParseInvocationStatus(record.value("status", ""));
  return status ? *status : InvocationStatus::kFailed;
}

// Asks `board_id` to remove `function_id`; a board that does not hold it is fine.
void RemoveFromBoard(router::BoardGateway& gateway, const std::string& board_id, const std::string& function_id,
                     std::chrono::milliseconds timeout) {
  gateway.CallBoard(board_id, fn::kRemove.suffix, fn::RemoveRequest{function_id}.ToPayload(), timeout,
                    [board_id, function_id](Result<wamp::Payload> r) {
                      if (!r && r.error().code != ErrorCode::kNotFound)
                        Log()->warn("board={} fn.remove {}: {}", board_id, function_id, r.error().message);
                    });
}

}  // namespace

FunctionsService::FunctionsService(FunctionStore& store, router::BoardGateway& gateway,
                                   boost::asio::thread_pool& blocking, boost::asio::any_io_executor timers,
                                   const Clock& clock, FunctionsOptions options)
    : store_(store),
      gateway_(gateway),
      blocking_(blocking),
      timers_(std::move(timers)),
      clock_(clock),
      options_(std::move(options)),
      packages_(options_.dir / "packages"),
      cloud_(CloudRuntimeOptions{options_.dir / "cloud", options_.cloud_runtime, options_.cloud_max_running,
                                 options_.cloud_uid_first, options_.cloud_uid_count, options_.cloud_cgroups,
                                 options_.make_runtime},
             packages_, blocking, timers_) {}

FunctionsService::~FunctionsService() = default;

Result<void> FunctionsService::Start() {
  std::error_code ec;
  for (const fs::path& dir : {options_.dir / "packages", options_.dir / "cloud"}) {
    fs::create_directories(dir, ec);
    if (ec) return Internal("cannot create " + dir.string() + ": " + ec.message());
  }
  fs::permissions(options_.dir, fs::perms::owner_all, ec);
  gateway_.ServeConductorProcedure(fn::kFetch.uri, [this](const std::string& board_id, wamp::Payload payload,
                                                          router::BoardGateway::Reply reply) {
    auto request = fn::FetchRequest::Parse(payload);
    if (!request) return reply(tl::unexpected(request.error()));
    Fetch(board_id, *request, std::move(reply));
  });
  gateway_.ServeConductorProcedure(fn::kReport.uri, [this](const std::string& board_id, wamp::Payload payload,
                                                           router::BoardGateway::Reply reply) {
    auto request = fn::ReportRequest::Parse(payload);
    if (!request) return reply(tl::unexpected(request.error()));
    boost::asio::post(blocking_, [this, board_id, request = std::move(*request), reply = std::move(reply)] {
      auto stored = Report(board_id, request);
      if (!stored) return reply(tl::unexpected(stored.error()));
      reply(fn::ReportReply{*stored}.ToPayload());
    });
  });
  gateway_.OnBoardRegistered(
      [this](const std::string& board_id, const std::string& suffix) { OnBoardRegistered(board_id, suffix); });
  cloud_.StartProbing();
  return Ok();
}

Result<FunctionRecord> FunctionsService::Upload(const std::string& project_id, std::string_view package) {
  EW_TRY(containers::Package inspected, containers::InspectPackage(package));
  EW_TRY_VOID(packages_.Put(inspected.sha256, package));
  FunctionVersion version;
  version.version = inspected.spec.version;
  version.sha256 = inspected.sha256;
  version.size = inspected.package_bytes;
  version.spec = inspected.spec;
  version.created_at = UnixSeconds(clock_.Now());
  auto record = store_.AddVersion(project_id, inspected.spec.name, ids::NewId("fn"), version);
  if (!record) {
    // Keep the disk in step with the records: a package no version names goes.
    if (auto referenced = store_.PackageReferenced(inspected.sha256); referenced && !*referenced)
      packages_.Remove(inspected.sha256);
    return record;
  }
  Log()->info("function {} ({}) version {} uploaded, package {} ({} bytes)", record->id, record->name,
              version.version, version.sha256.substr(0, 12), version.size);
  return record;
}

Result<void> FunctionsService::Delete(const FunctionRecord& function) {
  EW_TRY(auto deployments, store_.ListDeployments(function.id));
  EW_TRY(auto versions, store_.ListVersions(function.id));
  for (const auto& d : deployments) {
    if (!gateway_.Presence(d.board_id)) continue;
    gateway_.CallBoard(d.board_id, fn::kRemove.suffix, fn::RemoveRequest{function.id}.ToPayload(),
                       options_.deploy_timeout, [](Result<wamp::Payload>) {});
  }
  EW_TRY_VOID(store_.DeleteFunction(function.id));
  for (const auto& v : versions) {
    if (auto referenced = store_.PackageReferenced(v.sha256); referenced && !*referenced) packages_.Remove(v.sha256);
  }
  Log()->info("function {} ({}) deleted", function.id, function.name);
  return Ok();
}

Result<FunctionVersion> FunctionsService::FindVersion(const FunctionRecord& function, const std::string& label) {
  EW_TRY(auto versions, store_.ListVersions(function.id));
  std::string known;
  for (auto it = versions.rbegin(); it != versions.rend(); ++it) {
    if (it->version == label) return *it;
  }
  for (const auto& v : versions) known += (known.empty() ? "" : ", ") + v.version;
  return InvalidArgument("version: function " + function.name + " has no version \"" + label + "\" (it has " +
                         known + ")");
}

Result<std::vector<Deployment>> FunctionsService::Deploy(const FunctionRecord& function,
                                                         const std::vector<std::string>& board_ids,
                                                         const std::optional<FunctionVersion>& version,
                                                         const std::vector<gpio::TriggerSpec>& triggers) {
  const FunctionVersion& deployed = version ? *version : function.latest;
  std::vector<Deployment> out;
  const int64_t now = UnixSeconds(clock_.Now());
  for (const auto& board_id : board_ids) {
    Deployment d;
    d.function_id = function.id;
    d.board_id = board_id;
    d.version = deployed.version;
    d.sha256 = deployed.sha256;
    d.size = deployed.size;
    d.state = DeploymentState::kPending;
    d.updated_at = now;
    d.triggers = triggers;
    EW_TRY_VOID(store_.PutDeployment(d));
    out.push_back(d);
  }
  for (auto& d : out) {
    if (gateway_.Presence(d.board_id)) {
      d.state = DeploymentState::kDeploying;
      StartDeploy(d);
    }
  }
  return out;
}

Result<void> FunctionsService::Undeploy(const FunctionRecord& function, const std::string& board_id) {
  EW_TRY_VOID(store_.DeleteDeployment(function.id, board_id));
  if (gateway_.Presence(board_id)) RemoveFromBoard(gateway_, board_id, function.id, options_.deploy_timeout);
  return Ok();
}

void FunctionsService::StartDeploy(const Deployment& d) {
  const int64_t now = UnixSeconds(clock_.Now());
  if (auto set = store_.SetDeploymentState(d.function_id, d.board_id, d.sha256, DeploymentState::kDeploying, "", now); !set) {
    Log()->error("deployment {} on {}: {}", d.function_id, d.board_id, set.error().message);
    return;
  }
  Log()->info("board={} deploying function {} version {}", d.board_id, d.function_id, d.version);
  gateway_.CallBoard(d.board_id, fn::kDeploy.suffix, DeployArgs(d), options_.deploy_timeout,
                     [this, d](Result<wamp::Payload> answer) {
                       // A reply that is not a fn.deploy reply fails the deployment as an error would.
                       Result<fn::DeployReply> result = answer ? fn::DeployReply::Parse(*answer)
                                                               : tl::unexpected(answer.error());
                       // Router strand: the store write goes to the pool.
                       boost::asio::post(blocking_, [this, d, result = std::move(result)] {
                         DeploymentState state = DeploymentState::kDeployed;
                         std::string error;
                         if (!result) {
                           // Gone offline meanwhile: it gets the deployment when it returns.
                           state = result.error().code == ErrorCode::kUnavailable ? DeploymentState::kPending
                                                                                  : DeploymentState::kFailed;
                           error = result.error().message;
                           Log()->warn("board={} deployment of {} {}: {}", d.board_id, d.function_id, contract::Name(state), error);
                         } else {
                           Log()->info("board={} function {} version {} deployed", d.board_id, d.function_id, d.version);
                           // Limits the board cannot enforce: the deployment says so.
                           error = DeployWarnings(result->warnings);
                           if (!error.empty()) Log()->warn("board={} function {}: {}", d.board_id, d.function_id, error);
                         }
                         (void)store_.SetDeploymentState(d.function_id, d.board_id, d.sha256, state, error,
                                                         UnixSeconds(clock_.Now()));
                       });
                     });
}

void FunctionsService::OnBoardRegistered(const std::string& board_id, const std::string& suffix) {
  // The agent registers fn.deploy, fn.remove, fn.invoke, then fn.list: the last one is the
  // moment to clean up (fn.remove is there by then).
  if (suffix == fn::kList.suffix) return Reconcile(board_id);
  if (suffix != fn::kDeploy.suffix) return;
  // Every deployment of the board, also those recorded as deployed: a board whose disk was
  // wiped gets them back, and one that has them answers from its cache.
  boost::asio::post(blocking_, [this, board_id] {
    auto deployments = store_.BoardDeployments(board_id);
    if (!deployments) return Log()->error("board={} deployments: {}", board_id, deployments.error().message);
    for (const auto& d : *deployments) StartDeploy(d);
  });
}

void FunctionsService::Reconcile(const std::string& board_id) {
  gateway_.CallBoard(
      board_id, fn::kList.suffix, contract::Empty{}.ToPayload(), options_.deploy_timeout,
      [this, board_id](Result<wamp::Payload> answer) {
        if (!answer) return Log()->warn("board={} fn.list: {}", board_id, answer.error().message);
        auto listed = fn::ListReply::Parse(*answer);
        if (!listed) return Log()->warn("board={} fn.list: {}", board_id, listed.error().message);
        boost::asio::post(blocking_, [this, board_id, held = std::move(listed->functions)] {
          auto deployments = store_.BoardDeployments(board_id);
          if (!deployments) return Log()->error("board={} deployments: {}", board_id, deployments.error().message);
          std::set<std::string> wanted;
          for (const auto& d : *deployments) wanted.insert(d.function_id);
          for (const auto& item : held) {
            const std::string& id = item.function.function_id;
            if (wanted.count(id)) continue;
            Log()->info("board={} holds function {} that is no longer deployed there: removing it", board_id, id);
            RemoveFromBoard(gateway_, board_id, id, options_.deploy_timeout);
          }
        });
      });
}

void FunctionsService::Fetch(const std::string& board_id, const fn::FetchRequest& request,
                             router::BoardGateway::Reply reply) {
  if (request.length > options_.max_fetch_chunk)
    return reply(InvalidArgument("length: must be between 1 and " + std::to_string(options_.max_fetch_chunk)));
  boost::asio::post(blocking_, [this, board_id, sha256 = request.sha256, from = request.offset,
                                count = request.length, reply = std::move(reply)] {
    auto allowed = store_.PackageDeployedTo(sha256, board_id);
    if (!allowed) return reply(tl::unexpected(allowed.error()));
    if (!*allowed) return reply(PermissionDenied("package " + sha256 + " is not deployed to board " + board_id));
    auto chunk = packages_.ReadChunk(sha256, from, count);
    if (!chunk) return reply(tl::unexpected(chunk.error()));
    reply(chunk->ToPayload());
  });
}

Result<FunctionsService::Prepared> FunctionsService::Prepare(const FunctionRecord& function, const std::string& target,
                                                             const InvokeOptions& options) {
  Prepared prepared;
  prepared.target = target;
  prepared.version = function.latest;
  if (target == kCloud) {
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

namespace {

// The record's invocationId and where it ran (boardId, or target "cloud").
void Label(json& record, const std::string& id, const std::string& target) {
  record["invocationId"] = id;
  if (target == kCloud) {
    record["target"] = kCloud;
  } else {
    record["boardId"] = target;
  }
}

}  // namespace

Result<std::string> FunctionsService::Invoke(const FunctionRecord& function, const std::string& target, json event,
                                             const InvokeOptions& options, OutcomeDone done) {
  EW_TRY(Prepared prepared, Prepare(function, target, options));
  if (options.async || records_failing_.load()) {
    json running = {{"status", "running"}};
    Label(running, prepared.id, prepared.target);
    EW_TRY_VOID(Store(function, prepared, running));
  }
  auto finish = [this, function, prepared, done = std::move(done)](InvocationOutcome outcome) mutable {
    Label(outcome.record, prepared.id, prepared.target);
    // The caller gets the record in the answer, so the store write comes after it: off the
    // invocation's path (a burst of 100 otherwise queues 100 SQLite commits on the pool first).
    json record = outcome.record;
    if (done) done(std::move(outcome));
    boost::asio::post(blocking_, [this, function, prepared, record = std::move(record)] {
      (void)Store(function, prepared, record);  // logged; records_failing_ makes the next calls check
    });
  };
  Log()->debug("invocation {} of {} on {}", prepared.id, function.id, prepared.target);
  if (prepared.target == kCloud) {
    RunInCloud(function, prepared, std::move(event), std::move(finish));
  } else {
    RunOnBoard(function, prepared, std::move(event), std::move(finish));
  }
  return prepared.id;
}

void FunctionsService::RunOnBoard(const FunctionRecord& function, const Prepared& prepared, json event,
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

Result<uint64_t> FunctionsService::Report(const std::string& board_id, const fn::ReportRequest& request) {
  const std::string& id = request.function_id;
  EW_TRY(auto deployments, store_.BoardDeployments(board_id));
  const bool deployed = std::any_of(deployments.begin(), deployments.end(),
                                    [&](const Deployment& d) { return d.function_id == id; });
  if (!deployed) return PermissionDenied("function " + id + " is not deployed on board " + board_id);
  const int64_t now = UnixSeconds(clock_.Now());
  size_t stored = 0;
  for (const json& reported : request.records) {
    // A status the board should not report (or none) is recorded as a failure.
    auto parsed = fn::InvocationRecord::FromJson(reported, "fn.report: records[]");
    const InvocationStatus status = parsed ? parsed->status : InvocationStatus::kFailed;
    Invocation invocation;
    invocation.id = ids::NewId("inv");
    invocation.function_id = id;
    invocation.target = board_id;
    invocation.status = status;
    invocation.record = reported;
    invocation.record["status"] = contract::Name(status);
    Label(invocation.record, invocation.id, board_id);
    CapStoredRecord(invocation.record, options_.stored_record);
    // When it ran on the board (its clock), not when the report arrived; never in the future.
    const auto at = reported.find("at");
    invocation.created_at = at != reported.end() && at->is_number_integer() && at->get<int64_t>() > 0
                                ? std::min(at->get<int64_t>(), now)
                                : now;
    EW_TRY_VOID(store_.PutInvocation(invocation, options_.invocations_kept));
    ++stored;
  }
  Log()->info("board={} reported {} trigger invocation(s) of {}", board_id, stored, id);
  return stored;
}

Result<void> FunctionsService::Store(const FunctionRecord& function, const Prepared& prepared, const json& record) {
  Invocation invocation;
  invocation.id = prepared.id;
  invocation.function_id = function.id;
  invocation.target = prepared.target;
  invocation.status = StatusOf(record);
  invocation.record = record;
  CapStoredRecord(invocation.record, options_.stored_record);
  invocation.created_at = prepared.created_at;
  auto stored = store_.PutInvocation(invocation, options_.invocations_kept);
  records_failing_.store(!stored);
  if (!stored) Log()->error("invocation {} of {}: not recorded: {}", prepared.id, function.id, stored.error().message);
  return stored;
}

void FunctionsService::RunInCloud(const FunctionRecord& function, const Prepared& prepared, json event,
                                  OutcomeDone done) {
  cloud_.Run(function.id, prepared.version, std::move(event), prepared.wait, std::move(done));
}

}  // namespace ew::functions
