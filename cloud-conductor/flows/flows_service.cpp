#include "cloud-conductor/flows/flows_service.hpp"

#include <condition_variable>
#include <map>
#include <mutex>
#include <set>
#include <utility>

#include <boost/asio/post.hpp>
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

// Answers from boards that a caller on the blocking pool waits for, for at most a deadline.
// Boards answer on the router's strand: recording an answer there is cheap and never waits for
// the pool (which may be the very thread waiting).
template <typename T>
class Answers {
 public:
  explicit Answers(size_t expected) : left_(expected) {}
  void Put(const std::string& board, T value) {
    std::lock_guard lock(mu_);
    got_[board] = std::move(value);
    if (left_ > 0) --left_;
    cv_.notify_all();
  }
  // What came before `wait` was over.
  std::map<std::string, T> Wait(std::chrono::milliseconds wait) {
    std::unique_lock lock(mu_);
    cv_.wait_for(lock, wait, [&] { return left_ == 0; });
    return got_;
  }

 private:
  std::mutex mu_;
  std::condition_variable cv_;
  size_t left_;
  std::map<std::string, T> got_;  // GUARDED_BY(mu_)
};

DeployAnswer AnswerOf(const Result<wamp::Payload>& result) {
  if (!result) {
    // Gone offline meanwhile: it gets the partition when it returns.
    if (result.error().code == ErrorCode::kUnavailable) return {"offline", result.error().message, 0};
    return {"failed", result.error().message, 0};
  }
  // Deployed whatever else the board said: a reply it garbled does not undo the deploy.
  auto reply = contract::flow::FlowState::Parse(*result);
  if (!reply) Log()->warn("flow.deploy answered badly: {}", reply.error().message);
  return {"deployed", "", reply ? reply->version : 0};
}

// The first node of a partition, to name in an issue about the whole partition.
FlowIssue IssueOnPartition(const ew::flows::Partition& p, std::string message) {
  const auto& node = p.nodes.front();
  return FlowIssue{node.id, node.type, node.tab, std::move(message)};
}

}  // namespace

FlowsService::FlowsService(FlowStore& store, registry::Store& registry, router::BoardGateway& gateway,
                           functions::FunctionsService* functions, boost::asio::thread_pool& blocking,
                           const Clock& clock, FlowsOptions options)
    : store_(store),
      registry_(registry),
      gateway_(gateway),
      functions_(functions),
      blocking_(blocking),
      clock_(clock),
      options_(std::move(options)) {}

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
  for (auto& a : access) gateway_.SetFlowAccess(a.flow_id, a.project_id, std::move(a.boards));
  return Ok();
}

