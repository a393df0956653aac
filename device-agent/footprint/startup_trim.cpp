#include "device-agent/footprint/startup_trim.hpp"

#include <link.h>
#include <malloc.h>
#include <sys/mman.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <vector>

#include "common/log/log.hpp"

namespace ew::agent::footprint {

namespace {

const ew::log::Logger Log{"footprint"};

struct Range {
  uintptr_t begin = 0;
  uintptr_t end = 0;
};

// The main program's read-only load segments, shrunk to whole pages that share nothing with a
// writable segment or the RELRO range.
int CollectReadOnly(dl_phdr_info* info, size_t, void* data) {
  auto* ranges = static_cast<std::vector<Range>*>(data);
  const uintptr_t page = static_cast<uintptr_t>(::sysconf(_SC_PAGESIZE));
  std::vector<Range> keep;  // writable segments and RELRO: never advised
  for (int i = 0; i < info->dlpi_phnum; ++i) {
    const ElfW(Phdr)& ph = info->dlpi_phdr[i];
    const uintptr_t begin = info->dlpi_addr + ph.p_vaddr;
    if (ph.p_type == PT_GNU_RELRO || (ph.p_type == PT_LOAD && (ph.p_flags & PF_W)))
      keep.push_back({begin & ~(page - 1), (begin + ph.p_memsz + page - 1) & ~(page - 1)});
  }
  for (int i = 0; i < info->dlpi_phnum; ++i) {
    const ElfW(Phdr)& ph = info->dlpi_phdr[i];
    if (ph.p_type != PT_LOAD || (ph.p_flags & PF_W)) continue;
    const uintptr_t begin = info->dlpi_addr + ph.p_vaddr;
    Range r{(begin + page - 1) & ~(page - 1), (begin + ph.p_filesz) & ~(page - 1)};
    for (const Range& k : keep) {
      if (k.begin < r.end && r.begin < k.end) {  // overlap: keep the part before it (segments ascend)
        r.end = r.begin < k.begin ? k.begin : r.begin;
      }
    }
    if (r.end > r.begin) ranges->push_back(r);
  }
  return 1;  // the first object is the main program: stop there
}

}  // namespace

Result<TrimResult> DropCleanProgramPages() {
  std::vector<Range> ranges;
  ::dl_iterate_phdr(CollectReadOnly, &ranges);
  TrimResult result;
  for (const Range& r : ranges) {
    if (::madvise(reinterpret_cast<void*>(r.begin), r.end - r.begin, MADV_DONTNEED) != 0)
      return Internal(std::string("madvise(MADV_DONTNEED) on the agent's code: ") + std::strerror(errno));
    result.advised_bytes += r.end - r.begin;
    ++result.ranges;
  }
  ::malloc_trim(0);
  return result;
}

StartupTrim::StartupTrim(boost::asio::io_context& io, StartupTrimOptions options)
    : options_(options), timer_(io) {}

void StartupTrim::OnReady(const std::string&, uint64_t) {
  if (!options_.enabled || scheduled_) return;
  scheduled_ = true;
  timer_.expires_after(options_.delay);
  timer_.async_wait([this](const boost::system::error_code& ec) {
    if (ec) return;
    auto trimmed = DropCleanProgramPages();
    ++trims_;
    if (!trimmed) {
      Log()->warn("start-up pages kept: {}", trimmed.error().message);
      return;
    }
    Log()->debug("start-up pages dropped: {} kB of code and constants advised in {} ranges",
                 trimmed->advised_bytes / 1024, trimmed->ranges);
  });
}

}  // namespace ew::agent::footprint
