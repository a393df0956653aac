// State tracking for `fn deploy --wait`. A board that is offline stays "pending" until it comes
// back, so a wait on it ends by the timeout, and the message says which boards are pending.
#include "cloud-conductor/cli/deployment_watch.hpp"

#include <algorithm>
#include <utility>

namespace ew::cli {

namespace {

std::string Text(const nlohmann::json& object, const std::string& key) {
  if (!object.is_object()) return "";
  auto it = object.find(key);
  return it != object.end() && it->is_string() ? it->get<std::string>() : "";
}

}  // namespace

DeploymentWatch::DeploymentWatch(std::vector<std::string> boards, std::map<std::string, std::string> labels)
    : labels_(std::move(labels)) {
  for (auto& id : boards) {
    const bool seen = std::any_of(boards_.begin(), boards_.end(), [&](const Board& b) { return b.id == id; });
    if (!seen) boards_.push_back({std::move(id), "", ""});
  }
}

std::string DeploymentWatch::Label(const std::string& id) const {
  auto it = labels_.find(id);
  return it != labels_.end() && !it->second.empty() ? it->second : id;
}

std::vector<std::string> DeploymentWatch::Update(const nlohmann::json& deployments) {
  std::vector<std::string> lines;
  if (!deployments.is_array()) return lines;
  for (auto& board : boards_) {
    auto it = std::find_if(deployments.begin(), deployments.end(),
                           [&](const nlohmann::json& d) { return Text(d, "boardId") == board.id; });
    if (it == deployments.end()) continue;
    const std::string state = Text(*it, "state");
    const std::string error = Text(*it, "error");
    if (state.empty() || (state == board.state && error == board.error)) continue;
    board.state = state;
    board.error = error;
    std::string line = Label(board.id) + " " + state;
    if (state == "failed" && !error.empty()) line += ": " + error;
    lines.push_back(std::move(line));
  }
  return lines;
}

bool DeploymentWatch::finished() const {
  return std::all_of(boards_.begin(), boards_.end(),
                     [](const Board& b) { return b.state == "deployed" || b.state == "failed"; });
}

bool DeploymentWatch::all_deployed() const {
  return std::all_of(boards_.begin(), boards_.end(), [](const Board& b) { return b.state == "deployed"; });
}

std::vector<std::string> DeploymentWatch::Failed() const {
  std::vector<std::string> out;
  for (const auto& board : boards_) {
    if (board.state != "failed") continue;
    out.push_back(Label(board.id) + (board.error.empty() ? "" : ": " + board.error));
  }
  return out;
}

std::vector<std::string> DeploymentWatch::Unfinished() const {
  std::vector<std::string> out;
  for (const auto& board : boards_) {
    if (board.state == "deployed" || board.state == "failed") continue;
    out.push_back(Label(board.id) + " " + (board.state.empty() ? "pending" : board.state));
  }
  return out;
}

}  // namespace ew::cli
