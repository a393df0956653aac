// The board's record of what it runs, <state_dir>/deployments.json: written after every change,
// read once at start-up so that deployments survive restarts. Only the file: the services keep
// the live map. Blocking file work; callers keep it to start-up and to their blocking pool
// where they can (see FunctionService).
#pragma once

#include <filesystem>
#include <map>
#include <string>
#include <vector>

#include "common/contract/fn.hpp"
#include "common/error/error.hpp"

namespace ew::agent::functions {

class DeploymentBook {
 public:
  explicit DeploymentBook(std::filesystem::path file) : file_(std::move(file)) {}

  // The recorded deployments. No file is none; a file that is not valid is none too (logged: the
  // conductor delivers them again). A record without a function id or sha256 is skipped; one
  // whose triggers are not valid comes back without them (logged).
  std::vector<contract::fn::DeployedFunction> Load() const;
  // Replaces the file through a temporary one and a rename. Internal on a write error.
  Result<void> Save(const std::map<std::string, contract::fn::DeployedFunction>& deployments) const;

  const std::filesystem::path& file() const { return file_; }

 private:
  std::filesystem::path file_;
};

}  // namespace ew::agent::functions
