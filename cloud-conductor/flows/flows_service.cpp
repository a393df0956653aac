#include "cloud-conductor/flows/flows_service.hpp"

#include <map>
#include <mutex>
#include <set>
#include <utility>

#include <boost/asio/post.hpp>
#include <boost/asio/steady_timer.hpp>
#include <fmt/format.h>

#include "cloud-conductor/functions/functions_service.hpp"
#include "common/ids/ids.hpp"
#include "common/log/log.hpp"
#include "common/contract/flow.hpp"
#include "flows/model/partition_json.hpp"
#include "flows/partition/partitioner.hpp"

namespace ew::conductor::flows {

namespace {

using Json = nlohmann::json;
using ew::flows::FlowIssue;

const ew::log::Logger Log{"flows"};

// Answers from runtimes (boards, the cloud runner) that a caller waits for without holding a
// thread: `done` runs once, with what came, when every expected answer came or the deadline (a
// timer on the blocking pool) passed, whichever is first, on the thread where that happened.
// Answers come on the router's strand or the runner's thread: recording one is cheap.
template <typename T>
class Answers : public std::enable_shared_from_this<Answers<T>> {
 public:
  using Done = std::function<void(std::map<std::string, T>)>;
  Answers(size_t expected, Done done, boost::asio::thread_pool& pool)
      : left_(expected), done_(std::move(done)), timer_(pool.get_executor()) {}
  // Call once, after creating it (and after starting the calls: answers may already be in).
  void Arm(std::chrono::milliseconds wait) {
    {
      std::lock_guard lock(mu_);
      armed_ = true;
      if (left_ > 0) {
        // The timer is touched only under mu_ (here and in Finish), so no two threads use it at once.
        timer_.expires_after(wait);
        timer_.async_wait([self = this->shared_from_this()](const boost::system::error_code& ec) {
          if (!ec) self->Finish();
        });
        return;
      }
    }
    Finish();
  }
  void Put(const std::string& key, T value) {
    bool last = false;
    {
      std::lock_guard lock(mu_);
      got_[key] = std::move(value);
      if (left_ > 0) --left_;
      last = left_ == 0 && armed_;
    }
    if (last) Finish();
  }

 private:
  void Finish() {
    std::map<std::string, T> got;
    Done done;
    {
      std::lock_guard lock(mu_);
      if (finished_) return;
      finished_ = true;
      timer_.cancel();  // a wait that is over holds no pool thread (nor a shutdown) until its deadline
      got = got_;
      done = std::move(done_);
    }
    done(std::move(got));
  }

