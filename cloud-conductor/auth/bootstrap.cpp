// Creates the first admin of an empty registry. A generated password goes only to a 0600 file in
// the state directory (stdout goes to the journal under systemd, and logs are copied around);
// the message and the log say where it is. Only its PBKDF2 hash is stored.
#include "cloud-conductor/auth/bootstrap.hpp"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <ostream>
#include <sstream>
#include <system_error>

#include <fmt/format.h>

#include "cloud-conductor/auth/role.hpp"
#include "common/ids/ids.hpp"
#include "common/log/log.hpp"
#include "common/posix/file_io.hpp"

namespace ew::auth {

const ew::log::Logger Log{"auth"};

namespace {

constexpr char kDefaultProject[] = "default";
constexpr char kAdminName[] = "admin";
constexpr size_t kMinPasswordLength = 8;
constexpr size_t kGeneratedPasswordBytes = 18;  // 24 base64url characters

std::string Trim(const std::string& text) {
  const char* space = " \t\r\n\v\f";
  size_t first = text.find_first_not_of(space);
  if (first == std::string::npos) return "";
  size_t last = text.find_last_not_of(space);
  return text.substr(first, last - first + 1);
}

Result<std::string> ReadPasswordFile(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) return InvalidArgument(fmt::format("cannot read bootstrap_password_file {}: {}", path, std::strerror(errno)));
  std::ostringstream text;
  text << in.rdbuf();
  std::string password = Trim(text.str());
  if (password.empty()) return InvalidArgument(fmt::format("bootstrap_password_file {} is empty", path));
  if (password.size() < kMinPasswordLength)
    return InvalidArgument(fmt::format("the password in bootstrap_password_file {} is shorter than {} characters",
                                       path, kMinPasswordLength));
  return password;
}

// Writes `password` to `path`, readable by the owner only (also when the file existed). A link
// planted at `path` is replaced, never followed (the write ends in a rename).
Result<void> WritePasswordFile(const std::string& path, const std::string& password) {
  auto written = posix::WriteFileAtomically(path, password + "\n", 0600);
  if (!written) return Internal(written.error().message);
  return Ok();
}

Result<edgewire::v1::Project> FindOrCreateDefaultProject(registry::Store& store, int64_t now) {
  registry::PageRequest page{registry::kMaxPageLimit, ""};
  do {
    EW_TRY(auto projects, store.ListProjects(page));
    for (auto& project : projects.items) {
      if (project.name() == kDefaultProject) return std::move(project);
    }
    page.cursor = projects.next_cursor;
  } while (!page.cursor.empty());
  edgewire::v1::Project project;
  project.set_id(ids::NewId("prj"));
  project.set_name(kDefaultProject);
  project.set_created_at(now);
  EW_TRY_VOID(store.CreateProject(project));
  return project;
}

void Announce(std::ostream& out, const std::string& saved_to) {
  std::vector<std::string> lines = {
      "Edgewire conductor: first start, an admin user was created.",
      "",
      "  user:     admin",
      "  password: in " + saved_to + " (mode 0600)",
      "",
      "Log in, then keep the password somewhere safe and delete the file:",
      "  edgewire login --user admin --password-stdin < " + saved_to,
  };
  size_t width = 0;
  for (const auto& line : lines) width = std::max(width, line.size());
  const std::string rule = "+" + std::string(width + 2, '-') + "+";
  out << "\n" << rule << "\n";
  for (const auto& line : lines) out << "| " << line << std::string(width - line.size(), ' ') << " |\n";
  out << rule << "\n" << std::endl;
}

}  // namespace

std::string AdminPasswordPath(const std::string& store_path) {
  // A store in memory has no state directory: a per-process file in the temporary directory.
  if (store_path.empty() || store_path == ":memory:")
    return (std::filesystem::temp_directory_path() / ("edgewire-admin-password-" + std::to_string(::getpid())))
        .string();
  // Absolute, so that the log line says where it is ("edgewire.db" under systemd is relative
  // to the state directory).
  std::error_code ec;
  std::filesystem::path store = std::filesystem::absolute(store_path, ec);
  if (ec) store = store_path;
  return (store.parent_path() / "admin-password").string();
}

Result<void> BootstrapAdmin(registry::Store& store, const Clock& clock, const config::ConductorConfig& config,
                            std::ostream& out) {
  EW_TRY(int64_t users, store.CountUsers());
  if (users > 0) return Ok();

  // Everything that can fail on bad input is checked before the store changes.
  const bool generated = config.bootstrap_password_file.empty();
  std::string password;
  if (generated) {
    password = ids::NewSecret(kGeneratedPasswordBytes);
  } else {
    EW_TRY(password, ReadPasswordFile(config.bootstrap_password_file));
  }
  const std::string saved_to = generated ? AdminPasswordPath(config.store_path) : "";
  // Never printed, never logged: only the 0600 file holds it.
  if (!saved_to.empty()) EW_TRY_VOID(WritePasswordFile(saved_to, password));

  const int64_t now = UnixSeconds(clock.Now());
  edgewire::v1::Project project;
  edgewire::v1::User admin;
  auto created = [&]() -> Result<void> {
    EW_TRY(project, FindOrCreateDefaultProject(store, now));
    admin.set_id(ids::NewId("usr"));
    admin.set_name(kAdminName);
    admin.set_project_id(project.id());
    admin.set_role(RoleName(Role::kAdmin));
    admin.set_created_at(now);
    return store.CreateUser(admin, ids::HashPassword(password));
  }();
  if (!created) {
    // A password file for an admin that does not exist would only mislead.
    if (!saved_to.empty()) ::unlink(saved_to.c_str());
    return created;
  }

  Log()->info("bootstrap: created user admin ({}) in project {} ({}), password {}", admin.id(),
                         project.name(), project.id(),
                         generated ? "generated and written to " + saved_to + " (mode 0600)"
                                   : "from " + config.bootstrap_password_file);
  if (generated) Announce(out, saved_to);
  return Ok();
}

}  // namespace ew::auth
