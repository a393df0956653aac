// The board's system procedures: ew.board.<id>.sys.info and ew.board.<id>.sys.ping.
// Requests and replies are the board contract's (common/contract/sys.hpp): proto3 JSON of
// edgewire.v1.SysInfo / PingReply in kwargs, built with nlohmann: no protobuf in the agent.
#pragma once

#include <chrono>
#include <memory>
#include <string>

#include <nlohmann/json.hpp>

#include "device-agent/rpc/procedure.hpp"
#include "device-agent/rpc/sys_info.hpp"

namespace ew::agent::rpc {

// sys.info and sys.ping for `board_id`. The handlers share `collector`.
ProcedureTable SysProcedures(std::shared_ptr<const SysInfoCollector> collector, std::string board_id);

// Proto3 JSON object of edgewire.v1.SysInfo (contract::sys::SysInfo::ToJson).
inline nlohmann::json SysInfoJson(const SysInfo& info) { return info.ToJson(); }

// sys.ping: kwargs = PingReply{boardTimeNs, boardId, echo}. `echo` is the first positional
// argument when it is a string or bytes; any other type is InvalidArgument.
ew::Result<Reply> Ping(const std::string& board_id, const Request& invocation,
                       std::chrono::system_clock::time_point now);

// sys.info: kwargs = SysInfo.
ew::Result<Reply> Info(const SysInfoCollector& collector);

}  // namespace ew::agent::rpc
