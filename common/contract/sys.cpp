#include "common/contract/sys.hpp"

#include "common/contract/fields.hpp"
#include "common/contract/proto3_json.hpp"

namespace ew::contract::sys {

using nlohmann::json;

namespace {
// A proto3 int64 field that may be absent (0), as a string or a number.
Result<int64_t> OptionalInt64(const Fields& f, const char* key) {
  const json* value = f.Find(key);
  if (!value) return int64_t{0};
  auto parsed = ReadProto3Int64(*value);
  if (!parsed) return f.Bad(key, parsed.error().message);
  return *parsed;
}
}  // namespace

wamp::Payload PingRequest::ToPayload() const {
  wamp::Payload out;
  if (!echo.empty()) out.args.push_back(echo);
  return out;
}

Result<PingRequest> PingRequest::Parse(const wamp::Payload& payload) {
  PingRequest out;
  if (payload.args.is_array() && !payload.args.empty()) {
    const json& arg = payload.args[0];
    if (arg.is_string()) {
      out.echo = arg.get<std::string>();
    } else if (arg.is_binary()) {
      const auto& bytes = arg.get_binary();
      out.echo.assign(bytes.begin(), bytes.end());
    } else {
      return InvalidArgument("sys.ping echoes a string or bytes, got " + std::string(arg.type_name()));
    }
  }
  return out;
}

wamp::Payload PingReply::ToPayload() const {
  // Emplaced, not an initializer list (which builds each pair as an array first): sys.ping is
  // the board call that measures the RPC path.
  wamp::Payload out;
  out.kwargs.emplace("boardTimeNs", Proto3Int64(board_time_ns));
  out.kwargs.emplace("boardId", board_id);
  out.kwargs.emplace("echo", Proto3Bytes(echo));
  return out;
}

Result<PingReply> PingReply::Parse(const wamp::Payload& payload) {
  EW_TRY(Fields f, Fields::Of(payload.kwargs, "sys.ping reply"));
  PingReply out;
  const json* time = f.Find("boardTimeNs");
  if (!time) return f.Bad("boardTimeNs", "required");
  auto ns = ReadProto3Int64(*time);
  if (!ns) return f.Bad("boardTimeNs", ns.error().message);
  out.board_time_ns = *ns;
  EW_TRY(out.board_id, f.AnyString("boardId"));
  if (const json* echo = f.Find("echo")) {
    auto bytes = ReadProto3Bytes(*echo);
    if (!bytes) return f.Bad("echo", bytes.error().message);
    out.echo = std::move(*bytes);
  }
  return out;
}

json SysInfo::ToJson() const {
  json load = json::array();
  for (double value : load_average) load.push_back(Proto3Double(value));
  json chips = json::array();
  for (const GpioChipSummary& chip : gpio_chips) {
    chips.push_back({{"name", chip.name},
                     {"backend", chip.backend},
                     {"lines", chip.lines},
                     {"used", chip.used},
                     {"error", chip.error},
                     {"lineNames", chip.line_names}});
  }
  json streams = json::array();
  for (const SpoolStreamSummary& stream : spool_streams) {
    streams.push_back({{"name", stream.name},
                       {"policy", stream.policy},
                       {"records", Proto3Int64(stream.records)},
                       {"bytes", Proto3Int64(stream.bytes)},
                       {"firstSeq", Proto3Int64(stream.first_seq)},
                       {"nextSeq", Proto3Int64(stream.next_seq)},
                       {"droppedOldest", Proto3Int64(stream.dropped_oldest)},
                       {"refused", Proto3Int64(stream.refused)},
                       {"corruptRecords", Proto3Int64(stream.corrupt_records)}});
  }
  json out = {
      {"boardId", board_id},
      {"agentVersion", agent_version},
      {"hostname", hostname},
      {"os", os},
      {"kernel", kernel},
      {"machine", machine},
      {"hardware", hardware},
      {"uptimeSeconds", Proto3Double(uptime_seconds)},
      {"agentUptimeSeconds", Proto3Double(agent_uptime_seconds)},
      {"loadAverage", std::move(load)},
      {"memoryTotalBytes", Proto3Int64(memory_total_bytes)},
      {"memoryAvailableBytes", Proto3Int64(memory_available_bytes)},
      {"agentRssBytes", Proto3Int64(agent_rss_bytes)},
      {"cpuCount", cpu_count},
      {"containerRuntime", container_runtime},
      {"gpioChips", std::move(chips)},
      {"spoolStreams", std::move(streams)},
      {"storageProblems", storage_problems},
      {"packageVersion", package_version},
      {"functionsMaxRunning", functions_max_running},
  };
  // A message field: absent when unset, as protobuf prints it.
  if (container_limits.is_object()) out["containerLimits"] = container_limits;
  if (session) {
    out["session"] = {{"state", session->state},
                      {"lastDisconnectReason", session->last_disconnect_reason},
                      {"connections", Proto3Int64(session->connections)}};
  }
  return out;
}

wamp::Payload SysInfo::ToPayload() const { return wamp::Payload{json::array(), ToJson()}; }

namespace {

Result<GpioChipSummary> ParseChip(const json& item) {
  EW_TRY(Fields f, Fields::Of(item, "sys.info reply: gpioChips[]"));
  GpioChipSummary chip;
  EW_TRY(chip.name, f.AnyString("name"));
  EW_TRY(chip.backend, f.AnyString("backend"));
  EW_TRY(uint64_t lines, f.Count("lines"));
  EW_TRY(uint64_t used, f.Count("used"));
  chip.lines = static_cast<uint32_t>(lines);
  chip.used = static_cast<uint32_t>(used);
  EW_TRY(chip.error, f.AnyString("error"));
  EW_TRY(json names, f.Array("lineNames"));
  for (const json& name : names) {
    if (!name.is_string()) return f.Bad("lineNames", "must be strings");
    chip.line_names.push_back(name.get<std::string>());
  }
  return chip;
}

Result<SpoolStreamSummary> ParseStream(const json& item) {
  EW_TRY(Fields f, Fields::Of(item, "sys.info reply: spoolStreams[]"));
  SpoolStreamSummary stream;
  EW_TRY(stream.name, f.AnyString("name"));
  EW_TRY(stream.policy, f.AnyString("policy"));
  const std::pair<const char*, int64_t*> counters[] = {
      {"records", &stream.records},          {"bytes", &stream.bytes},     {"firstSeq", &stream.first_seq},
      {"nextSeq", &stream.next_seq},         {"droppedOldest", &stream.dropped_oldest},
      {"refused", &stream.refused},          {"corruptRecords", &stream.corrupt_records}};
  for (const auto& [key, into] : counters) {
    const json* value = f.Find(key);
    if (!value) return f.Bad(key, "required");
    auto parsed = ReadProto3Int64(*value);
    if (!parsed) return f.Bad(key, parsed.error().message);
    *into = *parsed;
  }
  return stream;
}

}  // namespace

Result<SysInfo> SysInfo::Parse(const wamp::Payload& payload) {
  EW_TRY(Fields f, Fields::Of(payload.kwargs, "sys.info reply"));
  SysInfo out;
  EW_TRY(out.board_id, f.AnyString("boardId"));
  EW_TRY(out.agent_version, f.AnyString("agentVersion"));
  EW_TRY(out.hostname, f.AnyString("hostname"));
  EW_TRY(out.os, f.AnyString("os"));
  EW_TRY(out.kernel, f.AnyString("kernel"));
  EW_TRY(out.machine, f.AnyString("machine"));
  EW_TRY(out.hardware, f.AnyString("hardware"));
  EW_TRY(out.container_runtime, f.AnyString("containerRuntime"));
  auto read_double = [&](const char* key, double& into) -> Result<void> {
    const json* value = f.Find(key);
    if (!value) return f.Bad(key, "required");
    auto parsed = ReadProto3Double(*value);
    if (!parsed) return f.Bad(key, parsed.error().message);
    into = *parsed;
    return Ok();
  };
  auto read_int64 = [&](const char* key, int64_t& into) -> Result<void> {
    const json* value = f.Find(key);
    if (!value) return f.Bad(key, "required");
    auto parsed = ReadProto3Int64(*value);
    if (!parsed) return f.Bad(key, parsed.error().message);
    into = *parsed;
    return Ok();
  };
  EW_TRY_VOID(read_double("uptimeSeconds", out.uptime_seconds));
  EW_TRY_VOID(read_double("agentUptimeSeconds", out.agent_uptime_seconds));
  EW_TRY_VOID(read_int64("memoryTotalBytes", out.memory_total_bytes));
  EW_TRY_VOID(read_int64("memoryAvailableBytes", out.memory_available_bytes));
  EW_TRY_VOID(read_int64("agentRssBytes", out.agent_rss_bytes));
  EW_TRY(int64_t cpus, f.Int("cpuCount"));
  out.cpu_count = static_cast<int32_t>(cpus);
  EW_TRY(json load, f.Array("loadAverage"));
  for (const json& value : load) {
    auto parsed = ReadProto3Double(value);
    if (!parsed) return f.Bad("loadAverage", parsed.error().message);
    out.load_average.push_back(*parsed);
  }
  EW_TRY(json chips, f.Array("gpioChips"));
  for (const json& item : chips) {
    EW_TRY(GpioChipSummary chip, ParseChip(item));
    out.gpio_chips.push_back(std::move(chip));
  }
  // Optional: agents from before the spool do not send it.
  if (f.Find("spoolStreams")) {
    EW_TRY(json streams, f.Array("spoolStreams"));
    for (const json& item : streams) {
      EW_TRY(SpoolStreamSummary stream, ParseStream(item));
      out.spool_streams.push_back(std::move(stream));
    }
  }
  if (const json* limits = f.Find("containerLimits")) {
    if (!limits->is_object()) return f.Bad("containerLimits", "must be an object");
    out.container_limits = *limits;
  }
  // Optional: agents from before the storage check do not send it.
  if (f.Find("storageProblems")) {
    EW_TRY(json problems, f.Array("storageProblems"));
    for (const json& item : problems) {
      if (!item.is_string()) return f.Bad("storageProblems", "must hold strings");
      out.storage_problems.push_back(item.get<std::string>());
    }
  }
  // Optional: agents from before issue 16's updates do not send it.
  if (f.Has("packageVersion")) {
    EW_TRY(out.package_version, f.AnyString("packageVersion"));
  }
  // Optional: agents from before issue 18's per-board cap do not send it.
  if (f.Find("functionsMaxRunning")) {
    EW_TRY(int64_t cap, f.Int("functionsMaxRunning"));
    if (cap < 0 || cap > 1'000'000) return f.Bad("functionsMaxRunning", "must be between 0 and 1000000");
    out.functions_max_running = static_cast<int32_t>(cap);
  }
  if (const json* session = f.Find("session")) {
    EW_TRY(Fields s, Fields::Of(*session, "sys.info reply: session"));
    SessionSummary summary;
    EW_TRY(summary.state, s.AnyString("state"));
    EW_TRY(summary.last_disconnect_reason, s.AnyString("lastDisconnectReason"));
    const json* connections = s.Find("connections");
    if (!connections) return s.Bad("connections", "required");
    auto parsed = ReadProto3Int64(*connections);
    if (!parsed) return s.Bad("connections", parsed.error().message);
    summary.connections = *parsed;
    out.session = std::move(summary);
  }
  return out;
}

wamp::Payload SysActionReply::ToPayload() const {
  wamp::Payload out;
  out.kwargs = {{"action", action}, {"delayMs", Proto3Int64(delay_ms)}};
  return out;
}

Result<SysActionReply> SysActionReply::Parse(const wamp::Payload& payload) {
  EW_TRY(Fields f, Fields::Of(payload.kwargs, "sys action reply"));
  SysActionReply out;
  EW_TRY(out.action, f.String("action"));
  if (const json* delay = f.Find("delayMs")) {
    auto ms = ReadProto3Int64(*delay);
    if (!ms) return f.Bad("delayMs", ms.error().message);
    out.delay_ms = *ms;
  }
  return out;
}

wamp::Payload LogsRequest::ToPayload() const {
  wamp::Payload out;
  out.kwargs = {{"lines", lines}};
  return out;
}

Result<LogsRequest> LogsRequest::Parse(const wamp::Payload& payload) {
  LogsRequest out;
  if (payload.kwargs.is_null()) return out;
  EW_TRY(Fields f, Fields::Of(payload.kwargs, "sys.logs", {"lines"}));
  EW_TRY(int64_t lines, f.IntOr("lines", 0, 0, kMaxLogLines));
  out.lines = lines == 0 ? kDefaultLogLines : static_cast<int32_t>(lines);
  return out;
}

wamp::Payload LogsReply::ToPayload() const {
  wamp::Payload out;
  // Every field, zeros too, as protobuf prints it (agent_proto3_conformance_test).
  out.kwargs = {{"lines", lines},
                {"capacity", capacity},
                {"nextSeq", Proto3Int64(next_seq)},
                {"cut", Proto3Int64(cut)},
                {"omitted", Proto3Int64(omitted)}};
  return out;
}

Result<LogsReply> LogsReply::Parse(const wamp::Payload& payload) {
  EW_TRY(Fields f, Fields::Of(payload.kwargs, "sys.logs reply"));
  LogsReply out;
  EW_TRY(json lines, f.Array("lines"));
  for (const json& line : lines) {
    if (!line.is_string()) return f.Bad("lines", "must hold strings");
    out.lines.push_back(line.get<std::string>());
  }
  EW_TRY(int64_t capacity, f.IntOr("capacity", 0, 0, INT32_MAX));
  out.capacity = static_cast<int32_t>(capacity);
  EW_TRY(out.next_seq, OptionalInt64(f, "nextSeq"));
  EW_TRY(out.cut, OptionalInt64(f, "cut"));
  EW_TRY(out.omitted, OptionalInt64(f, "omitted"));
  return out;
}

wamp::Payload LogFollowReply::ToPayload() const {
  wamp::Payload out;
  out.kwargs = {{"following", following}, {"nextSeq", Proto3Int64(next_seq)}};
  return out;
}

Result<LogFollowReply> LogFollowReply::Parse(const wamp::Payload& payload) {
  EW_TRY(Fields f, Fields::Of(payload.kwargs, "sys.logs.follow reply"));
  LogFollowReply out;
  EW_TRY(out.following, f.BoolOr("following", false));
  EW_TRY(out.next_seq, OptionalInt64(f, "nextSeq"));
  return out;
}

wamp::Payload LogBatch::ToPayload() const {
  wamp::Payload out;
  out.kwargs = {{"lines", lines},
                {"firstSeq", Proto3Int64(first_seq)},
                {"skipped", Proto3Int64(skipped)},
                {"cut", Proto3Int64(cut)}};
  return out;
}

Result<LogBatch> LogBatch::Parse(const wamp::Payload& payload) {
  EW_TRY(Fields f, Fields::Of(payload.kwargs, "sys.log event"));
  LogBatch out;
  EW_TRY(json lines, f.Array("lines"));
  if (lines.size() > kMaxLines) return f.Bad("lines", "more than " + std::to_string(kMaxLines) + " lines");
  for (const json& line : lines) {
    if (!line.is_string()) return f.Bad("lines", "must hold strings");
    out.lines.push_back(line.get<std::string>());
  }
  EW_TRY(out.first_seq, OptionalInt64(f, "firstSeq"));
  EW_TRY(out.skipped, OptionalInt64(f, "skipped"));
  EW_TRY(out.cut, OptionalInt64(f, "cut"));
  return out;
}

FittedLogLines FitLogLines(std::vector<std::string>& lines, KeepLines keep, size_t max_line_bytes, size_t max_bytes) {
  FittedLogLines out;
  const size_t marker = sizeof(kLogCutMarker) - 1;
  std::vector<bool> was_cut(lines.size(), false);  // counted below for the lines that stay only
  for (size_t i = 0; i < lines.size(); ++i) {
    std::string& line = lines[i];
    if (line.size() <= max_line_bytes) continue;
    size_t end = max_line_bytes > marker ? max_line_bytes - marker : 0;
    // Back to the first byte of a UTF-8 character: never half a character before the marker.
    while (end > 0 && (static_cast<unsigned char>(line[end]) & 0xC0) == 0x80) --end;
    line.resize(end);
    line += kLogCutMarker;
    was_cut[i] = true;
  }
  // How many lines fit, counted from the end that stays.
  size_t total = 0, fit = 0;
  const size_t n = lines.size();
  for (; fit < n; ++fit) {
    const std::string& line = keep == KeepLines::kOldest ? lines[fit] : lines[n - 1 - fit];
    if (fit > 0 && total + line.size() > max_bytes) break;
    total += line.size();
  }
  out.dropped = n - fit;
  const size_t first_kept = keep == KeepLines::kOldest ? 0 : out.dropped;
  for (size_t i = first_kept; i < first_kept + fit; ++i) out.cut += was_cut[i] ? 1 : 0;
  if (out.dropped > 0) {
    if (keep == KeepLines::kOldest) {
      lines.resize(fit);
    } else {
      lines.erase(lines.begin(), lines.begin() + static_cast<std::ptrdiff_t>(out.dropped));
    }
  }
  out.kept = lines.size();
  return out;
}

}  // namespace ew::contract::sys
