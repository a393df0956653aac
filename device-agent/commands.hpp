// The three commands of edgewire-agent. Each returns the process exit code.
#pragma once

#include <iosfwd>

#include "device-agent/cli/agent_cli.hpp"

namespace ew::agent {

// POST /v1/enrol and store the credential. Exit statuses (common/exit/exit_code.hpp): 0 on
// success; 2 when a credential exists at the path and !args.force, or the options are unusable
// (nothing sent); 1 when the credential's directory cannot be written (checked before the code is
// spent), the conductor is unreachable or answers 5xx; 3 when it refuses the code. Messages:
// "enrolment not attempted (the code is still unused): <why>", "enrolment refused: <conductor's
// message>" or "enrolment failed: <why>" on `err`.
int EnrolCommand(const EnrolArgs& args, std::ostream& out, std::ostream& err);

// Runs the board until SIGTERM/SIGINT (0), or returns 2 at once when the config or the
// credential is missing or invalid (1 when the credential cannot be read for lack of permission).
int RunCommand(const RunArgs& args);

int VersionCommand(std::ostream& out);

// Agent version, "0.1.0".
const char* AgentVersion();

}  // namespace ew::agent
