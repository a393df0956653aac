// BoardNames: lets the operator name boards by name where the API wants ids (`fn deploy --board
// pi-1`, `fleet add greenhouse pi-1`, `board ping pi-1`, `gpio read pi-1 GPIO17`), and prints
// names back in progress lines. Every command that takes a board resolves it here, the same way.
#pragma once

#include <map>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "common/error/error.hpp"

namespace ew::cli {

class Context;

class BoardNames {
 public:
  BoardNames() = default;
  // From a "boards" array of GET /v1/boards ([{id, name, ...}]).
  explicit BoardNames(const nlohmann::json& boards);
  // GET /v1/boards. When the listing fails (the conductor is older, or the user may not list),
  // the result knows no boards and passes everything through: the API then judges the ids.
  static BoardNames Load(Context& ctx);
  // The id of the board `text` names, as Load(ctx).Id(text): what every command that takes one
  // board uses.
  static Result<std::string> Resolve(Context& ctx, const std::string& text);

  // The id for `text`: itself when a board has that id, the id of the one board named `text`,
  // else `text` unchanged (the API answers NotFound for it). InvalidArgument naming the ids when
  // several boards share the name.
  Result<std::string> Id(const std::string& text) const;
  // Ids for each of `texts`, as Id(); the first error.
  Result<std::vector<std::string>> Ids(const std::vector<std::string>& texts) const;
  // Board id → name, for boards whose name no other board has (else the id is the clearer label).
  std::map<std::string, std::string> Labels() const;

 private:
  std::map<std::string, std::string> name_of_;                 // id → name
  std::map<std::string, std::vector<std::string>> ids_named_;  // name → ids
};

}  // namespace ew::cli
