// sys.info / sys.ping: thin wrappers that answer the collectors' results through the board
// contract (common/contract/sys.hpp); the conformance test holds the JSON to libprotobuf.
#include "device-agent/rpc/sys_procedures.hpp"

namespace ew::agent::rpc {

namespace sys = contract::sys;

ew::Result<Reply> Ping(const std::string& board_id, const Request& invocation,
                       std::chrono::system_clock::time_point now) {
  EW_TRY(sys::PingRequest request, sys::PingRequest::Parse(invocation));
  sys::PingReply reply;
  reply.board_time_ns = std::chrono::duration_cast<std::chrono::nanoseconds>(now.time_since_epoch()).count();
  reply.board_id = board_id;
  reply.echo = std::move(request.echo);
  return reply.ToPayload();
}

ew::Result<Reply> Info(const SysInfoCollector& collector) { return collector.Collect().ToPayload(); }

ProcedureTable SysProcedures(std::shared_ptr<const SysInfoCollector> collector, std::string board_id) {
  ProcedureTable table;
  table.push_back({sys::kInfo.suffix, Sync([collector](const Request&) { return Info(*collector); })});
  table.push_back({sys::kPing.suffix, Sync([board_id](const Request& invocation) {
                     return Ping(board_id, invocation, std::chrono::system_clock::now());
                   })});
  return table;
}

}  // namespace ew::agent::rpc