  std::mutex mu_;
  size_t left_;                   // GUARDED_BY(mu_)
  bool armed_ = false;            // GUARDED_BY(mu_): Put before Arm must not finish early
  bool finished_ = false;         // GUARDED_BY(mu_)
  std::map<std::string, T> got_;  // GUARDED_BY(mu_)
  Done done_;
  boost::asio::steady_timer timer_;
};

using contract::PartitionState;

DeployAnswer AnswerOf(const Result<wamp::Payload>& result) {
  if (!result) {
    // Gone offline meanwhile (before the call, or with it: callee_left): it gets the partition
    // when it returns.
    if (result.error().code == ErrorCode::kUnavailable || result.error().code == ErrorCode::kCalleeLeft)
      return {PartitionState::kOffline, result.error().message, 0};
    return {PartitionState::kFailed, result.error().message, 0};
  }
  // Deployed whatever else the board said: a reply it garbled does not undo the deploy.
  auto reply = contract::flow::FlowState::Parse(*result);
  if (!reply) Log()->warn("flow.deploy answered badly: {}", reply.error().message);
  return {PartitionState::kDeployed, "", reply ? reply->version : 0};
}

// The cloud runner's answer: it ran the partition, or why not.
DeployAnswer AnswerOf(const Result<contract::flow::FlowState>& result) {
  if (!result) return {PartitionState::kFailed, result.error().message, 0};
  if (result->state == contract::FlowRunState::kFailed) return {PartitionState::kFailed, "", result->version};
  return {PartitionState::kDeployed, "", result->version};
}

// Wire topic → the boards whose partitions take it in (their "inbound" list): for whom the
// router keeps wire messages while they are away.
std::map<std::string, std::vector<std::string>> WireReceivers(const std::vector<PartitionRecord>& partitions) {
  std::map<std::string, std::vector<std::string>> out;
  for (const auto& p : partitions) {
    if (p.board_id.empty() || !p.partition.is_object()) continue;
    auto inbound = p.partition.find("inbound");
    if (inbound == p.partition.end() || !inbound->is_array()) continue;
    for (const auto& wire : *inbound) {
      if (wire.is_object() && wire.contains("topic") && wire["topic"].is_string())
        out[wire["topic"].get<std::string>()].push_back(p.board_id);
    }
  }
  return out;
}

// The node types that need a board's hardware: they may not be left in the conductor's cloud.
bool NeedsBoard(const std::string& type) { return type == "edgewire-gpio-in" || type == "edgewire-gpio-out"; }

// The first node of a partition, to name in an issue about the whole partition.
FlowIssue IssueOnPartition(const ew::flows::Partition& p, std::string message) {
  const auto& node = p.nodes.front();
  return FlowIssue{node.id, node.type, node.tab, std::move(message)};
}

}  // namespace

FlowsService::FlowsService(FlowStore& store, registry::Store& registry, router::BoardGateway& gateway,
                           functions::FunctionsService* functions, boost::asio::thread_pool& blocking,
                           const Clock& clock, FlowsOptions options, CloudFlowRunner* cloud)
    : store_(store),
      registry_(registry),
      gateway_(gateway),
      functions_(functions),
      blocking_(blocking),
      clock_(clock),
      options_(std::move(options)),
      cloud_(cloud) {}

FlowsService::~FlowsService() { *alive_ = false; }

Result<void> FlowsService::Start() {
  gateway_.ServeConductorProcedure(contract::flow::kSync.uri, [this](const std::string& board_id, wamp::Payload payload,
                                                                     router::BoardGateway::Reply reply) {
    boost::asio::post(blocking_, [this, board_id, payload = std::move(payload), reply = std::move(reply)] {
      auto request = contract::flow::SyncRequest::Parse(payload);
      if (!request) return reply(tl::unexpected<Error>(request.error()));
      reply(Sync(board_id, *request));
    });
  });
  gateway_.ServeConductorProcedure(contract::flow::kInvoke.uri, [this](const std::string& board_id, wamp::Payload payload,
                                                                       router::BoardGateway::Reply reply) {
    auto request = contract::flow::InvokeRequest::Parse(payload);
    if (!request) return reply(tl::unexpected<Error>(request.error()));
    Invoke(board_id, std::move(*request), std::move(reply));
  });
  gateway_.OnBoardRegistered(
      [this](const std::string& board_id, const std::string& suffix) { OnBoardRegistered(board_id, suffix); });
  EW_TRY(auto access, store_.ListFlowAccess());
  for (auto& a : access) {
    gateway_.SetFlowAccess(a.flow_id, a.project_id, std::move(a.boards));
    EW_TRY(auto partitions, store_.ListPartitions(a.flow_id));
    gateway_.SetFlowWires(a.flow_id, WireReceivers(partitions));
  }
  // The cloud partitions the conductor ran before it stopped run again (in the runner's thread).
  if (cloud_) {
    EW_TRY(auto partitions, store_.BoardPartitions(""));
    for (const auto& p : partitions) {
      if (p.state != PartitionState::kExternal) StartCloudDeploy(p, nullptr);
    }
  }
  return Ok();
}

void FlowsService::Deploy(const std::string& project_id, const std::string& name, const Json& nodes,
                          const std::string& cloud, DeployDone done, std::optional<std::chrono::milliseconds> wait) {
  auto refuse = [&done](Error error, std::vector<FlowIssue> issues = {}) {
    done(tl::unexpected<DeployRefusal>(DeployRefusal{std::move(error), std::move(issues)}));
  };
  std::vector<FlowIssue> issues;
  auto flow = ew::flows::LoadFlow(nodes, options_.limits, &issues);
  if (!flow) return refuse(flow.error(), std::move(issues));
  auto previous = store_.FindFlow(project_id, name);
  if (!previous) return refuse(previous.error());
  std::vector<PartitionRecord> before;
  if (*previous) {
    auto partitions = store_.ListPartitions((*previous)->id);
    if (!partitions) return refuse(partitions.error());
    before = std::move(*partitions);
  }
  const bool in_conductor = cloud == "conductor";
  const int64_t now = UnixSeconds(clock_.Now());
  // Partitioning needs the flow's id and version (they are in every topic): it runs inside the
  // store's transaction, which refuses everything when it fails.
  auto make = [&](const std::string& flow_id, int64_t version) -> Result<std::vector<PartitionRecord>> {
    auto parts = ew::flows::PartitionFlow(*flow, flow_id, static_cast<uint64_t>(version), &issues);
    if (!parts) return tl::unexpected<Error>(parts.error());
    for (const auto& p : *parts) {
      if (p.board.empty()) {
        if (!in_conductor) continue;
        for (const auto& node : p.nodes) {
          if (NeedsBoard(node.type))
            issues.push_back(FlowIssue{node.id, node.type, node.tab,
                                       "needs a board's GPIO: give it (or its tab) a board; the conductor has no GPIO lines"});
        }
        continue;
      }
      auto board = registry_.GetBoard(p.board);
      if (!board && board.error().code != ErrorCode::kNotFound) return tl::unexpected<Error>(board.error());
      if (!board) {
        issues.push_back(IssueOnPartition(p, fmt::format("is placed on board \"{}\", which does not exist", p.board)));
      } else if (board->project_id() != project_id) {
        issues.push_back(IssueOnPartition(p, fmt::format("is placed on board \"{}\" of another project", p.board)));
      }
    }
    for (auto& issue : ew::flows::UnsupportedNodes(*parts, in_conductor)) issues.push_back(std::move(issue));
    if (!issues.empty()) return tl::unexpected<Error>(ew::flows::IssuesError(issues));
    std::vector<PartitionRecord> records;
    for (const auto& p : *parts) {
      PartitionRecord r;
      r.board_id = p.board;
      r.node_count = static_cast<int64_t>(p.nodes.size());
      r.partition = ew::flows::ToJson(p);
      // The cloud partition: run by Node-RED ("external"), or by the conductor's cloud runner.
      r.state = p.board.empty() && !in_conductor ? PartitionState::kExternal : PartitionState::kPending;
      records.push_back(std::move(r));
    }
    return records;
  };
  auto record = store_.AddVersion(project_id, name, ids::NewId("flw"), cloud, nodes, now, make,
                                  options_.max_flows_per_project);
  if (!record) return refuse(record.error(), std::move(issues));
  auto partitions = store_.ListPartitions(record->id);
  if (!partitions) return refuse(partitions.error());
  Log()->info("flow {} ({}) version {}: {} partition(s)", record->id, name, record->version, partitions->size());

  // Deploy to boards and the cloud runner, and stop it where the previous version ran and this
  // one does not.
  std::set<std::string> placed;
  size_t calls = 0;
  for (const auto& p : *partitions) {
    if (p.state == PartitionState::kExternal || (p.board_id.empty() && !cloud_)) continue;
    placed.insert(p.board_id);
    ++calls;
  }
  // Access first: a board subscribes to its wires as soon as it has its partition, and the
  // router must know by then that the flow is on that board (else SUBSCRIBE is refused).
  PublishAccess(record->id);
  auto outcome = std::make_shared<DeployOutcome>(DeployOutcome{!*previous, *record, std::move(*partitions)});
  auto answers = std::make_shared<Answers<DeployAnswer>>(
      calls,
      [outcome, done = std::move(done)](std::map<std::string, DeployAnswer> got) {
        for (auto& p : outcome->partitions) {
          auto it = got.find(p.board_id);
          if (it == got.end()) continue;
          p.state = it->second.state;
          p.error = it->second.error;
          p.running_version = it->second.running_version;
        }
        done(std::move(*outcome));
      },
      blocking_);
  for (const auto& p : outcome->partitions) {
    if (placed.count(p.board_id) == 0) continue;
    auto answered = [answers, board = p.board_id](const DeployAnswer& a) { answers->Put(board, a); };
    if (p.board_id.empty()) StartCloudDeploy(p, answered);
    else StartDeploy(p, answered);
  }
  for (const auto& p : before) {
    if (placed.count(p.board_id) > 0) continue;
    if (!p.board_id.empty()) StartStop(record->id, p.board_id);
    // The previous version ran in the conductor, this one does not (it went "external").
    else if (cloud_ && p.state != PartitionState::kExternal) StartStop(record->id, "");
  }
  answers->Arm(wait.value_or(options_.deploy_wait));
}

void FlowsService::RecordAnswer(const PartitionRecord& p, const DeployAnswer& answer) {
  const char* where = p.board_id.empty() ? "the conductor" : "board";
  if (answer.state == PartitionState::kDeployed) {
    Log()->info("flow {} version {} deployed on {} {}", p.flow_id, p.version, where, p.board_id);
  } else {
    Log()->warn("flow {} version {} on {} {}: {}: {}", p.flow_id, p.version, where, p.board_id,
                contract::Name(answer.state), answer.error);
  }
  (void)store_.SetPartitionState(p.flow_id, p.board_id, p.version, answer.state, answer.error, answer.running_version,
                                 UnixSeconds(clock_.Now()));
}

void FlowsService::RecordThenAnswer(const PartitionRecord& p, const DeployAnswer& answer,
                                    std::function<void(const DeployAnswer&)> answered, const std::weak_ptr<bool>& alive) {
  // The store first, then the waiting caller: a status read right after the deploy's reply sees
  // what the reply said (the answer comes on the router's strand or the runner's thread, where
  // nothing blocks on SQLite).
  if (alive.expired()) {
    if (answered) answered(answer);
    return;
  }
  boost::asio::post(blocking_, [this, p, answer, answered = std::move(answered)] {
    RecordAnswer(p, answer);
    if (answered) answered(answer);
  });
}

void FlowsService::StartDeploy(const PartitionRecord& p, std::function<void(const DeployAnswer&)> answered) {
  const std::string& board = p.board_id;
  if (!gateway_.Presence(board)) {
    DeployAnswer offline{PartitionState::kOffline, "", 0};
    (void)store_.SetPartitionState(p.flow_id, board, p.version, offline.state, "", 0, UnixSeconds(clock_.Now()));
    if (answered) answered(offline);
    return;
  }
  Log()->info("board={} deploying flow {} version {}", board, p.flow_id, p.version);
  gateway_.CallBoard(board, contract::flow::kDeploy.suffix, contract::flow::DeployRequest{p.partition}.ToPayload(),
                     options_.deploy_timeout,
                     [this, p, answered = std::move(answered), alive = std::weak_ptr<bool>(alive_)](
                         Result<wamp::Payload> result) {
                       RecordThenAnswer(p, AnswerOf(result), std::move(answered), alive);
                     });
}

void FlowsService::StartCloudDeploy(const PartitionRecord& p, std::function<void(const DeployAnswer&)> answered) {
  if (!cloud_) return;
  cloud_->Deploy(p.partition, [this, p, answered = std::move(answered),
                               alive = std::weak_ptr<bool>(alive_)](Result<contract::flow::FlowState> result) {
    RecordThenAnswer(p, AnswerOf(result), std::move(answered), alive);
  });
}

void FlowsService::StartStop(const std::string& flow_id, const std::string& board_id) {
  if (board_id.empty()) {
    // The conductor's own partition: nothing to remember, it is never offline.
    if (cloud_)
      cloud_->Stop(flow_id, [flow_id](Result<contract::flow::FlowState> r) {
        if (!r && r.error().code != ErrorCode::kNotFound) Log()->warn("stopping cloud flow {}: {}", flow_id, r.error().message);
      });
    return;
  }
  const int64_t now = UnixSeconds(clock_.Now());
  // Recorded first: if the board is offline, or the call fails, it is stopped when it returns.
  (void)store_.AddStop(flow_id, board_id, now);
  if (!gateway_.Presence(board_id)) return;
  gateway_.CallBoard(board_id, contract::flow::kStop.suffix, contract::flow::StopRequest{flow_id}.ToPayload(),
                     options_.deploy_timeout,
                     [this, flow_id, board_id, alive = std::weak_ptr<bool>(alive_)](Result<wamp::Payload> result) {
                       if (alive.expired()) return;
                       // NotFound: the board does not run it (any more); that is what was asked.
                       if (!result && result.error().code != ErrorCode::kNotFound) {
                         return Log()->warn("board={} stopping flow {}: {}", board_id, flow_id, result.error().message);
                       }
                       Log()->info("board={} flow {} stopped", board_id, flow_id);
                       boost::asio::post(blocking_, [this, flow_id, board_id] { (void)store_.RemoveStop(flow_id, board_id); });
                     });
}

Result<void> FlowsService::Delete(const FlowRecord& flow) {
  EW_TRY(auto partitions, store_.ListPartitions(flow.id));
  EW_TRY_VOID(store_.DeleteFlow(flow.id));
  gateway_.ClearFlowAccess(flow.id);
  for (const auto& p : partitions) {
    if (p.state != PartitionState::kExternal) StartStop(flow.id, p.board_id);
  }
  Log()->info("flow {} ({}) deleted", flow.id, flow.name);
  return Ok();
}

void FlowsService::Status(const FlowRecord& flow, StatusDone done) {
  auto partitions = store_.ListPartitions(flow.id);
  if (!partitions) return done(tl::unexpected<Error>(partitions.error()));
  auto out = std::make_shared<std::vector<PartitionStatus>>();
  size_t calls = 0;
  for (auto& p : *partitions) {
    PartitionStatus s;
    s.partition = p;
    s.running_version = p.running_version;
    if (p.board_id.empty()) s.online = cloud_ && p.state != PartitionState::kExternal;
    else s.online = gateway_.Presence(p.board_id).has_value();
    if (s.online) ++calls;
    out->push_back(std::move(s));
  }
  const std::string flow_id = flow.id;
  // nullopt: the runtime answered with an error; its partition stays as last recorded.
  using Listed = std::optional<contract::flow::ListReply>;
  auto answers = std::make_shared<Answers<Listed>>(
      calls,
      [out, flow_id, done = std::move(done)](std::map<std::string, Listed> got) {
        for (auto& s : *out) {
          auto it = got.find(s.partition.board_id);
          if (it == got.end() || !it->second) continue;
          s.running_version = 0;
          for (const auto& entry : it->second->flows) {
            if (entry.flow != flow_id) continue;
            s.running_version = entry.version;
            s.spooled = static_cast<int64_t>(entry.spooled);
            s.dropped = static_cast<int64_t>(entry.dropped);
            if (!entry.error.empty() && s.partition.error.empty()) s.partition.error = entry.error;
          }
        }
        done(std::move(*out));
      },
      blocking_);
  // What the router keeps for receiving boards that are away.
  for (auto& [board, stats] : gateway_.FlowWireStats(flow.id)) {
    for (auto& s : *out) {
      if (s.partition.board_id != board) continue;
      s.relay_buffered = static_cast<int64_t>(stats.buffered);
      s.relay_dropped = static_cast<int64_t>(stats.dropped);
    }
  }
  for (const auto& s : *out) {
    if (!s.online) continue;
    const std::string board = s.partition.board_id;
    if (board.empty()) {
      cloud_->List([answers](contract::flow::ListReply reply) { answers->Put("", Listed(std::move(reply))); });
      continue;
    }
    gateway_.CallBoard(board, contract::flow::kList.suffix, contract::Empty{}.ToPayload(), options_.status_timeout,
                       [answers, board](Result<wamp::Payload> r) {
                         if (!r) return answers->Put(board, std::nullopt);
                         auto list = contract::flow::ListReply::Parse(*r);
                         if (!list) Log()->warn("board={} flow.list answered badly: {}", board, list.error().message);
                         answers->Put(board, list ? Listed(std::move(*list)) : std::nullopt);
                       });
  }
  answers->Arm(options_.status_timeout);
}

void FlowsService::OnBoardRegistered(const std::string& board_id, const std::string& suffix) {
  if (suffix == contract::flow::kDeploy.suffix) {
    // Partitions it has not confirmed at their current version: deployed while it was away,
    // or whose deploy failed on the way.
    boost::asio::post(blocking_, [this, board_id] {
      auto partitions = store_.BoardPartitions(board_id);
      if (!partitions) return Log()->error("board={} flow partitions: {}", board_id, partitions.error().message);
      for (const auto& p : *partitions) {
        if (p.state == PartitionState::kDeployed && p.running_version == p.version) continue;
        StartDeploy(p, nullptr);
      }
    });
  } else if (suffix == contract::flow::kStop.suffix) {
    boost::asio::post(blocking_, [this, board_id] {
      auto stops = store_.BoardStops(board_id);
      if (!stops) return Log()->error("board={} flow stops: {}", board_id, stops.error().message);
      for (const auto& flow_id : *stops) StartStop(flow_id, board_id);
    });
  }
}

Result<wamp::Payload> FlowsService::Sync(const std::string& board_id, const contract::flow::SyncRequest& request) {
  std::map<std::string, int64_t> has;
  for (const auto& held : request.flows) has[held.flow] = held.version;
  EW_TRY(auto partitions, store_.BoardPartitions(board_id));
  EW_TRY(auto stops, store_.BoardStops(board_id));
  const int64_t now = UnixSeconds(clock_.Now());
  contract::flow::SyncReply reply;
  std::set<std::string> placed;
  for (const auto& p : partitions) {
    placed.insert(p.flow_id);
    auto it = has.find(p.flow_id);
    if (it != has.end() && it->second >= p.version) {
      (void)store_.SetPartitionState(p.flow_id, board_id, p.version, PartitionState::kDeployed, "", it->second, now);
      continue;
    }
    reply.deploy.push_back(p.partition);
  }
  // Flows it runs that are not (or no longer) placed on it; it stops them itself on this answer,
  // so recorded stops are done too (and those of flows it does not run need nothing).
  for (const auto& [flow_id, version] : has) {
    if (placed.count(flow_id) == 0) reply.stop.push_back(flow_id);
  }
  for (const auto& flow_id : stops) (void)store_.RemoveStop(flow_id, board_id);
  Log()->info("board={} flow sync: {} to deploy, {} to stop", board_id, reply.deploy.size(), reply.stop.size());
  return reply.ToPayload();
}

void FlowsService::Invoke(const std::string& board_id, contract::flow::InvokeRequest request,
                          router::BoardGateway::Reply reply) {
  if (functions_ == nullptr) return reply(Unavailable("functions are not enabled on this conductor"));
  boost::asio::post(blocking_, [this, board_id, request = std::move(request), reply = std::move(reply)]() mutable {
    auto board = registry_.GetBoard(board_id);
    if (!board) return reply(tl::unexpected<Error>(board.error()));
    InvokeFor(board->project_id(), board_id, std::move(request), std::move(reply));
  });
}

void FlowsService::InvokeFromCloud(const std::string& flow_id, const ew::flows::runtime::FunctionCall& call,
                                   std::function<void(Result<Json>)> done) {
  if (functions_ == nullptr) return done(Unavailable("functions are not enabled on this conductor"));
  contract::flow::InvokeRequest request;
  request.function = call.function;
  request.placement = call.placement;
  request.event = call.event;
  request.timeout_ms = call.timeout.count();
  auto reply = [done = std::move(done)](Result<wamp::Payload> answer) {
    if (!answer) return done(tl::unexpected<Error>(answer.error()));
    auto parsed = contract::flow::InvokeReply::Parse(*answer);
    if (!parsed) return done(tl::unexpected<Error>(parsed.error()));
    done(std::move(parsed->result));
  };
  boost::asio::post(blocking_, [this, flow_id, request = std::move(request), reply = std::move(reply)]() mutable {
    auto flow = store_.GetFlow(flow_id);
    if (!flow) return reply(tl::unexpected<Error>(flow.error()));
    InvokeFor(flow->project_id, "", std::move(request), std::move(reply));
  });
}

void FlowsService::InvokeFor(const std::string& project_id, const std::string& board_id,
                             contract::flow::InvokeRequest request, router::BoardGateway::Reply reply) {
  auto fail = [&](Error e) { reply(tl::unexpected<Error>(std::move(e))); };
  const std::string& wanted = request.function;
  const std::string& placement = request.placement;
  const std::string who = board_id.empty() ? "flow's" : "board's";
  functions::InvokeOptions options;
  if (request.timeout_ms) options.wait = std::chrono::milliseconds(*request.timeout_ms);
  // The function, by id or by name, in the caller's project only.
  auto function = functions_->FindFunction(project_id, wanted);
  if (!function) return fail(function.error());
  if (!*function) return fail(Error{ErrorCode::kNotFound, "no function \"" + wanted + "\" in the " + who + " project"});
  std::string target;
  if (placement == "cloud") {
    target = "cloud";
  } else if (placement.rfind("board:", 0) == 0) {
    target = placement.substr(6);
    auto other = registry_.GetBoard(target);
    if (!other || other->project_id() != project_id)
      return fail(Error{ErrorCode::kPermissionDenied, "board " + target + " is not in the " + who + " project"});
  } else if (placement == "auto") {
    // The calling board when the function is deployed there (no network hop), else the cloud.
    auto deployed = board_id.empty() ? Result<bool>(false) : functions_->IsDeployedOn((*function)->id, board_id);
    target = deployed && *deployed ? board_id : "cloud";
  } else {
    return fail(Error{ErrorCode::kInvalidArgument, "placement: must be auto, cloud or board:<id>"});
  }
  auto started = functions_->Invoke(
      **function, target, std::move(request.event), options, [reply, name = (*function)->name](functions::InvocationOutcome outcome) {
        if (outcome.error) return reply(tl::unexpected<Error>(*outcome.error));
        const Json& record = outcome.record;
        const std::string status = record.value("status", std::string());
        if (status == "succeeded") {
          return reply(contract::flow::InvokeReply{record.contains("output") ? record["output"] : Json()}.ToPayload());
        }
        std::string why = record.contains("error") && record["error"].is_string() ? record["error"].get<std::string>() : status;
        if (status == "timed_out") return reply(DeadlineExceeded("function " + name + " timed out"));
        reply(Internal("function " + name + " failed: " + why));
      });
  if (!started) fail(started.error());
}

void FlowsService::PublishAccess(const std::string& flow_id) {
  auto flow = store_.GetFlow(flow_id);
  auto partitions = store_.ListPartitions(flow_id);
  if (!flow || !partitions) return;
  std::vector<std::string> boards;
  for (const auto& p : *partitions) {
    if (!p.board_id.empty()) boards.push_back(p.board_id);
  }
  gateway_.SetFlowAccess(flow_id, flow->project_id, std::move(boards));
  gateway_.SetFlowWires(flow_id, WireReceivers(*partitions));
}

}  // namespace ew::conductor::flows
