// Config parsing: defaults, every key, every class of error naming its key, and the example files
// in deploy/config.
#include "common/config/config.hpp"

#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <string>

#include <set>

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include "common/config/toml.hpp"

namespace ew::config {
namespace {

using ::testing::HasSubstr;
using namespace std::chrono_literals;

class TempDir {
 public:
  TempDir() {
    std::string pattern = (std::filesystem::temp_directory_path() / "ew-config-XXXXXX").string();
    path_ = ::mkdtemp(pattern.data());
  }
  ~TempDir() { std::filesystem::remove_all(path_); }
  std::string Write(const std::string& name, const std::string& text) const {
    const auto file = path_ / name;
    std::ofstream(file) << text;
    return file.string();
  }
  std::string Path(const std::string& name) const { return (path_ / name).string(); }

 private:
  std::filesystem::path path_;
};

void ExpectSame(const ConductorConfig& got, const ConductorConfig& want) {
  EXPECT_EQ(got.listen_address, want.listen_address);
  EXPECT_EQ(got.port, want.port);
  EXPECT_EQ(got.public_url, want.public_url);
  EXPECT_EQ(got.io_threads, want.io_threads);
  EXPECT_EQ(got.blocking_threads, want.blocking_threads);
  EXPECT_EQ(got.realm, want.realm);
  EXPECT_EQ(got.hello_timeout, want.hello_timeout);
  EXPECT_EQ(got.max_message_bytes, want.max_message_bytes);
  EXPECT_EQ(got.call_timeout, want.call_timeout);
  EXPECT_EQ(got.heartbeat_interval, want.heartbeat_interval);
  EXPECT_EQ(got.heartbeat_timeout, want.heartbeat_timeout);
  EXPECT_EQ(got.heartbeat_max_pings_per_second, want.heartbeat_max_pings_per_second);
  EXPECT_EQ(got.store_path, want.store_path);
  EXPECT_EQ(got.triggers_mqtt_broker, want.triggers_mqtt_broker);
  EXPECT_EQ(got.triggers_mqtt_username, want.triggers_mqtt_username);
  EXPECT_EQ(got.triggers_max_per_project, want.triggers_max_per_project);
  EXPECT_EQ(got.triggers_max_payload_bytes, want.triggers_max_payload_bytes);
  EXPECT_EQ(got.triggers_mqtt_topic_root, want.triggers_mqtt_topic_root);
  EXPECT_EQ(got.token_ttl, want.token_ttl);
  EXPECT_EQ(got.enrolment_code_ttl, want.enrolment_code_ttl);
  EXPECT_EQ(got.bootstrap_password_file, want.bootstrap_password_file);
  EXPECT_EQ(got.hash_threads, want.hash_threads);
  EXPECT_EQ(got.login_failures_per_user, want.login_failures_per_user);
  EXPECT_EQ(got.login_failures_per_address, want.login_failures_per_address);
  EXPECT_EQ(got.login_max_delay, want.login_max_delay);
  EXPECT_EQ(got.login_user_failures_before_pacing, want.login_user_failures_before_pacing);
  EXPECT_EQ(got.log_level, want.log_level);
  EXPECT_EQ(got.functions_dir, want.functions_dir);
  EXPECT_EQ(got.functions_runtime, want.functions_runtime);
  EXPECT_EQ(got.functions_max_running, want.functions_max_running);
  EXPECT_EQ(got.functions_placement_strategy, want.functions_placement_strategy);
  EXPECT_EQ(got.functions_max_running_per_function, want.functions_max_running_per_function);
  EXPECT_EQ(got.functions_max_running_per_project, want.functions_max_running_per_project);
  EXPECT_EQ(got.functions_cloud_max_per_project, want.functions_cloud_max_per_project);
  EXPECT_EQ(got.functions_cloud_network, want.functions_cloud_network);
  EXPECT_EQ(got.functions_max_stored_output_bytes, want.functions_max_stored_output_bytes);
  EXPECT_EQ(got.functions_max_stored_logs_bytes, want.functions_max_stored_logs_bytes);
  EXPECT_EQ(got.gpio_history_days, want.gpio_history_days);
  EXPECT_EQ(got.tls_cert, want.tls_cert);
  EXPECT_EQ(got.tls_key, want.tls_key);
  EXPECT_EQ(got.allow_plain, want.allow_plain);
  EXPECT_EQ(got.max_connections, want.max_connections);
  EXPECT_EQ(got.max_connections_per_address, want.max_connections_per_address);
  EXPECT_EQ(got.header_timeout, want.header_timeout);
  EXPECT_EQ(got.body_timeout, want.body_timeout);
  EXPECT_EQ(got.body_min_rate, want.body_min_rate);
  EXPECT_EQ(got.idle_timeout, want.idle_timeout);
  // [tunnels] (issue 17)
  EXPECT_EQ(got.tunnels_listen_address, want.tunnels_listen_address);
  EXPECT_EQ(got.tunnels_port_first, want.tunnels_port_first);
  EXPECT_EQ(got.tunnels_port_last, want.tunnels_port_last);
  EXPECT_EQ(got.tunnels_max_connections, want.tunnels_max_connections);
  EXPECT_EQ(got.tunnels_open_timeout, want.tunnels_open_timeout);
  EXPECT_EQ(got.tunnels_ping_interval, want.tunnels_ping_interval);
  EXPECT_EQ(got.tunnels_max_per_board, want.tunnels_max_per_board);
  EXPECT_EQ(got.tunnels_proxy_session_ttl, want.tunnels_proxy_session_ttl);
  EXPECT_EQ(got.tunnels_max_services_per_project, want.tunnels_max_services_per_project);
  EXPECT_EQ(got.tunnels_proxy_idle_timeout, want.tunnels_proxy_idle_timeout);
  EXPECT_EQ(got.tunnels_max_proxied, want.tunnels_max_proxied);
  EXPECT_EQ(got.tunnels_max_proxied_per_user, want.tunnels_max_proxied_per_user);
  EXPECT_EQ(got.tunnels_max_connections_per_project, want.tunnels_max_connections_per_project);
  EXPECT_EQ(got.tunnels_proxy_sessions_per_user, want.tunnels_proxy_sessions_per_user);
}

void ExpectSame(const AgentConfig& got, const AgentConfig& want) {
  EXPECT_EQ(got.credential_path, want.credential_path);
  EXPECT_EQ(got.conductor_url, want.conductor_url);
  EXPECT_EQ(got.reconnect_initial, want.reconnect_initial);
  EXPECT_EQ(got.reconnect_max, want.reconnect_max);
  EXPECT_EQ(got.call_timeout, want.call_timeout);
  EXPECT_EQ(got.startup_trim, want.startup_trim);
  EXPECT_EQ(got.gpio_backend, want.gpio_backend);
  EXPECT_EQ(got.gpio_chips.size(), want.gpio_chips.size());
  EXPECT_EQ(got.log_level, want.log_level);
  EXPECT_EQ(got.functions_runtime, want.functions_runtime);
  EXPECT_EQ(got.functions_state_dir, want.functions_state_dir);
  EXPECT_EQ(got.functions_work_dir, want.functions_work_dir);
  EXPECT_EQ(got.functions_max_running, want.functions_max_running);
  EXPECT_EQ(got.functions_sandbox_pool, want.functions_sandbox_pool);
  EXPECT_EQ(got.functions_sandbox_pool_max, want.functions_sandbox_pool_max);
  EXPECT_EQ(got.functions_sandbox_pool_total, want.functions_sandbox_pool_total);
}

// Asserts an InvalidArgument whose message names `key`.
template <typename T>
void ExpectInvalid(const Result<T>& result, const std::string& key) {
  ASSERT_FALSE(result) << "accepted; expected an error naming " << key;
  EXPECT_EQ(result.error().code, ErrorCode::kInvalidArgument) << result.error().message;
  EXPECT_THAT(result.error().message, HasSubstr(key));
}

// ---- Defaults ----

TEST(ConfigTest, EmptyTextGivesDefaults) {
  auto conductor = ParseConductorConfig("");
  ASSERT_TRUE(conductor) << conductor.error().message;
  ExpectSame(*conductor, ConductorConfig{});
  EXPECT_EQ(conductor->port, 8080);
  EXPECT_EQ(conductor->heartbeat_timeout, 4s);

  auto agent = ParseAgentConfig("# nothing but a comment\n");
  ASSERT_TRUE(agent) << agent.error().message;
  ExpectSame(*agent, AgentConfig{});
}

TEST(ConfigTest, MissingFileGivesDefaultsOnlyWhenAllowed) {
  TempDir dir;
  auto conductor = LoadConductorConfig(dir.Path("absent.toml"), /*must_exist=*/false);
  ASSERT_TRUE(conductor) << conductor.error().message;
  ExpectSame(*conductor, ConductorConfig{});
  auto agent = LoadAgentConfig(dir.Path("absent.toml"), /*must_exist=*/false);
  ASSERT_TRUE(agent) << agent.error().message;
  ExpectSame(*agent, AgentConfig{});

  auto required = LoadConductorConfig(dir.Path("absent.toml"));
  ASSERT_FALSE(required);
  EXPECT_EQ(required.error().code, ErrorCode::kNotFound);
  EXPECT_THAT(required.error().message, HasSubstr("absent.toml"));
}

TEST(ConfigTest, PartialFileKeepsOtherDefaults) {
  auto config = ParseConductorConfig("[server]\nport = 9000\n");
  ASSERT_TRUE(config) << config.error().message;
  EXPECT_EQ(config->port, 9000);
  ConductorConfig want;
  want.port = 9000;
  ExpectSame(*config, want);
}

// ---- Every key ----

TEST(ConfigTest, FullConductorFile) {
  auto config = ParseConductorConfig(R"(
[server]
listen_address = "127.0.0.1"
port = 0
public_url = "wss://conductor.example.org/ws"
io_threads = 2
blocking_threads = 8

[router]
realm = "edgewire.test"
hello_timeout_s = 3
max_message_bytes = 65536
call_timeout_ms = 1500
heartbeat_interval_ms = 100
heartbeat_timeout_ms = 250

[store]
path = ":memory:"

[auth]
token_ttl_s = 3600
enrolment_code_ttl_s = 600
bootstrap_password_file = "/run/secrets/admin"

[log]
level = "debug"
)");
  ASSERT_TRUE(config) << config.error().message;
  EXPECT_EQ(config->listen_address, "127.0.0.1");
  EXPECT_EQ(config->port, 0);
  EXPECT_EQ(config->public_url, "wss://conductor.example.org/ws");
  EXPECT_EQ(config->io_threads, 2);
  EXPECT_EQ(config->blocking_threads, 8);
  EXPECT_EQ(config->realm, "edgewire.test");
  EXPECT_EQ(config->hello_timeout, 3s);
  EXPECT_EQ(config->max_message_bytes, 65536u);
  EXPECT_EQ(config->call_timeout, 1500ms);
  EXPECT_EQ(config->heartbeat_interval, 100ms);
  EXPECT_EQ(config->heartbeat_timeout, 250ms);
  EXPECT_EQ(config->store_path, ":memory:");
  EXPECT_EQ(config->token_ttl, 1h);
  // 0 = tokens never expire, only when written out.
  auto never = ParseConductorConfig("[auth]\ntoken_ttl_s = 0\n");
  ASSERT_TRUE(never) << never.error().message;
  EXPECT_EQ(never->token_ttl, std::chrono::seconds(0));
  EXPECT_EQ(ConductorConfig{}.token_ttl, std::chrono::hours(24));
  EXPECT_EQ(config->enrolment_code_ttl, 10min);
  EXPECT_EQ(config->bootstrap_password_file, "/run/secrets/admin");
  EXPECT_EQ(config->log_level, "debug");
}

TEST(ConfigTest, FullAgentFile) {
  auto config = ParseAgentConfig(R"(
[agent]
credential_path = "/tmp/agent.json"
conductor_url = "ws://127.0.0.1:8080/ws"
reconnect_initial_ms = 50
reconnect_max_ms = 50
call_timeout_ms = 2500

[gpio]
backend = "libgpiod"

[log]
level = "off"
)");
  ASSERT_TRUE(config) << config.error().message;
  EXPECT_EQ(config->credential_path, "/tmp/agent.json");
  EXPECT_EQ(config->conductor_url, "ws://127.0.0.1:8080/ws");
  EXPECT_EQ(config->reconnect_initial, 50ms);
  EXPECT_EQ(config->reconnect_max, 50ms);
  EXPECT_EQ(config->call_timeout, 2500ms);
  EXPECT_EQ(config->gpio_backend, "libgpiod");
  EXPECT_EQ(config->log_level, "off");
}

TEST(ConfigTest, EveryLogLevelIsAccepted) {
  for (const char* level : {"trace", "debug", "info", "warn", "error", "off"}) {
    auto config = ParseConductorConfig(std::string("[log]\nlevel = \"") + level + "\"\n");
    ASSERT_TRUE(config) << level << ": " << config.error().message;
    EXPECT_EQ(config->log_level, level);
  }
}

// ---- Errors ----

TEST(ConfigTest, UnknownKeysAreErrors) {
  auto typo = ParseConductorConfig("[server]\nprot = 8080\n");
  ExpectInvalid(typo, "server.prot");
  EXPECT_THAT(typo.error().message, HasSubstr("line 2"));
  ExpectInvalid(ParseConductorConfig("[srever]\nport = 8080\n"), "[srever]");
  ExpectInvalid(ParseConductorConfig("port = 8080\n"), "port");
  ExpectInvalid(ParseConductorConfig("[server.tls]\ncert = \"x\"\n"), "server.tls");
  // Agent keys in a conductor file, and the other way round.
  ExpectInvalid(ParseConductorConfig("[gpio]\nbackend = \"sim\"\n"), "[gpio]");
  ExpectInvalid(ParseAgentConfig("[server]\nport = 1\n"), "[server]");
  ExpectInvalid(ParseAgentConfig("[agent]\ncall_timeout = 5\n"), "agent.call_timeout");
}

TEST(ConfigTest, WrongTypesAreErrors) {
  ExpectInvalid(ParseConductorConfig("[server]\nport = \"8080\"\n"), "server.port");
  ExpectInvalid(ParseConductorConfig("[server]\nio_threads = 1.5\n"), "server.io_threads");
  ExpectInvalid(ParseConductorConfig("[router]\nrealm = 7\n"), "router.realm");
  ExpectInvalid(ParseConductorConfig("[store]\npath = [\"a\"]\n"), "store.path");
  ExpectInvalid(ParseConductorConfig("[log]\nlevel = true\n"), "log.level");
  ExpectInvalid(ParseConductorConfig("server = 1\n"), "server");
  ExpectInvalid(ParseAgentConfig("[agent]\nreconnect_max_ms = \"30s\"\n"), "agent.reconnect_max_ms");
}

TEST(ConfigTest, OutOfRangeValuesAreErrors) {
  auto port = ParseConductorConfig("[server]\nport = 65536\n");
  ExpectInvalid(port, "server.port");
  EXPECT_THAT(port.error().message, HasSubstr("65535"));
  ExpectInvalid(ParseConductorConfig("[server]\nport = -1\n"), "server.port");
  ExpectInvalid(ParseConductorConfig("[server]\nio_threads = 0\n"), "server.io_threads");
  ExpectInvalid(ParseConductorConfig("[server]\nblocking_threads = 0\n"), "server.blocking_threads");
  ExpectInvalid(ParseConductorConfig("[router]\nhello_timeout_s = -5\n"), "router.hello_timeout_s");
  ExpectInvalid(ParseConductorConfig("[router]\ncall_timeout_ms = -1\n"), "router.call_timeout_ms");
  ExpectInvalid(ParseConductorConfig("[router]\nmax_message_bytes = 0\n"), "router.max_message_bytes");
  ExpectInvalid(ParseConductorConfig("[auth]\ntoken_ttl_s = -86400\n"), "auth.token_ttl_s");
  ExpectInvalid(ParseConductorConfig("[auth]\nlogin_max_delay_s = 0\n"), "auth.login_max_delay_s");
  ExpectInvalid(ParseConductorConfig("[auth]\nhash_threads = 0\n"), "auth.hash_threads");
  ExpectInvalid(ParseConductorConfig("[auth]\nenrolment_code_ttl_s = 0\n"), "auth.enrolment_code_ttl_s");
  ExpectInvalid(ParseAgentConfig("[agent]\nreconnect_initial_ms = -500\n"), "agent.reconnect_initial_ms");
  ExpectInvalid(ParseAgentConfig("[agent]\ncall_timeout_ms = 0\n"), "agent.call_timeout_ms");
  ExpectInvalid(ParseConductorConfig("[gpio]\nhistory_days = 0\n"), "gpio.history_days");
  ExpectInvalid(ParseConductorConfig("[gpio]\nhistory_days = 3651\n"), "gpio.history_days");
  auto days = ParseConductorConfig("[gpio]\nhistory_days = 7\n");
  ASSERT_TRUE(days) << days.error().message;
  EXPECT_EQ(days->gpio_history_days, 7);
}

TEST(ConfigTest, HeartbeatTimeoutMustExceedInterval) {
  ExpectInvalid(ParseConductorConfig("[router]\nheartbeat_interval_ms = 1000\nheartbeat_timeout_ms = 1000\n"),
                "router.heartbeat_timeout_ms");
  // Checked against the default of the key the file leaves out (interval 2000 ms).
  ExpectInvalid(ParseConductorConfig("[router]\nheartbeat_timeout_ms = 1500\n"), "router.heartbeat_timeout_ms");
  EXPECT_TRUE(ParseConductorConfig("[router]\nheartbeat_interval_ms = 1000\nheartbeat_timeout_ms = 1001\n"));
}

TEST(ConfigTest, HeartbeatPingCeiling) {
  auto shipped = ParseConductorConfig("");
  ASSERT_TRUE(shipped) << shipped.error().message;
  EXPECT_EQ(shipped->heartbeat_max_pings_per_second, 5000);
  auto none = ParseConductorConfig("[router]\nheartbeat_max_pings_per_second = 0\n");
  ASSERT_TRUE(none) << none.error().message;
  EXPECT_EQ(none->heartbeat_max_pings_per_second, 0);
  ExpectInvalid(ParseConductorConfig("[router]\nheartbeat_max_pings_per_second = -1\n"),
                "router.heartbeat_max_pings_per_second");
  ExpectInvalid(ParseConductorConfig("[router]\nheartbeat_max_pings_per_second = 10000001\n"),
                "router.heartbeat_max_pings_per_second");
  ExpectInvalid(ParseConductorConfig("[router]\nheartbeat_max_pings_per_second = \"many\"\n"),
                "router.heartbeat_max_pings_per_second");
}

TEST(ConfigTest, ReconnectMaxMustNotBeBelowInitial) {
  ExpectInvalid(ParseAgentConfig("[agent]\nreconnect_initial_ms = 5000\nreconnect_max_ms = 1000\n"),
                "agent.reconnect_max_ms");
}

TEST(ConfigTest, BadChoicesAndStringsAreErrors) {
  auto level = ParseConductorConfig("[log]\nlevel = \"verbose\"\n");
  ExpectInvalid(level, "log.level");
  EXPECT_THAT(level.error().message, HasSubstr("trace|debug|info|warn|error|off"));
  ExpectInvalid(ParseConductorConfig("[log]\nlevel = \"INFO\"\n"), "log.level");
  ExpectInvalid(ParseAgentConfig("[log]\nlevel = \"warning\"\n"), "log.level");
  auto backend = ParseAgentConfig("[gpio]\nbackend = \"sysfs\"\n");
  ExpectInvalid(backend, "gpio.backend");
  EXPECT_THAT(backend.error().message, HasSubstr("sim|libgpiod"));
  ExpectInvalid(ParseConductorConfig("[server]\npublic_url = \"http://x\"\n"), "server.public_url");
  ExpectInvalid(ParseAgentConfig("[agent]\nconductor_url = \"conductor:8080\"\n"), "agent.conductor_url");
  ExpectInvalid(ParseConductorConfig("[router]\nrealm = \"\"\n"), "router.realm");
  ExpectInvalid(ParseConductorConfig("[router]\nrealm = \"edge wire\"\n"), "router.realm");
  ExpectInvalid(ParseConductorConfig("[store]\npath = \"\"\n"), "store.path");
  ExpectInvalid(ParseAgentConfig("[agent]\ncredential_path = \"\"\n"), "agent.credential_path");
}

TEST(ConfigTest, MalformedTomlNamesTheLine) {
  auto result = ParseConductorConfig("[server]\nport = 8080\nport = 8081\n");
  ASSERT_FALSE(result);
  EXPECT_EQ(result.error().code, ErrorCode::kInvalidArgument);
  EXPECT_THAT(result.error().message, HasSubstr("line 3"));
  auto unterminated = ParseAgentConfig("[agent\n");
  ASSERT_FALSE(unterminated);
  EXPECT_EQ(unterminated.error().code, ErrorCode::kInvalidArgument);
  EXPECT_THAT(unterminated.error().message, HasSubstr("line 1"));
}

TEST(ConfigTest, FileErrorsNameTheFile) {
  TempDir dir;
  const std::string path = dir.Write("conductor.toml", "[server]\nport = 99999\n");
  auto result = LoadConductorConfig(path);
  ExpectInvalid(result, "server.port");
  EXPECT_THAT(result.error().message, HasSubstr(path));

  auto directory = LoadAgentConfig(dir.Path(""), /*must_exist=*/false);
  ASSERT_FALSE(directory);
  EXPECT_EQ(directory.error().code, ErrorCode::kInvalidArgument);

  const std::string good = dir.Write("agent.toml", "[gpio]\nbackend = \"libgpiod\"\n");
  auto agent = LoadAgentConfig(good);
  ASSERT_TRUE(agent) << agent.error().message;
  EXPECT_EQ(agent->gpio_backend, "libgpiod");
}

// ---- [[gpio.chip]] ----

TEST(ConfigTest, GpioChipsEveryKey) {
  auto config = ParseAgentConfig(R"(
[gpio]
backend = "libgpiod"

[[gpio.chip]]
name = "gpiochip0"
backend = "libgpiod"
device = "/dev/gpiochip0"

[[gpio.chip]]
name = "sim0"
backend = "sim"
lines = "raspberry-pi"
control = "/run/edgewire/sim0.sock"

[[gpio.chip]]
name = "panel"
backend = "sim"
lines = ["LED", "BUTTON"]
)");
  ASSERT_TRUE(config) << config.error().message;
  ASSERT_EQ(config->gpio_chips.size(), 3u);
  const GpioChipConfig& real = config->gpio_chips[0];
  EXPECT_EQ(real.name, "gpiochip0");
  EXPECT_EQ(real.backend, "libgpiod");
  EXPECT_EQ(real.device, "/dev/gpiochip0");
  EXPECT_TRUE(real.lines.empty());
  EXPECT_EQ(real.control, "");
  const GpioChipConfig& sim = config->gpio_chips[1];
  EXPECT_EQ(sim.name, "sim0");
  EXPECT_EQ(sim.backend, "sim");
  EXPECT_TRUE(sim.lines.empty());  // "raspberry-pi"
  EXPECT_EQ(sim.control, "/run/edgewire/sim0.sock");
  EXPECT_EQ(config->gpio_chips[2].lines, (std::vector<std::string>{"LED", "BUTTON"}));
  EXPECT_EQ(config->gpio_chips[2].control, "");
  // Given chips win over [gpio] backend.
  auto effective = EffectiveGpioChips(*config);
  ASSERT_EQ(effective.size(), 3u);
  EXPECT_EQ(effective[1].name, "sim0");
}

TEST(ConfigTest, WithoutGpioChipsTheBackendPicksOneChip) {
  auto sim = EffectiveGpioChips(AgentConfig{});
  ASSERT_EQ(sim.size(), 1u);
  EXPECT_EQ(sim[0].name, "sim0");
  EXPECT_EQ(sim[0].backend, "sim");
  EXPECT_TRUE(sim[0].lines.empty());
  EXPECT_EQ(sim[0].control, "");

  auto config = ParseAgentConfig("[gpio]\nbackend = \"libgpiod\"\n");
  ASSERT_TRUE(config) << config.error().message;
  EXPECT_TRUE(config->gpio_chips.empty());
  auto real = EffectiveGpioChips(*config);
  ASSERT_EQ(real.size(), 1u);
  EXPECT_EQ(real[0].name, "gpiochip0");
  EXPECT_EQ(real[0].backend, "libgpiod");
  EXPECT_EQ(real[0].device, "/dev/gpiochip0");
}

TEST(ConfigTest, BadGpioChipsAreErrorsNamingTheKey) {
  const std::string sim = "[[gpio.chip]]\nname = \"sim0\"\nbackend = \"sim\"\n";
  auto bad_backend = ParseAgentConfig("[[gpio.chip]]\nname = \"x\"\nbackend = \"sysfs\"\n");
  ExpectInvalid(bad_backend, "gpio.chip[0].backend");
  EXPECT_THAT(bad_backend.error().message, HasSubstr("sim|libgpiod"));
  EXPECT_THAT(bad_backend.error().message, HasSubstr("line 3"));
  ExpectInvalid(ParseAgentConfig("[[gpio.chip]]\nbackend = \"sim\"\n"), "gpio.chip[0].name");
  ExpectInvalid(ParseAgentConfig("[[gpio.chip]]\nname = \"sim0\"\n"), "gpio.chip[0].backend");
  ExpectInvalid(ParseAgentConfig("[[gpio.chip]]\nname = \"\"\nbackend = \"sim\"\n"), "gpio.chip[0].name");
  ExpectInvalid(ParseAgentConfig("[[gpio.chip]]\nname = \"a:b\"\nbackend = \"sim\"\n"), "gpio.chip[0].name");
  ExpectInvalid(ParseAgentConfig("[[gpio.chip]]\nname = 7\nbackend = \"sim\"\n"), "gpio.chip[0].name");
  // Duplicates name the later chip and the earlier one.
  auto duplicate = ParseAgentConfig(sim + sim);
  ExpectInvalid(duplicate, "gpio.chip[1].name");
  EXPECT_THAT(duplicate.error().message, HasSubstr("gpio.chip[0]"));
  ExpectInvalid(ParseAgentConfig("[[gpio.chip]]\nname = \"a\"\nbackend = \"libgpiod\"\ndevice = \"/dev/gpiochip0\"\n"
                                 "[[gpio.chip]]\nname = \"b\"\nbackend = \"libgpiod\"\ndevice = \"/dev/gpiochip0\"\n"),
                "gpio.chip[1].device");
  ExpectInvalid(ParseAgentConfig(sim + "control = \"/run/s.sock\"\n" +
                                 "[[gpio.chip]]\nname = \"sim1\"\nbackend = \"sim\"\ncontrol = \"/run/s.sock\"\n"),
                "gpio.chip[1].control");
  // Keys that belong to the other backend, or to none.
  auto no_device = ParseAgentConfig("[[gpio.chip]]\nname = \"gpiochip0\"\nbackend = \"libgpiod\"\n");
  ExpectInvalid(no_device, "gpio.chip[0].device");
  EXPECT_THAT(no_device.error().message, HasSubstr("required"));
  ExpectInvalid(ParseAgentConfig("[[gpio.chip]]\nname = \"g\"\nbackend = \"libgpiod\"\ndevice = \"/dev/gpiochip0\"\n"
                                 "lines = \"raspberry-pi\"\n"),
                "gpio.chip[0].lines");
  ExpectInvalid(ParseAgentConfig("[[gpio.chip]]\nname = \"g\"\nbackend = \"libgpiod\"\ndevice = \"/dev/gpiochip0\"\n"
                                 "control = \"/run/s.sock\"\n"),
                "gpio.chip[0].control");
  ExpectInvalid(ParseAgentConfig(sim + "device = \"/dev/gpiochip0\"\n"), "gpio.chip[0].device");
  ExpectInvalid(ParseAgentConfig("[[gpio.chip]]\nname = \"g\"\nbackend = \"libgpiod\"\ndevice = \"gpiochip0\"\n"),
                "gpio.chip[0].device");
  auto unknown = ParseAgentConfig(sim + "pins = 4\n");
  ExpectInvalid(unknown, "gpio.chip[0].pins");
  EXPECT_THAT(unknown.error().message, HasSubstr("name, backend, device, lines, control"));
  // Lines and control values.
  ExpectInvalid(ParseAgentConfig(sim + "lines = \"arduino\"\n"), "gpio.chip[0].lines");
  ExpectInvalid(ParseAgentConfig(sim + "lines = []\n"), "gpio.chip[0].lines");
  ExpectInvalid(ParseAgentConfig(sim + "lines = 28\n"), "gpio.chip[0].lines");
  ExpectInvalid(ParseAgentConfig(sim + "lines = [\"A\", \"\"]\n"), "gpio.chip[0].lines[1]");
  ExpectInvalid(ParseAgentConfig(sim + "lines = [\"A\", 2]\n"), "gpio.chip[0].lines[1]");
  ExpectInvalid(ParseAgentConfig(sim + "lines = [\"A\", \"A\"]\n"), "gpio.chip[0].lines[1]");
  ExpectInvalid(ParseAgentConfig(sim + "lines = [\"x:y\"]\n"), "gpio.chip[0].lines[0]");
  ExpectInvalid(ParseAgentConfig(sim + "control = \"sim0.sock\"\n"), "gpio.chip[0].control");
  auto long_path = ParseAgentConfig(sim + "control = \"/" + std::string(120, 'x') + "\"\n");
  ExpectInvalid(long_path, "gpio.chip[0].control");
  EXPECT_THAT(long_path.error().message, HasSubstr("107"));
  // Not an array of tables.
  ExpectInvalid(ParseAgentConfig("[gpio.chip]\nname = \"sim0\"\nbackend = \"sim\"\n"), "gpio.chip");
  ExpectInvalid(ParseAgentConfig("[gpio]\nchip = []\n"), "gpio.chip");
  ExpectInvalid(ParseAgentConfig("[gpio]\nchip = [1]\n"), "gpio.chip[0]");
  // An error in a later chip still names it.
  ExpectInvalid(ParseAgentConfig(sim + "[[gpio.chip]]\nname = \"sim1\"\nbackend = \"sim\"\nlines = []\n"),
                "gpio.chip[1].lines");
}

// ---- [server] TLS and connection limits ----

TEST(ConfigTest, TlsAndConnectionLimitKeys) {
  auto config = ParseConductorConfig(R"(
[server]
tls_cert = "/etc/edgewire/tls/conductor.crt"
tls_key = "/etc/edgewire/tls/conductor.key"
allow_plain = true
max_connections = 500
max_connections_per_address = 20
header_timeout_ms = 2500
body_timeout_ms = 4000
body_min_rate = 1024
idle_timeout_s = 30
)");
  ASSERT_TRUE(config) << config.error().message;
  EXPECT_EQ(config->tls_cert, "/etc/edgewire/tls/conductor.crt");
  EXPECT_EQ(config->tls_key, "/etc/edgewire/tls/conductor.key");
  EXPECT_TRUE(config->allow_plain);
  EXPECT_EQ(config->max_connections, 500);
  EXPECT_EQ(config->max_connections_per_address, 20);
  EXPECT_EQ(config->header_timeout, 2500ms);
  EXPECT_EQ(config->body_timeout, 4000ms);
  EXPECT_EQ(config->body_min_rate, 1024);
  EXPECT_EQ(config->idle_timeout, 30s);
}

TEST(ConfigTest, TlsKeysGoTogetherAndAllowPlainIsABoolean) {
  ExpectInvalid(ParseConductorConfig("[server]\ntls_cert = \"/c.pem\"\n"), "server.tls_key");
  ExpectInvalid(ParseConductorConfig("[server]\ntls_key = \"/k.pem\"\n"), "server.tls_cert");
  ExpectInvalid(ParseConductorConfig("[server]\nallow_plain = \"yes\"\n"), "server.allow_plain");
  ExpectInvalid(ParseConductorConfig("[server]\nmax_connections = 0\n"), "server.max_connections");
  ExpectInvalid(ParseConductorConfig("[server]\nheader_timeout_ms = 0\n"), "server.header_timeout_ms");
}

TEST(ConfigTest, TriggersSection) {
  auto parsed = ParseConductorConfig("[triggers]\nmqtt_broker = \"mqtts://broker:8883\"\nmax_per_project = 5\n");
  ASSERT_TRUE(parsed) << parsed.error().message;
  EXPECT_EQ(parsed->triggers_mqtt_broker, "mqtts://broker:8883");
  EXPECT_EQ(parsed->triggers_max_per_project, 5);
  auto bad = ParseConductorConfig("[triggers]\nmqtt_broker = \"tcp://broker\"\n");
  ASSERT_FALSE(bad);
  EXPECT_NE(bad.error().message.find("mqtt_broker"), std::string::npos) << bad.error().message;
  EXPECT_FALSE(ParseConductorConfig("[triggers]\nmax_per_project = 0\n"));
  EXPECT_EQ(parsed->triggers_mqtt_topic_root, "edgewire/projects");
  auto root = ParseConductorConfig("[triggers]\nmqtt_topic_root = \"site-7/tenants\"\n");
  ASSERT_TRUE(root) << root.error().message;
  EXPECT_EQ(root->triggers_mqtt_topic_root, "site-7/tenants");
  auto none = ParseConductorConfig("[triggers]\nmqtt_topic_root = \"\"\n");
  ASSERT_TRUE(none) << none.error().message;
  EXPECT_EQ(none->triggers_mqtt_topic_root, "");
  auto outbound = ParseConductorConfig("[flows]\ncloud_outbound = [\"broker.lan:1883\", \"[fd00::1]:80\"]\n");
  ASSERT_TRUE(outbound) << outbound.error().message;
  EXPECT_EQ(outbound->flows_cloud_outbound, (std::vector<std::string>{"broker.lan:1883", "[fd00::1]:80"}));
  EXPECT_TRUE(parsed->flows_cloud_outbound.empty());  // the default: the cloud dials nowhere
  for (const char* bad : {"[\"broker.lan\"]", "[\"broker.lan:0\"]", "[\"broker.lan:99999\"]", "[\"fd00::1:80\"]",
                          "[\"http://x:80\"]", "[\"user@x:80\"]", "\"x:80\"", "[1]"}) {
    auto refused = ParseConductorConfig(std::string("[flows]\ncloud_outbound = ") + bad + "\n");
    ASSERT_FALSE(refused) << bad;
    EXPECT_NE(refused.error().message.find("cloud_outbound"), std::string::npos) << refused.error().message;
  }
  // A wildcard, a $-topic, or a slash at either end would let a filter reach past its namespace.
  for (const char* bad_root : {"a/+", "#", "a/#", "$SYS", "/a", "a/"}) {
    auto refused = ParseConductorConfig(std::string("[triggers]\nmqtt_topic_root = \"") + bad_root + "\"\n");
    ASSERT_FALSE(refused) << bad_root;
    EXPECT_NE(refused.error().message.find("mqtt_topic_root"), std::string::npos) << refused.error().message;
  }
}

// ---- deploy/config ----

TEST(ConfigTest, DeployedExamplesParseToTheDefaults) {
  const std::string dir = EW_DEPLOY_CONFIG_DIR;
  auto conductor = LoadConductorConfig(dir + "/conductor.toml");
  ASSERT_TRUE(conductor) << conductor.error().message;
  ExpectSame(*conductor, ConductorConfig{});
  auto agent = LoadAgentConfig(dir + "/agent.toml");
  ASSERT_TRUE(agent) << agent.error().message;
  ExpectSame(*agent, AgentConfig{});
}

// "section.key" for every value in a TOML file.
std::set<std::string> KeysIn(const std::string& path) {
  std::set<std::string> keys;
  const toml::table root = toml::parse_file(path);
  for (auto&& [section, node] : root) {
    if (const auto* table = node.as_table()) {
      for (auto&& [name, value] : *table) keys.insert(std::string(section.str()) + "." + std::string(name.str()));
    }
  }
  return keys;
}

TEST(ConfigTest, DeployedExamplesDocumentEveryKey) {
  const std::string dir = EW_DEPLOY_CONFIG_DIR;
  std::set<std::string> conductor_keys = KeysIn(dir + "/conductor.toml");
  std::set<std::string> agent_keys = KeysIn(dir + "/agent.toml");
  // [tunnels] (issue 17)
  for (const char* key : {"tunnels.listen_address", "tunnels.port_first", "tunnels.port_last",
                          "tunnels.max_connections", "tunnels.open_timeout_ms", "tunnels.ping_interval_ms",
                          "tunnels.max_per_board", "tunnels.proxy_session_ttl_s",
                          "tunnels.max_services_per_project", "tunnels.proxy_idle_timeout_s",
                          // security review 3 (M1-M3)
                          "tunnels.max_proxied", "tunnels.max_proxied_per_user",
                          "tunnels.max_connections_per_project", "tunnels.proxy_sessions_per_user"})
    EXPECT_EQ(conductor_keys.erase(key), 1u) << key;
  EXPECT_EQ(agent_keys.erase("tunnels.ping_interval_ms"), 1u);
  EXPECT_EQ(conductor_keys,
            (std::set<std::string>{"server.listen_address", "server.port", "server.public_url", "server.io_threads",
                                   "server.blocking_threads", "server.tls_cert", "server.tls_key",
                                   "server.allow_plain", "server.max_connections",
                                   "server.max_connections_per_address", "server.header_timeout_ms",
                                   "server.body_timeout_ms", "server.body_min_rate", "server.idle_timeout_s",
                                   "router.realm", "router.hello_timeout_s",
                                   "router.max_message_bytes", "router.call_timeout_ms",
                                   "router.heartbeat_interval_ms", "router.heartbeat_timeout_ms", "router.heartbeat_max_pings_per_second", "store.path",
                                   "functions.max_stored_output_bytes", "functions.max_stored_logs_bytes",
                                   "functions.dir", "functions.runtime", "functions.max_running",
                                   "functions.uid_first", "functions.uid_count", "functions.cgroups",
                                   "functions.placement_strategy", "functions.placement_flush_ms", "functions.max_running_per_function",
                                   "functions.max_running_per_project",
                                   "gpio.history_days", "auth.token_ttl_s", "auth.enrolment_code_ttl_s", "auth.bootstrap_password_file",
                                   "auth.hash_threads", "auth.login_failures_per_user",
                                   "auth.login_failures_per_address", "auth.login_max_delay_s",
                                   "auth.login_user_failures_before_pacing", "log.level",
                                   // Issue 18 (wt-trig): triggers.
                                   "triggers.mqtt_broker", "triggers.mqtt_ca_file", "triggers.mqtt_cert_file",
                                   "triggers.mqtt_key_file", "triggers.mqtt_username", "triggers.mqtt_password_file",
                                   "triggers.max_per_project", "triggers.max_payload_bytes", "triggers.mqtt_topic_root",
                                   "flows.cloud_outbound", "flows.max_per_project", "triggers.max_messages_per_second",
                                   // wt-fix: one project's share of the cloud host.
                                   "functions.cloud_max_per_project", "functions.cloud_network"}));
  EXPECT_EQ(agent_keys,
            (std::set<std::string>{"agent.credential_path", "agent.conductor_url", "agent.reconnect_initial_ms",
                                   "agent.reconnect_max_ms", "agent.call_timeout_ms", "agent.startup_trim", "gpio.backend",
                                   "functions.runtime", "functions.state_dir", "functions.work_dir",
                                   "functions.max_running", "functions.sandbox_pool", "functions.sandbox_pool_max", "functions.sandbox_pool_total",
                                   "functions.uid_first", "functions.uid_count",
                                   "functions.cgroups", "spool.dir", "spool.max_mb", "spool.sync_interval_ms",
                                   "log.level", "log.recent_lines", "system.reboot_command", "update.dir"}));
}

// Tunnels (issue 17): pings can be turned off (0), the rest must be positive.
TEST(ConfigTest, TunnelKeys) {
  auto set = ParseConductorConfig("[tunnels]\nping_interval_ms = 0\nmax_per_board = 3\nproxy_session_ttl_s = 60\n");
  ASSERT_TRUE(set) << set.error().message;
  EXPECT_EQ(set->tunnels_ping_interval, std::chrono::milliseconds(0));
  EXPECT_EQ(set->tunnels_max_per_board, 3);
  EXPECT_EQ(set->tunnels_proxy_session_ttl, std::chrono::seconds(60));
  auto agent = ParseAgentConfig("[tunnels]\nping_interval_ms = 500\n");
  ASSERT_TRUE(agent) << agent.error().message;
  EXPECT_EQ(agent->tunnels_ping_interval, std::chrono::milliseconds(500));
  ExpectInvalid(ParseConductorConfig("[tunnels]\nmax_per_board = 0\n"), "tunnels.max_per_board");
  ExpectInvalid(ParseConductorConfig("[tunnels]\nmax_services_per_project = 0\n"),
                "tunnels.max_services_per_project");
  // Security review 3: the caps per user and project, with their defaults.
  auto caps = ParseConductorConfig(
      "[tunnels]\nmax_proxied = 10\nmax_proxied_per_user = 2\nmax_connections_per_project = 5\n"
      "proxy_sessions_per_user = 3\n");
  ASSERT_TRUE(caps) << caps.error().message;
  EXPECT_EQ(caps->tunnels_max_proxied, 10);
  EXPECT_EQ(caps->tunnels_max_proxied_per_user, 2);
  EXPECT_EQ(caps->tunnels_max_connections_per_project, 5);
  EXPECT_EQ(caps->tunnels_proxy_sessions_per_user, 3);
  ConductorConfig fresh;
  EXPECT_EQ(fresh.tunnels_max_proxied, 1024);
  EXPECT_EQ(fresh.tunnels_max_proxied_per_user, 64);
  EXPECT_EQ(fresh.tunnels_max_connections_per_project, 2048);
  EXPECT_EQ(fresh.tunnels_proxy_sessions_per_user, 32);
  for (const char* key : {"max_proxied", "max_proxied_per_user", "max_connections_per_project",
                          "proxy_sessions_per_user"})
    ExpectInvalid(ParseConductorConfig(std::string("[tunnels]\n") + key + " = 0\n"), std::string("tunnels.") + key);
  // Tunnel ports listen on loopback unless told otherwise, whatever [server] listens on
  // (security review H1: the packaged 0.0.0.0 once exposed every service to the network).
  auto defaults = ParseConductorConfig("[server]\nlisten_address = \"0.0.0.0\"\n");
  ASSERT_TRUE(defaults.has_value());
  EXPECT_EQ(defaults->tunnels_listen_address, "127.0.0.1");
  EXPECT_EQ(defaults->tunnels_max_services_per_project, 32);
  ExpectInvalid(ParseConductorConfig("[tunnels]\nproxy_session_ttl_s = 0\n"), "tunnels.proxy_session_ttl_s");
  ExpectInvalid(ParseAgentConfig("[tunnels]\nping_interval_ms = -1\n"), "tunnels.ping_interval_ms");
}

// Board management (issue 16): the reboot command is off unless set; the log ring is bounded.
TEST(ConfigTest, AgentBoardManagementKeys) {
  auto defaults = ParseAgentConfig("");
  ASSERT_TRUE(defaults);
  EXPECT_EQ(defaults->reboot_command, "");
  EXPECT_EQ(defaults->log_recent_lines, 200);
  auto set = ParseAgentConfig("[system]\nreboot_command = \"systemctl reboot\"\n[log]\nrecent_lines = 0\n");
  ASSERT_TRUE(set) << set.error().message;
  EXPECT_EQ(set->reboot_command, "systemctl reboot");
  EXPECT_EQ(set->log_recent_lines, 0);
  for (const char* bad : {"[log]\nrecent_lines = 10001\n", "[log]\nrecent_lines = -1\n",
                          "[system]\nreboot_command = 1\n", "[system]\nreboot = \"x\"\n"}) {
    auto refused = ParseAgentConfig(bad);
    ASSERT_FALSE(refused) << bad;
    EXPECT_EQ(refused.error().code, ErrorCode::kInvalidArgument) << bad;
  }
}

// Footprint (issue 16): the start-up trim is on unless turned off; it takes booleans only.
TEST(ConfigTest, AgentStartupTrimKey) {
  auto defaults = ParseAgentConfig("");
  ASSERT_TRUE(defaults);
  EXPECT_TRUE(defaults->startup_trim);
  auto off = ParseAgentConfig("[agent]\nstartup_trim = false\n");
  ASSERT_TRUE(off) << off.error().message;
  EXPECT_FALSE(off->startup_trim);
  ExpectInvalid(ParseAgentConfig("[agent]\nstartup_trim = \"no\"\n"), "agent.startup_trim");
}

TEST(ConfigTest, AgentSpoolKeys) {
  auto config = ParseAgentConfig("[spool]\ndir = \"/data/spool\"\nmax_mb = 8\nsync_interval_ms = 0\n");
  ASSERT_TRUE(config) << config.error().message;
  EXPECT_EQ(config->spool_dir, "/data/spool");
  EXPECT_EQ(config->spool_max_mb, 8);
  EXPECT_EQ(config->spool_sync_interval.count(), 0);
  auto defaults = ParseAgentConfig("");
  ASSERT_TRUE(defaults);
  EXPECT_EQ(defaults->spool_sync_interval, std::chrono::milliseconds(200));
  auto bad = ParseAgentConfig("[spool]\nmax_mb = 0\n");
  ASSERT_FALSE(bad);
  EXPECT_NE(bad.error().message.find("spool.max_mb"), std::string::npos) << bad.error().message;
}

// agent.toml shows [[gpio.chip]] commented out (the default has none): uncommented, it must parse.
TEST(ConfigTest, DeployedGpioChipExampleParses) {
  std::ifstream in(std::string(EW_DEPLOY_CONFIG_DIR) + "/agent.toml");
  std::string text;
  bool in_example = false;
  for (std::string line; std::getline(in, line);) {
    if (line == "# [[gpio.chip]]") in_example = true;
    if (in_example && line.rfind("# ", 0) == 0) {
      text += line.substr(2) + "\n";
    } else if (in_example && line == "#") {
      text += "\n";
    } else if (in_example) {
      break;
    }
  }
  ASSERT_THAT(text, HasSubstr("[[gpio.chip]]"));
  auto config = ParseAgentConfig(text);
  ASSERT_TRUE(config) << config.error().message << "\n" << text;
  ASSERT_EQ(config->gpio_chips.size(), 2u);
  EXPECT_EQ(config->gpio_chips[0].device, "/dev/gpiochip0");
  EXPECT_EQ(config->gpio_chips[1].control, "/run/edgewire/sim0.sock");
}

// Found by tests/fuzz/config_fuzz: toml++ asserted (abort, or undefined behaviour without
// asserts) on a table header that opens a third bracket.
TEST(ConfigTest, MalformedTableHeaderIsAnErrorNotAnAbort) {
  // And where toml++ reached __builtin_unreachable(): a character from U+00A1..U+0499 after a
  // bare key (UBSan in tests/fuzz/config_fuzz).
  for (const std::string text : {"[[[", "[[[a]]]", "[[ [a]]", "[log]\n[[[x", "[gp\u01eb]", "[log]\nl\u00f6g = 1"}) {
    auto conductor = ParseConductorConfig(text);
    ASSERT_FALSE(conductor.has_value()) << text;
    EXPECT_EQ(conductor.error().code, ErrorCode::kInvalidArgument) << text;
    auto agent = ParseAgentConfig(text);
    ASSERT_FALSE(agent.has_value()) << text;
    EXPECT_EQ(agent.error().code, ErrorCode::kInvalidArgument) << text;
  }
}

}  // namespace
}  // namespace ew::config
