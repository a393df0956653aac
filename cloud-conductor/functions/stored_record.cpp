// Store-time caps of invocation records (stored_record.hpp).
#include "cloud-conductor/functions/stored_record.hpp"

#include <string>

namespace ew::functions {

namespace {

using nlohmann::json;

// The longest prefix of `text` of at most `max` bytes that does not end inside a UTF-8 sequence.
std::string Utf8Prefix(const std::string& text, size_t max) {
  if (text.size() <= max) return text;
  size_t end = max;
  while (end > 0 && (static_cast<unsigned char>(text[end]) & 0xC0) == 0x80) --end;
  return text.substr(0, end);
}

// Cuts the string field `key` to `max` bytes; true when it did.
bool CapText(json& record, const char* key, size_t max) {
  auto it = record.find(key);
  if (it == record.end() || !it->is_string()) return false;
  const auto& text = it->get_ref<const std::string&>();
  if (text.size() <= max) return false;
  *it = Utf8Prefix(text, max);
  return true;
}

}  // namespace

void CapStoredRecord(json& record, const StoredRecordLimits& limits) {
  if (!record.is_object()) return;
  bool truncated = record.value("truncated", false);
  auto output = record.find("output");
  if (output != record.end() && !output->is_null()) {
    const size_t bytes = output->dump(-1, ' ', false, json::error_handler_t::replace).size();
    if (!record.contains("outputBytes")) record["outputBytes"] = bytes;
    if (bytes > limits.max_output_bytes) {
      record["output"] = nullptr;
      truncated = true;
    }
  }
  auto logs = record.find("logs");
  if (logs != record.end() && logs->is_string()) {
    if (!record.contains("logsBytes")) record["logsBytes"] = logs->get_ref<const std::string&>().size();
    truncated = CapText(record, "logs", limits.max_logs_bytes) || truncated;
  }
  truncated = CapText(record, "error", limits.max_logs_bytes) || truncated;
  if (truncated) record["truncated"] = true;
}

json SummarizeRecord(const json& record) {
  json summary = json::object();
  if (!record.is_object()) return summary;
  static const char* const kScalars[] = {"status", "error",  "exitCode",     "runtime", "cold",
                                         "queueMs", "runMs", "boardId",      "target",  "invocationId",
                                         "at",      "outputBytes", "logsBytes", "truncated"};
  for (const char* key : kScalars) {
    auto it = record.find(key);
    if (it == record.end() || it->is_structured() || it->is_null()) continue;
    summary[key] = it->is_string() ? json(Utf8Prefix(it->get_ref<const std::string&>(), kMaxSummaryText)) : *it;
  }
  auto trigger = record.find("trigger");
  if (trigger != record.end() && trigger->is_object() &&
      trigger->dump(-1, ' ', false, json::error_handler_t::replace).size() <= kMaxSummaryText) {
    summary["trigger"] = *trigger;
  }
  // Where the conductor placed it and why (set by the invoker, small unless a function has
  // very many runtimes: then the list leaves it out and the record still has it).
  auto placement = record.find("placement");
  if (placement != record.end() && placement->is_object() &&
      placement->dump(-1, ' ', false, json::error_handler_t::replace).size() <= 4 * kMaxSummaryText) {
    summary["placement"] = *placement;
  }
  return summary;
}

}  // namespace ew::functions
