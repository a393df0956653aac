// Command line of edgewire-agent: `enrol`, `run`, `version`, `sim`. Parsing only; the commands
// themselves are in device-agent/commands.hpp.
#pragma once

#include <string>

#include <CLI/CLI.hpp>

namespace ew::agent {

// Where `run` looks for its config when --config is not given (a missing file is fine).
inline constexpr const char* kDefaultConfigPath = "/etc/edgewire/agent.toml";

struct EnrolArgs {
  std::string conductor;   // https://HOST:PORT (or http:// to loopback, or with --insecure)
  std::string code;        // one-time enrolment code
  std::string credential;  // "" = AgentConfig default
  std::string hostname;    // "" = this machine's host name
  std::string ca_file;     // --ca-file: PEM CAs to check the conductor against ("" = system CAs)
  std::string pin;         // --pin sha256:...: the conductor's certificate or public key digest
  bool insecure = false;   // --insecure: allow plain http/ws to a host that is not loopback
  bool force = false;      // --force: replace an existing credential (the old board identity is lost)
};

struct RunArgs {
  std::string config;         // "" = kDefaultConfigPath, which may be absent
  std::string credential;     // "" = from the config
  std::string conductor_url;  // "" = from the config, else the credential
  bool insecure = false;      // --insecure: allow plain ws to a host that is not loopback
};

// `sim`: one request to a simulated chip's control socket (device-agent/gpio/sim_control.hpp).
struct SimArgs {
  std::string socket;   // the chip's [[gpio.chip]] control path
  std::string request;  // one JSON object, checked at parse time
};

struct CliArgs {
  enum class Command { kNone, kEnrol, kRun, kVersion, kSim };
  Command command = Command::kNone;
  EnrolArgs enrol;
  RunArgs run;
  SimArgs sim;
};

// Declares the subcommands and options on `app`; parsing fills `args`. Exactly one subcommand
// is required; URLs are checked at parse time (CLI::ValidationError).
void DefineCli(CLI::App& app, CliArgs& args);

}  // namespace ew::agent
