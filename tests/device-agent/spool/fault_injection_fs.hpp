// A SpoolFs over the real one that remembers what was synced, so a test can "cut the power":
// DropUnsyncedData() puts every file back as it was at its last Sync (and removes files whose
// name was never made durable by SyncDir), as leveldb's db/fault_injection_test.cc does.
// Also fails writes on demand (a full disk).
#pragma once

#include <filesystem>
#include <fstream>
#include <map>
#include <memory>
#include <mutex>
#include <set>
#include <string>

#include "device-agent/spool/spool_fs.hpp"

namespace ew::agent::spool::testing {

struct FaultState {
  std::mutex mu;
  std::map<std::string, std::string> synced;  // path → content at its last Sync
  std::set<std::string> durable_names;        // files whose directory was synced after creation
  std::set<std::string> created;              // files created since their directory's last sync
  bool fail_writes = false;                   // Append/WriteAt fail with ResourceExhausted
  size_t syncs = 0;
};

class FaultInjectionFile final : public SpoolFile {
 public:
  FaultInjectionFile(std::unique_ptr<SpoolFile> base, std::string path, std::shared_ptr<FaultState> state)
      : base_(std::move(base)), path_(std::move(path)), state_(std::move(state)) {}
  Result<void> Append(std::string_view data) override {
    if (Failing()) return ResourceExhausted("injected: no space left on device");
    return base_->Append(data);
  }
  Result<void> WriteAt(uint64_t offset, std::string_view data) override {
    if (Failing()) return ResourceExhausted("injected: no space left on device");
    return base_->WriteAt(offset, data);
  }
  Result<std::string> ReadAt(uint64_t offset, size_t length) override { return base_->ReadAt(offset, length); }
  Result<void> Sync() override {
    EW_TRY_VOID(base_->Sync());
    EW_TRY(std::string content, base_->ReadAt(0, base_->Size()));
    std::lock_guard lock(state_->mu);
    state_->synced[path_] = std::move(content);
    ++state_->syncs;
    return Ok();
  }
  Result<void> Truncate(uint64_t size) override { return base_->Truncate(size); }
  uint64_t Size() const override { return base_->Size(); }

 private:
  bool Failing() {
    std::lock_guard lock(state_->mu);
    return state_->fail_writes;
  }
  std::unique_ptr<SpoolFile> base_;
  std::string path_;
  std::shared_ptr<FaultState> state_;
};

class FaultInjectionFs final : public SpoolFs {
 public:
  explicit FaultInjectionFs(std::shared_ptr<FaultState> state) : base_(MakePosixSpoolFs()), state_(std::move(state)) {}

  Result<std::unique_ptr<SpoolFile>> Open(const std::filesystem::path& path, bool create) override {
    const bool existed = std::filesystem::exists(path);
    EW_TRY(auto file, base_->Open(path, create));
    if (!existed) {
      std::lock_guard lock(state_->mu);
      state_->created.insert(path.string());
    }
    return std::unique_ptr<SpoolFile>(std::make_unique<FaultInjectionFile>(std::move(file), path.string(), state_));
  }
  Result<void> Remove(const std::filesystem::path& path) override {
    {
      std::lock_guard lock(state_->mu);
      state_->synced.erase(path.string());
      state_->created.erase(path.string());
      state_->durable_names.erase(path.string());
    }
    return base_->Remove(path);
  }
  Result<std::vector<std::string>> List(const std::filesystem::path& dir) override { return base_->List(dir); }
  Result<void> CreateDir(const std::filesystem::path& dir) override { return base_->CreateDir(dir); }
  Result<void> RemoveDir(const std::filesystem::path& dir) override { return base_->RemoveDir(dir); }
  Result<void> SyncDir(const std::filesystem::path& dir) override {
    EW_TRY_VOID(base_->SyncDir(dir));
    std::lock_guard lock(state_->mu);
    for (auto it = state_->created.begin(); it != state_->created.end();) {
      if (std::filesystem::path(*it).parent_path() == dir) {
        state_->durable_names.insert(*it);
        it = state_->created.erase(it);
      } else {
        ++it;
      }
    }
    return Ok();
  }

  // The power cut: every file as at its last sync; files never named durably are gone.
  static void DropUnsyncedData(FaultState& state) {
    std::lock_guard lock(state.mu);
    for (const auto& path : state.created) std::filesystem::remove(path);
    for (const auto& path : state.durable_names) {
      auto it = state.synced.find(path);
      std::ofstream out(path, std::ios::binary | std::ios::trunc);
      if (it != state.synced.end()) out << it->second;
    }
    state.created.clear();
  }

 private:
  std::unique_ptr<SpoolFs> base_;
  std::shared_ptr<FaultState> state_;
};

}  // namespace ew::agent::spool::testing
