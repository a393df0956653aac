// DeploymentWatch: follows the boards of one `fn deploy --wait` through their deployment states
// (pending → deploying → deployed | failed): which lines to print, whether it is over, and what
// to say when it is not. Pure, so that tests feed it answers; the command does the polling.
#pragma once

#include <map>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

namespace ew::cli {

class DeploymentWatch {
 public:
  // `boards`: the board ids the deployment targets, in the order to report them. `labels`:
  // board id → what to print for it (its name); an id without a label prints as itself.
  DeploymentWatch(std::vector<std::string> boards, std::map<std::string, std::string> labels);

  // Takes a "deployments" array ([{boardId, state, error?}], the POST's or a GET's) and returns
  // one line per watched board whose state changed: "<label> <state>", plus ": <error>" for a
  // failed one. Boards missing from the array keep their state; other boards are ignored.
  std::vector<std::string> Update(const nlohmann::json& deployments);

  // Every watched board is deployed or failed (failed is final: the conductor does not retry).
  bool finished() const;
  // Every watched board is deployed.
  bool all_deployed() const;
  // "<label>: <error>" (or just the label) for each failed board.
  std::vector<std::string> Failed() const;
  // "<label> <state>" for each board neither deployed nor failed; "pending" when never seen.
  std::vector<std::string> Unfinished() const;

 private:
  struct Board {
    std::string id;
    std::string state;  // "" until an answer lists the board
    std::string error;
  };
  std::string Label(const std::string& id) const;

  std::vector<Board> boards_;
  std::map<std::string, std::string> labels_;
};

}  // namespace ew::cli