tl::expected<DeployOutcome, DeployRefusal> FlowsService::Deploy(const std::string& project_id, const std::string& name,
                                                                const Json& nodes, const std::string& cloud) {
  auto refuse = [](Error error, std::vector<FlowIssue> issues = {}) {
    return tl::unexpected<DeployRefusal>(DeployRefusal{std::move(error), std::move(issues)});
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
  const int64_t now = UnixSeconds(clock_.Now());
  // Partitioning needs the flow's id and version (they are in every topic): it runs inside the
  // store's transaction, which refuses everything when it fails.
  auto make = [&](const std::string& flow_id, int64_t version) -> Result<std::vector<PartitionRecord>> {
    auto parts = ew::flows::PartitionFlow(*flow, flow_id, static_cast<uint64_t>(version), &issues);
    if (!parts) return tl::unexpected<Error>(parts.error());
    for (const auto& p : *parts) {
      if (p.board.empty()) continue;
      auto board = registry_.GetBoard(p.board);
      if (!board && board.error().code != ErrorCode::kNotFound) return tl::unexpected<Error>(board.error());
      if (!board) {
        issues.push_back(IssueOnPartition(p, fmt::format("is placed on board \"{}\", which does not exist", p.board)));
      } else if (board->project_id() != project_id) {
        issues.push_back(IssueOnPartition(p, fmt::format("is placed on board \"{}\" of another project", p.board)));
      }
    }
    for (auto& issue : ew::flows::UnsupportedNodes(*parts, cloud == "conductor")) issues.push_back(std::move(issue));
    if (!issues.empty()) return tl::unexpected<Error>(ew::flows::IssuesError(issues));
    std::vector<PartitionRecord> records;
    for (const auto& p : *parts) {
      PartitionRecord r;
      r.board_id = p.board;
      r.node_count = static_cast<int64_t>(p.nodes.size());
      r.partition = ew::flows::ToJson(p);
      // The cloud partition: run by Node-RED ("external"), or by the conductor's C++ runtime, which
      // this conductor does not have yet (it stays pending).
      r.state = p.board.empty() && cloud == "external" ? "external" : "pending";
      records.push_back(std::move(r));
    }
    return records;
  };
  auto record = store_.AddVersion(project_id, name, ids::NewId("flw"), cloud, nodes, now, make);
  if (!record) return refuse(record.error(), std::move(issues));
  auto partitions = store_.ListPartitions(record->id);
  if (!partitions) return refuse(partitions.error());
  Log()->info("flow {} ({}) version {}: {} partition(s)", record->id, name, record->version, partitions->size());

  // Deploy to boards, and stop it where the previous version ran and this one does not.
  std::set<std::string> placed;
  size_t calls = 0;
  for (const auto& p : *partitions) {
    if (p.board_id.empty()) continue;
    placed.insert(p.board_id);
    ++calls;
  }
  // Access first: a board subscribes to its wires as soon as it has its partition, and the
  // router must know by then that the flow is on that board (else SUBSCRIBE is refused).
  PublishAccess(record->id);
  auto answers = std::make_shared<Answers<DeployAnswer>>(calls);
  for (const auto& p : *partitions) {
    if (p.board_id.empty()) continue;
    StartDeploy(p, [answers, board = p.board_id](const DeployAnswer& a) { answers->Put(board, a); });
  }
  for (const auto& p : before) {
    if (!p.board_id.empty() && placed.count(p.board_id) == 0) StartStop(record->id, p.board_id);
  }
  auto got = answers->Wait(options_.deploy_wait);
  for (auto& p : *partitions) {
    auto it = got.find(p.board_id);
    if (it == got.end()) continue;
    p.state = it->second.state;
    p.error = it->second.error;
    p.running_version = it->second.running_version;
  }
  return DeployOutcome{!*previous, *record, std::move(*partitions)};
}

void FlowsService::StartDeploy(const PartitionRecord& p, std::function<void(const DeployAnswer&)> answered) {
  const std::string& board = p.board_id;
  if (!gateway_.Presence(board)) {
    DeployAnswer offline{"offline", "", 0};
    (void)store_.SetPartitionState(p.flow_id, board, p.version, offline.state, "", 0, UnixSeconds(clock_.Now()));
    if (answered) answered(offline);
    return;
  }
  Log()->info("board={} deploying flow {} version {}", board, p.flow_id, p.version);
  gateway_.CallBoard(board, contract::flow::kDeploy.suffix, contract::flow::DeployRequest{p.partition}.ToPayload(),
                     options_.deploy_timeout,
                     [this, p, answered = std::move(answered), alive = std::weak_ptr<bool>(alive_)](
                         Result<wamp::Payload> result) {
                       DeployAnswer answer = AnswerOf(result);
                       if (answered) answered(answer);  // router strand: only records it
                       if (alive.expired()) return;
                       boost::asio::post(blocking_, [this, p, answer] {
                         if (answer.state == "deployed") {
                           Log()->info("board={} flow {} version {} deployed", p.board_id, p.flow_id, p.version);
                         } else {
                           Log()->warn("board={} flow {} version {} {}: {}", p.board_id, p.flow_id, p.version,
                                       answer.state, answer.error);
                         }
                         (void)store_.SetPartitionState(p.flow_id, p.board_id, p.version, answer.state, answer.error,
                                                        answer.running_version, UnixSeconds(clock_.Now()));
                       });
                     });
}

void FlowsService::StartStop(const std::string& flow_id, const std::string& board_id) {
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
    if (!p.board_id.empty()) StartStop(flow.id, p.board_id);
  }
  Log()->info("flow {} ({}) deleted", flow.id, flow.name);
  return Ok();
}

