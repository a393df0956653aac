// FunctionHost: admission (per-function and host-wide limits, a bounded queue, run slots shared
// fairly between tenants) and the threads that run invocations. A worker thread takes the next
// eligible invocation from the queue when it finishes one; when there is none, up to
// HostConfig::max_parked_workers of them park for parked_worker_timeout, waiting for the next
// call (which then starts without a new thread), and the others exit. A reaper thread exists
// only while warm instances exist.
#include "containers/host/function_host.hpp"

#include <sys/utsname.h>

#include <algorithm>
#include <cassert>
#include <condition_variable>
#include <deque>
#include <map>
#include <mutex>
#include <optional>
#include <set>
#include <thread>

#include "common/json/guarded_json.hpp"
#include "common/log/log.hpp"
#include "containers/host/function_runner.hpp"
#include "containers/runtime/child_reaper.hpp"

namespace ew::containers {

namespace fs = std::filesystem;
using std::chrono::duration_cast;
using std::chrono::microseconds;

namespace {

const ew::log::Logger Log{"containers"};

std::string HostArch() {
  struct utsname name;
  if (uname(&name) != 0) return "";
  return name.machine;
}

// How often the reaper re-reads the clock at most (a ManualClock moves without waking it).
constexpr std::chrono::seconds kReapCheck{1};

}  // namespace

std::string_view StatusName(InvocationResult::Status status) { return contract::Name(status); }

nlohmann::json ToJson(const InvocationResult& result) {
  auto ms = [](microseconds d) { return static_cast<double>(d.count()) / 1000.0; };
  return {{"status", StatusName(result.status)},
          {"output", result.output},
          {"error", result.error},
          {"logs", result.logs},
          {"exitCode", result.exit_code},
          {"runtime", result.runtime},
          {"cold", result.cold},
          {"prepared", result.prepared},
          {"queueMs", ms(result.queue_time)},
          {"runMs", ms(result.run_time)}};
}

namespace {
// Calls of a function admitted within this long count as one burst (sandbox pool sizing).
constexpr std::chrono::seconds kBurstWindow{1};

// What a refill sizes the sandbox pool by (FunctionRunner::SizeSandboxes).
struct PoolSizing {
  size_t burst = 0;       // the most calls admitted within one burst window since the last sizing
  bool in_burst = false;  // that window is open and had several calls: a pause, the burst goes on
  size_t room = SIZE_MAX; // HostConfig::sandbox_pool_total less the other functions' pools
};
}  // namespace

struct FunctionHost::Impl {
  using Done = std::function<void(Result<InvocationResult>)>;

  // One installed key. Survives replacement (running/queued counts carry over); a removed one
  // is dropped from `functions` but stays alive for its running invocations.
  struct Function {
    std::string key;
    std::shared_ptr<FunctionRunner> runner;  // the current version
    size_t running = 0;
    size_t queued = 0;
    // The most invocations admitted within one burst window (kBurstWindow, opened by a call that
    // finds the function idle and its pool full) since the pool was last sized: each needed a
    // sandbox. (The most running + queued at once, used first, undercounts a burst
    // whose first calls end before its last arrive: after 100 released together the next burst
    // found 53 sandboxes ready.) A window opens at the first call after the previous one closed,
    // so a burst is not split at an arbitrary boundary.
    size_t burst = 0;
    std::string tenant;  // of invocations made from now on (Install)
    std::chrono::steady_clock::time_point window_start{};  // of the burst window (see `burst`)
    size_t window_count = 0;
  };

  // Who shares the run slots (see "Run slots" in the header). Kept while it has an invocation
  // running or queued, then forgotten: a tenant that comes back starts with no slot, as new.
  struct Tenant {
    size_t running = 0;
    size_t queued = 0;
    uint64_t last_start = 0;  // `starts` when one of its invocations last started
  };

  struct Pending {
    std::shared_ptr<Function> function;
    std::shared_ptr<FunctionRunner> runner;  // set when it starts: the version current then
    std::string tenant;                      // the function's when it was invoked
    std::string event;
    Done done;
    std::chrono::steady_clock::time_point enqueued;
    std::chrono::steady_clock::time_point started;
    std::shared_ptr<std::atomic<bool>> cancel;  // the caller's, may be null (see InvokeEvent)
  };

