#include "cloud-conductor/functions/functions_service.hpp"

#include <system_error>

#include <boost/asio/post.hpp>
#include <boost/asio/steady_timer.hpp>

#include "common/log/log.hpp"

namespace ew::functions {

namespace fs = std::filesystem;

namespace {

const ew::log::Logger Log{"functions"};

InvokerOptions InvokerFrom(const FunctionsOptions& options) {
  InvokerOptions invoker = options.invoker;
  invoker.invoke_grace = options.invoke_grace;
  invoker.invocations_kept = options.invocations_kept;
  invoker.stored_record = options.stored_record;
  return invoker;
}

}  // namespace

// Every interval, a flush of what placement learnt, run on the blocking pool. Stop() (from the
// destructor) detaches it from the invoker: a timer or pool handler still pending then does
// nothing.
struct FunctionsService::StatsFlusher : std::enable_shared_from_this<StatsFlusher> {
  StatsFlusher(boost::asio::any_io_executor executor, boost::asio::thread_pool& pool, Invoker& inv,
               std::chrono::milliseconds every)
      : timer(std::move(executor)), blocking(pool), invoker(&inv), interval(every) {}

  void Arm() {
    std::lock_guard<std::mutex> lock(mu);
    if (invoker == nullptr) return;
    timer.expires_after(interval);
    timer.async_wait([self = shared_from_this()](const boost::system::error_code& ec) {
      if (ec) return;
      boost::asio::post(self->blocking, [self] {
        {
          std::lock_guard<std::mutex> lock(self->mu);
          if (self->invoker == nullptr) return;
          (void)self->invoker->FlushStats();  // logged there; what failed goes with the next
        }
        self->Arm();
      });
    });
  }

  void Stop() {
    std::lock_guard<std::mutex> lock(mu);
    invoker = nullptr;
    timer.cancel();
  }

  boost::asio::steady_timer timer;  // GUARDED_BY(mu)
  boost::asio::thread_pool& blocking;
  std::mutex mu;
  Invoker* invoker;  // GUARDED_BY(mu); null once stopped
  std::chrono::milliseconds interval;
};

FunctionsService::FunctionsService(FunctionStore& store, router::BoardGateway& gateway,
                                   boost::asio::thread_pool& blocking, boost::asio::any_io_executor timers,
                                   const Clock& clock, FunctionsOptions options)
    : store_(store),
      options_(std::move(options)),
      packages_(options_.dir / "packages"),
      cloud_(CloudRuntimeOptions{options_.dir / "cloud", options_.cloud_runtime, options_.cloud_max_running,
                                 options_.cloud_uid_first, options_.cloud_uid_count, options_.cloud_cgroups,
                                 options_.make_runtime, options_.cloud_max_per_project},
             packages_, blocking, timers),
      deployer_(store, gateway, blocking, clock, packages_,
                DeployerOptions{options_.deploy_timeout, options_.invocations_kept, options_.stored_record,
                                options_.max_fetch_chunk}),
      invoker_(store, gateway, blocking, clock, cloud_, InvokerFrom(options_)),
      timers_(std::move(timers)),
      blocking_(blocking) {}

FunctionsService::~FunctionsService() {
  // Everything learnt since the last flush: the conductor's pool has stopped by now, so this
  // thread writes it, while the store is still there (the conductor destroys it after us).
  if (flusher_) flusher_->Stop();
  // The cloud runtime's runs answer into the invoker from their own threads: stop them (and
  // fail what is queued) while the invoker is still here, since members go in reverse order.
  cloud_.Shutdown();
  if (started_) (void)invoker_.FlushStats();
}

Result<void> FunctionsService::Start() {
  std::error_code ec;
  for (const fs::path& dir : {options_.dir / "packages", options_.dir / "cloud"}) {
    fs::create_directories(dir, ec);
    if (ec) return Internal("cannot create " + dir.string() + ": " + ec.message());
  }
  fs::permissions(options_.dir, fs::perms::owner_all, ec);
  deployer_.Start();
  invoker_.Start();
  // Learnt before a restart: placement goes on from there. A store that cannot give it back is
  // no reason not to serve: the conductor learns again.
  if (auto restored = invoker_.RestoreStats(); !restored) {
    Log()->warn("placement statistics not restored, learning again: {}", restored.error().message);
  }
  started_ = true;
  flusher_ = std::make_shared<StatsFlusher>(timers_, blocking_, invoker_, options_.placement_flush_interval);
  flusher_->Arm();
  cloud_.StartProbing();
  return Ok();
}

}  // namespace ew::functions
