#include "cloud-conductor/functions/cloud_runtime.hpp"

#include <atomic>
#include <condition_variable>
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

class CloudRuntime::Gate {
 public:
  // A pass through the gate: true while it is held, false when the gate was closed.
  class Pass {
   public:
    explicit Pass(Gate& gate) : gate_(gate.Enter() ? &gate : nullptr) {}
    ~Pass() {
      if (gate_) gate_->Leave();
    }
    Pass(const Pass&) = delete;
    Pass& operator=(const Pass&) = delete;
    explicit operator bool() const { return gate_ != nullptr; }

   private:
    Gate* gate_;
  };

  // Lets nobody in any more and returns once nobody is inside.
  void CloseAndWait() {
    std::unique_lock lock(mu_);
    closed_ = true;
    idle_.wait(lock, [this] { return inside_ == 0; });
  }

 private:
  bool Enter() {
    std::lock_guard lock(mu_);
    if (closed_) return false;
    ++inside_;
    return true;
  }
  void Leave() {
    std::lock_guard lock(mu_);
    if (--inside_ == 0) idle_.notify_all();
  }

  std::mutex mu_;
  std::condition_variable idle_;
  bool closed_ = false;  // GUARDED_BY(mu_)
  size_t inside_ = 0;    // GUARDED_BY(mu_)
};

CloudRuntime::CloudRuntime(CloudRuntimeOptions options, const PackageStore& packages,
                           boost::asio::thread_pool& blocking, boost::asio::any_io_executor timers)
    : options_(std::move(options)),
      packages_(packages),
      blocking_(blocking),
      timers_(std::move(timers)),
      gate_(std::make_shared<Gate>()) {}

CloudRuntime::~CloudRuntime() { Shutdown(); }

void CloudRuntime::Shutdown() {
  // First: no task of ours on the blocking pool is inside the runtime after this, nor enters.
  gate_->CloseAndWait();
  alive_.reset();
  // Probing may still be making the host: wait for it, then take the host away.
  (void)Host();
  std::shared_ptr<containers::FunctionHost> host;
  {
    std::lock_guard lock(mu_);
    host = std::move(host_);
    unavailable_ = "the cloud runtime has stopped";
  }
  host.reset();  // ~FunctionHost waits for its threads (a firing deadline timer may hold it a moment)
}

void CloudRuntime::StartProbing() {
  // Probing runs the runtimes' binaries: done once, off the start-up path; the first cloud
  // invocation waits for it if it is still under way.
  if (options_.runtime != "none") {
    boost::asio::post(blocking_, [this, gate = gate_] {
      Gate::Pass pass(*gate);
      if (pass) (void)Host();
    });
  }
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
    host_ = std::make_shared<containers::FunctionHost>(host, std::move(*runtime));
    Log()->info("cloud runtime ready ({})", host_->RuntimeName());
  });
  std::lock_guard lock(mu_);
  if (!host_) return Unavailable("no cloud runtime: " + unavailable_);
  return host_.get();
}

Result<void> CloudRuntime::Install(containers::FunctionHost& host, const std::string& function_id,
                                   const std::string& project_id, const FunctionVersion& version) {
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
  // The spec as uploaded: typed all the way, never re-parsed. The project is the host's tenant:
  // projects share the run slots fairly (a function's project never changes).
  EW_TRY_VOID(host.Install(function_id, version.spec, code, project_id));
  installed_[function_id] = version.sha256;
  return Ok();
}

