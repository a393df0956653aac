#include "cloud-conductor/tunnels/service_store.hpp"

#include <SQLiteCpp/Statement.h>
#include <fmt/format.h>

#include "cloud-conductor/registry/migrations.hpp"

namespace ew::conductor::tunnels {

namespace {

// v10: conductor_port may be NULL (connect-only services).
constexpr int kVersionWithServices = 10;

std::string JoinCidrs(const std::vector<std::string>& cidrs) {
  std::string out;
  for (const auto& c : cidrs) out += (out.empty() ? "" : ",") + c;
  return out;
}

std::vector<std::string> SplitCidrs(const std::string& text) {
  std::vector<std::string> out;
  size_t start = 0;
  while (start < text.size()) {
    size_t comma = text.find(',', start);
    if (comma == std::string::npos) comma = text.size();
    if (comma > start) out.push_back(text.substr(start, comma - start));
    start = comma + 1;
  }
  return out;
}

constexpr const char* kColumns =
    "id, project_id, board_id, board_port, conductor_port, max_connections, allow_cidrs, created_at";

Service ReadRow(SQLite::Statement& q) {
  Service s;
  s.id = q.getColumn(0).getString();
  s.project_id = q.getColumn(1).getString();
  s.board_id = q.getColumn(2).getString();
  s.board_port = static_cast<uint16_t>(q.getColumn(3).getInt());
  s.listen = !q.getColumn(4).isNull();
  s.conductor_port = s.listen ? static_cast<uint16_t>(q.getColumn(4).getInt()) : 0;
  s.max_connections = q.getColumn(5).getInt64();
  s.allow_cidrs = SplitCidrs(q.getColumn(6).getString());
  s.created_at = q.getColumn(7).getInt64();
  return s;
}

}  // namespace

Result<std::unique_ptr<ServiceStore>> ServiceStore::Open(const std::string& path) {
  const std::vector<std::string> pragmas = {"PRAGMA foreign_keys = ON"};
  EW_TRY(SQLite::Database db, registry::OpenModuleStore(path, {"tunnel services", kVersionWithServices, pragmas, pragmas}));
  return std::make_unique<ServiceStore>(std::move(db));
}

ServiceStore::ServiceStore(SQLite::Database db) : connection_(std::move(db)) {}

Result<void> ServiceStore::Insert(const Service& s) {
  registry::SqliteConstraints constraints;
  constraints.unique = {{"tunnel_services.conductor_port",
                         Error{ErrorCode::kConflict, "conductor port " + std::to_string(s.conductor_port) +
                                                         " is another service's"}}};
  constraints.foreign_key = Error{ErrorCode::kNotFound, "board " + s.board_id + " or its project does not exist"};
  return connection_.Run<void>("store tunnel service", constraints, [&]() -> Result<void> {
    SQLite::Statement q(connection_.database(),
                        fmt::format("INSERT INTO tunnel_services ({}) VALUES (?, ?, ?, ?, ?, ?, ?, ?)", kColumns));
    q.bind(1, s.id);
    q.bind(2, s.project_id);
    q.bind(3, s.board_id);
    q.bind(4, static_cast<int>(s.board_port));
    if (s.listen) {
      q.bind(5, static_cast<int>(s.conductor_port));
    } else {
      q.bind(5);  // NULL: connect-only
    }
    q.bind(6, static_cast<int64_t>(s.max_connections));
    q.bind(7, JoinCidrs(s.allow_cidrs));
    q.bind(8, static_cast<int64_t>(s.created_at));
    q.exec();
    return Ok();
  });
}

Result<Service> ServiceStore::Get(const std::string& id) {
  return connection_.Run<Service>("read tunnel service", [&]() -> Result<Service> {
    SQLite::Statement q(connection_.database(), fmt::format("SELECT {} FROM tunnel_services WHERE id = ?", kColumns));
    q.bind(1, id);
    if (!q.executeStep()) return NotFound("service " + id + " does not exist");
    return ReadRow(q);
  });
}

Result<std::vector<Service>> ServiceStore::List(const std::string& project_id) {
  return connection_.Run<std::vector<Service>>("list tunnel services", [&]() -> Result<std::vector<Service>> {
    SQLite::Statement q(connection_.database(),
                        fmt::format("SELECT {} FROM tunnel_services WHERE ? = '' OR project_id = ? "
                                    "ORDER BY created_at, id",
                                    kColumns));
    q.bind(1, project_id);
    q.bind(2, project_id);
    std::vector<Service> out;
    while (q.executeStep()) out.push_back(ReadRow(q));
    return out;
  });
}

Result<void> ServiceStore::Delete(const std::string& id) {
  return connection_.Run<void>("delete tunnel service", [&]() -> Result<void> {
    SQLite::Statement q(connection_.database(), "DELETE FROM tunnel_services WHERE id = ?");
    q.bind(1, id);
    if (q.exec() == 0) return NotFound("service " + id + " does not exist");
    return Ok();
  });
}

}  // namespace ew::conductor::tunnels
