// Board side of functions: deploy = fetch by hash (chunked RPC) + verify + extract + install;
// invoke = FunctionHost. Io-thread work stays short; hashing, extraction and file writes run on
// a one-thread blocking pool created on first use.
#include "device-agent/functions/function_service.hpp"

#include <fstream>
#include <regex>
#include <sstream>
#include <system_error>

#include <boost/asio/post.hpp>

#include "common/ids/ids.hpp"
#include "common/json/guarded_json.hpp"
#include "common/log/log.hpp"
#include "common/wamp/conductor_procedures.hpp"
#include "containers/package/package.hpp"

namespace ew::agent::functions {

namespace fs = std::filesystem;
using nlohmann::json;

namespace {

// deployments.json holds a few hundred bytes per deployment; past this it is not ours.
constexpr size_t kMaxStateFileBytes = 16u << 20;

std::shared_ptr<spdlog::logger> Log() {
  static auto logger = ew::log::Get("functions");
  return logger;
}

using wamp::kFnFetchProcedure;

// A field of the call's kwargs that must be a string matching `pattern`.
Result<std::string> StringField(const json& kwargs, const char* name, const std::regex& pattern, const char* shape) {
  auto it = kwargs.find(name);
  if (it == kwargs.end()) return InvalidArgument(std::string(name) + ": required");
  if (!it->is_string()) return InvalidArgument(std::string(name) + ": must be a string");
  auto value = it->get<std::string>();
  if (!std::regex_match(value, pattern)) return InvalidArgument(std::string(name) + ": must be " + shape);
  return value;
}

const std::regex& IdPattern() {
  static const std::regex pattern("[A-Za-z0-9_.-]{1,64}");
  return pattern;
}

Result<std::string> FunctionIdField(const json& kwargs) {
  return StringField(kwargs, "functionId", IdPattern(), "1-64 characters of [A-Za-z0-9_.-]");
}

Result<containers::FunctionSpec> ReadSpec(const fs::path& dir) {
  std::ifstream in(dir / "function.json", std::ios::binary);
  if (!in) return NotFound("no function.json in " + dir.string());
  std::ostringstream text;
  text << in.rdbuf();
  return containers::ParseFunctionSpec(text.str());
}

json DeploymentJson(const Deployment& d) {
  return {{"functionId", d.function_id},
          {"name", d.name},
          {"version", d.version},
          {"sha256", d.sha256},
          {"triggers", ew::gpio::ToJson(d.triggers)}};
}

// "triggers": [{line, edge, debounceMs}, ...], optional.
Result<std::vector<gpio::TriggerSpec>> TriggersField(const json& kwargs) {
  auto it = kwargs.find("triggers");
  if (it == kwargs.end()) return std::vector<gpio::TriggerSpec>{};
  return ew::gpio::ParseTriggers(*it);
}

bool SameTriggers(const std::vector<gpio::TriggerSpec>& a, const std::vector<gpio::TriggerSpec>& b) {
  return ew::gpio::ToJson(a) == ew::gpio::ToJson(b);
}

}  // namespace

FunctionService::FunctionService(boost::asio::io_context& io, FunctionServiceOptions options,
                                 std::unique_ptr<containers::FunctionHost> host, std::string unavailable_reason)
    : io_(io), options_(std::move(options)), host_(std::move(host)), unavailable_reason_(std::move(unavailable_reason)) {}

FunctionService::~FunctionService() {
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

fs::path FunctionService::PackageDir(const std::string& sha256) const { return options_.state_dir / "packages" / sha256; }

std::vector<Deployment> FunctionService::Deployments() const {
  std::lock_guard lock(mu_);
  std::vector<Deployment> out;
  for (const auto& [id, d] : deployments_) out.push_back(d);
  return out;
}

Result<void> FunctionService::Persist() const {
  json list = json::array();
  for (const auto& [id, d] : deployments_) list.push_back(DeploymentJson(d));
  const fs::path path = options_.state_dir / "deployments.json";
  const fs::path tmp = options_.state_dir / "deployments.json.tmp";
  {
    std::ofstream out(tmp, std::ios::binary | std::ios::trunc);
    out << json{{"deployments", list}}.dump(2) << "\n";
    out.flush();
    if (!out) return Internal("cannot write " + tmp.string());
  }
  std::error_code ec;
  fs::rename(tmp, path, ec);
  if (ec) return Internal("cannot replace " + path.string() + ": " + ec.message());
  return Ok();
}

Result<void> FunctionService::Restore() {
  std::error_code ec;
  fs::create_directories(options_.state_dir / "packages", ec);
  if (ec) return Internal("cannot create " + (options_.state_dir / "packages").string() + ": " + ec.message());
  fs::permissions(options_.state_dir, fs::perms::owner_all, ec);
  // Extractions interrupted by a crash leave "<sha>.tmp-*" siblings: never valid, remove them.
  for (const auto& entry : fs::directory_iterator(options_.state_dir / "packages", ec)) {
    if (entry.path().filename().string().find(".tmp") != std::string::npos) fs::remove_all(entry.path(), ec);
  }

  const fs::path path = options_.state_dir / "deployments.json";
  if (!fs::exists(path)) return Ok();
  std::ifstream in(path, std::ios::binary);
  std::stringstream text;
  text << in.rdbuf();
  ew::json::ParseLimits limits;
  limits.max_bytes = kMaxStateFileBytes;
  limits.what = path.string();
  auto parsed = ew::json::Parse(text.str(), limits);
  json doc = parsed ? std::move(*parsed) : json();
  if (!parsed || !doc.is_object() || !doc.contains("deployments") || !doc["deployments"].is_array()) {
    Log()->warn("{} is not valid: starting with no deployments (the conductor delivers them again)", path.string());
    return Ok();
  }
  std::lock_guard lock(mu_);
  for (const auto& item : doc["deployments"]) {
    Deployment d;
    d.function_id = item.value("functionId", "");
    d.name = item.value("name", "");
    d.version = item.value("version", "");
    d.sha256 = item.value("sha256", "");
    if (d.function_id.empty() || d.sha256.size() != 64) continue;
    if (auto triggers = TriggersField(item); triggers) {
      d.triggers = std::move(*triggers);
    } else {
      Log()->warn("function {}: recorded triggers are not valid ({}); restored without them", d.function_id,
                  triggers.error().message);
    }
    auto spec = ReadSpec(PackageDir(d.sha256));
    if (!spec) {
      Log()->warn("function {}: package {} is not in the cache ({}); dropped until the conductor redeploys it",
                  d.function_id, d.sha256, spec.error().message);
      continue;
    }
    if (!host_) continue;
    if (auto installed = host_->Install(d.function_id, *spec, PackageDir(d.sha256)); !installed) {
      Log()->warn("function {}: cannot install: {}", d.function_id, installed.error().message);
      continue;
    }
    if (auto bound = BindTriggers(d); !bound)
      Log()->warn("function {}: its GPIO triggers cannot be bound: {}", d.function_id, bound.error().message);
    deployments_[d.function_id] = d;
  }
  Log()->info("restored {} deployment(s)", deployments_.size());
  return Persist();
}

rpc::ProcedureTable FunctionService::Procedures() {
  std::weak_ptr<FunctionService> weak = weak_from_this();
  auto bind = [weak](auto method) -> rpc::Handler {
    return [weak, method](const rpc::Invocation& invocation, rpc::Responder respond) {
      auto self = weak.lock();
      if (!self) return respond(Unavailable("the agent is shutting down"));
      ((*self).*method)(invocation, std::move(respond));
    };
  };
  rpc::ProcedureTable table;
  table.push_back({"fn.deploy", bind(&FunctionService::Deploy)});
  table.push_back({"fn.remove", bind(&FunctionService::Remove)});
  table.push_back({"fn.invoke", bind(&FunctionService::Invoke)});
  table.push_back({"fn.list", rpc::Sync([weak](const rpc::Invocation&) -> Result<rpc::Reply> {
                     auto self = weak.lock();
                     if (!self) return Unavailable("the agent is shutting down");
                     return self->List();
                   })});
  return table;
}

void FunctionService::Deploy(const rpc::Invocation& invocation, rpc::Responder respond) {
  if (!host_) return respond(Unavailable("no container runtime on this board: " + unavailable_reason_));
  const json& kwargs = invocation.kwargs;
  auto function_id = FunctionIdField(kwargs);
  if (!function_id) return respond(tl::unexpected(function_id.error()));
  static const std::regex version_pattern("[\\x21-\\x7e]{1,64}");
  auto version = StringField(kwargs, "version", version_pattern, "1-64 printable characters");
  if (!version) return respond(tl::unexpected(version.error()));
  static const std::regex sha_pattern("[0-9a-f]{64}");
  auto sha256 = StringField(kwargs, "sha256", sha_pattern, "64 lowercase hex digits");
  if (!sha256) return respond(tl::unexpected(sha256.error()));
  auto size_it = kwargs.find("size");
  if (size_it == kwargs.end() || !size_it->is_number_unsigned() || size_it->get<uint64_t>() == 0 ||
      size_it->get<uint64_t>() > options_.max_package_bytes) {
    return respond(InvalidArgument("size: must be an integer between 1 and " + std::to_string(options_.max_package_bytes)));
  }
  const uint64_t size = size_it->get<uint64_t>();
  auto triggers = TriggersField(kwargs);
  if (!triggers) return respond(tl::unexpected(triggers.error()));
  if (!triggers->empty() && !gpio_) return respond(Unavailable("this board has no GPIO for triggers"));

  Deployment wanted{*function_id, "", *version, *sha256, std::move(*triggers)};
  {
    std::lock_guard lock(mu_);
    if (auto it = deployments_.find(wanted.function_id); it != deployments_.end() && it->second.sha256 == wanted.sha256) {
      if (SameTriggers(it->second.triggers, wanted.triggers)) {
        json reply = DeploymentJson(it->second);
        reply["cached"] = true;
        return respond(rpc::Reply{json::array(), std::move(reply)});
      }
      wanted.name = it->second.name;
    }
  }
  if (!wanted.name.empty()) return Commit(std::move(wanted), true, std::move(respond));  // new triggers only

  auto self = shared_from_this();
  auto installed = [self, wanted, respond](Result<fs::path> dir, bool cached) {
    if (!dir) return respond(tl::unexpected(dir.error()));
    self->Install(wanted, *dir, cached, respond);
  };

  if (fs::exists(PackageDir(wanted.sha256))) return installed(PackageDir(wanted.sha256), true);
  if (!conductor_) return respond(Unavailable("not connected to the conductor"));
  auto& waiters = fetching_[wanted.sha256];
  waiters.push_back([installed](Result<fs::path> dir) { installed(std::move(dir), false); });
  if (waiters.size() == 1) FetchChunk(wanted.sha256, size, std::make_shared<std::string>());
}

void FunctionService::Install(Deployment wanted, fs::path dir, bool cached, rpc::Responder respond) {
  // Raw `this` on the pool: the destructor joins the pool first, and the last reference must
  // never be dropped on a pool thread (it would join itself).
  boost::asio::post(Blocking(), [self = this, weak = weak_from_this(), wanted = std::move(wanted), dir = std::move(dir),
                                 cached, respond = std::move(respond)]() mutable {
    auto spec = ReadSpec(dir);
    if (!spec) return respond(Internal("cached package " + wanted.sha256 + ": " + spec.error().message));
    if (auto ok = self->host_->Install(wanted.function_id, *spec, dir); !ok) return respond(tl::unexpected(ok.error()));
    wanted.name = spec->name;
    boost::asio::post(self->io_, [weak, wanted = std::move(wanted), cached, respond = std::move(respond)]() mutable {
      if (auto alive = weak.lock()) alive->Commit(std::move(wanted), cached, std::move(respond));
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
  std::weak_ptr<FunctionService> weak = weak_from_this();
  return gpio_->SetTriggers(d.function_id, d.triggers, [weak, function_id = d.function_id](json event) {
    auto self = weak.lock();
    if (!self || !self->host_) return;
    const std::string line = event.value("line", "");
    // The conductor may be unreachable: the board runs it anyway, logs the outcome and reports
    // it to the conductor's invocation history when there is a session.
    const int64_t at = std::chrono::duration_cast<std::chrono::seconds>(
                           std::chrono::system_clock::now().time_since_epoch()).count();
    // Runs on a worker thread of the host: it must not hold `self` (dropping the last reference
    // there would destroy the host from its own worker); the io thread gets the record.
    self->host_->Invoke(function_id, event.dump(), [io = &self->io_, weak, function_id, line, event, at](
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
      boost::asio::post(*io, [weak, function_id, record = std::move(record)]() mutable {
        if (auto alive = weak.lock()) alive->QueueReport(function_id, std::move(record));
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
  reporter_ = std::make_shared<TriggerReporter>(*spool, options);
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
    if (auto persisted = Persist(); !persisted)
      Log()->error("function {}: deployed but not recorded: {}", wanted.function_id, persisted.error().message);
    for (const auto& [id, d] : deployments_) {
      if (d.sha256 == replaced) replaced.clear();
    }
  }
  if (!replaced.empty()) {
    boost::asio::post(Blocking(), [dir = PackageDir(replaced)] {
      std::error_code ec;
      fs::remove_all(dir, ec);
    });
  }
  Log()->info("function {} ({} {}) deployed, package {}{}{}", wanted.function_id, wanted.name, wanted.version,
              wanted.sha256.substr(0, 12), cached ? " (cached)" : "",
              wanted.triggers.empty() ? "" : ", " + std::to_string(wanted.triggers.size()) + " GPIO trigger(s)");
  json reply = DeploymentJson(wanted);
  reply["cached"] = cached;
  // Limits the function declares that this board cannot hold: said, never silently dropped.
  if (auto warnings = LimitWarnings(); !warnings.empty()) reply["warnings"] = warnings;
  respond(rpc::Reply{json::array(), std::move(reply)});
}

void FunctionService::FetchChunk(const std::string& sha256, uint64_t size, std::shared_ptr<std::string> buffer) {
  const uint64_t offset = buffer->size();
  const uint64_t length = std::min<uint64_t>(options_.fetch_chunk_bytes, size - offset);
  rpc::Reply request;
  request.kwargs = {{"sha256", sha256}, {"offset", offset}, {"length", length}};
  auto self = shared_from_this();
  conductor_->Call(kFnFetchProcedure, std::move(request), options_.fetch_timeout,
                   [self, sha256, size, buffer, offset](Result<rpc::Reply> reply) {
                     if (!reply) {
                       return self->FinishFetch(sha256, MakeError(reply.error().code, "fetching package " + sha256 +
                                                                                           ": " + reply.error().message));
                     }
                     const json& args = reply->args;
                     if (!args.is_array() || args.empty() || !(args[0].is_binary() || args[0].is_string())) {
                       return self->FinishFetch(sha256, Internal("fetching package " + sha256 + ": the conductor sent no bytes"));
                     }
                     auto total = reply->kwargs.find("size");
                     if (total == reply->kwargs.end() || !total->is_number_unsigned() || total->get<uint64_t>() != size) {
                       return self->FinishFetch(sha256, InvalidArgument("fetching package " + sha256 +
                                                                        ": its size is not the one the deployment names"));
                     }
                     if (args[0].is_binary()) {
                       const auto& bytes = args[0].get_binary();
                       buffer->append(bytes.begin(), bytes.end());
                     } else {
                       buffer->append(args[0].get<std::string>());
                     }
                     if (buffer->size() == offset || buffer->size() > size) {
                       return self->FinishFetch(sha256, Internal("fetching package " + sha256 + ": chunk at offset " +
                                                                 std::to_string(offset) + " has a wrong length"));
                     }
                     if (buffer->size() < size) return self->FetchChunk(sha256, size, buffer);
                     // Whole package here: hash and extract off the io thread.
                     boost::asio::post(self->Blocking(), [self = self.get(), weak = self->weak_from_this(), sha256,
                                                          buffer] {
                       Result<fs::path> dir = self->PackageDir(sha256);
                       if (ids::Sha256Hex(*buffer) != sha256) {
                         dir = InvalidArgument("package " + sha256 + ": the bytes received do not have that sha256");
                       } else if (auto extracted = containers::ExtractPackage(*buffer, *dir); !extracted &&
                                                                                           !fs::exists(*dir)) {
                         dir = tl::unexpected(extracted.error());
                       }
                       boost::asio::post(self->io_, [weak, sha256, dir = std::move(dir)]() mutable {
                         if (auto alive = weak.lock()) alive->FinishFetch(sha256, std::move(dir));
                       });
                     });
                   });
}

void FunctionService::FinishFetch(const std::string& sha256, Result<fs::path> dir) {
  auto node = fetching_.extract(sha256);
  if (node.empty()) return;
  if (!dir) Log()->warn("package {}: {}", sha256.substr(0, 12), dir.error().message);
  for (auto& waiter : node.mapped()) waiter(dir);
}

void FunctionService::Remove(const rpc::Invocation& invocation, rpc::Responder respond) {
  auto function_id = FunctionIdField(invocation.kwargs);
  if (!function_id) return respond(tl::unexpected(function_id.error()));
  std::string orphan;  // package no other deployment uses
  {
    std::lock_guard lock(mu_);
    auto it = deployments_.find(*function_id);
    if (it == deployments_.end()) return respond(NotFound("function " + *function_id + " is not deployed on this board"));
    const std::string sha256 = it->second.sha256;
    if (gpio_) gpio_->ClearTriggers(*function_id);
    if (host_) (void)host_->Uninstall(*function_id);  // NotFound only if it never installed
    deployments_.erase(it);
    if (auto persisted = Persist(); !persisted)
      Log()->error("function {}: removed but not recorded: {}", *function_id, persisted.error().message);
    bool shared = false;
    for (const auto& [id, d] : deployments_) shared = shared || d.sha256 == sha256;
    if (!shared) orphan = sha256;
  }
  Log()->info("function {} removed", *function_id);
  if (!orphan.empty()) {
    boost::asio::post(Blocking(), [dir = PackageDir(orphan)] {
      std::error_code ec;
      fs::remove_all(dir, ec);
    });
  }
  respond(rpc::Reply{json::array(), json{{"functionId", *function_id}, {"removed", true}}});
}

Result<rpc::Reply> FunctionService::List() const {
  std::map<std::string, containers::InstalledFunction> installed;
  if (host_) {
    for (auto& f : host_->List()) installed.emplace(f.key, std::move(f));
  }
  json functions = json::array();
  std::lock_guard lock(mu_);
  for (const auto& [id, d] : deployments_) {
    json item = DeploymentJson(d);
    auto it = installed.find(id);
    item["warmInstances"] = it == installed.end() ? 0 : it->second.warm_instances;
    item["running"] = it == installed.end() ? 0 : it->second.running;
    item["queued"] = it == installed.end() ? 0 : it->second.queued;
    functions.push_back(std::move(item));
  }
  return rpc::Reply{json::array(), json{{"functions", functions}, {"runtime", RuntimeDescription()}}};
}

void FunctionService::Invoke(const rpc::Invocation& invocation, rpc::Responder respond) {
  if (!host_) return respond(Unavailable("no container runtime on this board: " + unavailable_reason_));
  auto function_id = FunctionIdField(invocation.kwargs);
  if (!function_id) return respond(tl::unexpected(function_id.error()));
  {
    std::lock_guard lock(mu_);
    if (!deployments_.count(*function_id))
      return respond(NotFound("function " + *function_id + " is not deployed on board " + options_.board_id));
  }
  auto event = invocation.kwargs.find("event");
  // Strings from msgpack peers need not be UTF-8: replace bad bytes rather than throw.
  std::string event_json = event == invocation.kwargs.end()
                               ? "null"
                               : event->dump(-1, ' ', false, json::error_handler_t::replace);
  host_->Invoke(*function_id, std::move(event_json),
                [respond, board_id = options_.board_id,
                 budget = ReplyBudget()](Result<containers::InvocationResult> result) {
                  if (!result) return respond(tl::unexpected(result.error()));
                  json record = containers::ToJson(*result);
                  record["boardId"] = board_id;
                  FitRecord(record, budget);
                  respond(rpc::Reply{json::array(), std::move(record)});
                });
}

}  // namespace ew::agent::functions