void CloudRuntime::Run(const std::string& function_id, const std::string& project_id, const FunctionVersion& version,
                       nlohmann::json event, std::chrono::milliseconds wait,
                       std::function<void(InvocationOutcome)> done, std::function<void()> ended) {
  // The caller's deadline: whichever of the answer and the timer comes first wins.
  auto once = std::make_shared<std::atomic<bool>>(false);
  auto cancel = std::make_shared<std::atomic<bool>>(false);
  auto timer = std::make_shared<boost::asio::steady_timer>(timers_, wait);
  // Which of `done` (given) and the run's end (over) came last: that one calls `ended`.
  struct Order {
    std::mutex mu;
    bool answered = false;  // GUARDED_BY(mu): `done` returned
    bool run_over = false;  // GUARDED_BY(mu): the run is over, `ended` waits for `done`
    std::function<void()> ended;
  };
  auto order = std::make_shared<Order>();
  order->ended = std::move(ended);
  // Runs `ended` once both happened, outside the lock.
  auto settle = [order](bool answered_now) {
    std::function<void()> ended;
    {
      std::lock_guard lock(order->mu);
      (answered_now ? order->answered : order->run_over) = true;
      if (order->answered && order->run_over) ended = std::move(order->ended);
    }
    if (ended) ended();
  };
  // `first` runs when this answer is the one given, before the caller hears it.
  auto finish = [once, timer, timers = timers_, settle, done = std::move(done)](
                    InvocationOutcome outcome, const std::function<void()>& first = {}) {
    if (once->exchange(true)) return;
    if (first) first();
    // Timers are not thread-safe: cancel on their executor, so that a pending wait does not
    // linger for the whole deadline.
    boost::asio::post(timers, [timer] { timer->cancel(); });
    done(std::move(outcome));
    settle(true);
  };
  // The run is over: `ended` after `done` (a run that ends before its answer was given gives it
  // first; one that ends while the timer's answer is being given waits for it), so the
  // invoker's slot is never freed while its caller still waits.
  auto over = [finish, settle](std::optional<InvocationOutcome> outcome) {
    if (outcome) finish(std::move(*outcome));
    settle(false);
  };
  // Set once the run is in the host (a flag set earlier finds no run to cancel). Weak: a timer
  // that fires while this runtime is being destroyed either finds the host gone or keeps it alive
  // until DropCancelled returns (it never touches a destroyed host).
  struct HostSlot {
    std::mutex mu;
    std::weak_ptr<containers::FunctionHost> host;  // GUARDED_BY(mu)
  };
  auto host_of = std::make_shared<HostSlot>();
  timer->async_wait(
      [finish, wait, cancel, host_of, alive = std::weak_ptr<bool>(alive_)](const boost::system::error_code& ec) {
        if (ec || alive.expired()) return;
        // Nobody waits for it any more: a queued run leaves the queue, a running one is killed.
        // The flag is set before the caller hears of the timeout (but after this answer is the
        // one given, so a killed run's own answer cannot overtake it): from then on the host
        // starts it no more, even if its slot frees before DropCancelled below runs.
        finish(OutcomeOfError(
                   Error{ErrorCode::kDeadlineExceeded, "no answer within " + std::to_string(wait.count()) + " ms"},
                   kCloudTarget),
               [&cancel] { cancel->store(true); });
        cancel->store(true);  // also when the run answered first: nothing is left to start
        std::shared_ptr<containers::FunctionHost> host;
        {
          std::lock_guard lock(host_of->mu);
          host = host_of->host.lock();
        }
        if (host) host->DropCancelled();
      });
  // Probing, extracting and installing block: keep them off the caller's thread.
  boost::asio::post(blocking_, [this, gate = gate_, function_id, project_id, version, event = std::move(event), over,
                                cancel, host_of]() mutable {
    // Queued while the runtime was being destroyed: it is gone, answer without it.
    Gate::Pass pass(*gate);
    if (!pass) return over(OutcomeOfError(Error{ErrorCode::kUnavailable, "the cloud runtime has stopped"}, kCloudTarget));
    auto host = Host();
    if (!host) return over(OutcomeOfError(host.error(), kCloudTarget));
    if (auto installed = Install(**host, function_id, project_id, version); !installed)
      return over(OutcomeOfError(installed.error(), kCloudTarget));
    bool full = false;
    {
      std::lock_guard lock(mu_);
      size_t& running = per_project_[project_id];
      full = running >= options_.max_per_project;
      if (!full) ++running;
    }
    if (full) {  // answered without mu_ held: `over` runs the caller's callbacks
      return over(OutcomeOfError(
          Error{ErrorCode::kResourceExhausted, "project " + project_id + " has " +
                                                   std::to_string(options_.max_per_project) +
                                                   " runs in the cloud runtime (the limit): try again later"},
          kCloudTarget));
    }
    if (cancel->load()) {  // the caller gave up while it was being installed
      Release(project_id);
      return over(std::nullopt);
    }
    // Held for the call: Shutdown may take the host away meanwhile.
    std::shared_ptr<containers::FunctionHost> shared;
    {
      std::lock_guard lock(mu_);
      shared = host_;
    }
    if (!shared) {
      Release(project_id);
      return over(OutcomeOfError(Error{ErrorCode::kUnavailable, "the cloud runtime has stopped"}, kCloudTarget));
    }
    {
      std::lock_guard lock(host_of->mu);
      host_of->host = shared;
    }
    shared->InvokeEvent(
        function_id, event,
        [this, over, project_id, gate = gate_](Result<containers::InvocationResult> r) {
          {
            // A host kept alive past Shutdown by a deadline timer answers after the runtime is
            // gone: its count went with it.
            Gate::Pass pass(*gate);
            if (pass) Release(project_id);
          }
          if (!r) return over(OutcomeOfError(r.error(), kCloudTarget));
          over(InvocationOutcome{containers::ToJson(*r), std::nullopt});
        },
        cancel);
    // The timer may have fired between the check above and the queueing.
    if (cancel->load()) shared->DropCancelled();
  });
}

void CloudRuntime::Release(const std::string& project_id) {
  std::lock_guard lock(mu_);
  auto it = per_project_.find(project_id);
  if (it != per_project_.end() && --it->second == 0) per_project_.erase(it);
}

}  // namespace ew::functions
