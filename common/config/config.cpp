// TOML → config structs. Each daemon's keys are a table of {section, key, reader}; anything not in
// that table is an error, so a misspelt key fails at start-up instead of silently keeping a default.
#include "common/config/config.hpp"

#include <cerrno>
#include <chrono>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <functional>
#include <initializer_list>
#include <limits>
#include <optional>
#include <sstream>
#include <string_view>
#include <type_traits>
#include <utility>
#include <vector>

#include "common/config/toml.hpp"

namespace ew::config {

namespace {

// Durations are bounded so that any later conversion to nanoseconds (292 years) cannot overflow.
constexpr int64_t kMaxSeconds = int64_t{100} * 365 * 24 * 3600;
constexpr int64_t kMaxMillis = kMaxSeconds * 1000;
constexpr int64_t kMaxThreads = 256;
// A WAMP HELLO with its auth details needs about this much; a 1 GiB message is a mistake.
constexpr int64_t kMinMessageBytes = 1024;
constexpr int64_t kMaxMessageBytes = int64_t{1} << 30;

// A reader takes one TOML value and stores it into the struct, or says what is wrong with it.
template <typename Config>
using Reader = std::function<Result<void>(const toml::node& node, const std::string& key, Config& config)>;

template <typename Config>
struct Key {
  std::string_view section;
  std::string_view name;
  Reader<Config> read;
};

// Checks a string value: "" when it is fine, else what is wrong ("must not be empty").
using TextCheck = std::function<std::string(const std::string&)>;

std::string Where(const toml::node& node) {
  const auto line = node.source().begin.line;
  return line == 0 ? std::string() : " (line " + std::to_string(line) + ")";
}

tl::unexpected<Error> Bad(const std::string& key, const toml::node& node, const std::string& problem) {
  return InvalidArgument(key + ": " + problem + Where(node));
}

std::string TypeName(const toml::node& node) {
  switch (node.type()) {
    case toml::node_type::table: return "a table";
    case toml::node_type::array: return "an array";
    case toml::node_type::string: return "a string";
    case toml::node_type::integer: return "an integer";
    case toml::node_type::floating_point: return "a floating-point number";
    case toml::node_type::boolean: return "a boolean";
    case toml::node_type::date: return "a date";
    case toml::node_type::time: return "a time";
    case toml::node_type::date_time: return "a date-time";
    case toml::node_type::none: break;
  }
  return "nothing";
}

Result<int64_t> ReadInteger(const toml::node& node, const std::string& key, int64_t min, int64_t max) {
  const auto* value = node.as_integer();
  if (value == nullptr) return Bad(key, node, "must be an integer, got " + TypeName(node));
  const int64_t v = value->get();
  if (v < min || v > max) {
    return Bad(key, node, "must be from " + std::to_string(min) + " to " + std::to_string(max) + ", got " +
                              std::to_string(v));
  }
  return v;
}

template <typename Config, typename T>
Reader<Config> Integer(T Config::*field, int64_t min, int64_t max) {
  return [=](const toml::node& node, const std::string& key, Config& config) -> Result<void> {
    EW_TRY(const int64_t v, ReadInteger(node, key, min, max));
    config.*field = static_cast<T>(v);
    return Ok();
  };
}

// A positive whole number of the field's unit: the key's suffix (_s, _ms) names that unit.
template <typename Config, typename Rep, typename Period>
Reader<Config> Duration(std::chrono::duration<Rep, Period> Config::*field) {
  const int64_t max = std::is_same_v<Period, std::milli> ? kMaxMillis : kMaxSeconds;
  return [=](const toml::node& node, const std::string& key, Config& config) -> Result<void> {
    EW_TRY(const int64_t v, ReadInteger(node, key, 1, max));
    config.*field = std::chrono::duration<Rep, Period>(v);
    return Ok();
  };
}

// Like Duration, and 0 is allowed: for keys where 0 means "never" (it must be written out).
template <typename Config, typename Rep, typename Period>
Reader<Config> DurationOrZero(std::chrono::duration<Rep, Period> Config::*field) {
  const int64_t max = std::is_same_v<Period, std::milli> ? kMaxMillis : kMaxSeconds;
  return [=](const toml::node& node, const std::string& key, Config& config) -> Result<void> {
    EW_TRY(const int64_t v, ReadInteger(node, key, 0, max));
    config.*field = std::chrono::duration<Rep, Period>(v);
    return Ok();
  };
}

Result<std::string> ReadText(const toml::node& node, const std::string& key, const TextCheck& check = {}) {
  const auto* value = node.as_string();
  if (value == nullptr) return Bad(key, node, "must be a string, got " + TypeName(node));
  const std::string& text = value->get();
  if (check) {
    if (std::string problem = check(text); !problem.empty()) return Bad(key, node, problem);
  }
  return text;
}

template <typename Config>
Reader<Config> Boolean(bool Config::*field) {
  return [=](const toml::node& node, const std::string& key, Config& config) -> Result<void> {
    const auto* value = node.as_boolean();
    if (value == nullptr) return Bad(key, node, "must be true or false, got " + TypeName(node));
    config.*field = value->get();
    return Ok();
  };
}

template <typename Config>
Reader<Config> Text(std::string Config::*field, TextCheck check = {}) {
  return [=](const toml::node& node, const std::string& key, Config& config) -> Result<void> {
    EW_TRY(config.*field, ReadText(node, key, check));
    return Ok();
  };
}

// An array of strings, each passing `check`; at most 256 (a config is not a database).
template <typename Config>
Reader<Config> TextList(std::vector<std::string> Config::*field, TextCheck check = {}) {
  return [=](const toml::node& node, const std::string& key, Config& config) -> Result<void> {
    const toml::array* array = node.as_array();
    if (array == nullptr) return Bad(key, node, "must be a list of strings, got " + TypeName(node));
    if (array->size() > 256) return Bad(key, node, "must have at most 256 entries");
    std::vector<std::string> items;
    for (size_t i = 0; i < array->size(); ++i) {
      EW_TRY(std::string item, ReadText((*array)[i], key + "[" + std::to_string(i) + "]", check));
      items.push_back(std::move(item));
    }
    config.*field = std::move(items);
    return Ok();
  };
}

std::string NotEmpty(const std::string& text) { return text.empty() ? "must not be empty" : ""; }

// "host:port" or "[v6]:port": a place a node may dial, matched literally (no wildcards, no ranges).
std::string HostPort(const std::string& text) {
  const auto colon = text.rfind(':');
  const std::string host = colon == std::string::npos ? "" : text.substr(0, colon);
  const std::string port = colon == std::string::npos ? "" : text.substr(colon + 1);
  const bool port_ok = !port.empty() && port.size() <= 5 && port.find_first_not_of("0123456789") == std::string::npos &&
                       std::stoi(port) >= 1 && std::stoi(port) <= 65535;
  const bool bracketed = host.size() > 2 && host.front() == '[' && host.back() == ']';
  const bool host_ok = !host.empty() && host.size() <= 253 &&
                       (bracketed || host.find_first_of(":/@ \t[]") == std::string::npos);
  if (!port_ok || !host_ok) return "must be \"host:port\" (an IPv6 address in brackets), got \"" + text + "\"";
  return "";
}

// "" (unset) or a WebSocket URL.
std::string WsUrlOrEmpty(const std::string& text) {
  if (text.empty() || text.rfind("ws://", 0) == 0 || text.rfind("wss://", 0) == 0) return "";
  return "must be empty or start with ws:// or wss://, got \"" + text + "\"";
}

std::string MqttUrlOrEmpty(const std::string& text) {
  if (text.empty() || text.rfind("mqtt://", 0) == 0 || text.rfind("mqtts://", 0) == 0) return "";
  return "must be empty or start with mqtt:// or mqtts://, got \"" + text + "\"";
}

// A root of MQTT topic namespaces: literal levels only ("" = none), so every project's filters
// lie under "<root>/<project>/" and no wildcard or $-topic reaches past it.
std::string MqttTopicRoot(const std::string& text) {
  if (text.empty()) return "";
  const bool bad = text.size() > 128 || text.find_first_of("+#") != std::string::npos ||
                   text.find('\0') != std::string::npos || text.front() == '$' || text.front() == '/' ||
                   text.back() == '/';
  if (bad) return "must be MQTT topic levels without wildcards, not starting with $ or /, nor ending with /, at most 128 bytes (\"\" = none), got \"" + text + "\"";
  return "";
}

// Realms are WAMP URIs: dot-separated non-empty components without whitespace or '#'.
std::string RealmCheck(const std::string& text) {
  if (text.empty()) return "must not be empty";
  const bool bad_char = text.find_first_of(" \t\r\n#") != std::string::npos;
  const bool empty_component = text.front() == '.' || text.back() == '.' || text.find("..") != std::string::npos;
  if (bad_char || empty_component) return "must be a WAMP URI such as \"edgewire\", got \"" + text + "\"";
  return "";
}

TextCheck OneOf(std::initializer_list<std::string_view> allowed) {
  std::vector<std::string> choices(allowed.begin(), allowed.end());
  return [choices](const std::string& text) -> std::string {
    std::string list;
    for (const auto& choice : choices) {
      if (choice == text) return "";
      list += (list.empty() ? "" : "|") + choice;
    }
    return "must be one of " + list + ", got \"" + text + "\"";
  };
}

const TextCheck kLogLevel = OneOf({"trace", "debug", "info", "warn", "error", "off"});

// ---- [[gpio.chip]] ----

// sockaddr_un::sun_path holds 108 bytes with the terminating NUL.
constexpr size_t kMaxSocketPath = 107;

// Chip names appear in line names ("sim0:GPIO4") and API answers: no ':' and nothing odd.
std::string ChipNameCheck(const std::string& text) {
  if (text.empty()) return "must not be empty";
  for (const char c : text) {
    const bool plain = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '_' ||
                       c == '-' || c == '.';
    if (!plain) return "must be letters, digits, '_', '-' or '.' (such as \"sim0\"), got \"" + text + "\"";
  }
  return "";
}

std::string DevicePathCheck(const std::string& text) {
  if (text.empty() || text.front() != '/')
    return "must be an absolute path such as \"/dev/gpiochip0\", got \"" + text + "\"";
  return "";
}

// "" (no socket) or an absolute path that fits a unix socket address.
std::string SocketPathCheck(const std::string& text) {
  if (text.empty()) return "";
  if (text.front() != '/') return "must be \"\" or an absolute path, got \"" + text + "\"";
  if (text.size() > kMaxSocketPath) {
    return "must be at most " + std::to_string(kMaxSocketPath) + " bytes (a unix socket path), got " +
           std::to_string(text.size());
  }
  return "";
}

std::string LineNameCheck(const std::string& text) {
  if (text.empty()) return "must not be empty";
  if (text.find(':') != std::string::npos) return "must not contain ':' (that is \"chip:line\"), got \"" + text + "\"";
  return "";
}

// `lines`: "raspberry-pi" (→ empty, the default) or a non-empty list of distinct names.
Result<std::vector<std::string>> ReadLineNames(const toml::node& node, const std::string& key) {
  if (node.is_string()) {
    EW_TRY_VOID(ReadText(node, key, OneOf({"raspberry-pi"})));
    return std::vector<std::string>();
  }
  const toml::array* array = node.as_array();
  if (array == nullptr)
    return Bad(key, node, "must be \"raspberry-pi\" or a list of line names, got " + TypeName(node));
  if (array->empty()) return Bad(key, node, "must name at least one line");
  std::vector<std::string> names;
  for (size_t i = 0; i < array->size(); ++i) {
    const std::string item_key = key + "[" + std::to_string(i) + "]";
    EW_TRY(std::string name, ReadText((*array)[i], item_key, LineNameCheck));
    for (size_t j = 0; j < names.size(); ++j) {
      if (names[j] == name) return Bad(item_key, (*array)[i], "\"" + name + "\" is already line " + std::to_string(j));
    }
    names.push_back(std::move(name));
  }
  return names;
}

// One [[gpio.chip]] table; `key` is "gpio.chip[i]". Which keys a backend takes is checked after
// all are read (a table's keys come in no particular order).
Result<GpioChipConfig> ReadGpioChip(const toml::node& node, const std::string& key) {
  const toml::table* table = node.as_table();
  if (table == nullptr) return Bad(key, node, "must be a table ([[gpio.chip]]), got " + TypeName(node));
  GpioChipConfig chip;
  const toml::node* device = nullptr;
  const toml::node* sim_only = nullptr;  // the first of lines/control seen
  std::string sim_only_key;
  for (auto&& [name_key, value] : *table) {
    const std::string field(name_key.str());
    const std::string field_key = key + "." + field;
    if (field == "name") {
      EW_TRY(chip.name, ReadText(value, field_key, ChipNameCheck));
    } else if (field == "backend") {
      EW_TRY(chip.backend, ReadText(value, field_key, OneOf({"sim", "libgpiod"})));
    } else if (field == "device") {
      EW_TRY(chip.device, ReadText(value, field_key, DevicePathCheck));
      device = &value;
    } else if (field == "lines" || field == "control") {
      if (field == "lines") {
        EW_TRY(chip.lines, ReadLineNames(value, field_key));
      } else {
        EW_TRY(chip.control, ReadText(value, field_key, SocketPathCheck));
      }
      if (sim_only == nullptr) {
        sim_only = &value;
        sim_only_key = field_key;
      }
    } else {
      return InvalidArgument("unknown key " + field_key + Where(value) +
                             "; [[gpio.chip]] takes name, backend, device, lines, control");
    }
  }
  if (chip.name.empty()) return Bad(key + ".name", node, "is required");
  if (chip.backend.empty()) return Bad(key + ".backend", node, "is required (\"sim\" or \"libgpiod\")");
  if (chip.backend == "libgpiod") {
    if (device == nullptr) return Bad(key + ".device", node, "is required for backend \"libgpiod\"");
    if (sim_only != nullptr) return Bad(sim_only_key, *sim_only, "is for backend \"sim\" only");
  } else if (device != nullptr) {
    return Bad(key + ".device", *device, "is for backend \"libgpiod\" only");
  }
  return chip;
}

// [[gpio.chip]]: every chip valid, and no two sharing a name, a device or a control socket.
Reader<AgentConfig> GpioChips() {
  return [](const toml::node& node, const std::string& key, AgentConfig& config) -> Result<void> {
    const toml::array* array = node.as_array();
    if (array == nullptr) {
      return Bad(key, node, "must be an array of tables: write each chip as [[gpio.chip]], got " + TypeName(node));
    }
    if (array->empty()) return Bad(key, node, "must list at least one chip");
    std::vector<GpioChipConfig> chips;
    for (size_t i = 0; i < array->size(); ++i) {
      const std::string item_key = key + "[" + std::to_string(i) + "]";
      const toml::node& item = (*array)[i];
      EW_TRY(GpioChipConfig chip, ReadGpioChip(item, item_key));
      for (size_t j = 0; j < chips.size(); ++j) {
        const std::string other = key + "[" + std::to_string(j) + "]";
        if (chips[j].name == chip.name)
          return Bad(item_key + ".name", item, "\"" + chip.name + "\" is already the name of " + other);
        if (!chip.device.empty() && chips[j].device == chip.device)
          return Bad(item_key + ".device", item, chip.device + " is already opened by " + other);
        if (!chip.control.empty() && chips[j].control == chip.control)
          return Bad(item_key + ".control", item, chip.control + " is already the socket of " + other);
      }
      chips.push_back(std::move(chip));
    }
    config.gpio_chips = std::move(chips);
    return Ok();
  };
}

template <typename Config>
std::string SectionList(const std::vector<Key<Config>>& keys) {
  std::string list;
  std::string_view last;
  for (const auto& key : keys) {
    if (key.section == last) continue;
    last = key.section;
    list += (list.empty() ? "[" : ", [") + std::string(key.section) + "]";
  }
  return list;
}

template <typename Config>
std::string KeyList(const std::vector<Key<Config>>& keys, std::string_view section) {
  std::string list;
  for (const auto& key : keys) {
    if (key.section == section) list += (list.empty() ? "" : ", ") + std::string(key.name);
  }
  return list;
}

template <typename Config>
bool HasSection(const std::vector<Key<Config>>& keys, std::string_view section) {
  for (const auto& key : keys) {
    if (key.section == section) return true;
  }
  return false;
}

template <typename Config>
const Key<Config>* FindKey(const std::vector<Key<Config>>& keys, std::string_view section, std::string_view name) {
  for (const auto& key : keys) {
    if (key.section == section && key.name == name) return &key;
  }
  return nullptr;
}

Result<toml::table> ParseToml(const std::string& text) {
  try {
    return toml::parse(text);
  } catch (const toml::parse_error& e) {
    const auto& at = e.source().begin;
    return InvalidArgument("line " + std::to_string(at.line) + ", column " + std::to_string(at.column) +
                           ": " + std::string(e.description()));
  } catch (const TomlCheckFailed&) {
    return InvalidArgument("malformed TOML (a table header or key the parser cannot read)");
  }
}

// Starts from the defaults and overwrites what the file sets; rejects anything `keys` lacks.
template <typename Config>
Result<Config> ParseWith(const std::string& text, const std::vector<Key<Config>>& keys) {
  EW_TRY(const toml::table root, ParseToml(text));
  Config config;
  for (auto&& [section_key, section_node] : root) {
    const std::string section(section_key.str());
    const toml::table* table = section_node.as_table();
    if (table == nullptr) {
      return InvalidArgument("unknown key " + section + Where(section_node) + "; keys belong in a section: " +
                             SectionList(keys));
    }
    if (!HasSection(keys, section)) {
      return InvalidArgument("unknown section [" + section + "]" + Where(section_node) + "; expected " +
                             SectionList(keys));
    }
    for (auto&& [name_key, node] : *table) {
      const std::string name(name_key.str());
      const std::string key = section + "." + name;
      const Key<Config>* known = FindKey(keys, section, name);
      if (known == nullptr) {
        return InvalidArgument("unknown key " + key + Where(node) + "; [" + section + "] takes " +
                               KeyList(keys, section));
      }
      EW_TRY_VOID(known->read(node, key, config));
    }
  }
  return config;
}

const std::vector<Key<ConductorConfig>>& ConductorKeys() {
  using C = ConductorConfig;
  static const std::vector<Key<C>> keys = {
      {"server", "listen_address", Text(&C::listen_address, NotEmpty)},
      {"server", "port", Integer(&C::port, 0, 65535)},
      {"server", "public_url", Text(&C::public_url, WsUrlOrEmpty)},
      {"server", "io_threads", Integer(&C::io_threads, 1, kMaxThreads)},
      {"server", "blocking_threads", Integer(&C::blocking_threads, 1, kMaxThreads)},
      {"server", "tls_cert", Text(&C::tls_cert)},
      {"server", "tls_key", Text(&C::tls_key)},
      {"server", "allow_plain", Boolean(&C::allow_plain)},
      {"server", "max_connections", Integer(&C::max_connections, 1, 10'000'000)},
      {"server", "max_connections_per_address", Integer(&C::max_connections_per_address, 1, 10'000'000)},
      {"server", "header_timeout_ms", Duration(&C::header_timeout)},
      {"server", "body_timeout_ms", Duration(&C::body_timeout)},
      {"server", "body_min_rate", Integer(&C::body_min_rate, 1, int64_t{1} << 40)},
      {"server", "idle_timeout_s", Duration(&C::idle_timeout)},
      {"router", "realm", Text(&C::realm, RealmCheck)},
      {"router", "hello_timeout_s", Duration(&C::hello_timeout)},
      {"router", "max_message_bytes", Integer(&C::max_message_bytes, kMinMessageBytes, kMaxMessageBytes)},
      {"router", "call_timeout_ms", Duration(&C::call_timeout)},
      {"router", "heartbeat_interval_ms", Duration(&C::heartbeat_interval)},
      {"router", "heartbeat_timeout_ms", Duration(&C::heartbeat_timeout)},
      {"router", "heartbeat_max_pings_per_second", Integer(&C::heartbeat_max_pings_per_second, 0, 10'000'000)},
      {"store", "path", Text(&C::store_path, NotEmpty)},
      {"functions", "max_stored_output_bytes", Integer(&C::functions_max_stored_output_bytes, 0, 16 << 20)},
      {"functions", "max_stored_logs_bytes", Integer(&C::functions_max_stored_logs_bytes, 0, 16 << 20)},
      {"functions", "dir", Text(&C::functions_dir)},
      {"functions", "runtime", Text(&C::functions_runtime, OneOf({"auto", "crun", "runc", "bwrap", "none"}))},
      {"functions", "max_running", Integer(&C::functions_max_running, 1, 1024)},
      {"functions", "uid_first", Integer(&C::functions_uid_first, 1000, 4'000'000'000)},
      {"functions", "uid_count", Integer(&C::functions_uid_count, 1, 1'000'000)},
      {"functions", "cgroups", Text(&C::functions_cgroups, OneOf({"auto", "off"}))},
      {"functions", "placement_flush_ms", Integer(&C::functions_placement_flush_ms, 100, 3'600'000)},
      {"functions", "placement_strategy",
       Text(&C::functions_placement_strategy, OneOf({"greedy", "ucb1", "bayes-ucb", "sliding-ucb"}))},
      {"functions", "max_running_per_function", Integer(&C::functions_max_running_per_function, 1, 100'000)},
      {"functions", "max_running_per_project", Integer(&C::functions_max_running_per_project, 1, 1'000'000)},
      {"functions", "cloud_max_per_project", Integer(&C::functions_cloud_max_per_project, 1, 1'000'000)},
      {"functions", "cloud_network", Boolean(&C::functions_cloud_network)},
      {"gpio", "history_days", Integer(&C::gpio_history_days, 1, 3650)},
      {"auth", "token_ttl_s", DurationOrZero(&C::token_ttl)},
      {"auth", "hash_threads", Integer(&C::hash_threads, 1, kMaxThreads)},
      {"auth", "login_failures_per_user", Integer(&C::login_failures_per_user, 1, 1000)},
      {"auth", "login_failures_per_address", Integer(&C::login_failures_per_address, 1, 100000)},
      {"auth", "login_max_delay_s", Duration(&C::login_max_delay)},
      {"auth", "login_user_failures_before_pacing", Integer(&C::login_user_failures_before_pacing, 1, 100'000'000)},
      {"auth", "enrolment_code_ttl_s", Duration(&C::enrolment_code_ttl)},
      {"auth", "bootstrap_password_file", Text(&C::bootstrap_password_file)},
      {"tunnels", "listen_address", Text(&C::tunnels_listen_address)},
      {"tunnels", "port_first", Integer(&C::tunnels_port_first, 0, 65535)},
      {"tunnels", "port_last", Integer(&C::tunnels_port_last, 0, 65535)},
      {"tunnels", "max_connections", Integer(&C::tunnels_max_connections, 1, 100'000)},
      {"tunnels", "open_timeout_ms", Duration(&C::tunnels_open_timeout)},
      {"triggers", "mqtt_broker", Text(&C::triggers_mqtt_broker, MqttUrlOrEmpty)},
      {"triggers", "mqtt_ca_file", Text(&C::triggers_mqtt_ca_file)},
      {"triggers", "mqtt_cert_file", Text(&C::triggers_mqtt_cert_file)},
      {"triggers", "mqtt_key_file", Text(&C::triggers_mqtt_key_file)},
      {"triggers", "mqtt_username", Text(&C::triggers_mqtt_username)},
      {"triggers", "mqtt_password_file", Text(&C::triggers_mqtt_password_file)},
      {"triggers", "mqtt_topic_root", Text(&C::triggers_mqtt_topic_root, MqttTopicRoot)},
      {"flows", "cloud_outbound", TextList(&C::flows_cloud_outbound, HostPort)},
      {"flows", "max_per_project", Integer(&C::flows_max_per_project, 1, 100'000)},
      {"triggers", "max_per_project", Integer(&C::triggers_max_per_project, 1, 100'000)},
      {"triggers", "max_payload_bytes", Integer(&C::triggers_max_payload_bytes, 16, 16 << 20)},
      {"triggers", "max_messages_per_second", Integer(&C::triggers_max_messages_per_second, 1, 1'000'000)},
      {"tunnels", "ping_interval_ms", DurationOrZero(&C::tunnels_ping_interval)},
      {"tunnels", "max_per_board", Integer(&C::tunnels_max_per_board, 1, 1'000'000)},
      {"tunnels", "proxy_session_ttl_s", Duration(&C::tunnels_proxy_session_ttl)},
      {"tunnels", "max_services_per_project", Integer(&C::tunnels_max_services_per_project, 1, 100'000)},
      {"tunnels", "proxy_idle_timeout_s", Duration(&C::tunnels_proxy_idle_timeout)},
      {"tunnels", "max_proxied", Integer(&C::tunnels_max_proxied, 1, 1'000'000)},
      {"tunnels", "max_proxied_per_user", Integer(&C::tunnels_max_proxied_per_user, 1, 1'000'000)},
      {"tunnels", "max_connections_per_project", Integer(&C::tunnels_max_connections_per_project, 1, 1'000'000)},
      {"tunnels", "proxy_sessions_per_user", Integer(&C::tunnels_proxy_sessions_per_user, 1, 100'000)},
      {"log", "level", Text(&C::log_level, kLogLevel)},
  };
  return keys;
}

const std::vector<Key<AgentConfig>>& AgentKeys() {
  using A = AgentConfig;
  static const std::vector<Key<A>> keys = {
      {"agent", "credential_path", Text(&A::credential_path, NotEmpty)},
      {"agent", "conductor_url", Text(&A::conductor_url, WsUrlOrEmpty)},
      {"agent", "reconnect_initial_ms", Duration(&A::reconnect_initial)},
      {"agent", "reconnect_max_ms", Duration(&A::reconnect_max)},
      {"agent", "call_timeout_ms", Duration(&A::call_timeout)},
      {"agent", "startup_trim", Boolean(&A::startup_trim)},
      {"gpio", "backend", Text(&A::gpio_backend, OneOf({"sim", "libgpiod"}))},
      {"gpio", "chip", GpioChips()},
      {"functions", "runtime", Text(&A::functions_runtime, OneOf({"auto", "crun", "runc", "bwrap", "none"}))},
      {"functions", "state_dir", Text(&A::functions_state_dir, NotEmpty)},
      {"functions", "work_dir", Text(&A::functions_work_dir, NotEmpty)},
      {"functions", "max_running", Integer(&A::functions_max_running, 1, 1024)},
      {"functions", "sandbox_pool", Integer(&A::functions_sandbox_pool, 0, 256)},
      {"functions", "sandbox_pool_max", Integer(&A::functions_sandbox_pool_max, 0, 1024)},
      {"functions", "sandbox_pool_total", Integer(&A::functions_sandbox_pool_total, 0, 100'000)},
      {"functions", "uid_first", Integer(&A::functions_uid_first, 1000, 4'000'000'000)},
      {"functions", "uid_count", Integer(&A::functions_uid_count, 1, 1'000'000)},
      {"functions", "cgroups", Text(&A::functions_cgroups, OneOf({"auto", "off"}))},
      {"flows", "state_dir", Text(&A::flows_state_dir, NotEmpty)},
      {"spool", "dir", Text(&A::spool_dir, NotEmpty)},
      {"spool", "max_mb", Integer(&A::spool_max_mb, 1, 1'000'000)},
      {"spool", "sync_interval_ms", DurationOrZero(&A::spool_sync_interval)},
      {"log", "level", Text(&A::log_level, kLogLevel)},
      {"log", "recent_lines", Integer(&A::log_recent_lines, 0, 10'000)},
      {"system", "reboot_command", Text(&A::reboot_command)},
      {"tunnels", "ping_interval_ms", DurationOrZero(&A::tunnels_ping_interval)},
      {"update", "dir", Text(&A::update_dir, NotEmpty)},
  };
  return keys;
}

// Rules that span keys; checked on the merged result, so a file setting only one of the pair is
// checked against the other's default.
Result<void> CheckConductor(const ConductorConfig& config) {
  if (config.tls_cert.empty() != config.tls_key.empty()) {
    return InvalidArgument("server.tls_cert and server.tls_key go together: set both (TLS) or neither");
  }
  if (config.heartbeat_timeout <= config.heartbeat_interval) {
    return InvalidArgument("router.heartbeat_timeout_ms: must be greater than router.heartbeat_interval_ms (" +
                           std::to_string(config.heartbeat_timeout.count()) +
                           " <= " + std::to_string(config.heartbeat_interval.count()) + ")");
  }
  return Ok();
}

Result<void> CheckAgent(const AgentConfig& config) {
  if (config.reconnect_max < config.reconnect_initial) {
    return InvalidArgument("agent.reconnect_max_ms: must not be less than agent.reconnect_initial_ms (" +
                           std::to_string(config.reconnect_max.count()) + " < " +
                           std::to_string(config.reconnect_initial.count()) + ")");
  }
  return Ok();
}

// The file's text, or nullopt when it is missing and may be.
Result<std::optional<std::string>> ReadConfigFile(const std::string& path, bool must_exist) {
  std::error_code ec;
  const auto status = std::filesystem::status(path, ec);
  const bool missing = status.type() == std::filesystem::file_type::not_found ||
                       ec == std::errc::no_such_file_or_directory || ec == std::errc::not_a_directory;
  if (missing) {
    if (must_exist) return NotFound("config file " + path + " not found");
    return std::optional<std::string>();
  }
  if (ec == std::errc::permission_denied) return PermissionDenied("cannot read config file " + path + ": " + ec.message());
  if (ec) return Internal("cannot read config file " + path + ": " + ec.message());
  if (std::filesystem::is_directory(status)) return InvalidArgument(path + " is a directory, not a config file");
  std::ifstream in(path, std::ios::binary);
  if (!in) {
    const int error = errno;
    if (error == EACCES) return PermissionDenied("cannot read config file " + path + ": " + std::strerror(error));
    return Internal("cannot read config file " + path + ": " + std::strerror(error));
  }
  std::ostringstream text;
  text << in.rdbuf();
  if (in.bad()) return Internal("cannot read config file " + path);
  return std::optional<std::string>(text.str());
}

// Errors from a file name it, so the operator knows which file to fix.
template <typename Config>
Result<Config> LoadWith(const std::string& path, bool must_exist, Result<Config> (*parse)(const std::string&)) {
  EW_TRY(const std::optional<std::string> text, ReadConfigFile(path, must_exist));
  if (!text) return Config{};
  auto config = parse(*text);
  if (!config) return InvalidArgument(path + ": " + config.error().message);
  return config;
}

}  // namespace

std::vector<GpioChipConfig> EffectiveGpioChips(const AgentConfig& config) {
  if (!config.gpio_chips.empty()) return config.gpio_chips;
  if (config.gpio_backend == "libgpiod") return {GpioChipConfig{"gpiochip0", "libgpiod", "/dev/gpiochip0", {}, ""}};
  return {GpioChipConfig{"sim0", "sim", "", {}, ""}};
}

Result<ConductorConfig> ParseConductorConfig(const std::string& toml_text) {
  EW_TRY(ConductorConfig config, ParseWith(toml_text, ConductorKeys()));
  EW_TRY_VOID(CheckConductor(config));
  return config;
}

Result<AgentConfig> ParseAgentConfig(const std::string& toml_text) {
  EW_TRY(AgentConfig config, ParseWith(toml_text, AgentKeys()));
  EW_TRY_VOID(CheckAgent(config));
  return config;
}

Result<ConductorConfig> LoadConductorConfig(const std::string& path, bool must_exist) {
  return LoadWith<ConductorConfig>(path, must_exist, &ParseConductorConfig);
}

Result<AgentConfig> LoadAgentConfig(const std::string& path, bool must_exist) {
  return LoadWith<AgentConfig>(path, must_exist, &ParseAgentConfig);
}

}  // namespace ew::config