  Impl(HostConfig c, std::unique_ptr<ContainerRuntime> r)
      : config(std::move(c)), runtime(std::move(r)), clock(config.clock ? *config.clock : system_clock) {
    if (config.arch.empty()) config.arch = HostArch();
  }

  // Starts every queued invocation that fits the limits now. REQUIRES(mutex).
  void DispatchLocked(std::vector<Pending>& failed) {
    while (auto next = TakeNextLocked()) StartThreadLocked(std::move(*next), failed);
  }

  // The queued invocation that gets the next run slot, when the host is under its limit (see
  // "Run slots" in the header); counted as running. REQUIRES(mutex).
  std::optional<Pending> TakeNextLocked() {
    if (running_total >= config.max_running) return std::nullopt;
    // One tenant (a board): its oldest eligible invocation, as the fair choice would pick.
    auto it = tenants.size() <= 1 ? OldestEligibleLocked() : FairestEligibleLocked();
    if (it == queue.end()) return std::nullopt;
    Pending p = std::move(*it);
    queue.erase(it);
    --p.function->queued;
    --TenantLocked(p.tenant).queued;
    MarkStartedLocked(p);
    return p;
  }

  // May start now as far as its own function is concerned. REQUIRES(mutex).
  static bool IsEligible(const Pending& p) {
    if (p.cancel && p.cancel->load()) return false;  // DropCancelled fails it
    return p.function->running < p.function->runner->concurrency_limit();
  }

  std::deque<Pending>::iterator OldestEligibleLocked() {
    return std::find_if(queue.begin(), queue.end(), IsEligible);
  }

  // Each tenant's oldest eligible invocation competes; the tenant running the fewest wins, then
  // the one that started one longest ago. A scan of the queue (at most max_queued) per free slot.
  std::deque<Pending>::iterator FairestEligibleLocked() {
    auto best = queue.end();
    const Tenant* best_tenant = nullptr;
    std::vector<const Tenant*> seen;  // tenants whose oldest eligible invocation was weighed
    for (auto it = queue.begin(); it != queue.end(); ++it) {
      if (!IsEligible(*it)) continue;
      const Tenant* t = &TenantLocked(it->tenant);
      if (std::find(seen.begin(), seen.end(), t) != seen.end()) continue;
      seen.push_back(t);
      if (!best_tenant || t->running < best_tenant->running ||
          (t->running == best_tenant->running && t->last_start < best_tenant->last_start)) {
        best = it;
        best_tenant = t;
      }
    }
    return best;
  }

  // The entry of a tenant with an invocation running or queued: it exists. REQUIRES(mutex).
  Tenant& TenantLocked(const std::string& name) {
    auto it = tenants.find(name);
    assert(it != tenants.end());
    return it->second;
  }

  void ForgetIfIdleLocked(const std::string& name) {
    auto it = tenants.find(name);
    if (it != tenants.end() && it->second.running == 0 && it->second.queued == 0) tenants.erase(it);
  }

  void EnqueueLocked(Pending p) {
    ++p.function->queued;
    ++tenants[p.tenant].queued;
    queue.push_back(std::move(p));
  }

  // `p` left the queue without starting (uninstalled, cancelled, shutdown). REQUIRES(mutex).
  void UnqueuedLocked(const Pending& p) {
    --p.function->queued;
    --TenantLocked(p.tenant).queued;
    ForgetIfIdleLocked(p.tenant);
  }

  void MarkStartedLocked(Pending& p) {
    if (p.cancel) running_cancels.insert(p.cancel);
    ++p.function->running;
    ++running_total;
    Tenant& tenant = tenants[p.tenant];
    ++tenant.running;
    tenant.last_start = ++starts;
    p.runner = p.function->runner;
    p.started = clock.Steady();
  }

  // `p` ran (or could not start). REQUIRES(mutex).
  void MarkEndedLocked(const std::shared_ptr<Function>& function, const std::string& tenant) {
    --function->running;
    --running_total;
    --TenantLocked(tenant).running;
    ForgetIfIdleLocked(tenant);
  }

