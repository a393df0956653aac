#include "cloud-conductor/functions/deployer.hpp"

#include <algorithm>
#include <set>

#include <boost/asio/post.hpp>

#include "cloud-conductor/functions/invocation_outcome.hpp"
#include "cloud-conductor/placement/placement_strategy.hpp"
#include "common/ids/ids.hpp"
#include "common/log/log.hpp"
#include "containers/package/package.hpp"

namespace ew::functions {

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

wamp::Payload DeployArgs(const Deployment& d) {
  return fn::DeployRequest{d.function_id, d.version, d.sha256, d.size, d.triggers}.ToPayload();
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

Deployer::Deployer(FunctionStore& store, router::BoardGateway& gateway, boost::asio::thread_pool& blocking,
                   const Clock& clock, PackageStore& packages, DeployerOptions options)
    : store_(store), gateway_(gateway), blocking_(blocking), clock_(clock), packages_(packages),
      options_(std::move(options)) {}

void Deployer::Start() {
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
}

Result<FunctionRecord> Deployer::Upload(const std::string& project_id, std::string_view package) {
  EW_TRY(containers::Package inspected, containers::InspectPackage(package));
  // function.json's shape was checked by InspectPackage; the strategy's name is the conductor's.
  if (const std::string& strategy = inspected.spec.placement.strategy; !strategy.empty()) {
    if (auto known = placement::MakeStrategy(strategy); !known) {
      return InvalidArgument("function.json: placement." + known.error().message);
    }
  }
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

Result<void> Deployer::Delete(const FunctionRecord& function) {
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

Result<FunctionVersion> Deployer::FindVersion(const FunctionRecord& function, const std::string& label) {
  EW_TRY(auto versions, store_.ListVersions(function.id));
  std::string known;
  for (auto it = versions.rbegin(); it != versions.rend(); ++it) {
    if (it->version == label) return *it;
  }
  for (const auto& v : versions) known += (known.empty() ? "" : ", ") + v.version;
  return InvalidArgument("version: function " + function.name + " has no version \"" + label + "\" (it has " +
                         known + ")");
}

Result<std::vector<Deployment>> Deployer::Deploy(const FunctionRecord& function,
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

Result<void> Deployer::Undeploy(const FunctionRecord& function, const std::string& board_id) {
  EW_TRY_VOID(store_.DeleteDeployment(function.id, board_id));
  if (gateway_.Presence(board_id)) RemoveFromBoard(gateway_, board_id, function.id, options_.deploy_timeout);
  return Ok();
}

void Deployer::StartDeploy(const Deployment& d) {
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
                           // Gone offline meanwhile (before the call, or with it: callee_left): it
                           // gets the deployment when it returns.
                           const ErrorCode code = result.error().code;
                           state = code == ErrorCode::kUnavailable || code == ErrorCode::kCalleeLeft
                                       ? DeploymentState::kPending
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

void Deployer::OnBoardRegistered(const std::string& board_id, const std::string& suffix) {
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

void Deployer::Reconcile(const std::string& board_id) {
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

void Deployer::Fetch(const std::string& board_id, const fn::FetchRequest& request,
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

namespace {
// The agent's spool stream of trigger outcomes (device-agent/functions/trigger_reporter.hpp).
constexpr std::string_view kReportStream = "fn.report";
}  // namespace

Result<uint64_t> Deployer::Report(const std::string& board_id, const fn::ReportRequest& request) {
  const std::string& id = request.function_id;
  EW_TRY(auto deployments, store_.BoardDeployments(board_id));
  const bool deployed = std::any_of(deployments.begin(), deployments.end(),
                                    [&](const Deployment& d) { return d.function_id == id; });
  if (!deployed) return PermissionDenied("function " + id + " is not deployed on board " + board_id);
  const int64_t now = UnixSeconds(clock_.Now());
  size_t stored = 0;
  size_t duplicates = 0;
  // Held over the whole report: a board's report re-sent after a reconnect may run on another
  // pool thread while the first is still storing, and each record must be stored once.
  std::lock_guard lock(report_mu_);
  for (size_t i = 0; i < request.records.size(); ++i) {
    const json& reported = request.records[i];
    const bool numbered = i < request.seqs.size();
    if (numbered && !report_dedupe_.IsNew(board_id, request.spool, kReportStream, request.seqs[i])) {
      ++duplicates;
      continue;
    }
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
    LabelRecord(invocation.record, invocation.id, board_id);
    CapStoredRecord(invocation.record, options_.stored_record);
    // When it ran on the board (its clock), not when the report arrived; never in the future.
    const auto at = reported.find("at");
    invocation.created_at = at != reported.end() && at->is_number_integer() && at->get<int64_t>() > 0
                                ? std::min(at->get<int64_t>(), now)
                                : now;
    EW_TRY_VOID(store_.PutInvocation(invocation, options_.invocations_kept));
    if (numbered) report_dedupe_.Mark(board_id, request.spool, kReportStream, request.seqs[i]);
    ++stored;
  }
  if (duplicates > 0)
    Log()->info("board={} re-sent {} trigger invocation(s) of {} already recorded; not stored again", board_id,
                duplicates, id);
  Log()->info("board={} reported {} trigger invocation(s) of {}", board_id, stored, id);
  return stored;
}

}  // namespace ew::functions
