#include "common/log/log.hpp"
#include "common/log/recent_lines.hpp"

#include <sys/stat.h>

#include <algorithm>
#include <cstdio>
#include <cstdlib>
#include <mutex>

#include <spdlog/pattern_formatter.h>
#include <deque>

#include <spdlog/sinks/base_sink.h>
#include <spdlog/sinks/stdout_color_sinks.h>
#include <spdlog/sinks/stdout_sinks.h>

namespace ew::log {

namespace {

std::mutex g_mutex;
spdlog::level::level_enum g_level = spdlog::level::info;

constexpr char kPattern[] = "%Y-%m-%dT%H:%M:%S.%e %^%-5l%$ [%n] %v";
// Under journald: the sd-daemon priority prefix (%*, "<6>" for info) instead of a timestamp and
// colours; journald stores the priority and its own timestamp (`journalctl -p warning`).
constexpr char kJournalPattern[] = "%*%-5l [%n] %v";
// Recent lines kept for sys.logs: as on a terminal, timestamp first.
constexpr char kRecentPattern[] = "%Y-%m-%dT%H:%M:%S.%e %-5l [%n] %v";

// The ring of recent lines, each numbered in the order it was logged: sys.logs reads the newest,
// its follow mode (issue 16) reads what came after the last number it published.
class SequencedRingSink final : public spdlog::sinks::base_sink<std::mutex> {
 public:
  explicit SequencedRingSink(size_t capacity) : capacity_(capacity) {}

  RecentLinesPage Since(uint64_t from_seq, size_t max_lines) {
    std::lock_guard<std::mutex> lock(mutex_);
    RecentLinesPage page;
    const uint64_t first = next_seq_ - lines_.size();
    uint64_t seq = std::max(from_seq, first);
    page.skipped = seq - std::min(from_seq, seq);
    for (; seq < next_seq_ && page.lines.size() < max_lines; ++seq) page.lines.push_back(lines_[seq - first]);
    page.next_seq = seq;
    return page;
  }

  std::vector<std::string> Last(size_t max_lines, uint64_t* next_seq) {
    std::lock_guard<std::mutex> lock(mutex_);
    const size_t n = std::min(max_lines, lines_.size());
    if (next_seq) *next_seq = next_seq_;
    return {lines_.end() - static_cast<std::ptrdiff_t>(n), lines_.end()};
  }

  uint64_t NextSeq() {
    std::lock_guard<std::mutex> lock(mutex_);
    return next_seq_;
  }

 protected:
  void sink_it_(const spdlog::details::log_msg& msg) override {
    spdlog::memory_buf_t formatted;
    formatter_->format(msg, formatted);
    std::string line(formatted.data(), formatted.size());
    while (!line.empty() && (line.back() == '\n' || line.back() == '\r')) line.pop_back();
    lines_.push_back(std::move(line));
    if (lines_.size() > capacity_) lines_.pop_front();
    ++next_seq_;
  }
  void flush_() override {}

 private:
  const size_t capacity_;
  std::deque<std::string> lines_;  // GUARDED_BY(mutex_), oldest first
  uint64_t next_seq_ = 0;          // GUARDED_BY(mutex_): the number the next line gets
};

std::shared_ptr<SequencedRingSink> g_recent;  // GUARDED_BY(g_mutex) for writes

// sd-daemon(3) priorities: <7> debug, <6> info, <4> warning, <3> err, <2> crit.
class JournalPriorityFlag final : public spdlog::custom_flag_formatter {
 public:
  void format(const spdlog::details::log_msg& msg, const std::tm&, spdlog::memory_buf_t& dest) override {
    const char* prefix = "<6>";
    switch (msg.level) {
      case spdlog::level::trace:
      case spdlog::level::debug: prefix = "<7>"; break;
      case spdlog::level::info: prefix = "<6>"; break;
      case spdlog::level::warn: prefix = "<4>"; break;
      case spdlog::level::err: prefix = "<3>"; break;
      case spdlog::level::critical: prefix = "<2>"; break;
      default: break;
    }
    dest.append(prefix, prefix + 3);
  }
  std::unique_ptr<custom_flag_formatter> clone() const override { return std::make_unique<JournalPriorityFlag>(); }
};

std::unique_ptr<spdlog::pattern_formatter> MakePatternFormatter(const char* pattern) {
  spdlog::pattern_formatter::custom_flags flags;
  flags['*'] = std::make_unique<JournalPriorityFlag>();
  return std::make_unique<spdlog::pattern_formatter>(pattern, spdlog::pattern_time_type::local,
                                                     spdlog::details::os::default_eol, std::move(flags));
}

bool IsControl(unsigned char c) { return c < 0x20 || c == 0x7f; }

void AppendEscaped(std::string& out, unsigned char c) {
  switch (c) {
    case '\n': out += "\\n"; return;
    case '\r': out += "\\r"; return;
    case '\t': out += "\\t"; return;
    default: {
      static constexpr char kHex[] = "0123456789abcdef";
      out += "\\x";
      out += kHex[c >> 4];
      out += kHex[c & 0xf];
    }
  }
}

// The pattern formatter over a message whose control characters are escaped: one record is
// one line, whatever a caller put in it.
class OneLineFormatter final : public spdlog::formatter {
 public:
  explicit OneLineFormatter(const char* pattern = kPattern) : pattern_(pattern), inner_(MakePatternFormatter(pattern)) {}

