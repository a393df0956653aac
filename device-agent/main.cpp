// edgewire-agent: the board agent. `enrol` once, then `run` under systemd; `sim` plays signals
// into a running agent's simulated chip. Exit statuses follow common/exit/exit_code.hpp.
#include <iostream>

#include <CLI/CLI.hpp>

#include "common/exit/exit_code.hpp"
#include "device-agent/cli/agent_cli.hpp"
#include "device-agent/commands.hpp"
#include "device-agent/gpio/sim_control.hpp"

int main(int argc, char** argv) {
  CLI::App app{"Edgewire board agent"};
  ew::agent::CliArgs args;
  ew::agent::DefineCli(app, args);
  try {
    app.parse(argc, argv);
  } catch (const CLI::ParseError& e) {
    return app.exit(e) == 0 ? ew::exit_code::kOk : ew::exit_code::kUsage;  // CLI11 would say 105, 106...
  }

  switch (args.command) {
    case ew::agent::CliArgs::Command::kEnrol:
      return ew::agent::EnrolCommand(args.enrol, std::cout, std::cerr);
    case ew::agent::CliArgs::Command::kRun:
      return ew::agent::RunCommand(args.run);
    case ew::agent::CliArgs::Command::kVersion:
      return ew::agent::VersionCommand(std::cout);
    case ew::agent::CliArgs::Command::kSim:
      return ew::agent::gpio::SimCommand(args.sim.socket, args.sim.request, std::cout, std::cerr);
    case ew::agent::CliArgs::Command::kNone:
      break;
  }
  std::cerr << app.help();
  return ew::exit_code::kUsage;
}
