#include "cloud-conductor/functions/functions_service.hpp"

#include <system_error>

namespace ew::functions {

namespace fs = std::filesystem;

namespace {

InvokerOptions InvokerFrom(const FunctionsOptions& options) {
  InvokerOptions invoker = options.invoker;
  invoker.invoke_grace = options.invoke_grace;
  invoker.invocations_kept = options.invocations_kept;
  invoker.stored_record = options.stored_record;
  return invoker;
}

}  // namespace

FunctionsService::FunctionsService(FunctionStore& store, router::BoardGateway& gateway,
                                   boost::asio::thread_pool& blocking, boost::asio::any_io_executor timers,
                                   const Clock& clock, FunctionsOptions options)
    : store_(store),
      options_(std::move(options)),
      packages_(options_.dir / "packages"),
      cloud_(CloudRuntimeOptions{options_.dir / "cloud", options_.cloud_runtime, options_.cloud_max_running,
                                 options_.cloud_uid_first, options_.cloud_uid_count, options_.cloud_cgroups,
                                 options_.make_runtime, options_.cloud_max_per_project},
             packages_, blocking, std::move(timers)),
      deployer_(store, gateway, blocking, clock, packages_,
                DeployerOptions{options_.deploy_timeout, options_.invocations_kept, options_.stored_record,
                                options_.max_fetch_chunk}),
      invoker_(store, gateway, blocking, clock, cloud_, InvokerFrom(options_)) {}

FunctionsService::~FunctionsService() = default;

Result<void> FunctionsService::Start() {
  std::error_code ec;
  for (const fs::path& dir : {options_.dir / "packages", options_.dir / "cloud"}) {
    fs::create_directories(dir, ec);
    if (ec) return Internal("cannot create " + dir.string() + ": " + ec.message());
  }
  fs::permissions(options_.dir, fs::perms::owner_all, ec);
  deployer_.Start();
  cloud_.StartProbing();
  return Ok();
}

}  // namespace ew::functions
