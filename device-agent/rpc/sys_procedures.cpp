// sys.info / sys.ping: thin wrappers that print the collectors' results as proto3 JSON replies.
// Key names follow board_rpc.proto; the conformance test holds them to libprotobuf.
#include "device-agent/rpc/sys_procedures.hpp"

#include "device-agent/rpc/proto3_json.hpp"

namespace ew::agent::rpc {

nlohmann::json SysInfoJson(const SysInfo& info) {
  nlohmann::json load = nlohmann::json::array();
  for (double value : info.load_average) load.push_back(Proto3Double(value));
  nlohmann::json chips = nlohmann::json::array();
  for (const GpioChipSummary& chip : info.gpio_chips) {
    chips.push_back({{"name", chip.name},
                     {"backend", chip.backend},
                     {"lines", chip.lines},
                     {"used", chip.used},
                     {"error", chip.error},
                     {"lineNames", chip.line_names}});
  }
  nlohmann::json streams = nlohmann::json::array();
  for (const SpoolStreamSummary& stream : info.spool_streams) {
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
  nlohmann::json out = {
      {"boardId", info.board_id},
      {"agentVersion", info.agent_version},
      {"hostname", info.hostname},
      {"os", info.os},
      {"kernel", info.kernel},
      {"machine", info.machine},
      {"hardware", info.hardware},
      {"uptimeSeconds", Proto3Double(info.uptime_seconds)},
      {"agentUptimeSeconds", Proto3Double(info.agent_uptime_seconds)},
      {"loadAverage", std::move(load)},
      {"memoryTotalBytes", Proto3Int64(info.memory_total_bytes)},
      {"memoryAvailableBytes", Proto3Int64(info.memory_available_bytes)},
      {"agentRssBytes", Proto3Int64(info.agent_rss_bytes)},
      {"cpuCount", info.cpu_count},
      {"containerRuntime", info.container_runtime},
      {"gpioChips", std::move(chips)},
      {"spoolStreams", std::move(streams)},
  };
  // A message field: absent when unset, as protobuf prints it.
  if (info.container_limits.is_object()) out["containerLimits"] = info.container_limits;
  return out;
}

ew::Result<Reply> Ping(const std::string& board_id, const Invocation& invocation,
                       std::chrono::system_clock::time_point now) {
  std::string echo;
  if (invocation.args.is_array() && !invocation.args.empty()) {
    const auto& arg = invocation.args[0];
    if (arg.is_string()) {
      echo = arg.get<std::string>();
    } else if (arg.is_binary()) {
      const auto& bytes = arg.get_binary();
      echo.assign(bytes.begin(), bytes.end());
    } else {
      return ew::InvalidArgument("sys.ping echoes a string or bytes, got " + std::string(arg.type_name()));
    }
  }
  const int64_t board_time_ns = std::chrono::duration_cast<std::chrono::nanoseconds>(now.time_since_epoch()).count();
  Reply out;
  out.kwargs = {
      {"boardTimeNs", Proto3Int64(board_time_ns)},
      {"boardId", board_id},
      {"echo", Proto3Bytes(echo)},
  };
  return out;
}

ew::Result<Reply> Info(const SysInfoCollector& collector) {
  Reply out;
  out.kwargs = SysInfoJson(collector.Collect());
  return out;
}

ProcedureTable SysProcedures(std::shared_ptr<const SysInfoCollector> collector, std::string board_id) {
  ProcedureTable table;
  table.push_back({"sys.info", Sync([collector](const Invocation&) { return Info(*collector); })});
  table.push_back({"sys.ping", Sync([board_id](const Invocation& invocation) {
                     return Ping(board_id, invocation, std::chrono::system_clock::now());
                   })});
  return table;
}

}  // namespace ew::agent::rpc
