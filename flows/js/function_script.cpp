#include "flows/js/function_script.hpp"

#include <regex>

#include "flows/js/js_heap.hpp"

namespace ew::flows::js {

const char* const kEngineSyntaxHint =
    " (board function nodes run Duktape: ECMAScript 5.1 plus some ES2015+; arrow functions, let, "
    "template literals, classes, destructuring, spread, async/await and optional chaining are not supported)";

namespace {

std::string Text(const nlohmann::json& props, const char* name) {
  auto it = props.find(name);
  if (it == props.end() || !it->is_string()) return "";
  return it->get<std::string>();
}

bool Blank(const std::string& s) { return s.find_first_not_of(" \t\r\n") == std::string::npos; }

}  // namespace

Result<FunctionScript> FunctionScriptOf(const flows::Node& node) {
  FunctionScript script;
  const auto& props = node.props;
  if (auto libs = props.find("libs"); libs != props.end() && libs->is_array() && !libs->empty()) {
    std::string names;
    for (const auto& lib : *libs) {
      std::string name = lib.is_object() ? lib.value("module", lib.value("var", "")) : "";
      if (!name.empty()) names += (names.empty() ? "" : ", ") + name;
    }
    return InvalidArgument("external modules (setup tab: " + (names.empty() ? std::string("libs") : names) +
                           ") cannot be loaded on a board: there is no npm or require() there");
  }
  if (auto outputs = props.find("outputs"); outputs != props.end() && !outputs->is_null()) {
    double n = outputs->is_number() ? outputs->get<double>()
               : outputs->is_string() ? std::strtod(outputs->get_ref<const std::string&>().c_str(), nullptr)
                                       : -1;
    if (!(n >= 0 && n <= 1000) || n != static_cast<int>(n)) return InvalidArgument("outputs must be a count 0..1000");
    script.outputs = static_cast<int>(n);
  }
  const std::string func = Text(props, "func");
  script.func = "function (msg) {" + func + "\n}";
  if (std::string ini = Text(props, "initialize"); !Blank(ini)) script.initialize = "function () {" + ini + "\n}";
  if (std::string fin = Text(props, "finalize"); !Blank(fin)) script.finalize = "function () {" + fin + "\n}";
  // Node-RED: if the code calls node.done() the node leaves completion to it.
  static const std::regex done_call(R"(node\.done\s*\(\s*\))");
  script.calls_done = std::regex_search(func, done_call);
  return script;
}

std::vector<std::string> CheckFunctionNode(const flows::Node& node) {
  std::vector<std::string> problems;
  auto script = FunctionScriptOf(node);
  if (!script) return {script.error().message};
  SystemClock clock;
  JsLimits limits;
  auto heap = JsHeap::Create(limits, clock);
  if (!heap) return {heap.error().message};
  const std::pair<const char*, const std::string*> texts[] = {
      {"setup (On Start)", &script->initialize}, {"function (On Message)", &script->func}, {"close (On Stop)", &script->finalize}};
  for (const auto& [what, text] : texts) {
    if (text->empty()) continue;
    auto compiled = (*heap)->CompileFunction(*text, what);
    if (compiled) {
      duk_pop((*heap)->ctx());
      continue;
    }
    std::string message = std::string(what) + ": " + compiled.error().message;
    if (compiled.error().message.rfind("SyntaxError", 0) == 0) message += kEngineSyntaxHint;
    problems.push_back(std::move(message));
  }
  return problems;
}

}  // namespace ew::flows::js