Result<std::vector<PartitionStatus>> FlowsService::Status(const FlowRecord& flow) {
  EW_TRY(auto partitions, store_.ListPartitions(flow.id));
  std::vector<PartitionStatus> out;
  size_t calls = 0;
  for (auto& p : partitions) {
    PartitionStatus s;
    s.partition = p;
    s.running_version = p.running_version;
    s.online = !p.board_id.empty() && gateway_.Presence(p.board_id).has_value();
    if (s.online) ++calls;
    out.push_back(std::move(s));
  }
  auto answers = std::make_shared<Answers<Result<wamp::Payload>>>(calls);
  for (const auto& s : out) {
    if (!s.online) continue;
    gateway_.CallBoard(s.partition.board_id, contract::flow::kList.suffix, contract::Empty{}.ToPayload(), options_.status_timeout,
                       [answers, board = s.partition.board_id](Result<wamp::Payload> r) { answers->Put(board, std::move(r)); });
  }
  auto got = answers->Wait(options_.status_timeout);
  for (auto& s : out) {
    auto it = got.find(s.partition.board_id);
    if (it == got.end() || !it->second) continue;
    auto list = contract::flow::ListReply::Parse(*it->second);
    if (!list) {
      Log()->warn("board={} flow.list answered badly: {}", s.partition.board_id, list.error().message);
      continue;
    }
    s.running_version = 0;
    for (const auto& entry : list->flows) {
      if (entry.flow != flow.id) continue;
      s.running_version = entry.version;
      s.spooled = static_cast<int64_t>(entry.spooled);
      s.dropped = static_cast<int64_t>(entry.dropped);
    }
  }
  return out;
}

void FlowsService::OnBoardRegistered(const std::string& board_id, const std::string& suffix) {
  if (suffix == contract::flow::kDeploy.suffix) {
    // Partitions it has not confirmed at their current version: deployed while it was away,
    // or whose deploy failed on the way.
    boost::asio::post(blocking_, [this, board_id] {
      auto partitions = store_.BoardPartitions(board_id);
      if (!partitions) return Log()->error("board={} flow partitions: {}", board_id, partitions.error().message);
      for (const auto& p : *partitions) {
        if (p.state == "deployed" && p.running_version == p.version) continue;
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
      (void)store_.SetPartitionState(p.flow_id, board_id, p.version, "deployed", "", it->second, now);
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
    auto fail = [&](Error e) { reply(tl::unexpected<Error>(std::move(e))); };
    const std::string& wanted = request.function;
    const std::string& placement = request.placement;
    functions::InvokeOptions options;
    if (request.timeout_ms) options.wait = std::chrono::milliseconds(*request.timeout_ms);
    auto board = registry_.GetBoard(board_id);
    if (!board) return fail(board.error());
    // The function, by id or by name, in the calling board's project only.
    std::optional<functions::FunctionRecord> function;
    if (auto byId = functions_->store().GetFunction(wanted); byId && byId->project_id == board->project_id()) {
      function = *byId;
    } else {
      registry::PageRequest page;
      page.limit = registry::kMaxPageLimit;
      while (!function) {
        auto list = functions_->store().ListFunctions(board->project_id(), page);
        if (!list) return fail(list.error());
        for (const auto& f : list->items) {
          if (f.name == wanted) function = f;
        }
        if (list->next_cursor.empty()) break;
        page.cursor = list->next_cursor;
      }
    }
    if (!function) return fail(Error{ErrorCode::kNotFound, "no function \"" + wanted + "\" in the board's project"});
    std::string target;
    if (placement == "cloud") {
      target = "cloud";
    } else if (placement.rfind("board:", 0) == 0) {
      target = placement.substr(6);
      auto other = registry_.GetBoard(target);
      if (!other || other->project_id() != board->project_id())
        return fail(Error{ErrorCode::kPermissionDenied, "board " + target + " is not in the calling board's project"});
    } else if (placement == "auto") {
      // The calling board when the function is deployed there (no network hop), else the cloud.
      auto deployment = functions_->store().GetDeployment(function->id, board_id);
      target = deployment && *deployment && (*deployment)->state == contract::DeploymentState::kDeployed ? board_id : "cloud";
    } else {
      return fail(Error{ErrorCode::kInvalidArgument, "placement: must be auto, cloud or board:<id>"});
    }
    auto started = functions_->Invoke(
        *function, target, std::move(request.event), options, [reply, name = function->name](functions::InvocationOutcome outcome) {
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
  });
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
}

}  // namespace ew::conductor::flows
