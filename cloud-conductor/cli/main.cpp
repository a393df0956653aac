// edgewire: the operator CLI for a conductor's REST API (log in, projects, users, boards, calls).
// main() only wires CLI11 to the commands in commands.cpp.
#include <csignal>
#include <functional>
#include <iostream>

#include <CLI/CLI.hpp>
#include <nlohmann/json.hpp>

#include "cloud-conductor/cli/commands.hpp"

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
};

// CLI11 validators, so that malformed local input is a usage error (exit 2).
const CLI::Validator kLabel(
    [](std::string& text) -> std::string {
      const size_t eq = text.find('=');
      if (eq == std::string::npos || eq == 0) return "expected KEY=VALUE, got \"" + text + "\"";
      return "";
    },
    "KEY=VALUE");

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
  show->add_option("ID", p.id, "board id")->required();
  show->callback([&p] { p.action = [&p](Context& c) { return BoardShow(c, p.id); }; });

  auto* remove = boards->add_subcommand("delete", "delete a board and close its session");
  remove->add_option("ID", p.id, "board id")->required();
  remove->callback([&p] { p.action = [&p](Context& c) { return BoardDelete(c, p.id); }; });

  auto* call = boards->add_subcommand("call", "call a procedure on a board (e.g. sys.info, gpio.read)");
  call->add_option("ID", p.id, "board id")->required();
  call->add_option("PROCEDURE", p.procedure, "procedure, like sys.info")->required();
  call->add_option("ARG_JSON", p.call_args, "positional arguments, each JSON (else taken as a string)");
  call->add_option("--kwargs", p.kwargs, "keyword arguments as a JSON object")->check(kJsonObject);
  call->add_option("--timeout-ms", p.timeout_ms, "call timeout in milliseconds (default: the conductor's)")
      ->check(CLI::Range(int64_t{1}, int64_t{600'000}));
  call->callback([&p] {
    p.action = [&p](Context& c) { return BoardCall(c, p.id, p.procedure, p.call_args, p.kwargs, p.timeout_ms); };
  });

  auto* ping = boards->add_subcommand("ping", "call sys.ping and print the round trip");
  ping->add_option("ID", p.id, "board id")->required();
  ping->callback([&p] { p.action = [&p](Context& c) { return BoardPing(c, p.id); }; });
}

}  // namespace

int main(int argc, char** argv) {
  std::signal(SIGPIPE, SIG_IGN);
  CLI::App app{"edgewire: manage an Edgewire conductor (projects, users, boards) over its REST API"};
  app.require_subcommand(1);
  Parsed parsed;
  AddGlobalOptions(app, parsed);
  AddAuthCommands(app, parsed);
  AddProjectCommands(app, parsed);
  AddUserCommands(app, parsed);
  AddBoardCommands(app, parsed);
  try {
    app.parse(argc, argv);
  } catch (const CLI::ParseError& e) {
    const int code = app.exit(e);  // prints help, or the usage error
    return code == 0 ? 0 : 2;
  }

  Context context(parsed.global, std::cout, std::cin);
  ew::Result<void> done = context.Init();
  if (done && parsed.action) done = parsed.action(context);
  if (!done) {
    std::cerr << "error: " << done.error().message << std::endl;
    return 1;
  }
  return 0;
}
