#include "common/log/log.hpp"

#include <mutex>

#include <spdlog/pattern_formatter.h>
#include <spdlog/sinks/stdout_color_sinks.h>

namespace ew::log {

namespace {

std::mutex g_mutex;
spdlog::level::level_enum g_level = spdlog::level::info;

constexpr char kPattern[] = "%Y-%m-%dT%H:%M:%S.%e %^%-5l%$ [%n] %v";

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
  OneLineFormatter() : inner_(std::make_unique<spdlog::pattern_formatter>(kPattern)) {}

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

  std::unique_ptr<spdlog::formatter> clone() const override { return std::make_unique<OneLineFormatter>(); }

 private:
  std::unique_ptr<spdlog::formatter> inner_;
};

}  // namespace

std::shared_ptr<spdlog::logger> Get(const std::string& module) {
  std::lock_guard<std::mutex> lock(g_mutex);
  if (auto existing = spdlog::get(module)) return existing;
  auto logger = spdlog::stderr_color_mt(module);
  logger->set_formatter(std::make_unique<OneLineFormatter>());
  logger->set_level(g_level);
  return logger;
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
