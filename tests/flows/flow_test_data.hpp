// Reading the real flow exports kept in tests/flows/data (see its README for their origin).
#pragma once

#include <fstream>
#include <sstream>
#include <string>

#include <nlohmann/json.hpp>

namespace ew::flows::testing {

inline std::string ReadData(const std::string& name) {
  std::ifstream in(std::string(EW_FLOWS_TEST_DATA) + "/" + name);
  std::stringstream text;
  text << in.rdbuf();
  return text.str();
}

// Node-RED's example files leave the tab out (the editor's Import puts the nodes on the tab in
// view): add that tab, as the editor would, so the example loads as a whole export.
inline nlohmann::json OnTab(nlohmann::json nodes, const std::string& label = "Imported") {
  std::string tab;
  for (const auto& node : nodes) {
    if (node.contains("z")) tab = node["z"].get<std::string>();
  }
  nodes.insert(nodes.begin(), nlohmann::json{{"id", tab}, {"type", "tab"}, {"label", label}, {"disabled", false}, {"info", ""}});
  return nodes;
}

}  // namespace ew::flows::testing
