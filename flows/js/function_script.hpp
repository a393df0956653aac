// The code of a Node-RED `function` node as a board runs it: its three texts (`func`, and the
// optional `initialize` and `finalize`) wrapped as function expressions, compiled by Duktape.
// The same wrapping serves the node at run time (flows/nodes/function_node.cpp) and the deploy-time
// check (CheckFunctionNode, called by the partitioner), so a flow the conductor accepts compiles on
// the board.
//
// The wrapper opens on the code's first line ("function (msg) {" + code), so the engine's line
// numbers are the editor's.
#pragma once

#include <string>
#include <vector>

#include "common/error/error.hpp"
#include "flows/model/partition.hpp"

namespace ew::flows::js {

struct FunctionScript {
  std::string func;        // "function (msg) {<func>\n}"
  std::string initialize;  // "function () {<initialize>\n}", "" when the node has none
  std::string finalize;    // likewise
  int outputs = 1;         // the node's `outputs` (0..), how many ports a result may fill
  bool calls_done = false; // the code calls node.done() itself (Node-RED's check, a regex here)
};

// The wrapped texts of `node` (a "function" node). InvalidArgument when `libs` lists external
// modules (a board has no npm) or `outputs` is not a small count.
Result<FunctionScript> FunctionScriptOf(const flows::Node& node);

// What would stop `node` from running on a board: every text that does not compile, with the
// engine's message and which text it is ("func: SyntaxError: parse error (line 3)"), and the
// `libs` refusal. Empty when it is fine. Each message ends with what Duktape lacks when it is a
// SyntaxError, because that is almost always the reason.
std::vector<std::string> CheckFunctionNode(const flows::Node& node);

// Appended to a SyntaxError: what the board's engine does not have.
extern const char* const kEngineSyntaxHint;

}  // namespace ew::flows::js
