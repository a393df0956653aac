// Board name resolution for the CLI: one listing of /v1/boards (every page) per command that needs it.
#include "cloud-conductor/cli/board_names.hpp"

#include "cloud-conductor/cli/commands.hpp"
#include "cloud-conductor/cli/paged_list.hpp"

namespace ew::cli {

BoardNames::BoardNames(const nlohmann::json& boards) {
  if (!boards.is_array()) return;
  for (const auto& board : boards) {
    const std::string id = JsonString(board, "id");
    if (id.empty()) continue;
    const std::string name = JsonString(board, "name");
    name_of_[id] = name;
    if (!name.empty()) ids_named_[name].push_back(id);
  }
}

BoardNames BoardNames::Load(Context& ctx) {
  auto listing = GetAllPages(ctx, "/v1/boards", "boards");
  if (!listing) return BoardNames();
  return BoardNames((*listing)["boards"]);
}

Result<std::string> BoardNames::Resolve(Context& ctx, const std::string& text) { return Load(ctx).Id(text); }

Result<std::string> BoardNames::Id(const std::string& text) const {
  if (name_of_.count(text) != 0) return text;
  auto named = ids_named_.find(text);
  if (named == ids_named_.end()) return text;
  if (named->second.size() == 1) return named->second.front();
  std::string ids;
  for (const auto& id : named->second) ids += (ids.empty() ? "" : ", ") + id;
  return InvalidArgument("several boards are named " + text + " (" + ids + "): give the board id");
}

Result<std::vector<std::string>> BoardNames::Ids(const std::vector<std::string>& texts) const {
  std::vector<std::string> ids;
  for (const auto& text : texts) {
    EW_TRY(std::string id, Id(text));
    ids.push_back(std::move(id));
  }
  return ids;
}

std::map<std::string, std::string> BoardNames::Labels() const {
  std::map<std::string, std::string> labels;
  for (const auto& [id, name] : name_of_) {
    if (!name.empty() && ids_named_.at(name).size() == 1) labels[id] = name;
  }
  return labels;
}

}  // namespace ew::cli
