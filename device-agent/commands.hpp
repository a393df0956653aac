// The three commands of edgewire-agent. Each returns the process exit code.
#pragma once

#include <iosfwd>

#include "device-agent/cli/agent_cli.hpp"

namespace ew::agent {

// POST /v1/enrol and store the credential. 0 on success; 1 when refused or failed, with
// "enrolment refused: <conductor's message>" or "enrolment failed: <why>" on `err`.
int EnrolCommand(const EnrolArgs& args, std::ostream& out, std::ostream& err);

// Runs the board until SIGTERM/SIGINT (0), or returns 1 at once when the config or the
// credential is missing or invalid.
int RunCommand(const RunArgs& args);

int VersionCommand(std::ostream& out);

// Agent version, "0.1.0".
const char* AgentVersion();

}  // namespace ew::agent
