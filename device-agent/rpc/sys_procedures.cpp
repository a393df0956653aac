// sys.info / sys.ping: thin wrappers that turn the collectors' protos into proto3 JSON replies.
#include "device-agent/rpc/sys_procedures.hpp"

#include <google/protobuf/util/json_util.h>

namespace ew::agent::rpc {

ew::Result<nlohmann::json> ProtoToJson(const google::protobuf::Message& message) {
  google::protobuf::util::JsonPrintOptions options;
  options.always_print_primitive_fields = true;
  std::string text;
  auto status = google::protobuf::util::MessageToJsonString(message, &text, options);
  if (!status.ok()) return ew::Internal("cannot print " + message.GetTypeName() + ": " + status.ToString());
  auto json = nlohmann::json::parse(text, nullptr, /*allow_exceptions=*/false);
  if (json.is_discarded()) return ew::Internal("protobuf printed invalid JSON for " + message.GetTypeName());
  return json;
}

ew::Result<Reply> Ping(const std::string& board_id, const Invocation& invocation,
                       std::chrono::system_clock::time_point now) {
  edgewire::v1::PingReply reply;
  reply.set_board_time_ns(std::chrono::duration_cast<std::chrono::nanoseconds>(now.time_since_epoch()).count());
  reply.set_board_id(board_id);
  if (invocation.args.is_array() && !invocation.args.empty()) {
    const auto& echo = invocation.args[0];
    if (echo.is_string()) {
      reply.set_echo(echo.get<std::string>());
    } else if (echo.is_binary()) {
      const auto& bytes = echo.get_binary();
      reply.set_echo(std::string(bytes.begin(), bytes.end()));
    } else {
      return ew::InvalidArgument("sys.ping echoes a string or bytes, got " + std::string(echo.type_name()));
    }
  }
  Reply out;
  auto json = ProtoToJson(reply);
  if (!json) return tl::unexpected(json.error());
  out.kwargs = std::move(*json);
  return out;
}

ew::Result<Reply> Info(const SysInfoCollector& collector) {
  Reply out;
  auto json = ProtoToJson(collector.Collect());
  if (!json) return tl::unexpected(json.error());
  out.kwargs = std::move(*json);
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
