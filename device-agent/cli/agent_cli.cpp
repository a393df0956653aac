#include "device-agent/cli/agent_cli.hpp"

#include <nlohmann/json.hpp>

#include "device-agent/enrol/conductor_url.hpp"

namespace ew::agent {

namespace {

// CLI11 validator: a URL whose scheme is one of `schemes`.
CLI::Validator UrlValidator(std::vector<std::string> schemes, std::string name) {
  return CLI::Validator(
      [schemes](std::string& value) -> std::string {
        auto url = ParseUrl(value);
        if (!url) return url.error().message;
        for (const auto& scheme : schemes)
          if (url->scheme == scheme) return "";
        std::string allowed;
        for (const auto& scheme : schemes) allowed += (allowed.empty() ? "" : ", ") + scheme + "://";
        return "\"" + value + "\": expected " + allowed;
      },
      name);
}

// CLI11 validator: one JSON object.
CLI::Validator JsonObjectValidator() {
  return CLI::Validator(
      [](std::string& value) -> std::string {
        const auto json = nlohmann::json::parse(value, nullptr, /*allow_exceptions=*/false);
        if (json.is_discarded()) return "not JSON: " + value;
        if (!json.is_object()) return "expected a JSON object such as {\"op\":\"lines\"}, got " + value;
        return "";
      },
      "JSON");
}

}  // namespace

void DefineCli(CLI::App& app, CliArgs& args) {
  app.require_subcommand(1);

  auto* enrol = app.add_subcommand("enrol", "Enrol this board with a one-time code and store its credential");
  enrol->add_option("--conductor", args.enrol.conductor,
                    "Conductor URL, https://HOST:PORT (http:// only to loopback, or with --insecure)")
      ->required()
      ->check(UrlValidator({"https", "http"}, "URL"));
  enrol->add_option("--code", args.enrol.code, "One-time enrolment code from `edgewire boards create`")->required();
  enrol->add_option("--credential", args.enrol.credential,
                    "Where to store the credential (default /var/lib/edgewire/agent.json)");
  enrol->add_option("--hostname", args.enrol.hostname, "Host name reported to the conductor (default: this host's)");
  auto* ca_file = enrol->add_option("--ca-file", args.enrol.ca_file,
                                    "PEM file of the CA(s) that sign the conductor's certificate (default: the "
                                    "system CAs); kept in the credential");
  auto* pin = enrol->add_option("--pin", args.enrol.pin,
                                "Trust only this conductor certificate or public key: sha256:<hex or base64 digest>; "
                                "kept in the credential");
  ca_file->excludes(pin);
  enrol->add_flag("--insecure", args.enrol.insecure,
                  "Allow plain http:// and ws:// to a conductor that is not on this machine (secret and "
                  "commands in clear); kept in the credential");
  enrol->add_flag("--force", args.enrol.force,
                  "Replace an existing credential file (the board it belonged to can no longer connect from here)");
  enrol->callback([&args] { args.command = CliArgs::Command::kEnrol; });

  auto* run = app.add_subcommand("run", "Connect to the conductor and serve the board (systemd runs this)");
  run->add_option("--config", args.run.config, std::string("Agent config file (default ") + kDefaultConfigPath + ")");
  run->add_option("--credential", args.run.credential, "Credential file written by `enrol`");
  run->add_option("--conductor-url", args.run.conductor_url,
                  "WAMP URL to use instead of the credential's: wss://HOST:PORT/ws or https://HOST:PORT "
                  "(ws:// and http:// only to loopback, or with --insecure)")
      ->check(UrlValidator({"wss", "ws", "https", "http"}, "URL"));
  run->add_flag("--insecure", args.run.insecure, "Allow plain ws:// to a conductor that is not on this machine");
  run->callback([&args] { args.command = CliArgs::Command::kRun; });

  auto* sim = app.add_subcommand("sim", "Send one request to a simulated chip's control socket, print the answer");
  sim->add_option("--socket", args.sim.socket, "The chip's control socket ([[gpio.chip]] control)")->required();
  sim->add_option("request", args.sim.request, R"(One JSON request, e.g. '{"op":"drive","line":"GPIO4","value":1}')")
      ->required()
      ->check(JsonObjectValidator());
  sim->callback([&args] { args.command = CliArgs::Command::kSim; });

  auto* version = app.add_subcommand("version", "Print the agent version");
  version->callback([&args] { args.command = CliArgs::Command::kVersion; });
}

}  // namespace ew::agent
