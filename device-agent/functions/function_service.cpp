// Board side of functions: deploy = PackageFetcher (fetch by hash, verify, extract) + install;
// invoke = FunctionHost. Io-thread work stays short; hashing, extraction and file writes run on
// a one-thread blocking pool created on first use.
#include "device-agent/functions/function_service.hpp"

#include <fstream>
#include <regex>
#include <sstream>
#include <system_error>

#include <boost/asio/post.hpp>

#include "common/contract/fn.hpp"
#include "common/json/guarded_json.hpp"
#include "common/log/log.hpp"
#include "common/posix/file_io.hpp"
#include "common/wamp/conductor_procedures.hpp"

namespace ew::agent::functions {

namespace fs = std::filesystem;
using nlohmann::json;

namespace {

const ew::log::Logger Log{"functions"};

Result<containers::FunctionSpec> ReadSpec(const fs::path& dir) {
  std::ifstream in(dir / "function.json", std::ios::binary);
  if (!in) return NotFound("no function.json in " + dir.string());
  std::ostringstream text;
  text << in.rdbuf();
  return containers::ParseFunctionSpec(text.str());
}

namespace fn = contract::fn;

bool SameTriggers(const std::vector<gpio::TriggerSpec>& a, const std::vector<gpio::TriggerSpec>& b) {
  return ew::gpio::ToJson(a) == ew::gpio::ToJson(b);
}

}  // namespace

FunctionService::FunctionService(boost::asio::io_context& io, FunctionServiceOptions options,
                                 std::unique_ptr<containers::FunctionHost> host, std::string unavailable_reason)
    : io_(io),
      options_(std::move(options)),
      book_(options_.state_dir / "deployments.json"),
      host_(std::move(host)),
      unavailable_reason_(std::move(unavailable_reason)),
      fetcher_(std::make_unique<PackageFetcher>(
          io, PackageFetcherOptions{options_.state_dir / "packages", options_.fetch_chunk_bytes, options_.fetch_timeout},
          [this]() -> boost::asio::thread_pool& { return Blocking(); })) {}

FunctionService::~FunctionService() {
  alive_.reset();
  if (blocking_) blocking_->join();
}

boost::asio::thread_pool& FunctionService::Blocking() {
  std::call_once(blocking_once_, [this] { blocking_ = std::make_unique<boost::asio::thread_pool>(1); });
  return *blocking_;
}

std::string FunctionService::RuntimeDescription() const {
  if (host_) return std::string(host_->RuntimeName());
  return "none (" + unavailable_reason_ + ")";
}

nlohmann::json FunctionService::RuntimeLimits() const {
  if (!host_) return nullptr;
  return containers::ToJson(host_->RuntimeLimits());
}

std::vector<std::string> FunctionService::LimitWarnings() const {
  if (!host_) return {};
  auto missing = containers::Unenforced(host_->RuntimeLimits());
  if (missing.empty()) return {};
  std::string names;
  for (const auto& name : missing) {
    const char* what = name == "memory" ? "memory limit (memoryMb) for the container as a whole"
                       : name == "pids" ? "process limit"
                       : name == "cpu"  ? "CPU quota"
                                        : "a uid of its own (functions share the agent's uid)";
    names += (names.empty() ? "" : ", ") + std::string(what);
  }
  return {"not enforced by " + std::string(host_->RuntimeName()) + " on this board: " + names};
}

std::vector<Deployment> FunctionService::Deployments() const {
  std::lock_guard lock(mu_);
  std::vector<Deployment> out;
  for (const auto& [id, d] : deployments_) out.push_back(d);
  return out;
}

void FunctionService::PersistLater(std::string what, std::function<void()> then) const {
  // The pool has one thread, so writes land in the order they were asked for and the last one
  // holds the latest book. A failure is only logged (the deployment is live; the conductor
  // delivers it again after a restart); `then` (the caller's answer) runs once the file is on
  // disk, so a board never acknowledges a change a crash could take back.
  boost::asio::post(const_cast<FunctionService*>(this)->Blocking(),
                    [book = book_, deployments = deployments_, what = std::move(what), then = std::move(then)] {
                      if (auto written = book.Save(deployments); !written)
                        Log()->error("{} but not recorded: {}", what, written.error().message);
                      if (then) then();
                    });
}

Result<void> FunctionService::Restore() {
  EW_TRY_VOID(fetcher_->Prepare());
  std::error_code ec;
  fs::permissions(options_.state_dir, fs::perms::owner_all, ec);

  const auto recorded = book_.Load();
  if (recorded.empty()) return Ok();
  std::lock_guard lock(mu_);
  for (const Deployment& d : recorded) {
    auto spec = ReadSpec(fetcher_->Dir(d.sha256));
    if (!spec) {
      Log()->warn("function {}: package {} is not in the cache ({}); dropped until the conductor redeploys it",
                  d.function_id, d.sha256, spec.error().message);
      continue;
    }
    if (!host_) continue;
    if (auto installed = host_->Install(d.function_id, *spec, fetcher_->Dir(d.sha256)); !installed) {
      Log()->warn("function {}: cannot install: {}", d.function_id, installed.error().message);
      continue;
    }
    if (auto bound = BindTriggers(d); !bound)
      Log()->warn("function {}: its GPIO triggers cannot be bound: {}", d.function_id, bound.error().message);
    deployments_[d.function_id] = d;
  }
  Log()->info("restored {} deployment(s)", deployments_.size());
  // Before the session starts: written here, so that a failure stops the start.
  return book_.Save(deployments_);
}

rpc::ProcedureTable FunctionService::Procedures() {
  auto bind = [this, alive = std::weak_ptr<bool>(alive_)](auto method) -> rpc::Handler {
    return [this, alive, method](const rpc::Request& invocation, rpc::Responder respond) {
      if (alive.expired()) return respond(Unavailable("the agent is shutting down"));
      (this->*method)(invocation, std::move(respond));
    };
  };
  rpc::ProcedureTable table;
  table.push_back({fn::kDeploy.suffix, bind(&FunctionService::Deploy)});
  table.push_back({fn::kRemove.suffix, bind(&FunctionService::Remove)});
  table.push_back({fn::kInvoke.suffix, bind(&FunctionService::Invoke)});
  table.push_back({fn::kList.suffix, rpc::Sync([this, alive = std::weak_ptr<bool>(alive_)](
                                                    const rpc::Request&) -> Result<rpc::Reply> {
                     if (alive.expired()) return Unavailable("the agent is shutting down");
                     return List();
                   })});
  return table;
}

void FunctionService::Deploy(const rpc::Request& invocation, rpc::Responder respond) {
  if (!host_) return respond(Unavailable("no container runtime on this board: " + unavailable_reason_));
  auto request = fn::DeployRequest::Parse(invocation);
  if (!request) return respond(tl::unexpected(request.error()));
  if (request->size > options_.max_package_bytes)
    return respond(InvalidArgument("fn.deploy: size: must be an integer between 1 and " +
                                   std::to_string(options_.max_package_bytes)));
  const uint64_t size = request->size;
  if (!request->triggers.empty() && !gpio_) return respond(Unavailable("this board has no GPIO for triggers"));

  Deployment wanted{request->function_id, "", request->version, request->sha256, std::move(request->triggers)};
  {
    std::lock_guard lock(mu_);
    if (auto it = deployments_.find(wanted.function_id); it != deployments_.end() && it->second.sha256 == wanted.sha256) {
      if (SameTriggers(it->second.triggers, wanted.triggers)) return respond(fn::DeployReply{it->second, true, {}}.ToPayload());
      wanted.name = it->second.name;
    }
  }
  if (!wanted.name.empty()) return Commit(std::move(wanted), true, std::move(respond));  // new triggers only

  const std::string sha256 = wanted.sha256;
  fetcher_->Fetch(sha256, size, [this, alive = std::weak_ptr<bool>(alive_), wanted = std::move(wanted),
                                  respond = std::move(respond)](Result<fs::path> dir, bool cached) {
    if (alive.expired()) return respond(Unavailable("the agent is shutting down"));
    if (!dir) return respond(tl::unexpected(dir.error()));
    Install(wanted, *dir, cached, respond);
  });
}

void FunctionService::Install(Deployment wanted, fs::path dir, bool cached, rpc::Responder respond) {
  // Raw `this` on the pool: the destructor joins the pool before any member goes.
  boost::asio::post(Blocking(), [self = this, alive = std::weak_ptr<bool>(alive_), wanted = std::move(wanted), dir = std::move(dir),
                                 cached, respond = std::move(respond)]() mutable {
    auto spec = ReadSpec(dir);
    if (!spec) return respond(Internal("cached package " + wanted.sha256 + ": " + spec.error().message));
    if (auto ok = self->host_->Install(wanted.function_id, *spec, dir); !ok) return respond(tl::unexpected(ok.error()));
    wanted.name = spec->name;
    boost::asio::post(self->io_, [self, alive, wanted = std::move(wanted), cached, respond = std::move(respond)]() mutable {
      if (!alive.expired()) self->Commit(std::move(wanted), cached, std::move(respond));
    });
  });
}

Result<void> FunctionService::BindTriggers(const Deployment& d) {
  if (!gpio_) {
    if (d.triggers.empty()) return Ok();
    return Unavailable("this board has no GPIO for triggers");
  }
  if (d.triggers.empty()) {
    gpio_->ClearTriggers(d.function_id);
    return Ok();
  }
  return gpio_->SetTriggers(d.function_id, d.triggers, [self = this, alive = std::weak_ptr<bool>(alive_),
                                                        function_id = d.function_id](json event) {
    if (alive.expired() || !self->host_) return;
    const std::string line = event.value("line", "");
    // The conductor may be unreachable: the board runs it anyway, logs the outcome and reports
    // it to the conductor's invocation history when there is a session.
    const int64_t at = std::chrono::duration_cast<std::chrono::seconds>(
                           std::chrono::system_clock::now().time_since_epoch()).count();
    // Runs on a worker thread of the host: the io thread (where the token is checked) gets the
    // record.
    self->host_->InvokeEvent(function_id, event, [self, alive, function_id, line, event, at](
                                                       Result<containers::InvocationResult> result) {
      json record;
      if (!result) {
        Log()->warn("trigger {} on {}: {}", function_id, line, result.error().message);
        record = {{"status", "failed"}, {"error", result.error().message}};
      } else {
        if (result->status != containers::InvocationResult::Status::kSucceeded) {
          Log()->warn("trigger {} on {}: {}: {}", function_id, line, containers::StatusName(result->status),
                      result->error);
        } else {
          Log()->info("trigger {} on {}: succeeded in {} ms", function_id, line, result->run_time.count() / 1000);
        }
        record = containers::ToJson(*result);
      }
      record["trigger"] = event;
      record["at"] = at;
      boost::asio::post(self->io_, [self, alive, function_id, record = std::move(record)]() mutable {
        if (!alive.expired()) self->QueueReport(function_id, std::move(record));
      });
    });
  });
}

namespace {

constexpr std::string_view kLogsTrimmed = "\n[edgewire: logs trimmed to fit one message]";

size_t EncodedSize(const json& value) { return json::to_msgpack(value).size(); }

// Shortens `text` by at least `excess` bytes without splitting a UTF-8 sequence.
void TrimUtf8(std::string& text, size_t excess) {
  size_t keep = excess >= text.size() ? 0 : text.size() - excess;
  while (keep > 0 && (static_cast<unsigned char>(text[keep]) & 0xC0) == 0x80) --keep;
  text.resize(keep);
}

}  // namespace

size_t FitRecord(json& record, size_t budget) {
  size_t size = EncodedSize(record);
  if (size <= budget) return size;
  auto logs = record.find("logs");
  if (logs != record.end() && logs->is_string()) {
    std::string& text = logs->get_ref<std::string&>();
    TrimUtf8(text, size - budget + kLogsTrimmed.size());
    text += kLogsTrimmed;
    size = EncodedSize(record);
    if (size <= budget) return size;
  }
  const size_t output_bytes = record.contains("output") ? EncodedSize(record["output"]) : 0;
  record["output"] = nullptr;
  record["status"] = "failed";
  record["error"] = "output is " + std::to_string(output_bytes) + " bytes, more than one message to the conductor carries (" +
                    std::to_string(budget) + " bytes with the logs)";
  return EncodedSize(record);
}

void FunctionService::SetSpool(spool::AsyncSpool* spool) {
  if (!spool) {
    reporter_.reset();
    return;
  }
  TriggerReporterOptions options;
  options.reports_per_call = options_.reports_per_call;
  options.report_budget = ReportBudget();
  reporter_ = std::make_unique<TriggerReporter>(*spool, options);
  reporter_->SetConductor(conductor_);
}

void FunctionService::QueueReport(const std::string& function_id, json record) {
  FitRecord(record, ReportBudget());
  if (!reporter_) {
    Log()->warn("trigger outcome of {} not reported: this agent has no spool", function_id);
    return;
  }
  reporter_->Report(function_id, std::move(record));
}

void FunctionService::Commit(Deployment wanted, bool cached, rpc::Responder respond) {
  if (auto bound = BindTriggers(wanted); !bound) {
    // The code is installed but the deployment is not what was asked for: say so; the conductor
    // marks it failed and the old record (if any) stays.
    return respond(MakeError(bound.error().code, "triggers: " + bound.error().message));
  }
  std::string replaced;  // the previous version's package, if nothing else uses it now
  {
    std::lock_guard lock(mu_);
    auto& slot = deployments_[wanted.function_id];
    replaced = slot.sha256 == wanted.sha256 ? "" : slot.sha256;
    slot = wanted;
    for (const auto& [id, d] : deployments_) {
      if (d.sha256 == replaced) replaced.clear();
    }
  }
  if (!replaced.empty()) fetcher_->Discard(replaced);
  Log()->info("function {} ({} {}) deployed, package {}{}{}", wanted.function_id, wanted.name, wanted.version,
              wanted.sha256.substr(0, 12), cached ? " (cached)" : "",
              wanted.triggers.empty() ? "" : ", " + std::to_string(wanted.triggers.size()) + " GPIO trigger(s)");
  // Limits the function declares that this board cannot hold: said, never silently dropped.
  const std::string what = "function " + wanted.function_id + ": deployed";
  auto reply = std::make_shared<rpc::Reply>(fn::DeployReply{std::move(wanted), cached, LimitWarnings()}.ToPayload());
  std::lock_guard lock(mu_);
  PersistLater(what, [respond = std::move(respond), reply] { respond(std::move(*reply)); });
}

void FunctionService::Remove(const rpc::Request& invocation, rpc::Responder respond) {
  auto request = fn::RemoveRequest::Parse(invocation);
  if (!request) return respond(tl::unexpected(request.error()));
  const std::string* function_id = &request->function_id;
  std::string orphan;  // package no other deployment uses
  {
    std::lock_guard lock(mu_);
    auto it = deployments_.find(*function_id);
    if (it == deployments_.end()) return respond(NotFound("function " + *function_id + " is not deployed on this board"));
    const std::string sha256 = it->second.sha256;
    if (gpio_) gpio_->ClearTriggers(*function_id);
    if (host_) (void)host_->Uninstall(*function_id);  // NotFound only if it never installed
    deployments_.erase(it);
    bool shared = false;
    for (const auto& [id, d] : deployments_) shared = shared || d.sha256 == sha256;
    if (!shared) orphan = sha256;
  }
  Log()->info("function {} removed", *function_id);
  if (!orphan.empty()) fetcher_->Discard(orphan);
  auto reply = std::make_shared<rpc::Reply>(fn::RemoveReply{*function_id, true}.ToPayload());
  std::lock_guard lock(mu_);
  PersistLater("function " + *function_id + ": removed", [respond = std::move(respond), reply] { respond(std::move(*reply)); });
}

Result<rpc::Reply> FunctionService::List() const {
  std::map<std::string, containers::InstalledFunction> installed;
  if (host_) {
    for (auto& f : host_->List()) installed.emplace(f.key, std::move(f));
  }
  fn::ListReply reply;
  reply.runtime = RuntimeDescription();
  std::lock_guard lock(mu_);
  for (const auto& [id, d] : deployments_) {
    auto it = installed.find(id);
    const bool here = it != installed.end();
    reply.functions.push_back({d, here ? it->second.warm_instances : 0, here ? it->second.running : 0,
                               here ? it->second.queued : 0});
  }
  return reply.ToPayload();
}

void FunctionService::Invoke(const rpc::Request& invocation, rpc::Responder respond) {
  if (!host_) return respond(Unavailable("no container runtime on this board: " + unavailable_reason_));
  auto request = fn::InvokeRequest::Parse(invocation);
  if (!request) return respond(tl::unexpected(request.error()));
  const std::string* function_id = &request->function_id;
  {
    std::lock_guard lock(mu_);
    if (!deployments_.count(*function_id))
      return respond(NotFound("function " + *function_id + " is not deployed on board " + options_.board_id));
  }
  // The event goes to the host as the value it arrived as: printed once, for the container.
  host_->InvokeEvent(*function_id, request->event,
                [respond,
                 budget = ReplyBudget()](Result<containers::InvocationResult> result) {
                  if (!result) return respond(tl::unexpected(result.error()));
                  // Where it ran is the conductor's to say (it called this board): no boardId here.
                  fn::InvocationRecord record{result->status, containers::ToJson(*result)};
                  FitRecord(record.record, budget);  // may turn it into a failure that says why
                  if (record.record["status"] == "failed") record.status = contract::InvocationStatus::kFailed;
                  respond(record.ToPayload());
                });
}

}  // namespace ew::agent::functions
