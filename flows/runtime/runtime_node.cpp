#include "flows/runtime/runtime_node.hpp"

#include "flows/runtime/flow_runtime.hpp"

namespace ew::flows::runtime {

std::string NodeLabel(const flows::Node& node) {
  return "node " + node.id + " (" + node.type + (node.name.empty() ? "" : " \"" + node.name + "\"") + ") on tab " +
         (node.tab.empty() ? "-" : node.tab);
}

Error NodeError(const flows::Node& node, const std::string& message) {
  return Error(ErrorCode::kInvalidArgument, NodeLabel(node) + ": " + message);
}

void RuntimeNode::Send(Msg msg) { rt_.SendFrom(*this, 0, std::move(msg)); }

void RuntimeNode::SendTo(size_t port, Msg msg) { rt_.SendFrom(*this, port, std::move(msg)); }

void RuntimeNode::SendMany(nlohmann::json outputs) {
  if (outputs.is_object()) {
    Send(std::move(outputs));
    return;
  }
  if (!outputs.is_array()) return;
  for (size_t port = 0; port < outputs.size(); ++port) {
    auto& out = outputs[port];
    if (out.is_object()) {
      SendTo(port, std::move(out));
    } else if (out.is_array()) {
      for (auto& m : out)
        if (m.is_object()) SendTo(port, std::move(m));
    }
  }
}

void RuntimeNode::Error(const std::string& text, const Msg* msg) { rt_.ReportError(*this, text, msg); }

void RuntimeNode::Warn(const std::string& text) { rt_.host().Log("warn", def_.id, text); }

void RuntimeNode::SetStatus(const std::string& fill, const std::string& shape, const std::string& text) {
  nlohmann::json status = nlohmann::json::object();
  if (!fill.empty()) status["fill"] = fill;
  if (!shape.empty()) status["shape"] = shape;
  if (!text.empty()) status["text"] = text;
  rt_.ReportStatus(*this, status);
}

void RuntimeNode::Done(const Msg& msg) { rt_.ReportDone(*this, msg); }

Timers::Id RuntimeNode::After(std::chrono::nanoseconds delay, std::function<void()> fn) {
  return rt_.NodeTimer(*this, delay, std::move(fn));
}

void RuntimeNode::CancelTimer(Timers::Id id) { rt_.CancelNodeTimer(*this, id); }

const Clock& RuntimeNode::clock() const { return rt_.clock(); }

int64_t RuntimeNode::NowMs() const {
  return std::chrono::duration_cast<std::chrono::milliseconds>(rt_.clock().Now().time_since_epoch()).count();
}

Host& RuntimeNode::host() { return rt_.host(); }

std::string RuntimeNode::Owner() const { return rt_.partition().flow + "/" + def_.id; }

std::string RuntimeNode::StrProp(const char* name, const std::string& fallback) const {
  auto it = def_.props.find(name);
  if (it == def_.props.end() || it->is_null()) return fallback;
  if (it->is_string()) return it->get<std::string>();
  if (it->is_number() || it->is_boolean()) return ToJsString(*it);
  return fallback;
}

std::optional<double> RuntimeNode::NumProp(const char* name) const {
  auto it = def_.props.find(name);
  if (it == def_.props.end() || it->is_null()) return std::nullopt;
  if (it->is_string() && it->get_ref<const std::string&>().empty()) return std::nullopt;
  return ToNumber(*it);
}

bool RuntimeNode::BoolProp(const char* name, bool fallback) const {
  auto it = def_.props.find(name);
  if (it == def_.props.end() || it->is_null()) return fallback;
  if (it->is_boolean()) return it->get<bool>();
  if (it->is_string()) return *it == "true";
  return IsTruthy(*it);
}

}  // namespace ew::flows::runtime
