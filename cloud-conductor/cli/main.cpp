// edgewire: the operator CLI for a conductor's REST API (log in, projects, users, boards, calls).
#include <csignal>
#include <functional>
#include <iostream>

#include <CLI/CLI.hpp>
#include <nlohmann/json.hpp>

#include "cloud-conductor/cli/commands.hpp"

namespace {

using ew::cli::Context;
using Action = std::function<ew::Result<void>(Context&)>;

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

}  // namespace

int main(int argc, char** argv) {
  std::signal(SIGPIPE, SIG_IGN);
  CLI::App app{"edgewire: manage an Edgewire conductor (projects, users, boards) over its REST API"};
  app.require_subcommand(1);
  ew::cli::GlobalOptions global;
  app.add_option("--conductor", global.conductor,
                 std::string("conductor URL (default: $EDGEWIRE_URL, else the URL saved at login, else ") +
                     ew::cli::kDefaultConductorUrl + ")")
      ->envname("EDGEWIRE_URL");
  app.add_option("--token", global.token, "API token (default: $EDGEWIRE_TOKEN, else the one saved at login)")
      ->envname("EDGEWIRE_TOKEN");
  app.add_flag("--json", global.json, "print the API's JSON answers as they are");

  Action action;

  // login / logout / whoami
  std::string login_user;
  bool password_stdin = false;
  int64_t ttl_seconds = 0;
  auto* login = app.add_subcommand("login", "log in and keep the token for the next commands");
  login->add_option("--user,-u", login_user, "user name")->required();
  login->add_flag("--password-stdin", password_stdin, "read the password from the first line of standard input");
  login->add_option("--ttl", ttl_seconds, "token lifetime in seconds (default: the conductor's)")
      ->check(CLI::Range(int64_t{0}, int64_t{30} * 24 * 3600));
  login->callback([&] { action = [&](Context& c) { return Login(c, login_user, password_stdin, ttl_seconds); }; });
  app.add_subcommand("logout", "revoke the saved token and forget it")->callback([&] {
    action = [](Context& c) { return Logout(c); };
  });
  app.add_subcommand("whoami", "show who the token belongs to")->callback([&] {
    action = [](Context& c) { return WhoAmI(c); };
  });

  // project
  std::string name, id, project, role = "operator", procedure, kwargs;
  std::vector<std::string> labels, call_args;
  int64_t timeout_ms = 0;
  auto* projects = app.add_subcommand("project", "manage projects")->require_subcommand(1);
  auto* project_create = projects->add_subcommand("create", "create a project (admin)");
  project_create->add_option("NAME", name, "project name")->required();
  project_create->callback([&] { action = [&](Context& c) { return ProjectCreate(c, name); }; });
  projects->add_subcommand("list", "list the projects you can see")->callback([&] {
    action = [](Context& c) { return ProjectList(c); };
  });
  auto* project_delete = projects->add_subcommand("delete", "delete an empty project (admin)");
  project_delete->add_option("ID", id, "project id")->required();
  project_delete->callback([&] { action = [&](Context& c) { return ProjectDelete(c, id); }; });

  // user
  auto* users = app.add_subcommand("user", "manage users (admin)")->require_subcommand(1);
  auto* user_create = users->add_subcommand("create", "create a user");
  user_create->add_option("NAME", name, "user name")->required();
  user_create->add_option("--project,-p", project, "project id")->required();
  user_create->add_option("--role", role, "admin or operator")->check(CLI::IsMember({"admin", "operator"}));
  user_create->add_flag("--password-stdin", password_stdin, "read the password from the first line of standard input");
  user_create->callback([&] {
    action = [&](Context& c) { return UserCreate(c, name, project, role, password_stdin); };
  });
  auto* user_list = users->add_subcommand("list", "list users");
  user_list->add_option("--project,-p", project, "only this project");
  user_list->callback([&] { action = [&](Context& c) { return UserList(c, project); }; });
  auto* user_delete = users->add_subcommand("delete", "delete a user and its tokens");
  user_delete->add_option("ID", id, "user id")->required();
  user_delete->callback([&] { action = [&](Context& c) { return UserDelete(c, id); }; });

  // board
  auto* boards = app.add_subcommand("board", "manage and call boards")->require_subcommand(1);
  auto* board_create = boards->add_subcommand("create", "register a board and get its one-time enrolment code");
  board_create->add_option("NAME", name, "board name")->required();
  board_create->add_option("--project,-p", project, "project id (default: yours)");
  board_create->add_option("--label,-l", labels, "label KEY=VALUE (repeatable)")->check(kLabel);
  board_create->callback([&] { action = [&](Context& c) { return BoardCreate(c, name, project, labels); }; });
  auto* board_list = boards->add_subcommand("list", "list boards with their live status");
  board_list->add_option("--project,-p", project, "only this project");
  board_list->callback([&] { action = [&](Context& c) { return BoardList(c, project); }; });
  auto* board_show = boards->add_subcommand("show", "show one board");
  board_show->add_option("ID", id, "board id")->required();
  board_show->callback([&] { action = [&](Context& c) { return BoardShow(c, id); }; });
  auto* board_delete = boards->add_subcommand("delete", "delete a board and close its session");
  board_delete->add_option("ID", id, "board id")->required();
  board_delete->callback([&] { action = [&](Context& c) { return BoardDelete(c, id); }; });
  auto* board_call = boards->add_subcommand("call", "call a procedure on a board (e.g. sys.info, gpio.read)");
  board_call->add_option("ID", id, "board id")->required();
  board_call->add_option("PROCEDURE", procedure, "procedure, like sys.info")->required();
  board_call->add_option("ARG_JSON", call_args, "positional arguments, each JSON (else taken as a string)");
  board_call->add_option("--kwargs", kwargs, "keyword arguments as a JSON object")->check(kJsonObject);
  board_call->add_option("--timeout-ms", timeout_ms, "call timeout in milliseconds (default: the conductor's)")
      ->check(CLI::Range(int64_t{1}, int64_t{600'000}));
  board_call->callback([&] {
    action = [&](Context& c) { return BoardCall(c, id, procedure, call_args, kwargs, timeout_ms); };
  });
  auto* board_ping = boards->add_subcommand("ping", "call sys.ping and print the round trip");
  board_ping->add_option("ID", id, "board id")->required();
  board_ping->callback([&] { action = [&](Context& c) { return BoardPing(c, id); }; });

  try {
    app.parse(argc, argv);
  } catch (const CLI::ParseError& e) {
    const int code = app.exit(e);
    return code == 0 ? 0 : 2;
  }

  Context context(global, std::cout, std::cin);
  ew::Result<void> done = context.Init();
  if (done && action) done = action(context);
  if (!done) {
    std::cerr << "error: " << done.error().message << std::endl;
    return 1;
  }
  return 0;
}
