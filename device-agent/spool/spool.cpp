// The spool: streams by name, the bounds across them, group-commit bookkeeping.
#include "device-agent/spool/spool.hpp"

#include <cstdio>
#include <random>

#include "common/log/log.hpp"
#include "device-agent/spool/record_frame.hpp"
#include "device-agent/spool/stream_log.hpp"

namespace ew::agent::spool {

namespace {

const ew::log::Logger Log{"spool"};

Result<void> CheckLimits(const StreamLimits& limits) {
  if (limits.max_bytes == 0 || limits.max_records == 0)
    return InvalidArgument("spool stream limits: max_bytes and max_records must be positive");
  return Ok();
}

Result<void> CheckOptions(const SpoolOptions& options) {
  if (options.dir.empty()) return InvalidArgument("spool: dir is required");
  if (options.max_record_bytes == 0 || options.max_record_bytes > (256u << 20))
    return InvalidArgument("spool: max_record_bytes must be from 1 byte to 256 MiB");
  if (options.segment_bytes < 4096 || options.segment_bytes > (1ull << 30))
    return InvalidArgument("spool: segment_bytes must be from 4 KiB to 1 GiB");
  if (options.max_total_bytes == 0 || options.max_total_records == 0)
    return InvalidArgument("spool: max_total_bytes and max_total_records must be positive");
  if (options.sync.mode == SyncMode::kGroupCommit &&
      (options.sync.interval.count() <= 0 || options.sync.max_unsynced_records == 0))
    return InvalidArgument("spool: group commit needs a positive interval and max_unsynced_records");
  return CheckLimits(options.default_limits);
}

Result<void> CheckName(std::string_view stream) {
  if (!IsValidStreamName(stream))
    return InvalidArgument("spool stream name must be 1-200 characters of [A-Za-z0-9_.-], not starting with '.': \"" +
                           ew::log::Untrusted(stream, 64) + "\"");
  return Ok();
}

}  // namespace

Spool::Spool(SpoolOptions options, std::unique_ptr<SpoolFs> fs) : options_(std::move(options)), fs_(std::move(fs)) {}

Spool::~Spool() {
  if (auto synced = Sync(); !synced) Log()->error("closing the spool: {}", synced.error().message);
}

Result<std::unique_ptr<Spool>> Spool::Open(SpoolOptions options, std::unique_ptr<SpoolFs> fs) {
  EW_TRY_VOID(CheckOptions(options));
  if (!fs) fs = MakePosixSpoolFs();
  std::unique_ptr<Spool> spool(new Spool(std::move(options), std::move(fs)));
  EW_TRY_VOID(spool->Recover());
  return spool;
}

Result<void> Spool::Recover() {
  std::lock_guard lock(mu_);
  EW_TRY_VOID(fs_->CreateDir(options_.dir));
  EW_TRY_VOID(LoadIdentity());
  EW_TRY(std::vector<std::string> names, fs_->List(options_.dir));
  for (const auto& name : names) {
    if (!IsValidStreamName(name)) continue;  // not ours
    auto log = StreamLog::Open(*fs_, options_.dir / name, name, options_, options_.default_limits);
    if (!log) {
      // One unreadable stream must not cost the others; an Append to it tries again.
      Log()->error("spool stream {} cannot be opened: {}", name, log.error().message);
      continue;
    }
    streams_.emplace(name, std::move(*log));
  }
  return Ok();
}

Result<void> Spool::LoadIdentity() {
  // ".id" is no stream name (a leading dot), so recovery never takes it for one.
  const std::filesystem::path path = options_.dir / ".id";
  EW_TRY(auto file, fs_->Open(path, /*create=*/true));
  EW_TRY(std::string text, file->ReadAt(0, 64));
  const bool valid = text.size() == 16 && text.find_first_not_of("0123456789abcdef") == std::string::npos;
  if (valid) {
    id_ = text;
    return Ok();
  }
  if (!text.empty()) Log()->warn("spool {}: identity file is damaged; drawing a new one", options_.dir.string());
  std::random_device random;
  const uint64_t value = (uint64_t{random()} << 32) ^ random();
  char hex[17];
  std::snprintf(hex, sizeof hex, "%016llx", static_cast<unsigned long long>(value));
  EW_TRY_VOID(file->Truncate(0));
  EW_TRY_VOID(file->WriteAt(0, std::string_view(hex, 16)));
  EW_TRY_VOID(file->Sync());
  EW_TRY_VOID(fs_->SyncDir(options_.dir));
  id_ = hex;
  return Ok();
}

StreamLog* Spool::Find(std::string_view stream) const {
  auto it = streams_.find(stream);
  return it == streams_.end() ? nullptr : it->second.get();
}

Result<StreamLog*> Spool::GetOrCreate(std::string_view stream) {
  if (StreamLog* log = Find(stream)) return log;
  EW_TRY_VOID(CheckName(stream));
  EW_TRY(auto log, StreamLog::Open(*fs_, options_.dir / std::string(stream), std::string(stream), options_,
                                   options_.default_limits));
  // The stream's directory must outlive a power cut as its first segment does.
  EW_TRY_VOID(fs_->SyncDir(options_.dir));
  StreamLog* raw = log.get();
  streams_.emplace(std::string(stream), std::move(log));
  return raw;
}

Result<void> Spool::Configure(std::string_view stream, StreamLimits limits) {
  EW_TRY_VOID(CheckName(stream));
  EW_TRY_VOID(CheckLimits(limits));
  std::lock_guard lock(mu_);
  EW_TRY(StreamLog * log, GetOrCreate(stream));
  log->set_limits(limits);
  return Ok();
}

bool Spool::MakeRoomInTotal(uint64_t framed_bytes) {
  auto fits = [&] {
    return TotalRecordsLocked() + 1 <= options_.max_total_records &&
           TotalBytesLocked() + framed_bytes <= options_.max_total_bytes;
  };
  while (!fits()) {
    StreamLog* victim = nullptr;
    for (const auto& [name, log] : streams_) {
      if (log->limits().policy != DropPolicy::kDropOldest || log->live_records() == 0) continue;
      if (!victim || log->live_bytes() > victim->live_bytes()) victim = log.get();
    }
    if (!victim) return false;
    victim->DropOldest();
    ++epoch_;
  }
  return true;
}

Result<uint64_t> Spool::Append(std::string_view stream, std::string_view data) {
  EW_TRY_VOID(CheckName(stream));
  if (data.size() > options_.max_record_bytes)
    return InvalidArgument("spool record of " + std::to_string(data.size()) + " bytes is over the limit of " +
                           std::to_string(options_.max_record_bytes));
  const uint64_t framed = kFrameHeaderBytes + data.size();
  std::lock_guard lock(mu_);
  EW_TRY(StreamLog * log, GetOrCreate(stream));
  const StreamLimits& limits = log->limits();
  // A record that could never fit must not empty the stream on its way to being refused.
  if (framed > limits.max_bytes || framed > options_.max_total_bytes) {
    log->CountRefused();
    return ResourceExhausted("spool record of " + std::to_string(data.size()) + " bytes is larger than stream " +
                             log->name() + " or the spool may hold");
  }
  // The stream's own bound first: it decides between its oldest records and this one.
  while (log->live_records() + 1 > limits.max_records || log->live_bytes() + framed > limits.max_bytes) {
    if (limits.policy == DropPolicy::kRefuseNewest || !log->DropOldest()) {
      log->CountRefused();
      return ResourceExhausted("spool stream " + log->name() + " is full (" + std::to_string(log->live_records()) +
                               " records, " + std::to_string(log->live_bytes()) + " bytes)");
    }
  }
  if (!MakeRoomInTotal(framed)) {
    log->CountRefused();
    return ResourceExhausted("spool is full (" + std::to_string(TotalRecordsLocked()) + " records, " +
                             std::to_string(TotalBytesLocked()) + " bytes) and no drop-oldest stream can give way");
  }
  EW_TRY(uint64_t seq, log->Append(data));
  if (options_.sync.mode != SyncMode::kEveryRecord) ++unsynced_records_;
  if (options_.sync.mode == SyncMode::kGroupCommit && unsynced_records_ >= options_.sync.max_unsynced_records) {
    EW_TRY_VOID(SyncLocked());
  }
  return seq;
}

Result<std::vector<Record>> Spool::Peek(std::string_view stream, uint64_t after_seq, PeekLimits limits) {
  std::lock_guard lock(mu_);
  StreamLog* log = Find(stream);
  if (!log) return std::vector<Record>{};
  return log->Peek(after_seq, limits);
}

Result<void> Spool::Ack(std::string_view stream, uint64_t seq) {
  std::lock_guard lock(mu_);
  StreamLog* log = Find(stream);
  if (!log) return NotFound("no spool stream \"" + ew::log::Untrusted(stream, 64) + "\"");
  EW_TRY_VOID(log->Ack(seq));
  // The acknowledgement is written, not yet synced: the group commit takes it along, so that a
  // power cut can deliver again only what was acknowledged in the last interval.
  if (options_.sync.mode == SyncMode::kGroupCommit) ++unsynced_records_;
  return Ok();
}

Result<void> Spool::Sync() {
  std::lock_guard lock(mu_);
  return SyncLocked();
}

Result<void> Spool::SyncLocked() {
  Result<void> result = Ok();
  for (const auto& [name, log] : streams_) {
    if (auto synced = log->Sync(); !synced && result) result = synced;
  }
  if (result) unsynced_records_ = 0;
  return result;
}

uint64_t Spool::UnsyncedRecords() const {
  std::lock_guard lock(mu_);
  return unsynced_records_;
}

void Spool::CountRefused(std::string_view stream) {
  std::lock_guard lock(mu_);
  if (auto log = GetOrCreate(stream)) (*log)->CountRefused();
}

std::optional<StreamStats> Spool::Stats(std::string_view stream) const {
  std::lock_guard lock(mu_);
  StreamLog* log = Find(stream);
  if (!log) return std::nullopt;
  return log->Stats();
}

std::vector<StreamStats> Spool::AllStats() const {
  std::lock_guard lock(mu_);
  std::vector<StreamStats> out;
  for (const auto& [name, log] : streams_) out.push_back(log->Stats());
  return out;
}

uint64_t Spool::TotalBytesLocked() const {
  uint64_t total = 0;
  for (const auto& [name, log] : streams_) total += log->live_bytes();
  return total;
}

uint64_t Spool::TotalRecordsLocked() const {
  uint64_t total = 0;
  for (const auto& [name, log] : streams_) total += log->live_records();
  return total;
}

uint64_t Spool::TotalBytes() const {
  std::lock_guard lock(mu_);
  return TotalBytesLocked();
}

uint64_t Spool::TotalRecords() const {
  std::lock_guard lock(mu_);
  return TotalRecordsLocked();
}

uint64_t Spool::Epoch() const {
  std::lock_guard lock(mu_);
  return epoch_;
}

}  // namespace ew::agent::spool
