// The board's system procedures: ew.board.<id>.sys.info and ew.board.<id>.sys.ping.
// Replies are proto3 JSON (lowerCamelCase, int64 as strings, bytes as base64) in kwargs.
#pragma once

#include <chrono>
#include <memory>
#include <string>

#include <google/protobuf/message.h>

#include "device-agent/rpc/procedure.hpp"
#include "device-agent/rpc/sys_info.hpp"

namespace ew::agent::rpc {

// sys.info and sys.ping for `board_id`. The handlers share `collector`.
ProcedureTable SysProcedures(std::shared_ptr<const SysInfoCollector> collector, std::string board_id);

// Proto3 JSON of `message` as a JSON object; every field is printed, defaults included, so
// callers always see the same keys.
ew::Result<nlohmann::json> ProtoToJson(const google::protobuf::Message& message);

// sys.ping: kwargs = PingReply{boardTimeNs, boardId, echo}. `echo` is the first positional
// argument when it is a string or bytes; any other type is InvalidArgument.
ew::Result<Reply> Ping(const std::string& board_id, const Invocation& invocation,
                       std::chrono::system_clock::time_point now);

// sys.info: kwargs = SysInfo.
ew::Result<Reply> Info(const SysInfoCollector& collector);

}  // namespace ew::agent::rpc
