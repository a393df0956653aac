// An in-memory containers::ContainerRuntime for tests of the code above the runtime
// (FunctionHost users such as the agent's FunctionService): records every spec it is given and
// answers by a script (by default: the input echoed on stdout, exit 0). Header-only, thread-safe.
#pragma once

#include <atomic>
#include <functional>
#include <memory>
#include <mutex>
#include <string>
#include <vector>

#include "containers/runtime/container_runtime.hpp"

namespace ew::testing {

class FakeContainerRuntime final : public containers::ContainerRuntime {
 public:
  using Script = std::function<Result<containers::RunOutput>(const containers::ContainerSpec&, std::string_view input)>;

  FakeContainerRuntime() = default;
  explicit FakeContainerRuntime(Script script) : script_(std::move(script)) {}

  std::string_view Name() const override { return "fake"; }

  Result<containers::RunOutput> Run(const containers::ContainerSpec& spec, std::string_view input,
                                    const containers::RunLimits& limits) override {
    {
      std::lock_guard lock(mutex_);
      specs_.push_back(spec);
    }
    runs_++;
    if (script_) return script_(spec, input);
    containers::RunOutput out;
    out.exit_code = 0;
    out.stdout_data = std::string(input);
    return out;
  }

  Result<std::unique_ptr<containers::ContainerProcess>> Start(const containers::ContainerSpec& spec) override {
    {
      std::lock_guard lock(mutex_);
      specs_.push_back(spec);
    }
    starts_++;
    return std::unique_ptr<containers::ContainerProcess>(std::make_unique<EchoProcess>());
  }

  std::vector<containers::ContainerSpec> specs() const {
    std::lock_guard lock(mutex_);
    return specs_;
  }
  int runs() const { return runs_; }
  int starts() const { return starts_; }

 private:
  // A warm instance that answers each line with itself.
  class EchoProcess final : public containers::ContainerProcess {
   public:
    Result<std::string> Exchange(std::string_view line, std::chrono::milliseconds, size_t) override {
      return std::string(line);
    }
    std::string TakeLogs() override { return ""; }
    bool IsAlive() override { return true; }
    void Cancel() override {}
  };

  Script script_;
  mutable std::mutex mutex_;
  std::vector<containers::ContainerSpec> specs_;  // GUARDED_BY(mutex_)
  std::atomic<int> runs_{0};
  std::atomic<int> starts_{0};
};

}  // namespace ew::testing
