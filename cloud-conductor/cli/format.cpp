// Formatting for the CLI. Times are Unix seconds as the API sends them.
#include "cloud-conductor/cli/format.hpp"

#include <algorithm>
#include <ctime>

#include <fmt/format.h>

namespace ew::cli {

namespace {

size_t DisplayWidth(const std::string& text) {
  // UTF-8 continuation bytes are 10xxxxxx: count the others.
  return static_cast<size_t>(std::count_if(text.begin(), text.end(),
                                           [](char c) { return (static_cast<unsigned char>(c) & 0xC0) != 0x80; }));
}

std::string Field(const nlohmann::json& object, const std::string& key) {
  if (!object.is_object()) return "";
  auto it = object.find(key);
  if (it == object.end() || it->is_null()) return "";
  if (it->is_string()) return it->get<std::string>();
  return it->dump();
}

}  // namespace

std::string RenderTable(const Row& header, const std::vector<Row>& rows) {
  size_t columns = header.size();
  for (const auto& row : rows) columns = std::max(columns, row.size());
  std::vector<size_t> widths(columns, 0);
  auto measure = [&](const Row& row) {
    for (size_t i = 0; i < row.size(); ++i) widths[i] = std::max(widths[i], DisplayWidth(row[i]));
  };
  measure(header);
  for (const auto& row : rows) measure(row);

  std::string out;
  auto emit = [&](const Row& row) {
    std::string line;
    for (size_t i = 0; i < columns; ++i) {
      const std::string cell = i < row.size() ? row[i] : "";
      line += cell;
      if (i + 1 < columns) line += std::string(widths[i] - DisplayWidth(cell) + 2, ' ');
    }
    while (!line.empty() && line.back() == ' ') line.pop_back();
    out += line + "\n";
  };
  emit(header);
  for (const auto& row : rows) emit(row);
  return out;
}

std::string RelativeTime(int64_t then_unix, int64_t now_unix) {
  if (then_unix <= 0) return "never";
  const int64_t ago = std::max<int64_t>(0, now_unix - then_unix);
  if (ago < 60) return fmt::format("{}s ago", ago);
  if (ago < 3600) return fmt::format("{}m ago", ago / 60);
  if (ago < 48 * 3600) return fmt::format("{}h ago", ago / 3600);
  return fmt::format("{}d ago", ago / 86400);
}

std::string TimeUntil(int64_t deadline_unix, int64_t now_unix) {
  const int64_t left = deadline_unix - now_unix;
  if (left <= 0) return "expired";
  if (left < 60) return fmt::format("in {}s", left);
  if (left < 3600) return fmt::format("in {}m", left / 60);
  if (left % 3600 / 60 == 0) return fmt::format("in {}h", left / 3600);
  return fmt::format("in {}h {}m", left / 3600, left % 3600 / 60);
}

std::string FormatUtc(int64_t unix_seconds) {
  if (unix_seconds == 0) return "-";
  std::time_t t = static_cast<std::time_t>(unix_seconds);
  std::tm tm{};
  gmtime_r(&t, &tm);
  char text[32];
  std::strftime(text, sizeof text, "%Y-%m-%d %H:%M:%S UTC", &tm);
  return text;
}

int64_t JsonInt64(const nlohmann::json& object, const std::string& key) {
  if (!object.is_object()) return 0;
  auto it = object.find(key);
  if (it == object.end()) return 0;
  if (it->is_number_integer()) return it->get<int64_t>();
  if (it->is_number()) return static_cast<int64_t>(it->get<double>());
  if (it->is_string()) {
    try {
      size_t used = 0;
      const std::string text = it->get<std::string>();
      int64_t value = std::stoll(text, &used);
      return used == text.size() ? value : 0;
    } catch (...) {
      return 0;
    }
  }
  return 0;
}

std::string RenderBoardTable(const nlohmann::json& boards, int64_t now_unix) {
  std::vector<Row> rows;
  if (boards.is_array()) {
    for (const auto& board : boards) {
      const std::string status = Field(board, "status");
      const std::string peer = Field(board, "sessionPeer");
      // The agent's package version when the board was updated over the air, else its binary's.
      std::string agent = Field(board, "packageVersion");
      if (agent.empty()) agent = Field(board, "agentVersion");
      rows.push_back({Field(board, "id"), Field(board, "name"), Field(board, "projectId"), status,
                      status == "online" ? "now" : RelativeTime(JsonInt64(board, "lastSeen"), now_unix),
                      peer.empty() ? "-" : peer, agent.empty() ? "-" : agent});
    }
  }
  return RenderTable({"ID", "NAME", "PROJECT", "STATUS", "LAST-SEEN", "PEER", "AGENT"}, rows);
}

std::string RenderBoard(const nlohmann::json& board, int64_t now_unix) {
  const std::string status = Field(board, "status");
  const std::string peer = Field(board, "sessionPeer");
  const int64_t enrolled = JsonInt64(board, "enrolledAt");
  std::vector<Row> rows = {
      {"id:", Field(board, "id")},
      {"name:", Field(board, "name")},
      {"project:", Field(board, "projectId")},
      {"status:", status},
      {"peer:", peer.empty() ? "-" : peer},
      {"created:", FormatUtc(JsonInt64(board, "createdAt"))},
      {"enrolled:", enrolled == 0 ? "not yet" : FormatUtc(enrolled)},
      {"last seen:", status == "online" ? "now" : RelativeTime(JsonInt64(board, "lastSeen"), now_unix)},
  };
  std::string labels;
  if (board.is_object() && board.contains("labels") && board["labels"].is_object()) {
    for (const auto& [key, value] : board["labels"].items()) {
      if (!labels.empty()) labels += ", ";
      labels += key + "=" + (value.is_string() ? value.get<std::string>() : value.dump());
    }
  }
  rows.push_back({"labels:", labels.empty() ? "-" : labels});
  std::string out;
  for (const auto& row : rows) out += fmt::format("{:<11}{}\n", row[0], row[1]);
  return out;
}

std::string RenderCallResult(const nlohmann::json& args, const nlohmann::json& kwargs) {
  const bool has_args = args.is_array() && !args.empty();
  const bool has_kwargs = kwargs.is_object() && !kwargs.empty();
  nlohmann::json shown;
  if (has_args && has_kwargs) {
    shown = {{"args", args}, {"kwargs", kwargs}};
  } else if (has_kwargs) {
    shown = kwargs;
  } else {
    shown = args.is_array() ? args : nlohmann::json::array();
  }
  return shown.dump(2, ' ', false, nlohmann::json::error_handler_t::replace) + "\n";
}

nlohmann::json ArgumentValue(const std::string& text) {
  auto value = nlohmann::json::parse(text, nullptr, false);
  if (value.is_discarded()) return text;
  return value;
}

}  // namespace ew::cli
