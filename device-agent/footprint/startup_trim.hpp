// Gives back the resident pages of code and constants that only the agent's start-up used, once
// its session is ready (issue 16: idle RSS <= 5 MB). Config parsing, CLI11, the TLS set-up, the
// runtime probe and the first join run once; their pages would otherwise stay mapped for the life
// of the process (with 64 kB of fault-around each). docs/BENCHMARKS.md "The agent on a Pi".
#pragma once

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <string>

#include <boost/asio/io_context.hpp>
#include <boost/asio/steady_timer.hpp>

#include "common/error/error.hpp"
#include "device-agent/session/session_observer.hpp"

namespace ew::agent::footprint {

struct TrimResult {
  size_t advised_bytes = 0;  // length of the ranges given to madvise
  int ranges = 0;            // read-only segments of the program advised
};

// MADV_DONTNEED on the main program's read-only PT_LOAD segments (text, rodata, ELF tables), whole
// pages only, none of which is writable or in PT_GNU_RELRO (relocated pages are private copies:
// dropping them would bring back unrelocated ones). Those pages were never written, so dropping
// them changes no byte the program sees: the next access maps them again from the page cache
// (a minor fault, no I/O while the file is cached). Also returns free heap to the kernel
// (malloc_trim). Any thread; the program keeps running code while its pages go. Internal when
// madvise fails (then nothing else is advised).
Result<TrimResult> DropCleanProgramPages();

struct StartupTrimOptions {
  // Wait after the first OnReady before trimming: the one-shot work that follows a join (flows
  // resumed, spool drained, procedures registered) runs first, so its pages go too.
  std::chrono::milliseconds delay = std::chrono::seconds(2);
  // Off: never trim (for comparing figures; the agent works the same).
  bool enabled = true;
};

// Trims once, `delay` after the session is first ready; later sessions (reconnects) do not trim
// again. Threading: OnReady on the io thread (SessionRunner's contract); the trim runs there.
class StartupTrim : public session::SessionObserver {
 public:
  StartupTrim(boost::asio::io_context& io, StartupTrimOptions options = {});

  void OnReady(const std::string& url, uint64_t session_id) override;

  // Trims done so far (0 or 1); for tests and logs.
  int trims() const { return trims_; }

 private:
  StartupTrimOptions options_;
  boost::asio::steady_timer timer_;
  bool scheduled_ = false;
  int trims_ = 0;
};

}  // namespace ew::agent::footprint
