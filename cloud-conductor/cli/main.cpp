// edgewire: the operator CLI for a conductor's REST API (log in, projects, users, boards, calls,
// functions, fleets, GPIO). main() only wires CLI11 to the commands in commands.cpp,
// function_commands.cpp, fleet_commands.cpp and gpio_commands.cpp.
#include <csignal>
#include <functional>
#include <iostream>

#include <CLI/CLI.hpp>
#include <nlohmann/json.hpp>

#include "cloud-conductor/cli/board_admin_commands.hpp"
#include "cloud-conductor/cli/package_commands.hpp"
#include "cloud-conductor/cli/commands.hpp"
#include "cloud-conductor/cli/fleet_commands.hpp"
#include "cloud-conductor/cli/tunnel_commands.hpp"
#include "cloud-conductor/cli/trigger_commands.hpp"
#include "cloud-conductor/cli/flow_commands.hpp"
#include "cloud-conductor/cli/function_commands.hpp"
#include "cloud-conductor/cli/function_format.hpp"
#include "cloud-conductor/cli/gpio_commands.hpp"
#include "common/exit/exit_code.hpp"

namespace {

using ew::cli::Context;
using Action = std::function<ew::Result<void>(Context&)>;

// Everything the subcommands parse into; the chosen subcommand's callback sets `action`.
struct Parsed {
  ew::cli::GlobalOptions global;
  Action action;
  std::string user, name, id, project, role = "operator", procedure, kwargs;
  std::vector<std::string> labels, call_args;
  bool password_stdin = false;
  int64_t ttl_seconds = 0;
  int64_t timeout_ms = 0;
  std::string path, fn, fleet, invocation;
  std::vector<std::string> boards;
  ew::cli::DeployOptions deploy;
  int64_t deploy_timeout_s = 120;
  ew::cli::InvokeOptions invoke;
  std::string line, gpio_value;
  ew::cli::GpioWatchOptions gpio_watch;
  ew::cli::GpioHistoryOptions gpio_history;
  std::string flow, flow_file;
  ew::cli::FlowDeployOptions flow_deploy;
  std::string service;
  int64_t board_port = 0;
  ew::cli::TunnelOpenOptions tunnel;
  ew::cli::TunnelConnectOptions tunnel_connect;
  std::string trigger;
  ew::cli::TriggerCreateOptions trigger_create;
  int64_t log_lines = 100;
  bool log_follow = false;
  ew::cli::BoardUpdateOptions update;
  std::string key, signature;
};

// CLI11 validators, so that malformed local input is a usage error (exit 2).
const CLI::Validator kLabel(
    [](std::string& text) -> std::string {
      const size_t eq = text.find('=');
      if (eq == std::string::npos || eq == 0) return "expected KEY=VALUE, got \"" + text + "\"";
      return "";
    },
    "KEY=VALUE");

const CLI::Validator kJson(
    [](std::string& text) -> std::string {
      if (nlohmann::json::parse(text, nullptr, false).is_discarded()) return "expected JSON, like '{\"n\":21}'";
      return "";
    },
    "JSON");

const CLI::Validator kJsonObject(
    [](std::string& text) -> std::string {
      auto value = nlohmann::json::parse(text, nullptr, false);
      if (value.is_discarded() || !value.is_object()) return "expected a JSON object, like '{\"line\":17}'";
      return "";
    },
    "JSON");

void AddGlobalOptions(CLI::App& app, Parsed& p) {
  app.add_option("--conductor", p.global.conductor,
                 std::string("conductor URL (default: $EDGEWIRE_URL, else the URL saved at login, else ") +
                     ew::cli::kDefaultConductorUrl + ")")
      ->envname("EDGEWIRE_URL");
  app.add_option("--token", p.global.token, "API token (default: $EDGEWIRE_TOKEN, else the one saved at login)")
      ->envname("EDGEWIRE_TOKEN");
  app.add_flag("--json", p.global.json, "print the API's JSON answers as they are");
  app.add_option("--ca-file", p.global.ca_file,
                 "PEM file of the CA(s) that sign an https conductor's certificate (default: $EDGEWIRE_CA_FILE, "
                 "else the system CAs)")
      ->envname("EDGEWIRE_CA_FILE");
  // Global options may also follow a subcommand (`edgewire fn create DIR --json`): options a
  // subcommand does not know fall through to its parent.
  app.fallthrough();
}

void AddAuthCommands(CLI::App& app, Parsed& p) {
  auto* login = app.add_subcommand("login", "log in and keep the token for the next commands");
  login->add_option("--user,-u", p.user, "user name")->required();
  login->add_flag("--password-stdin", p.password_stdin, "read the password from the first line of standard input");
  login->add_option("--ttl", p.ttl_seconds, "token lifetime in seconds (default: the conductor's)")
      ->check(CLI::Range(int64_t{0}, int64_t{30} * 24 * 3600));
  login->callback([&p] { p.action = [&p](Context& c) { return Login(c, p.user, p.password_stdin, p.ttl_seconds); }; });
  app.add_subcommand("logout", "revoke the saved token and forget it")->callback([&p] {
    p.action = [](Context& c) { return Logout(c); };
  });
  app.add_subcommand("whoami", "show who the token belongs to")->callback([&p] {
    p.action = [](Context& c) { return WhoAmI(c); };
  });
}

void AddProjectCommands(CLI::App& app, Parsed& p) {
  auto* projects = app.add_subcommand("project", "manage projects")->require_subcommand(1);
  auto* create = projects->add_subcommand("create", "create a project (admin)");
  create->add_option("NAME", p.name, "project name")->required();
  create->callback([&p] { p.action = [&p](Context& c) { return ProjectCreate(c, p.name); }; });
  projects->add_subcommand("list", "list the projects you can see")->callback([&p] {
    p.action = [](Context& c) { return ProjectList(c); };
  });
  auto* remove = projects->add_subcommand("delete", "delete an empty project (admin)");
  remove->add_option("ID", p.id, "project id")->required();
  remove->callback([&p] { p.action = [&p](Context& c) { return ProjectDelete(c, p.id); }; });
}

void AddUserCommands(CLI::App& app, Parsed& p) {
  auto* users = app.add_subcommand("user", "manage users (admin)")->require_subcommand(1);
  auto* create = users->add_subcommand("create", "create a user");
  create->add_option("NAME", p.name, "user name")->required();
  create->add_option("--project,-p", p.project, "project id")->required();
  create->add_option("--role", p.role, "admin or operator (default: operator)")
      ->check(CLI::IsMember({"admin", "operator"}));
  create->add_flag("--password-stdin", p.password_stdin, "read the password from the first line of standard input");
  create->callback([&p] {
    p.action = [&p](Context& c) { return UserCreate(c, p.name, p.project, p.role, p.password_stdin); };
  });
  auto* list = users->add_subcommand("list", "list users");
  list->add_option("--project,-p", p.project, "only this project");
  list->callback([&p] { p.action = [&p](Context& c) { return UserList(c, p.project); }; });
  auto* remove = users->add_subcommand("delete", "delete a user and its tokens");
  remove->add_option("ID", p.id, "user id")->required();
  remove->callback([&p] { p.action = [&p](Context& c) { return UserDelete(c, p.id); }; });
}

// Both forms of a "one of the two" target (--board or --fleet, --board or --cloud): CLI11 checks
// that they exclude each other; this checks that one is there.
void RequireOneOf(const std::string& names, bool given) {
  if (!given) throw CLI::RequiredError(names);
}

void AddBoardCommands(CLI::App& app, Parsed& p) {
  auto* boards = app.add_subcommand("board", "manage and call boards")->require_subcommand(1);
  auto* create = boards->add_subcommand("create", "register a board and get its one-time enrolment code");
  create->add_option("NAME", p.name, "board name")->required();
  create->add_option("--project,-p", p.project, "project id (default: yours)");
  create->add_option("--label,-l", p.labels, "label KEY=VALUE (repeatable)")->check(kLabel);
  create->callback([&p] { p.action = [&p](Context& c) { return BoardCreate(c, p.name, p.project, p.labels); }; });

  auto* list = boards->add_subcommand("list", "list boards with their live status");
  list->add_option("--project,-p", p.project, "only this project");
  list->callback([&p] { p.action = [&p](Context& c) { return BoardList(c, p.project); }; });

  auto* show = boards->add_subcommand("show", "show one board");
  show->add_option("BOARD", p.id, "board id or name")->required();
  show->callback([&p] { p.action = [&p](Context& c) { return BoardShow(c, p.id); }; });

  auto* remove = boards->add_subcommand("delete", "delete a board and close its session");
  remove->add_option("BOARD", p.id, "board id or name")->required();
  remove->callback([&p] { p.action = [&p](Context& c) { return BoardDelete(c, p.id); }; });

  auto* call = boards->add_subcommand("call", "call a procedure on a board (e.g. sys.info, gpio.read)");
  call->add_option("BOARD", p.id, "board id or name")->required();
  call->add_option("PROCEDURE", p.procedure, "procedure, like sys.info")->required();
  call->add_option("ARG_JSON", p.call_args, "positional arguments, each JSON (else taken as a string)");
  call->add_option("--kwargs", p.kwargs, "keyword arguments as a JSON object")->check(kJsonObject);
  call->add_option("--timeout-ms", p.timeout_ms, "call timeout in milliseconds (default: the conductor's)")
      ->check(CLI::Range(int64_t{1}, int64_t{600'000}));
  call->callback([&p] {
    p.action = [&p](Context& c) { return BoardCall(c, p.id, p.procedure, p.call_args, p.kwargs, p.timeout_ms); };
  });

  auto* ping = boards->add_subcommand("ping", "call sys.ping and print the round trip");
  ping->add_option("BOARD", p.id, "board id or name")->required();
  ping->callback([&p] { p.action = [&p](Context& c) { return BoardPing(c, p.id); }; });

  // Board management (issue 16).
  auto* restart = boards->add_subcommand("restart", "restart the board's agent (systemd starts it again)");
  restart->add_option("BOARD", p.id, "board id or name")->required();
  restart->callback([&p] { p.action = [&p](Context& c) { return ew::cli::BoardRestart(c, p.id); }; });
  auto* reboot = boards->add_subcommand("reboot", "reboot the board (admin; the board must allow it in agent.toml)");
  reboot->add_option("BOARD", p.id, "board id or name")->required();
  reboot->callback([&p] { p.action = [&p](Context& c) { return ew::cli::BoardReboot(c, p.id); }; });
  auto* logs = boards->add_subcommand("logs", "print the agent's recent log lines");
  logs->add_option("BOARD", p.id, "board id or name")->required();
  logs->add_option("--lines,-n", p.log_lines, "how many of the newest lines (1 .. 1000)")
      ->check(CLI::Range(int64_t{1}, int64_t{1000}));
  logs->add_flag("--follow,-f", p.log_follow, "then print new lines as the board logs them, until interrupted");
  logs->callback([&p] {
    p.action = [&p](Context& c) { return ew::cli::BoardLogs(c, p.id, p.log_lines, p.log_follow); };
  });
  auto* update = boards->add_subcommand(
      "update", "install an agent .deb on a board or a fleet over the air (admin; rolls back by itself)");
  auto* update_board = update->add_option("BOARD", p.update.board, "board id or name");
  auto* update_fleet = update->add_option("--fleet", p.update.fleet, "every board of this fleet (id or name)");
  update_board->excludes(update_fleet);
  update->add_option("--deb", p.update.deb, "the edgewire-agent .deb")->required()->check(CLI::ExistingFile);
  auto* update_sig = update->add_option("--sig", p.update.signature,
                                        "its signature (default DEB.sig, from `edgewire package sign`)")
                         ->check(CLI::ExistingFile);
  update->add_option("--sign-key", p.update.sign_key, "sign the .deb now with this private key instead")
      ->check(CLI::ExistingFile)
      ->excludes(update_sig);
  update->add_option("--parallel", p.update.parallel, "boards updated at once (rolling; default 1)")
      ->check(CLI::Range(int64_t{1}, int64_t{100}));
  update->add_option("--deadline", p.update.deadline_seconds,
                     "seconds the new agent has to come online before the board rolls back (default 120)")
      ->check(CLI::Range(int64_t{10}, int64_t{3600}));
  update->add_flag("!--no-wait", p.update.wait, "start the rollout and return");
  update->callback([&p, update_board, update_fleet] {
    RequireOneOf("BOARD or --fleet", update_board->count() + update_fleet->count() > 0);
    p.action = [&p](Context& c) { return ew::cli::BoardUpdate(c, p.update); };
  });
  auto* updates = boards->add_subcommand(
      "updates", "list agent update rollouts, or show one with each board's state (admin)");
  updates->add_option("ID", p.id, "a rollout id (upd-...)");
  updates->callback([&p] { p.action = [&p](Context& c) { return ew::cli::BoardUpdates(c, p.id); }; });
}

// Signed agent updates (issue 16): local, no conductor.
void AddPackageCommands(CLI::App& app, Parsed& p) {
  auto* package = app.add_subcommand("package", "sign agent packages for updates over the air")->require_subcommand(1);
  package->footer("Boards install only packages signed by a key in their /etc/edgewire/update-keys (docs/INSTALL-PI.md).");
  auto* keygen = package->add_subcommand("keygen", "make a signing key pair: NAME.key (private) and NAME.pem (public)");
  keygen->add_option("NAME", p.name, "path and name of the two files, e.g. ~/edgewire/update-key")->required();
  keygen->callback([&p] { p.action = [&p](Context& c) { return ew::cli::PackageKeygen(c, p.name); }; });
  auto* sign = package->add_subcommand("sign", "sign an agent .deb: writes FILE.sig");
  sign->add_option("--key", p.key, "the private key (NAME.key)")->required()->check(CLI::ExistingFile);
  sign->add_option("FILE", p.path, "the edgewire-agent .deb")->required()->check(CLI::ExistingFile);
  sign->add_option("--out", p.signature, "where to write the signature (default FILE.sig)");
  sign->callback([&p] { p.action = [&p](Context& c) { return ew::cli::PackageSign(c, p.key, p.path, p.signature); }; });
  auto* verify = package->add_subcommand("verify", "check FILE.sig against a public key, as a board will");
  verify->add_option("--key", p.key, "the public key (NAME.pem)")->required()->check(CLI::ExistingFile);
  verify->add_option("FILE", p.path, "the edgewire-agent .deb")->required()->check(CLI::ExistingFile);
  verify->add_option("--sig", p.signature, "the signature (default FILE.sig)")->check(CLI::ExistingFile);
  verify->callback([&p] { p.action = [&p](Context& c) { return ew::cli::PackageVerify(c, p.key, p.path, p.signature); }; });
}

void AddFunctionCommands(CLI::App& app, Parsed& p) {
  auto* fn = app.add_subcommand("fn", "manage, deploy and invoke serverless functions")->require_subcommand(1);
  fn->footer("FN is a function id, or a name (its newest version). BOARD is a board id or name.");

  auto* create = fn->add_subcommand("create", "upload a function package (checked locally first)");
  create->add_option("PACKAGE", p.path, "a directory holding function.json and the code, or a .tar.gz")->required();
  create->callback([&p] { p.action = [&p](Context& c) { return FunctionCreate(c, p.path); }; });

  auto* list = fn->add_subcommand("list", "list functions: ID NAME VERSION SHA256");
  list->alias("ls");
  list->callback([&p] { p.action = [](Context& c) { return FunctionList(c); }; });

  auto* remove = fn->add_subcommand("rm", "delete a function (a name must have one version)");
  remove->alias("delete");
  remove->add_option("FN", p.fn, "function id or name")->required();
  remove->callback([&p] { p.action = [&p](Context& c) { return FunctionDelete(c, p.fn); }; });

  auto* deploy = fn->add_subcommand("deploy", "deploy a function to boards or a fleet");
  deploy->add_option("FN", p.fn, "function id or name")->required();
  auto* board = deploy->add_option("--board,-b", p.deploy.boards, "board id or name (repeatable)");
  auto* fleet = deploy->add_option("--fleet,-f", p.deploy.fleet, "fleet id or name");
  board->excludes(fleet);
  auto* wait = deploy->add_flag("--wait,-w", p.deploy.wait,
                                "wait until every board is deployed, printing each state change; exit 2 when a "
                                "board fails, 3 on timeout");
  deploy->add_option("--trigger", p.deploy.triggers,
                     "also run the function on each board at GPIO edges: LINE[,rising|falling|both[,DEBOUNCE_MS]] "
                     "(repeatable; e.g. GPIO4,rising,20)");
  deploy->add_option("--timeout", p.deploy_timeout_s, "seconds to wait with --wait (default: 120)")
      ->check(CLI::Range(int64_t{1}, int64_t{24 * 3600}))
      ->needs(wait);
  deploy->callback([&p] {
    RequireOneOf("--board or --fleet", !p.deploy.boards.empty() || !p.deploy.fleet.empty());
    p.deploy.timeout = std::chrono::seconds(p.deploy_timeout_s);
    p.action = [&p](Context& c) { return FunctionDeploy(c, p.fn, p.deploy); };
  });

  auto* undeploy = fn->add_subcommand("undeploy", "remove a function from boards");
  undeploy->add_option("FN", p.fn, "function id or name")->required();
  undeploy->add_option("--board,-b", p.boards, "board id or name (repeatable)")->required();
  undeploy->callback([&p] { p.action = [&p](Context& c) { return FunctionUndeploy(c, p.fn, p.boards); }; });

  auto* deployments = fn->add_subcommand("deployments", "show where a function is deployed: BOARD STATE VERSION ERROR");
  deployments->add_option("FN", p.fn, "function id or name")->required();
  deployments->callback([&p] { p.action = [&p](Context& c) { return FunctionDeployments(c, p.fn); }; });

  auto* invoke = fn->add_subcommand(
      "invoke", "run a function (where the conductor places it, or on a board or in the cloud) and print its output");
  invoke->add_option("FN", p.fn, "function id or name")->required();
  auto* on_board = invoke->add_option("--board,-b", p.invoke.board, "board id or name to run on");
  auto* on_cloud = invoke->add_flag("--cloud", p.invoke.cloud, "run in the conductor's cloud runtime");
  on_board->excludes(on_cloud);
  invoke->add_option("--strategy", p.invoke.strategy,
                     "placement strategy when neither --board nor --cloud: greedy, ucb1, bayes-ucb, sliding-ucb");
  auto* event = invoke->add_option("--event,-e", p.invoke.event, "the event, JSON (default: {})")->check(kJson);
  invoke->add_option("--event-file", p.invoke.event_file, "read the event from a file (\"-\": standard input)")
      ->excludes(event);
  invoke->add_flag("--async", p.invoke.async, "do not wait: print the invocation id (see `fn logs`)");
  invoke->footer(
      "Prints the function's output as one line of JSON (--json: the whole invocation record).\n"
      "Exit status: 0 succeeded; 2 the function failed (its logs and error on stderr); 3 it timed\n"
      "out; 1 any other error (2 is also a usage error, reported before anything runs).");
  invoke->callback([&p] { p.action = [&p](Context& c) { return FunctionInvoke(c, p.fn, p.invoke); }; });

  auto* stats = fn->add_subcommand("stats", "show where placement sends a function and why: RUNTIME AVAILABLE CALLS "
                                            "FAILURES MEAN-MS WEIGHT (lowest weight first)");
  stats->add_option("FN", p.fn, "function id or name")->required();
  stats->add_option("--strategy", p.invoke.strategy, "weigh under this strategy (default: the conductor's)");
  stats->callback([&p] { p.action = [&p](Context& c) { return FunctionStats(c, p.fn, p.invoke.strategy); }; });

  auto* logs = fn->add_subcommand("logs", "show an invocation's status and logs (without INVOCATION: recent ones)");
  logs->add_option("FN", p.fn, "function id or name")->required();
  logs->add_option("INVOCATION", p.invocation, "invocation id (from `fn invoke --async`)");
  logs->callback([&p] { p.action = [&p](Context& c) { return FunctionLogs(c, p.fn, p.invocation); }; });
}

void AddGpioCommands(CLI::App& app, Parsed& p) {
  auto* gpio = app.add_subcommand("gpio", "read, write and watch the GPIO lines of a board")->require_subcommand(1);
  gpio->footer("BOARD is a board id or name. LINE is a line as the board names it: GPIO17, 17, gpiochip1:5.");

  auto* list = gpio->add_subcommand("ls", "list a live board's lines: CHIP OFFSET LINE DIRECTION VALUE HELD-BY");
  list->alias("list");
  list->add_option("BOARD", p.id, "board id or name")->required();
  list->callback([&p] { p.action = [&p](Context& c) { return GpioList(c, p.id); }; });

  auto* get = gpio->add_subcommand("get", "read a line");
  get->add_option("BOARD", p.id, "board id or name")->required();
  get->add_option("LINE", p.line, "line")->required();
  get->callback([&p] { p.action = [&p](Context& c) { return GpioGet(c, p.id, p.line); }; });

  auto* set = gpio->add_subcommand("set", "write a line (set as an output at that level and let go, as gpioset does)");
  set->add_option("BOARD", p.id, "board id or name")->required();
  set->add_option("LINE", p.line, "line")->required();
  set->add_option("VALUE", p.gpio_value, "0 or 1")->required()->check(CLI::IsMember({"0", "1"}));
  set->callback([&p] { p.action = [&p](Context& c) { return GpioSet(c, p.id, p.line, p.gpio_value == "1"); }; });

  auto* watch = gpio->add_subcommand("watch", "print a line's edges as they happen (until Ctrl-C or --count)");
  watch->add_option("BOARD", p.id, "board id or name")->required();
  watch->add_option("LINE", p.line, "line")->required();
  watch->add_option("--edge", p.gpio_watch.edge, "rising, falling or both (default: both)")
      ->check(CLI::IsMember({"rising", "falling", "both"}));
  watch->add_option("--debounce-ms", p.gpio_watch.debounce_ms, "ignore edges closer than this (0..1000, default 0)")
      ->check(CLI::Range(int64_t{0}, int64_t{1000}));
  watch->add_option("--count,-n", p.gpio_watch.count, "stop after this many edges")
      ->check(CLI::Range(int64_t{1}, int64_t{1'000'000'000}));
  watch->footer("One line per edge: TIME (UTC, when received) CHIP:LINE EDGE VALUE SEQ; --json prints each\n"
                "event's JSON. Missed edges (a gap in seq) are reported on stderr. Exits 1 when the board\n"
                "goes offline.");
  watch->callback([&p] { p.action = [&p](Context& c) { return GpioWatch(c, p.id, p.line, p.gpio_watch); }; });

  auto* history = gpio->add_subcommand("history", "show a line's stored readings: TIME LINE KIND VALUE EDGE SEQ");
  history->add_option("BOARD", p.id, "board id or name")->required();
  history->add_option("LINE", p.line, "line")->required();
  history->add_option("--from", p.gpio_history.from, "from this time on: RFC 3339 (2024-05-01T12:00:00Z) or ns");
  history->add_option("--to", p.gpio_history.to, "before this time: RFC 3339 or ns");
  history->add_option("--limit", p.gpio_history.limit, "the newest N readings of the range (1..10000, default 1000)")
      ->check(CLI::Range(int64_t{1}, int64_t{10'000}));
  history->callback([&p] {
    p.action = [&p](Context& c) { return GpioHistory(c, p.id, p.line, p.gpio_history); };
  });
}

void AddFleetCommands(CLI::App& app, Parsed& p) {
  auto* fleets = app.add_subcommand("fleet", "manage fleets (named groups of boards)")->require_subcommand(1);
  fleets->footer("F is a fleet id or name. BOARD is a board id or name.");

  auto* create = fleets->add_subcommand("create", "create an empty fleet");
  create->add_option("NAME", p.name, "fleet name")->required();
  create->callback([&p] { p.action = [&p](Context& c) { return FleetCreate(c, p.name); }; });

  auto* list = fleets->add_subcommand("ls", "list fleets: ID NAME BOARDS");
  list->alias("list");
  list->callback([&p] { p.action = [](Context& c) { return FleetList(c); }; });

  auto* show = fleets->add_subcommand("show", "show a fleet and its boards");
  show->add_option("F", p.fleet, "fleet id or name")->required();
  show->callback([&p] { p.action = [&p](Context& c) { return FleetShow(c, p.fleet); }; });

  auto* remove = fleets->add_subcommand("rm", "delete a fleet (its boards stay)");
  remove->alias("delete");
  remove->add_option("F", p.fleet, "fleet id or name")->required();
  remove->callback([&p] { p.action = [&p](Context& c) { return FleetDelete(c, p.fleet); }; });

  auto* add = fleets->add_subcommand("add", "add boards to a fleet");
  add->add_option("F", p.fleet, "fleet id or name")->required();
  add->add_option("BOARD", p.boards, "board ids or names")->required();
  add->callback([&p] { p.action = [&p](Context& c) { return FleetAddBoards(c, p.fleet, p.boards); }; });

  auto* drop = fleets->add_subcommand("remove", "remove boards from a fleet");
  drop->add_option("F", p.fleet, "fleet id or name")->required();
  drop->add_option("BOARD", p.boards, "board ids or names")->required();
  drop->callback([&p] { p.action = [&p](Context& c) { return FleetRemoveBoards(c, p.fleet, p.boards); }; });
}

void AddTunnelCommands(CLI::App& app, Parsed& p) {
  auto* tunnels = app.add_subcommand("tunnel", "reverse tunnels to TCP services on boards")->require_subcommand(1);
  tunnels->footer("BOARD is a board id or name; SERVICE a service id (from tunnel ls).");

  auto* open = tunnels->add_subcommand("open", "tunnel a conductor port to 127.0.0.1:PORT on a board");
  open->add_option("BOARD", p.id, "board id or name")->required();
  open->add_option("PORT", p.board_port, "port on the board's loopback")->required()->check(CLI::Range(1, 65535));
  auto* conductor_port =
      open->add_option("--conductor-port", p.tunnel.conductor_port, "port on the conductor (default: one it allocates)")
          ->check(CLI::Range(1, 65535));
  auto* max_connections =
      open->add_option("--max-connections", p.tunnel.max_connections,
                       "live connections at once (default: the conductor's)")
          ->check(CLI::Range(1, 100000));
  auto* allow =
      open->add_option("--allow", p.tunnel.allow, "source network that may connect (CIDR, repeatable; default: any)");
  // The three concern the conductor port a connect-only service does not have: refused here,
  // with the flags' names, before anything is sent.
  open->add_flag("!--no-listen", p.tunnel.listen,
                 "connect-only: open no conductor port; reach it with `tunnel connect` (your token) only")
      ->excludes(conductor_port)
      ->excludes(max_connections)
      ->excludes(allow);
  open->callback([&p] { p.action = [&p](Context& c) { return TunnelOpen(c, p.id, p.board_port, p.tunnel); }; });

  auto* connect = tunnels->add_subcommand(
      "connect", "reach a service through the conductor's authenticated route (your token), no conductor port");
  connect->add_option("SERVICE", p.service, "service id")->required();
  connect->add_option("--listen", p.tunnel_connect.listen,
                      "local [HOST:]PORT to listen on (default 127.0.0.1:0, a free port, printed)");
  connect->add_flag("--stdio", p.tunnel_connect.stdio,
                    "one connection on stdin/stdout, e.g. ssh -o ProxyCommand='edgewire tunnel connect SVC --stdio'");
  connect->callback([&p] { p.action = [&p](Context& c) { return TunnelConnect(c, p.service, p.tunnel_connect); }; });

  auto* list = tunnels->add_subcommand("ls", "list services: ID BOARD BOARD-PORT CONDUCTOR-PORT STATE LIVE BYTES");
  list->alias("list");
  list->callback([&p] { p.action = [](Context& c) { return TunnelList(c); }; });

  auto* close = tunnels->add_subcommand("close", "delete a service: its port closes, live connections are cut");
  close->alias("rm");
  close->add_option("SERVICE", p.service, "service id")->required();
  close->callback([&p] { p.action = [&p](Context& c) { return TunnelClose(c, p.service); }; });
}

void AddTriggerCommands(CLI::App& app, Parsed& p) {
  auto* triggers = app.add_subcommand("trigger", "MQTT and schedule triggers of functions")->require_subcommand(1);
  triggers->footer("FN is a function id or name; TRIGGER a trigger id (from trigger ls). Schedules are UTC.");

  auto* create = triggers->add_subcommand("create", "invoke a function for each MQTT message, or on a schedule");
  create->add_option("FN", p.fn, "function id or name")->required();
  auto* mqtt = create->add_option("--mqtt", p.trigger_create.mqtt, "MQTT topic filter (+ and # wildcards)");
  auto* schedule = create->add_option("--schedule", p.trigger_create.schedule,
                                      "cron expression, five fields in UTC: 'MIN HOUR DAY MONTH WEEKDAY'");
  mqtt->excludes(schedule);
  create->add_option("--qos", p.trigger_create.qos, "MQTT subscription QoS (default 0)")->check(CLI::Range(0, 1));
  create->add_option("--when", p.trigger_create.when, "fire only when a JSON field compares true: 'temperature>30'");
  create->callback([&p] { p.action = [&p](Context& c) { return TriggerCreate(c, p.fn, p.trigger_create); }; });

  auto* list = triggers->add_subcommand("ls", "list triggers: ID TYPE FUNCTION SOURCE STATE FIRES LAST-FIRED LAST-ERROR");
  list->alias("list");
  list->callback([&p] { p.action = [](Context& c) { return TriggerList(c); }; });

  auto* show = triggers->add_subcommand("show", "show a trigger and what it did");
  show->add_option("TRIGGER", p.trigger, "trigger id")->required();
  show->callback([&p] { p.action = [&p](Context& c) { return TriggerShow(c, p.trigger); }; });

  auto* remove = triggers->add_subcommand("rm", "delete a trigger");
  remove->alias("delete");
  remove->add_option("TRIGGER", p.trigger, "trigger id")->required();
  remove->callback([&p] { p.action = [&p](Context& c) { return TriggerDelete(c, p.trigger); }; });
}

void AddFlowCommands(CLI::App& app, Parsed& p) {
  auto* flows = app.add_subcommand("flow", "manage distributed Node-RED flows")->require_subcommand(1);
  flows->footer("FLOW is a flow id or name.");

  auto* deploy = flows->add_subcommand("deploy", "deploy a Node-RED flow export (a new flow, or a new version)");
  deploy->add_option("FILE", p.flow_file, "the export (JSON array of nodes)")->required()->check(CLI::ExistingFile);
  deploy->add_option("--name,-n", p.flow_deploy.name, "flow name (default: the file name without extension)");
  deploy->add_option("--cloud", p.flow_deploy.cloud, "who runs the cloud partition: conductor (default) or external")
      ->check(CLI::IsMember({"conductor", "external"}));
  deploy->add_option_function<double>(
            "--wait", [&p](double s) { p.flow_deploy.wait = std::chrono::milliseconds(static_cast<int64_t>(s * 1000)); },
            "seconds to follow partitions still pending after the conductor's answer (default 15, 0 = do not)")
      ->check(CLI::Range(0.0, 600.0));
  deploy->callback([&p] { p.action = [&p](Context& c) { return FlowDeploy(c, p.flow_file, p.flow_deploy); }; });

  auto* list = flows->add_subcommand("ls", "list flows: ID NAME VERSION CLOUD UPDATED");
  list->alias("list");
  list->callback([&p] { p.action = [](Context& c) { return FlowList(c); }; });

  auto* show = flows->add_subcommand("show", "show a flow and its partitions");
  show->add_option("FLOW", p.flow, "flow id or name")->required();
  show->callback([&p] { p.action = [&p](Context& c) { return FlowShow(c, p.flow); }; });

  auto* remove = flows->add_subcommand("rm", "delete a flow (stops it on every board)");
  remove->alias("delete");
  remove->add_option("FLOW", p.flow, "flow id or name")->required();
  remove->callback([&p] { p.action = [&p](Context& c) { return FlowDelete(c, p.flow); }; });

  auto* status = flows->add_subcommand("status", "each partition's state on its board");
  status->add_option("FLOW", p.flow, "flow id or name")->required();
  status->callback([&p] { p.action = [&p](Context& c) { return FlowStatus(c, p.flow); }; });
}

}  // namespace

int main(int argc, char** argv) {
  std::signal(SIGPIPE, SIG_IGN);
  CLI::App app{"edgewire: manage an Edgewire conductor (projects, users, boards, functions, fleets, GPIO, flows, tunnels, triggers) over its REST API"};
  app.require_subcommand(1);
  Parsed parsed;
  AddGlobalOptions(app, parsed);
  AddAuthCommands(app, parsed);
  AddProjectCommands(app, parsed);
  AddUserCommands(app, parsed);
  AddBoardCommands(app, parsed);
  AddPackageCommands(app, parsed);
  AddFunctionCommands(app, parsed);
  AddFleetCommands(app, parsed);
  AddGpioCommands(app, parsed);
  AddFlowCommands(app, parsed);
  AddTunnelCommands(app, parsed);
  AddTriggerCommands(app, parsed);
  try {
    app.parse(argc, argv);
  } catch (const CLI::ParseError& e) {
    const int code = app.exit(e);  // prints help, or the usage error
    return code == 0 ? ew::exit_code::kOk : ew::exit_code::kUsage;
  }

  Context context(parsed.global, std::cout, std::cin);
  ew::Result<void> done = context.Init();
  if (done && parsed.action) done = parsed.action(context);
  if (!done) {
    std::cerr << "error: " << done.error().message << std::endl;
    // A command that chose its own status (fn invoke, fn deploy --wait) keeps it.
    const int chosen = context.exit_code();
    return chosen != ew::exit_code::kFailure ? chosen : ew::exit_code::ForError(done.error());
  }
  return ew::exit_code::kOk;
}