  void format(const spdlog::details::log_msg& msg, spdlog::memory_buf_t& dest) override {
    const std::string_view payload(msg.payload.data(), msg.payload.size());
    bool clean = true;
    for (unsigned char c : payload) clean = clean && !IsControl(c);
    if (clean) return inner_->format(msg, dest);
    const std::string escaped = EscapeControl(payload);
    spdlog::details::log_msg copy = msg;
    copy.payload = spdlog::string_view_t(escaped.data(), escaped.size());
    inner_->format(copy, dest);
    // The colour sink reads the level's range from the message it passed in.
    msg.color_range_start = copy.color_range_start;
    msg.color_range_end = copy.color_range_end;
  }

  std::unique_ptr<spdlog::formatter> clone() const override { return std::make_unique<OneLineFormatter>(pattern_); }

 private:
  const char* pattern_;
  std::unique_ptr<spdlog::formatter> inner_;
};

}  // namespace

bool StderrIsJournal() {
  // systemd sets JOURNAL_STREAM=<dev>:<inode> of the stream it connected; a child whose stderr
  // was redirected elsewhere inherits the variable but not the stream, so compare.
  const char* stream = std::getenv("JOURNAL_STREAM");
  if (stream == nullptr) return false;
  unsigned long long dev = 0, ino = 0;
  if (std::sscanf(stream, "%llu:%llu", &dev, &ino) != 2) return false;
  struct stat st {};
  if (fstat(2, &st) != 0) return false;
  return static_cast<unsigned long long>(st.st_dev) == dev && static_cast<unsigned long long>(st.st_ino) == ino;
}

std::shared_ptr<spdlog::logger> Get(const std::string& module) {
  std::lock_guard<std::mutex> lock(g_mutex);
  if (auto existing = spdlog::get(module)) return existing;
  static const bool journal = StderrIsJournal();
  std::shared_ptr<spdlog::logger> logger;
  if (journal) {
    logger = spdlog::stderr_logger_mt(module);
    logger->set_formatter(std::make_unique<OneLineFormatter>(kJournalPattern));
  } else {
    logger = spdlog::stderr_color_mt(module);
    logger->set_formatter(std::make_unique<OneLineFormatter>());
  }
  if (g_recent) logger->sinks().push_back(g_recent);
  logger->set_level(g_level);
  return logger;
}

void KeepRecentLines(size_t capacity) {
  std::lock_guard<std::mutex> lock(g_mutex);
  if (g_recent || capacity == 0) return;
  g_recent = std::make_shared<SequencedRingSink>(capacity);
  g_recent->set_formatter(std::make_unique<OneLineFormatter>(kRecentPattern));
  // Loggers made before this call (static Loggers resolve lazily, so usually none).
  spdlog::apply_all([](const std::shared_ptr<spdlog::logger>& l) { l->sinks().push_back(g_recent); });
}

namespace {
std::shared_ptr<SequencedRingSink> Recent() {
  std::lock_guard<std::mutex> lock(g_mutex);
  return g_recent;
}
}  // namespace

std::vector<std::string> RecentLines(size_t max_lines, uint64_t* next_seq) {
  auto recent = Recent();
  if (next_seq) *next_seq = 0;
  if (!recent) return {};
  return recent->Last(max_lines, next_seq);
}

RecentLinesPage RecentLinesSince(uint64_t from_seq, size_t max_lines) {
  auto recent = Recent();
  if (!recent) return RecentLinesPage{{}, from_seq, 0};
  return recent->Since(from_seq, max_lines);
}

uint64_t NextRecentLineSeq() {
  auto recent = Recent();
  return recent ? recent->NextSeq() : 0;
}

bool SetLevel(const std::string& level) {
  auto parsed = spdlog::level::from_str(level);
  if (parsed == spdlog::level::off && level != "off") return false;
  std::lock_guard<std::mutex> lock(g_mutex);
  g_level = parsed;
  spdlog::set_level(parsed);
  spdlog::apply_all([parsed](const std::shared_ptr<spdlog::logger>& l) { l->set_level(parsed); });
  return true;
}

std::string Untrusted(std::string_view value, size_t max_bytes) {
  const std::string_view shown = value.substr(0, max_bytes);
  std::string out;
  out.reserve(shown.size() + 16);
  for (unsigned char c : shown) {
    if (c == '\\') {
      out += "\\\\";
    } else if (IsControl(c)) {
      AppendEscaped(out, c);
    } else {
      out += static_cast<char>(c);
    }
  }
  if (value.size() > max_bytes) out += "...(" + std::to_string(value.size()) + " bytes)";
  return out;
}

std::string EscapeControl(std::string_view text) {
  std::string out;
  out.reserve(text.size() + 16);
  for (unsigned char c : text) {
    if (IsControl(c)) {
      AppendEscaped(out, c);
    } else {
      out += static_cast<char>(c);
    }
  }
  return out;
}

}  // namespace ew::log
