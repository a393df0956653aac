#include "device-agent/cli/agent_cli.hpp"

#include <gtest/gtest.h>

namespace ew::agent {
namespace {

// Parses `args` (without the program name) the way main() does.
struct Parsed {
  CliArgs args;
  std::string error;  // "" when parsing succeeded
  int exit_code = 0;
};

Parsed Parse(std::vector<std::string> args) {
  CLI::App app{"test"};
  Parsed parsed;
  DefineCli(app, parsed.args);
  std::reverse(args.begin(), args.end());  // CLI11 takes a reversed vector
  try {
    app.parse(args);
  } catch (const CLI::ParseError& e) {
    parsed.error = e.what();
    parsed.exit_code = e.get_exit_code();
  }
  return parsed;
}

TEST(AgentCliTest, Enrol) {
  auto p = Parse({"enrol", "--conductor", "http://10.0.0.1:8080", "--code", "ABCD-1234"});
  ASSERT_EQ(p.error, "");
  EXPECT_EQ(p.args.command, CliArgs::Command::kEnrol);
  EXPECT_EQ(p.args.enrol.conductor, "http://10.0.0.1:8080");
  EXPECT_EQ(p.args.enrol.code, "ABCD-1234");
  EXPECT_EQ(p.args.enrol.credential, "");

  p = Parse({"enrol", "--conductor", "http://h:1", "--code", "c", "--credential", "/tmp/x.json", "--hostname", "pi"});
  ASSERT_EQ(p.error, "");
  EXPECT_EQ(p.args.enrol.credential, "/tmp/x.json");
  EXPECT_EQ(p.args.enrol.hostname, "pi");
  EXPECT_FALSE(p.args.enrol.insecure);

  p = Parse({"enrol", "--conductor", "https://conductor.example", "--code", "c", "--ca-file", "/etc/edgewire/ca.pem"});
  ASSERT_EQ(p.error, "");
  EXPECT_EQ(p.args.enrol.conductor, "https://conductor.example");
  EXPECT_EQ(p.args.enrol.ca_file, "/etc/edgewire/ca.pem");
  EXPECT_EQ(p.args.enrol.pin, "");

  p = Parse({"enrol", "--conductor", "https://10.0.0.1:8443", "--code", "c", "--pin", "sha256:ab"});
  ASSERT_EQ(p.error, "");
  EXPECT_EQ(p.args.enrol.pin, "sha256:ab");  // checked by the command (tls::MakeTrust)

  p = Parse({"enrol", "--conductor", "http://10.0.0.1:8080", "--code", "c", "--insecure"});
  ASSERT_EQ(p.error, "");
  EXPECT_TRUE(p.args.enrol.insecure);
}

TEST(AgentCliTest, RunAndVersion) {
  auto p = Parse({"run"});
  ASSERT_EQ(p.error, "");
  EXPECT_EQ(p.args.command, CliArgs::Command::kRun);
  EXPECT_EQ(p.args.run.config, "");

  p = Parse({"run", "--config", "/etc/edgewire/agent.toml", "--credential", "/c.json", "--conductor-url",
             "ws://h:8080/ws"});
  ASSERT_EQ(p.error, "");
  EXPECT_EQ(p.args.run.config, "/etc/edgewire/agent.toml");
  EXPECT_EQ(p.args.run.credential, "/c.json");
  EXPECT_EQ(p.args.run.conductor_url, "ws://h:8080/ws");
  EXPECT_FALSE(p.args.run.insecure);

  p = Parse({"run", "--conductor-url", "wss://h/ws", "--insecure"});
  ASSERT_EQ(p.error, "");
  EXPECT_EQ(p.args.run.conductor_url, "wss://h/ws");
  EXPECT_TRUE(p.args.run.insecure);

  p = Parse({"version"});
  ASSERT_EQ(p.error, "");
  EXPECT_EQ(p.args.command, CliArgs::Command::kVersion);
}

TEST(AgentCliTest, Sim) {
  auto p = Parse({"sim", "--socket", "/run/edgewire/sim0.sock", R"({"op":"drive","line":"GPIO4","value":1})"});
  ASSERT_EQ(p.error, "");
  EXPECT_EQ(p.args.command, CliArgs::Command::kSim);
  EXPECT_EQ(p.args.sim.socket, "/run/edgewire/sim0.sock");
  EXPECT_EQ(p.args.sim.request, R"({"op":"drive","line":"GPIO4","value":1})");
}

TEST(AgentCliTest, ArgumentErrors) {
  struct Case {
    std::vector<std::string> args;
    const char* mentions;
  };
  std::vector<Case> cases = {
      {{}, "subcommand"},
      {{"frobnicate"}, "subcommand"},
      {{"enrol", "--code", "c"}, "--conductor"},
      {{"enrol", "--conductor", "http://h:1"}, "--code"},
      {{"enrol", "--conductor", "ws://h:1/ws", "--code", "c"}, "https://"},
      {{"enrol", "--conductor", "https://h", "--code", "c", "--ca-file", "/ca.pem", "--pin", "sha256:00"}, "excludes"},
      {{"enrol", "--conductor", "h:8080", "--code", "c"}, "scheme"},
      {{"enrol", "--conductor", "http://h:99999", "--code", "c"}, "port"},
      {{"enrol", "--conductor"}, "--conductor"},
      {{"run", "--conductor-url", "ftp://h/ws"}, "scheme"},
      {{"run", "--bogus"}, "--bogus"},
      {{"version", "extra"}, "extra"},
      {{"run", "version"}, ""},
      {{"sim", "{\"op\":\"lines\"}"}, "--socket"},
      {{"sim", "--socket", "/run/edgewire/sim0.sock"}, "request"},
      {{"sim", "--socket", "/s.sock", "{\"op\":"}, "not JSON"},
      {{"sim", "--socket", "/s.sock", "[1]"}, "JSON object"},
  };
  for (const auto& c : cases) {
    auto p = Parse(c.args);
    std::string joined;
    for (const auto& a : c.args) joined += a + " ";
    EXPECT_NE(p.error, "") << "accepted: " << joined;
    EXPECT_NE(p.exit_code, 0) << joined;
    EXPECT_NE(p.error.find(c.mentions), std::string::npos) << joined << " → " << p.error;
  }
}

}  // namespace
}  // namespace ew::agent
