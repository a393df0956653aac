// The board's package cache: packages fetched from the conductor by content hash
// (ew.conductor.fn.fetch, chunk by chunk), verified against their sha256 and extracted under
// <cache_dir>/<sha256>/. Deploys of the same package at once share one fetch.
#pragma once

#include <chrono>
#include <cstdint>
#include <filesystem>
#include <functional>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include <boost/asio/io_context.hpp>
#include <boost/asio/thread_pool.hpp>

#include "common/error/error.hpp"
#include "device-agent/rpc/conductor_client.hpp"

namespace ew::agent::functions {

struct PackageFetcherOptions {
  std::filesystem::path cache_dir;                  // <state_dir>/packages
  size_t chunk_bytes = 256u << 10;                  // per ew.conductor.fn.fetch call (its maximum)
  std::chrono::milliseconds chunk_timeout{30'000};  // per chunk
};

class PackageFetcher {
 public:
  // The extracted package's directory, or why it is not there; `cached` = no fetch was needed.
  using Done = std::function<void(Result<std::filesystem::path> dir, bool cached)>;

  // The pool that runs hashing, extraction and removal, asked for only when there is such work
  // (its owner creates it on first use and joins it before dropping the fetcher).
  using BlockingPool = std::function<boost::asio::thread_pool&()>;

  PackageFetcher(boost::asio::io_context& io, PackageFetcherOptions options, BlockingPool blocking);
  ~PackageFetcher() { alive_.reset(); }

  // The session that reaches the conductor; must outlive this fetcher. Io thread.
  void SetConductor(rpc::ConductorClient* conductor) { conductor_ = conductor; }

  // Io thread. Calls `done` on the io thread: at once when the package is cached, else once
  // the `size` bytes named `sha256` have been fetched, verified and extracted. Unavailable
  // without a session; the conductor's error, or InvalidArgument when the bytes received do not
  // match the hash or the size.
  void Fetch(const std::string& sha256, uint64_t size, Done done);

  // Where package `sha256` is (or would be) extracted.
  std::filesystem::path Dir(const std::string& sha256) const { return options_.cache_dir / sha256; }
  // Removes package `sha256` from the cache, on the blocking pool.
  void Discard(const std::string& sha256);
  // Creates the cache directory and removes extractions a crash interrupted ("<sha>.tmp-*").
  // Internal when the directory cannot be created.
  Result<void> Prepare();

 private:
  // Fetches the next chunk of package `sha256` after the bytes already in `buffer`. Io thread.
  void FetchChunk(const std::string& sha256, uint64_t size, std::shared_ptr<std::string> buffer);
  // Ends every Fetch waiting for package `sha256`. Io thread.
  void Finish(const std::string& sha256, Result<std::filesystem::path> dir);

  boost::asio::io_context& io_;
  PackageFetcherOptions options_;
  BlockingPool blocking_;
  rpc::ConductorClient* conductor_ = nullptr;
  // Fetches waiting for a package in flight, by sha256 (io thread only).
  std::map<std::string, std::vector<Done>> waiting_;
  // Liveness token (docs/ARCHITECTURE.md, "Lifetime"), checked on the io thread.
  std::shared_ptr<bool> alive_ = std::make_shared<bool>(true);
};

}  // namespace ew::agent::functions