  void StartThreadLocked(Pending p, std::vector<Pending>& failed) {
    if (parked_workers > handoff.size()) {
      // A parked worker (Park) takes this one.
      handoff.push_back(std::move(p));
      work_ready.notify_one();
      return;
    }
    try {
      ++threads;
      std::thread([this, p]() mutable { Work(std::move(p)); }).detach();
    } catch (const std::system_error& e) {
      --threads;
      MarkEndedLocked(p.function, p.tenant);
      if (p.cancel) running_cancels.erase(p.cancel);
      Log()->error("cannot start a worker thread: {}", e.what());
      failed.push_back(std::move(p));
    }
  }

  // A worker: runs `p`, then whatever becomes eligible, then exits.
  void Work(Pending p) {
    for (;;) {
      // Shutdown sets every running invocation's own flag too (running_cancels).
      auto result = p.runner->Invoke(p.event, p.cancel ? p.cancel.get() : &cancel_all, p.cancel != nullptr);
      // A warm call that succeeded ended no process; any other may have left orphans (below).
      // Warm instances stopped by the reaper or a replacement are swept by the reaper.
      const bool ended_processes = !result || result->cold || result->status != InvocationResult::Status::kSucceeded;
      if (result) {
        result->queue_time = duration_cast<microseconds>(p.started - p.enqueued);
        if (result->queue_time.count() < 0) result->queue_time = microseconds(0);
        Log()->debug("function {} invoked: {} ({}, {:.1f} ms{})", p.function->key, StatusName(result->status),
                     result->cold ? "cold" : "warm", result->run_time.count() / 1000.0,
                     result->error.empty() ? "" : ", " + result->error);
      } else {
        Log()->debug("function {} not invoked: {}", p.function->key, result.error().message);
      }
      p.done(std::move(result));
      // In a subreaper (the agent, the conductor), what a container orphaned and has exited
      // since is ours to reap; elsewhere PID 1's. After the answer: it reads /proc.
      if (ended_processes && ChildReaper::IsSubreaper()) ChildReaper::ReapOrphans();
      // Everything `p` holds goes before this thread is uncounted: the last reference to a
      // replaced version stops its instances, which needs the runtime (and so the host) alive.
      bool has_warm = p.runner->is_warm();
      auto cancel = std::move(p.cancel);
      auto function = std::move(p.function);
      auto runner = std::move(p.runner);
      std::string tenant = std::move(p.tenant);
      p = Pending{};
      std::vector<Pending> failed;
      std::optional<Pending> next;
      bool refill = false;
      PoolSizing sizing;
      {
        std::lock_guard<std::mutex> lock(mutex);
        if (cancel) running_cancels.erase(cancel);
        MarkEndedLocked(function, tenant);
        // The burst is over for this function: prepare its next sandboxes now, on this thread,
        // not while its invocations still compete for the CPU.
        if (function->running == 0 && function->queued == 0 && function->runner == runner && !shutting_down) {
          refill = true;
          sizing.burst = function->burst;
          // A pause, not the end: the window is open and more than one call came in it.
          sizing.in_burst = clock.Steady() - function->window_start < kBurstWindow && function->window_count > 1;
          // (Only a pool has room to weigh: the walk over every function is skipped otherwise.)
          if (runner->has_sandbox_pool()) sizing.room = SandboxRoomLocked(*function);
          function->burst = 0;
        }
        function.reset();
        next = TakeNextLocked();
        DispatchLocked(failed);
        if (has_warm) EnsureReaperLocked();
        if (refill && next) {
          // This thread has another invocation to run: the pool fills on a thread of its own.
          StartFillThreadLocked(runner, sizing);
          refill = false;
        }
      }
      if (refill) {
        // Sized after the burst (outside the lock: shrinking destroys sandboxes).
        runner->SizeSandboxes(sizing.burst, sizing.in_burst, sizing.room);
        if (runner->NeedsSandboxes()) runner->FillSandboxes(&cancel_all);
      }
      runner.reset();  // outside the lock: a replaced version's last reference stops its instances
      FailAll(failed, Error(ErrorCode::kUnavailable, "cannot start a worker thread"));
      if (!next && refill) {
        // Invocations queued while the pool filled: this thread takes one.
        std::lock_guard<std::mutex> lock(mutex);
        next = TakeNextLocked();
      }
      if (!next) next = Park();
      if (!next) return;  // uncounted: nothing touches `this` past Park's unlock
      p = std::move(*next);
    }
  }

