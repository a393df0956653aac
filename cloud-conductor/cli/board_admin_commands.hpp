// `edgewire board restart|reboot|logs|update BOARD`, `board updates [ID]` (issue 16): REST calls to
// /v1/boards/{id}/restart, /reboot, /logs (and its follow stream), /v1/agent-packages and
// /v1/agent-updates, after resolving a board name to its id.
#pragma once

#include <cstdint>
#include <string>

#include "cloud-conductor/cli/commands.hpp"

namespace ew::cli {

// The agent exits and systemd starts it again; prints what the board said it will do.
Result<void> BoardRestart(Context& ctx, const std::string& board);
// Runs the board's [system] reboot_command (admins only; a board without one refuses).
Result<void> BoardReboot(Context& ctx, const std::string& board);
// Prints the newest `lines` (1 .. 1000) lines of the agent's log, oldest first; with `follow`,
// then the new lines as the board logs them (GET /v1/boards/{id}/logs?follow=true) until the
// stream ends (board offline: Unavailable) or the user interrupts.
Result<void> BoardLogs(Context& ctx, const std::string& board, int64_t lines, bool follow = false);

// `edgewire board update BOARD|--fleet F --deb FILE` (issue 16, admins): uploads the package
// with its signature (FILE.sig, --sig, or made with --sign-key: boards install signed packages only),
// starts the rollout and, with `wait`, prints each board's state as it changes until the
// rollout is done (Ok) or stopped (Unavailable with the reason).
struct BoardUpdateOptions {
  std::string board;  // id or name; or
  std::string fleet;  // id or name
  std::string deb;    // path of the edgewire-agent .deb
  std::string signature;  // its signature file ("" = DEB.sig), as `edgewire package sign` writes it; or
  std::string sign_key;   // a private key to sign it with now (nothing is written)
  int64_t parallel = 1;
  int64_t deadline_seconds = 120;
  bool wait = true;
};
Result<void> BoardUpdate(Context& ctx, const BoardUpdateOptions& options);

// `edgewire board updates [ID]` (admins): without an id, the rollouts the conductor keeps
// (ID STATE VERSION BOARDS PROGRESS CREATED, newest first); with one, the rollout and each board's
// state in rolling order. They outlive a conductor restart (an interrupted one says why).
Result<void> BoardUpdates(Context& ctx, const std::string& update_id);

}  // namespace ew::cli
