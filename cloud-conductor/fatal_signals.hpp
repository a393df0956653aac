// A last log line for the signals that end the conductor without one. SQLite maps the store's
// "-shm" file (the WAL index) into memory; when that file is truncated or its disk cannot back a
// page, touching the mapping raises SIGBUS and the process dies before any error path runs.
#pragma once

#include <string>

namespace ew::conductor {

// Installs a SIGBUS handler that writes one line to stderr (the log) naming the store file and
// its -shm, the faulting address, and what to check, then re-raises the signal with the default
// action (the process still dies: memory that cannot be backed cannot be repaired in place, and
// systemd restarts the unit). Only async-signal-safe calls in the handler; the message is built
// here, once. Call once, before the store is opened.
void InstallFatalSignalLog(const std::string& store_path);

}  // namespace ew::conductor