  // A worker with nothing to run: parks, when fewer than config.max_parked_workers are parked,
  // until StartThreadLocked hands it a call or parked_worker_timeout passes on the host's clock
  // (re-read at least every kReapCheck: a ManualClock moves without waking it). Nullopt: the
  // thread is uncounted and must exit.
  std::optional<Pending> Park() {
    std::unique_lock<std::mutex> lock(mutex);
    if (!shutting_down && parked_workers < config.max_parked_workers) {
      ++parked_workers;
      const auto until = clock.Steady() + config.parked_worker_timeout;
      auto called = [this] { return !handoff.empty() || shutting_down; };
      for (auto now = clock.Steady(); !called() && now < until; now = clock.Steady()) {
        const auto slice = std::min<std::chrono::steady_clock::duration>(until - now, kReapCheck);
        work_ready.wait_for(lock, slice, called);
      }
      --parked_workers;
      // Taken even when shutting down: it was counted as running, and sees cancel_all.
      if (!handoff.empty()) {
        Pending p = std::move(handoff.front());
        handoff.pop_front();
        return p;
      }
    }
    --threads;
    threads_done.notify_all();
    return std::nullopt;
  }

  // What `self`'s pool may hold within HostConfig::sandbox_pool_total: the total less the other
  // functions' pool targets (SIZE_MAX without a total). REQUIRES(mutex).
  size_t SandboxRoomLocked(const Function& self) const {
    if (config.sandbox_pool_total == 0) return SIZE_MAX;
    size_t others = 0;
    for (const auto& [key, f] : functions) {
      if (f.get() != &self && f->runner) others += f->runner->sandbox_target();
    }
    return config.sandbox_pool_total > others ? config.sandbox_pool_total - others : 0;
  }

  // A thread that sizes `runner`'s sandbox pool (not after Install: nullopt), fills it and
  // exits. REQUIRES(mutex).
  void StartFillThreadLocked(std::shared_ptr<FunctionRunner> runner, std::optional<PoolSizing> sizing = std::nullopt) {
    if (shutting_down) return;
    try {
      ++threads;
      std::thread([this, runner, sizing]() mutable {
        if (sizing) runner->SizeSandboxes(sizing->burst, sizing->in_burst, sizing->room);
        if (runner->NeedsSandboxes()) runner->FillSandboxes(&cancel_all);
        runner.reset();
        std::lock_guard<std::mutex> lock(mutex);
        --threads;
        threads_done.notify_all();
      }).detach();
    } catch (const std::system_error& e) {
      --threads;
      Log()->warn("cannot start a thread to prepare sandboxes: {}", e.what());
    }
  }

  void EnsureReaperLocked() {
    if (reaper_running || shutting_down) return;
    try {
      std::thread([this] { Reap(); }).detach();
      reaper_running = true;
      ++threads;
    } catch (const std::system_error& e) {
      Log()->warn("cannot start the warm-instance reaper: {}", e.what());
    }
  }

  // Stops idle warm instances past their timeout; exits when no warm instance is left.
  void Reap() {
    std::unique_lock<std::mutex> lock(mutex);
    while (!shutting_down) {
      std::vector<std::shared_ptr<FunctionRunner>> runners = WarmRunnersLocked();
      lock.unlock();
      std::optional<WarmPool::TimePoint> next;
      for (auto& runner : runners) {
        auto at = runner->ReapIdle();
        if (at && (!next || *at < *next)) next = at;
      }
      runners.clear();
      // What the instances stopped here, or by a replacement or a failed call, orphaned: workers
      // do not sweep after warm calls that succeeded.
      if (ChildReaper::IsSubreaper()) ChildReaper::ReapOrphans();
      lock.lock();
      // Counted under the lock: a worker that releases an instance afterwards finds
      // reaper_running false and starts a new reaper.
      size_t alive = 0;
      for (auto& runner : WarmRunnersLocked()) alive += runner->warm_instances();
      if (alive == 0) break;
      auto wait = std::chrono::duration_cast<std::chrono::steady_clock::duration>(kReapCheck);
      if (next) wait = std::min(wait, std::max(*next - clock.Steady(), std::chrono::steady_clock::duration(0)));
      reaper_wake.wait_for(lock, wait);
    }
    reaper_running = false;
    --threads;
    threads_done.notify_all();
  }

