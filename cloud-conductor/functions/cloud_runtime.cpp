#include "cloud-conductor/functions/cloud_runtime.hpp"

#include <atomic>
#include <system_error>

#include <boost/asio/post.hpp>
#include <boost/asio/steady_timer.hpp>

#include "common/log/log.hpp"
#include "containers/package/package.hpp"
#include "containers/runtime/child_reaper.hpp"

namespace ew::functions {

namespace fs = std::filesystem;

namespace {

std::shared_ptr<spdlog::logger> Log() {
  static auto logger = ew::log::Get("functions");
  return logger;
}

}  // namespace

CloudRuntime::CloudRuntime(CloudRuntimeOptions options, const PackageStore& packages,
                           boost::asio::thread_pool& blocking, boost::asio::any_io_executor timers)
    : options_(std::move(options)), packages_(packages), blocking_(blocking), timers_(std::move(timers)) {}

CloudRuntime::~CloudRuntime() { alive_.reset(); }

void CloudRuntime::StartProbing() {
  // Probing runs the runtimes' binaries: done once, off the start-up path; the first cloud
  // invocation waits for it if it is still under way.
  if (options_.runtime != "none") boost::asio::post(blocking_, [this] { (void)Host(); });
}

Result<containers::FunctionHost*> CloudRuntime::Host() {
  std::call_once(once_, [this] {
    if (options_.runtime == "none") {
      unavailable_ = "the cloud runtime is disabled ([functions] runtime = \"none\")";
      return;
    }
    // Orphaned sandboxes (bwrap's pid 1) become the conductor's children to reap, not zombies.
    if (auto subreaper = containers::ChildReaper::BecomeSubreaper(); !subreaper)
      Log()->warn("cloud runtime: {}", subreaper.error().message);
    containers::RuntimeConfig config;
    config.preferred = options_.runtime;
    config.work_dir = options_.dir / "containers";
    config.uid_first = options_.uid_first;
    config.uid_count = options_.uid_count;
    config.cgroups = options_.cgroups;
    auto runtime = options_.make_runtime ? options_.make_runtime(config) : containers::MakeContainerRuntime(config);
    if (!runtime) {
      unavailable_ = runtime.error().message;
      Log()->warn("cloud runtime unavailable: {}", unavailable_);
      return;
    }
    containers::HostConfig host;
    host.max_running = options_.max_running;
    host_ = std::make_unique<containers::FunctionHost>(host, std::move(*runtime));
    Log()->info("cloud runtime ready ({})", host_->RuntimeName());
  });
  if (!host_) return Unavailable("no cloud runtime: " + unavailable_);
  return host_.get();
}

Result<void> CloudRuntime::Install(containers::FunctionHost& host, const std::string& function_id,
                                   const FunctionVersion& version) {
  std::lock_guard lock(mu_);
  auto installed = installed_.find(function_id);
  if (installed != installed_.end() && installed->second == version.sha256) return Ok();
  // Extracted once per package, into a cache keyed by its hash.
  const fs::path code = options_.dir / "packages" / version.sha256;
  if (!fs::exists(code)) {
    EW_TRY(std::string bytes, packages_.ReadAll(version.sha256));
    if (auto extracted = containers::ExtractPackage(bytes, code); !extracted && !fs::exists(code))
      return tl::unexpected(extracted.error());
  }
  // The spec as uploaded: typed all the way, never re-parsed.
  EW_TRY_VOID(host.Install(function_id, version.spec, code));
  installed_[function_id] = version.sha256;
  return Ok();
}

void CloudRuntime::Run(const std::string& function_id, const FunctionVersion& version, nlohmann::json event,
                       std::chrono::milliseconds wait, std::function<void(InvocationOutcome)> done) {
  // The caller's deadline: whichever of the answer and the timer comes first wins.
  auto once = std::make_shared<std::atomic<bool>>(false);
  auto timer = std::make_shared<boost::asio::steady_timer>(timers_, wait);
  auto finish = [once, timer, timers = timers_, done = std::move(done)](InvocationOutcome outcome) {
    if (once->exchange(true)) return;
    // Timers are not thread-safe: cancel on their executor, so that a pending wait does not
    // linger for the whole deadline.
    boost::asio::post(timers, [timer] { timer->cancel(); });
    done(std::move(outcome));
  };
  timer->async_wait([finish, wait, alive = std::weak_ptr<bool>(alive_)](const boost::system::error_code& ec) {
    if (ec || alive.expired()) return;
    finish(OutcomeOfError(Error{ErrorCode::kDeadlineExceeded, "no answer within " + std::to_string(wait.count()) + " ms"},
                          kCloudTarget));
  });
  // Probing, extracting and installing block: keep them off the caller's thread.
  boost::asio::post(blocking_, [this, function_id, version, event = std::move(event), finish]() mutable {
    auto host = Host();
    if (!host) return finish(OutcomeOfError(host.error(), kCloudTarget));
    if (auto installed = Install(**host, function_id, version); !installed)
      return finish(OutcomeOfError(installed.error(), kCloudTarget));
    (*host)->InvokeEvent(function_id, event, [finish](Result<containers::InvocationResult> r) {
      if (!r) return finish(OutcomeOfError(r.error(), kCloudTarget));
      finish(InvocationOutcome{containers::ToJson(*r), std::nullopt});
    });
  });
}

}  // namespace ew::functions
