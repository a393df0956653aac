// The registry's table of tunnel services (schema v6, v10 for connect-only ones,
// registry/migrations.cpp) on a connection of its own, as GpioStore does: a service maps (board,
// board port) to a conductor port, or to none (connect-only), with its limits. Thread-safe and
// blocking: call from the blocking pool or before the io loop runs.
// No method changes anything when it returns an error.
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include <SQLiteCpp/Database.h>

#include "cloud-conductor/registry/sqlite_connection.hpp"
#include "common/error/error.hpp"

namespace ew::conductor::tunnels {

struct Service {
  std::string id;          // "svc-<hex>"
  std::string project_id;  // the board's project: only its users (and admins) see the service
  std::string board_id;
  uint16_t board_port = 0;      // on the board's loopback
  // false: connect-only, no conductor port (stored as NULL), reachable only through the
  // authenticated GET /v1/services/{id}/connect.
  bool listen = true;
  uint16_t conductor_port = 0;  // the bound port (never 0 once stored when listen; always 0 when not)
  int64_t max_connections = 0;  // live connections at once; 0 = the conductor's default
  std::vector<std::string> allow_cidrs;  // source networks that may connect; empty = any
  int64_t created_at = 0;       // Unix seconds
};

class ServiceStore {
 public:
  // Opens `path` (the registry's file, already migrated). ":memory:" gives a private database
  // with the whole schema applied: for tests.
  static Result<std::unique_ptr<ServiceStore>> Open(const std::string& path);
  explicit ServiceStore(SQLite::Database db);

  // Conflict when the conductor port is another service's; NotFound when the board or project
  // does not exist.
  Result<void> Insert(const Service& service);
  Result<Service> Get(const std::string& id);
  // Every service of `project_id` ("" = of every project), oldest first.
  Result<std::vector<Service>> List(const std::string& project_id);
  // NotFound when there is no such service.
  Result<void> Delete(const std::string& id);

 private:
  registry::SqliteConnection connection_;
};

}  // namespace ew::conductor::tunnels
