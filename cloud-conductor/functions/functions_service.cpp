#include "cloud-conductor/functions/functions_service.hpp"

#include <fstream>
#include <regex>
#include <system_error>

#include <boost/asio/post.hpp>

#include "common/ids/ids.hpp"
#include "common/log/log.hpp"
#include "containers/package/package.hpp"
#include "containers/runtime/container_runtime.hpp"

namespace ew::functions {

namespace fs = std::filesystem;
using nlohmann::json;

namespace {

std::shared_ptr<spdlog::logger> Log() {
  static auto logger = ew::log::Get("functions");
  return logger;
}

constexpr const char* kFetchProcedure = "ew.conductor.fn.fetch";
constexpr const char* kCloud = "cloud";

json DeployArgs(const Deployment& d) {
  return {{"functionId", d.function_id}, {"version", d.version}, {"sha256", d.sha256}, {"size", d.size}};
}

// Writes `bytes` to `path` through a temporary file and a rename: readers never see half a file.
Result<void> WriteAtomically(const fs::path& path, std::string_view bytes) {
  const fs::path tmp = path.string() + ".tmp-" + ids::NewId("w");
  {
    std::ofstream out(tmp, std::ios::binary | std::ios::trunc);
    out.write(bytes.data(), static_cast<std::streamsize>(bytes.size()));
    out.flush();
    if (!out) {
      std::error_code ec;
      fs::remove(tmp, ec);
      return Internal("cannot write " + tmp.string());
    }
  }
  std::error_code ec;
  fs::rename(tmp, path, ec);
  if (ec) {
    fs::remove(tmp, ec);
    return Internal("cannot store " + path.string() + ": " + ec.message());
  }
  return Ok();
}

}  // namespace

FunctionsService::FunctionsService(FunctionStore& store, router::BoardGateway& gateway,
                                   boost::asio::thread_pool& blocking, const Clock& clock, FunctionsOptions options)
    : store_(store), gateway_(gateway), blocking_(blocking), clock_(clock), options_(std::move(options)) {}

FunctionsService::~FunctionsService() = default;

Result<void> FunctionsService::Start() {
  std::error_code ec;
  for (const fs::path& dir : {options_.dir / "packages", options_.dir / "cloud"}) {
    fs::create_directories(dir, ec);
    if (ec) return Internal("cannot create " + dir.string() + ": " + ec.message());
  }
  fs::permissions(options_.dir, fs::perms::owner_all, ec);
  gateway_.ServeConductorProcedure(kFetchProcedure, [this](const std::string& board_id, wamp::Payload payload,
                                                           router::BoardGateway::Reply reply) {
    Fetch(board_id, std::move(payload.kwargs), std::move(reply));
  });
  gateway_.OnBoardRegistered(
      [this](const std::string& board_id, const std::string& suffix) { OnBoardRegistered(board_id, suffix); });
  return Ok();
}

fs::path FunctionsService::PackagePath(const std::string& sha256) const {
  return options_.dir / "packages" / (sha256 + ".tar.gz");
}

Result<FunctionRecord> FunctionsService::Upload(const std::string& project_id, std::string_view package) {
  EW_TRY(containers::Package inspected, containers::InspectPackage(package));
  const fs::path path = PackagePath(inspected.sha256);
  if (!fs::exists(path)) EW_TRY_VOID(WriteAtomically(path, package));
  FunctionVersion version;
  version.version = inspected.spec.version;
  version.sha256 = inspected.sha256;
  version.size = inspected.package_bytes;
  version.spec = containers::ToJson(inspected.spec);
  version.created_at = UnixSeconds(clock_.Now());
  auto record = store_.AddVersion(project_id, inspected.spec.name, ids::NewId("fn"), version);
  if (!record) {
    // Keep the disk in step with the records: a package no version names goes.
    if (auto referenced = store_.PackageReferenced(inspected.sha256); referenced && !*referenced) {
      std::error_code ec;
      fs::remove(path, ec);
    }
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
    gateway_.CallBoard(d.board_id, "fn.remove", wamp::Payload{json::array(), {{"functionId", function.id}}},
                       options_.deploy_timeout, [](Result<wamp::Payload>) {});
  }
  EW_TRY_VOID(store_.DeleteFunction(function.id));
  for (const auto& v : versions) {
    if (auto referenced = store_.PackageReferenced(v.sha256); referenced && !*referenced) {
      std::error_code ec;
      fs::remove(PackagePath(v.sha256), ec);
    }
  }
  Log()->info("function {} ({}) deleted", function.id, function.name);
  return Ok();
}

Result<std::vector<Deployment>> FunctionsService::Deploy(const FunctionRecord& function,
                                                         const std::vector<std::string>& board_ids) {
  std::vector<Deployment> out;
  const int64_t now = UnixSeconds(clock_.Now());
  for (const auto& board_id : board_ids) {
    Deployment d;
    d.function_id = function.id;
    d.board_id = board_id;
    d.version = function.latest.version;
    d.sha256 = function.latest.sha256;
    d.size = function.latest.size;
    d.state = "pending";
    d.updated_at = now;
    EW_TRY_VOID(store_.PutDeployment(d));
    out.push_back(d);
  }
  for (auto& d : out) {
    if (gateway_.Presence(d.board_id)) {
      d.state = "deploying";
      StartDeploy(d);
    }
  }
  return out;
}

Result<void> FunctionsService::Undeploy(const FunctionRecord& function, const std::string& board_id) {
  EW_TRY_VOID(store_.DeleteDeployment(function.id, board_id));
  if (gateway_.Presence(board_id)) {
    gateway_.CallBoard(board_id, "fn.remove", wamp::Payload{json::array(), {{"functionId", function.id}}},
                       options_.deploy_timeout, [function_id = function.id, board_id](Result<wamp::Payload> r) {
                         if (!r && r.error().code != ErrorCode::kNotFound)
                           Log()->warn("board={} fn.remove {}: {}", board_id, function_id, r.error().message);
                       });
  }
  return Ok();
}

void FunctionsService::StartDeploy(const Deployment& d) {
  const int64_t now = UnixSeconds(clock_.Now());
  if (auto set = store_.SetDeploymentState(d.function_id, d.board_id, d.sha256, "deploying", "", now); !set) {
    Log()->error("deployment {} on {}: {}", d.function_id, d.board_id, set.error().message);
    return;
  }
  Log()->info("board={} deploying function {} version {}", d.board_id, d.function_id, d.version);
  gateway_.CallBoard(d.board_id, "fn.deploy", wamp::Payload{json::array(), DeployArgs(d)}, options_.deploy_timeout,
                     [this, d](Result<wamp::Payload> result) {
                       // Router strand: the store write goes to the pool.
                       boost::asio::post(blocking_, [this, d, result = std::move(result)] {
                         std::string state = "deployed";
                         std::string error;
                         if (!result) {
                           // Gone offline meanwhile: it gets the deployment when it returns.
                           state = result.error().code == ErrorCode::kUnavailable ? "pending" : "failed";
                           error = result.error().message;
                           Log()->warn("board={} deployment of {} {}: {}", d.board_id, d.function_id, state, error);
                         } else {
                           Log()->info("board={} function {} version {} deployed", d.board_id, d.function_id, d.version);
                         }
                         (void)store_.SetDeploymentState(d.function_id, d.board_id, d.sha256, state, error,
                                                         UnixSeconds(clock_.Now()));
                       });
                     });
}

void FunctionsService::OnBoardRegistered(const std::string& board_id, const std::string& suffix) {
  if (suffix != "fn.deploy") return;
  // Every deployment of the board, also those recorded as deployed: a board whose disk was
  // wiped gets them back, and one that has them answers from its cache.
  boost::asio::post(blocking_, [this, board_id] {
    auto deployments = store_.BoardDeployments(board_id);
    if (!deployments) return Log()->error("board={} deployments: {}", board_id, deployments.error().message);
    for (const auto& d : *deployments) StartDeploy(d);
  });
}

void FunctionsService::Fetch(const std::string& board_id, json kwargs, router::BoardGateway::Reply reply) {
  static const std::regex sha_pattern("[0-9a-f]{64}");
  auto sha = kwargs.find("sha256");
  auto offset = kwargs.find("offset");
  auto length = kwargs.find("length");
  if (sha == kwargs.end() || !sha->is_string() || !std::regex_match(sha->get<std::string>(), sha_pattern))
    return reply(InvalidArgument("sha256: must be 64 lowercase hex digits"));
  if (offset == kwargs.end() || !offset->is_number_unsigned())
    return reply(InvalidArgument("offset: must be a non-negative integer"));
  if (length == kwargs.end() || !length->is_number_unsigned() || length->get<uint64_t>() == 0 ||
      length->get<uint64_t>() > options_.max_fetch_chunk)
    return reply(InvalidArgument("length: must be between 1 and " + std::to_string(options_.max_fetch_chunk)));
  boost::asio::post(blocking_, [this, board_id, sha256 = sha->get<std::string>(), from = offset->get<uint64_t>(),
                                count = length->get<uint64_t>(), reply = std::move(reply)] {
    auto allowed = store_.PackageDeployedTo(sha256, board_id);
    if (!allowed) return reply(tl::unexpected(allowed.error()));
    if (!*allowed) return reply(PermissionDenied("package " + sha256 + " is not deployed to board " + board_id));
    std::ifstream in(PackagePath(sha256), std::ios::binary | std::ios::ate);
    if (!in) return reply(NotFound("package " + sha256 + " is not stored on the conductor"));
    const uint64_t size = static_cast<uint64_t>(in.tellg());
    if (from > size) return reply(InvalidArgument("offset: beyond the package's " + std::to_string(size) + " bytes"));
    std::vector<uint8_t> chunk(std::min<uint64_t>(count, size - from));
    in.seekg(static_cast<std::streamoff>(from));
    in.read(reinterpret_cast<char*>(chunk.data()), static_cast<std::streamsize>(chunk.size()));
    if (!in) return reply(Internal("cannot read package " + sha256));
    reply(wamp::Payload{json::array({json::binary(std::move(chunk))}), {{"size", size}}});
  });
}

Result<FunctionsService::Prepared> FunctionsService::Prepare(const FunctionRecord& function, const std::string& target) {
  const json& spec = function.latest.spec;
  if (target == kCloud) {
    if (spec.value("boardOnly", false))
      return InvalidArgument("function " + function.name + " is boardOnly: it cannot run in the cloud");
  } else {
    if (spec.value("cloudOnly", false))
      return InvalidArgument("function " + function.name + " is cloudOnly: it cannot run on a board");
    EW_TRY(auto deployment, store_.GetDeployment(function.id, target));
    if (!deployment) return Conflict("function " + function.name + " is not deployed on board " + target);
    if (!gateway_.Presence(target)) return Unavailable("board " + target + " is offline");
  }
  return Prepared{ids::NewId("inv"), target, UnixSeconds(clock_.Now())};
}

void FunctionsService::Invoke(const FunctionRecord& function, const std::string& target, json event, RecordDone done) {
  auto prepared = Prepare(function, target);
  if (!prepared) return done(tl::unexpected(prepared.error()));
  Run(function, *prepared, std::move(event), [this, function, prepared = *prepared, done = std::move(done)](
                                                 Result<json> record) {
    if (record) {
      json stored = *record;
      boost::asio::post(blocking_, [this, function, prepared, stored = std::move(stored)] { Store(function, prepared, stored); });
    }
    done(std::move(record));
  });
}

Result<std::string> FunctionsService::InvokeAsync(const FunctionRecord& function, const std::string& target, json event) {
  EW_TRY(Prepared prepared, Prepare(function, target));
  json running = {{"invocationId", prepared.id}, {"status", "running"}};
  running[target == kCloud ? "target" : "boardId"] = target;
  Store(function, prepared, running);
  Run(function, prepared, std::move(event), [this, function, prepared](Result<json> record) {
    json stored;
    if (record) {
      stored = std::move(*record);
    } else {
      stored = {{"invocationId", prepared.id}, {"status", "failed"}, {"error", record.error().message}};
      stored[prepared.target == kCloud ? "target" : "boardId"] = prepared.target;
    }
    boost::asio::post(blocking_, [this, function, prepared, stored = std::move(stored)] { Store(function, prepared, stored); });
  });
  return prepared.id;
}

void FunctionsService::Run(const FunctionRecord& function, const Prepared& prepared, json event, RecordDone done) {
  auto finish = [id = prepared.id, target = prepared.target, done = std::move(done)](Result<json> record) {
    if (record) {
      (*record)["invocationId"] = id;
      if (target == kCloud) (*record)["target"] = kCloud;
    }
    done(std::move(record));
  };
  if (prepared.target == kCloud) return RunInCloud(function, std::move(event), std::move(finish));
  const auto timeout = std::chrono::milliseconds(function.latest.spec.value("timeoutMs", 10'000)) + options_.invoke_grace;
  gateway_.CallBoard(prepared.target, "fn.invoke",
                     wamp::Payload{json::array(), {{"functionId", function.id}, {"event", std::move(event)}}}, timeout,
                     [finish = std::move(finish)](Result<wamp::Payload> result) mutable {
                       if (!result) return finish(tl::unexpected(result.error()));
                       finish(std::move(result->kwargs));
                     });
}

void FunctionsService::Store(const FunctionRecord& function, const Prepared& prepared, const json& record) {
  Invocation invocation;
  invocation.id = prepared.id;
  invocation.function_id = function.id;
  invocation.target = prepared.target;
  invocation.status = record.value("status", "failed");
  invocation.record = record;
  invocation.created_at = prepared.created_at;
  if (auto stored = store_.PutInvocation(invocation, options_.invocations_kept); !stored)
    Log()->error("invocation {} of {}: not recorded: {}", prepared.id, function.id, stored.error().message);
}

Result<containers::FunctionHost*> FunctionsService::CloudHost() {
  std::call_once(cloud_once_, [this] {
    if (options_.cloud_runtime == "none") {
      cloud_unavailable_ = "the cloud runtime is disabled ([functions] runtime = \"none\")";
      return;
    }
    containers::RuntimeConfig config;
    config.preferred = options_.cloud_runtime;
    config.work_dir = options_.dir / "cloud" / "containers";
    auto runtime = containers::MakeContainerRuntime(config);
    if (!runtime) {
      cloud_unavailable_ = runtime.error().message;
      Log()->warn("cloud runtime unavailable: {}", cloud_unavailable_);
      return;
    }
    containers::HostConfig host;
    host.max_running = options_.cloud_max_running;
    cloud_ = std::make_unique<containers::FunctionHost>(host, std::move(*runtime));
    Log()->info("cloud runtime ready ({})", cloud_->RuntimeName());
  });
  if (!cloud_) return Unavailable("no cloud runtime: " + cloud_unavailable_);
  return cloud_.get();
}

void FunctionsService::RunInCloud(const FunctionRecord& function, json event, RecordDone done) {
  // Probing, extracting and installing block: keep them off the caller's thread.
  boost::asio::post(blocking_, [this, function, event = std::move(event), done = std::move(done)]() mutable {
    auto host = CloudHost();
    if (!host) return done(tl::unexpected(host.error()));
    const std::string& sha256 = function.latest.sha256;
    {
      std::lock_guard lock(cloud_mu_);
      auto installed = cloud_installed_.find(function.id);
      if (installed == cloud_installed_.end() || installed->second != sha256) {
        const fs::path code = options_.dir / "cloud" / "packages" / sha256;
        if (!fs::exists(code)) {
          std::ifstream in(PackagePath(sha256), std::ios::binary);
          std::string bytes((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
          if (!in.eof() && !in) return done(Internal("cannot read package " + sha256));
          if (auto extracted = containers::ExtractPackage(bytes, code); !extracted && !fs::exists(code))
            return done(tl::unexpected(extracted.error()));
        }
        auto spec = containers::ParseFunctionSpec(function.latest.spec.dump());
        if (!spec) return done(tl::unexpected(spec.error()));
        if (auto ok = (*host)->Install(function.id, *spec, code); !ok) return done(tl::unexpected(ok.error()));
        cloud_installed_[function.id] = sha256;
      }
    }
    std::string event_json = event.dump(-1, ' ', false, json::error_handler_t::replace);
    (*host)->Invoke(function.id, std::move(event_json), [done = std::move(done)](Result<containers::InvocationResult> r) {
      if (!r) return done(tl::unexpected(r.error()));
      done(containers::ToJson(*r));
    });
  });
}

}  // namespace ew::functions
