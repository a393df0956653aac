// Function packages on the conductor's disk, by content address: <dir>/<sha256>.tar.gz. The
// records that name them are FunctionStore's; this holds only bytes. Blocking: the blocking pool.
#pragma once

#include <cstdint>
#include <filesystem>
#include <string>
#include <string_view>

#include "common/contract/fn.hpp"
#include "common/error/error.hpp"

namespace ew::functions {

class PackageStore {
 public:
  explicit PackageStore(std::filesystem::path dir) : dir_(std::move(dir)) {}

  // Creates the directory. Internal when it cannot.
  Result<void> Create() const;
  std::filesystem::path PathOf(const std::string& sha256) const { return dir_ / (sha256 + ".tar.gz"); }
  // Writes `bytes` as package `sha256` through a temporary file and a rename (readers never see
  // half a package); nothing to do when it is there already. Internal on a write error.
  Result<void> Put(const std::string& sha256, std::string_view bytes) const;
  // Best effort: a package no version names any more.
  void Remove(const std::string& sha256) const;
  // Up to `length` bytes from `offset`, with the package's size (ew.conductor.fn.fetch).
  // NotFound when it is not stored, InvalidArgument for an offset beyond its end.
  Result<contract::fn::FetchReply> ReadChunk(const std::string& sha256, uint64_t offset, uint64_t length) const;
  // The whole package. Internal when it is missing or unreadable (a version names it).
  Result<std::string> ReadAll(const std::string& sha256) const;

 private:
  std::filesystem::path dir_;
};

}  // namespace ew::functions