  // Current and retired-but-busy versions alike are reaped; retired ones hold no idle instance.
  std::vector<std::shared_ptr<FunctionRunner>> WarmRunnersLocked() {
    std::vector<std::shared_ptr<FunctionRunner>> out;
    for (auto& [key, f] : functions) {
      if (f->runner->is_warm()) out.push_back(f->runner);
    }
    return out;
  }

  static void FailAll(std::vector<Pending>& items, const Error& error) {
    for (auto& p : items) p.done(tl::unexpected(error));
    items.clear();
  }

  HostConfig config;
  std::unique_ptr<ContainerRuntime> runtime;  // declared first: outlives every runner
  SystemClock system_clock;
  const Clock& clock;
  std::atomic<bool> cancel_all{false};

  mutable std::mutex mutex;
  std::map<std::string, std::shared_ptr<Function>> functions;  // GUARDED_BY(mutex)
  // Every version ever installed, so that shutdown also reaches replaced ones still running.
  std::vector<std::weak_ptr<FunctionRunner>> all_runners;     // GUARDED_BY(mutex)
  std::deque<Pending> queue;                                   // GUARDED_BY(mutex)
  std::map<std::string, Tenant> tenants;                       // GUARDED_BY(mutex)
  uint64_t starts = 0;                                         // GUARDED_BY(mutex): invocations started
  // The own cancel flags of running invocations: shutdown sets them as it sets cancel_all.
  std::set<std::shared_ptr<std::atomic<bool>>> running_cancels;  // GUARDED_BY(mutex)
  size_t running_total = 0;                                    // GUARDED_BY(mutex)
  size_t threads = 0;                                          // GUARDED_BY(mutex): workers + reaper
  size_t parked_workers = 0;                                   // GUARDED_BY(mutex): in Park
  std::deque<Pending> handoff;  // GUARDED_BY(mutex): started calls for parked workers, fewer than them
  std::condition_variable work_ready;
  bool reaper_running = false;                                 // GUARDED_BY(mutex)
  bool shutting_down = false;                                  // GUARDED_BY(mutex)
  std::condition_variable threads_done;
  std::condition_variable reaper_wake;
};

FunctionHost::FunctionHost(HostConfig config, std::unique_ptr<ContainerRuntime> runtime)
    : impl_(std::make_unique<Impl>(std::move(config), std::move(runtime))) {}

FunctionHost::~FunctionHost() {
  std::vector<Impl::Pending> queued;
  std::vector<std::shared_ptr<FunctionRunner>> runners;
  {
    std::lock_guard<std::mutex> lock(impl_->mutex);
    impl_->shutting_down = true;
    impl_->cancel_all = true;
    for (const auto& cancel : impl_->running_cancels) cancel->store(true);
    for (auto& p : impl_->queue) {
      impl_->UnqueuedLocked(p);
      queued.push_back(std::move(p));
    }
    impl_->queue.clear();
    for (auto& weak : impl_->all_runners) {
      if (auto runner = weak.lock()) runners.push_back(std::move(runner));
    }
    impl_->reaper_wake.notify_all();
    impl_->work_ready.notify_all();
  }
  // Running cold containers see cancel_all; warm callers are woken by Cancel().
  for (auto& runner : runners) runner->Retire(true);
  Impl::FailAll(queued, Error(ErrorCode::kCancelled, "function host shutting down"));
  std::unique_lock<std::mutex> lock(impl_->mutex);
  impl_->threads_done.wait(lock, [&] { return impl_->threads == 0; });
  impl_->functions.clear();
}

Result<void> FunctionHost::Install(const std::string& key, const FunctionSpec& spec, const fs::path& code_dir,
                                   const std::string& tenant) {
  auto impl = spec.Select(impl_->config.arch);
  if (!impl) return InvalidArgument(impl.error().message);
  std::error_code ec;
  if (!fs::is_regular_file(code_dir / impl->entrypoint, ec)) {
    return InvalidArgument("entrypoint " + impl->entrypoint + " is not a file in " + code_dir.string());
  }
  auto runner = std::make_shared<FunctionRunner>(key, spec, *impl, code_dir, *impl_->runtime, impl_->config, impl_->clock);
  std::shared_ptr<FunctionRunner> old;
  std::vector<Impl::Pending> failed;
  {
    std::lock_guard<std::mutex> lock(impl_->mutex);
    if (impl_->shutting_down) return Unavailable("function host shutting down");
    // Drop the entries of versions gone since, then remember this one.
    auto& all = impl_->all_runners;
    all.erase(std::remove_if(all.begin(), all.end(), [](const auto& w) { return w.expired(); }), all.end());
    all.push_back(runner);
    auto& slot = impl_->functions[key];
    if (slot) {
      old = std::move(slot->runner);
      slot->runner = runner;
      slot->tenant = tenant;
    } else {
      slot = std::make_shared<Impl::Function>(Impl::Function{key, runner, 0, 0, 0, tenant});
    }
    impl_->DispatchLocked(failed);  // a replacement may allow more at once
    if (runner->NeedsSandboxes()) impl_->StartFillThreadLocked(runner);
  }
  Impl::FailAll(failed, Error(ErrorCode::kUnavailable, "cannot start a worker thread"));
  Log()->info("function {} installed: {} {} ({}, {}{})", key, spec.name, spec.version, containers::RuntimeName(impl->runtime),
              spec.warm.enabled ? "warm" : "cold", old ? ", replacing the previous version" : "");
  if (old) old->Retire(false);  // idle instances of the old code stop now, busy ones when done
  return Ok();
}

Result<void> FunctionHost::Uninstall(const std::string& key) {
  std::shared_ptr<FunctionRunner> runner;
  std::vector<Impl::Pending> queued;
  {
    std::lock_guard<std::mutex> lock(impl_->mutex);
    auto it = impl_->functions.find(key);
    if (it == impl_->functions.end()) return NotFound("function " + key + " is not installed");
    runner = it->second->runner;
    for (auto q = impl_->queue.begin(); q != impl_->queue.end();) {
      if (q->function == it->second) {
        impl_->UnqueuedLocked(*q);
        queued.push_back(std::move(*q));
        q = impl_->queue.erase(q);
      } else {
        ++q;
      }
    }
    impl_->functions.erase(it);
  }
  runner->Retire(false);
  Impl::FailAll(queued, Error(ErrorCode::kNotFound, "function " + key + " was uninstalled"));
  Log()->info("function {} uninstalled", key);
  return Ok();
}

std::vector<InstalledFunction> FunctionHost::List() const {
  std::lock_guard<std::mutex> lock(impl_->mutex);
  std::vector<InstalledFunction> out;
  for (const auto& [key, f] : impl_->functions) {
    out.push_back({key, f->runner->spec(), f->runner->code_dir(), f->runner->warm_instances(),
                   f->runner->ready_sandboxes(), f->running, f->queued});
  }
  return out;
}

void FunctionHost::Invoke(const std::string& key, std::string event_json, std::function<void(Result<InvocationResult>)> done) {
  if (event_json.size() > impl_->config.max_event_bytes) {
    done(InvalidArgument("event is " + std::to_string(event_json.size()) + " bytes, over the limit of " +
                         std::to_string(impl_->config.max_event_bytes)));
    return;
  }
  ew::json::ParseLimits limits;
  limits.max_bytes = impl_->config.max_event_bytes;
  limits.what = "event";
  auto event = ew::json::Parse(event_json, limits);
  if (!event) {
    done(tl::unexpected(event.error()));
    return;
  }
  InvokeEvent(key, *event, std::move(done));
}

void FunctionHost::DropCancelled() {
  std::vector<Impl::Pending> cancelled;
  {
    std::lock_guard<std::mutex> lock(impl_->mutex);
    for (auto it = impl_->queue.begin(); it != impl_->queue.end();) {
      if (it->cancel && it->cancel->load()) {
        impl_->UnqueuedLocked(*it);
        cancelled.push_back(std::move(*it));
        it = impl_->queue.erase(it);
      } else {
        ++it;
      }
    }
  }
  Impl::FailAll(cancelled, Error(ErrorCode::kCancelled, "cancelled before it started"));
}

void FunctionHost::InvokeEvent(const std::string& key, const nlohmann::json& event,
                               std::function<void(Result<InvocationResult>)> done,
                               std::shared_ptr<std::atomic<bool>> cancel) {
  Impl::Pending p;
  p.cancel = std::move(cancel);
  // Compact, one line: what warm instances read, and what cold ones get too.
  p.event = event.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace);
  if (p.event.size() > impl_->config.max_event_bytes) {
    done(InvalidArgument("event is " + std::to_string(p.event.size()) + " bytes, over the limit of " +
                         std::to_string(impl_->config.max_event_bytes)));
    return;
  }
  p.done = std::move(done);
  p.enqueued = impl_->clock.Steady();
  std::optional<Error> refused;
  std::vector<Impl::Pending> failed;
  {
    std::lock_guard<std::mutex> lock(impl_->mutex);
    auto it = impl_->functions.find(key);
    if (impl_->shutting_down) {
      refused = Error(ErrorCode::kUnavailable, "function host shutting down");
    } else if (p.cancel && p.cancel->load()) {
      // The caller gave up before the host heard of the call (its DropCancelled may already have
      // run): it must not start now that a slot is free.
      refused = Error(ErrorCode::kCancelled, "cancelled before it started");
    } else if (it == impl_->functions.end()) {
      refused = Error(ErrorCode::kNotFound, "function " + key + " is not installed");
    } else {
      auto& f = *it->second;
      p.function = it->second;
      p.tenant = f.tenant;
      // Straight to a worker when nothing of this function waits (FIFO per function) and both
      // limits allow (then no queued invocation may start: each freed slot was given out at
      // once, fairly); otherwise queue.
      // A call continues a burst when it needs more than a full pool offers: others of the
      // function run or wait, or sandboxes were taken since the last fill. Otherwise (or once the
      // window has passed) it opens a new window: a trickle of one call at a time, each finding
      // the pool refilled, keeps the pool at its floor.
      const bool continues = f.running + f.queued > 0 || f.runner->SandboxesShort();
      if (!continues || p.enqueued - f.window_start >= kBurstWindow) {
        f.window_start = p.enqueued;
        f.window_count = 0;
      }
      if (f.queued == 0 && f.running < f.runner->concurrency_limit() &&
          impl_->running_total < impl_->config.max_running) {
        f.burst = std::max(f.burst, ++f.window_count);
        impl_->MarkStartedLocked(p);
        impl_->StartThreadLocked(std::move(p), failed);
      } else if (impl_->queue.size() >= impl_->config.max_queued) {
        refused = Error(ErrorCode::kResourceExhausted, "invocation queue is full (" +
                                                           std::to_string(impl_->config.max_queued) + " waiting)");
      } else {
        f.burst = std::max(f.burst, ++f.window_count);
        impl_->EnqueueLocked(std::move(p));
      }
    }
  }
  if (refused) {
    p.done(tl::unexpected(*refused));
    return;
  }
  Impl::FailAll(failed, Error(ErrorCode::kUnavailable, "cannot start a worker thread"));
}

std::string_view FunctionHost::RuntimeName() const { return impl_->runtime->Name(); }

size_t FunctionHost::ParkedWorkers() const {
  std::lock_guard<std::mutex> lock(impl_->mutex);
  return impl_->parked_workers;
}

LimitSupport FunctionHost::RuntimeLimits() const { return impl_->runtime->Limits(); }

}  // namespace ew::containers
