// `edgewire board restart|reboot|logs BOARD` (issue 16): one REST call each
// (/v1/boards/{id}/restart, /reboot, /logs), after resolving a board name to its id.
#pragma once

#include <cstdint>
#include <string>

#include "cloud-conductor/cli/commands.hpp"

namespace ew::cli {

// The agent exits and systemd starts it again; prints what the board said it will do.
Result<void> BoardRestart(Context& ctx, const std::string& board);
// Runs the board's [system] reboot_command (admins only; a board without one refuses).
Result<void> BoardReboot(Context& ctx, const std::string& board);
// Prints the newest `lines` (1 .. 1000) lines of the agent's log, oldest first.
Result<void> BoardLogs(Context& ctx, const std::string& board, int64_t lines);

}  // namespace ew::cli
