// Payload conversion and bounds for the board session (see wamp_payload.hpp).
#include "device-agent/session/wamp_payload.hpp"

#include <map>
#include <string>
#include <vector>

#include "common/json/guarded_json.hpp"
#include "common/log/log.hpp"
#include "common/wamp/limits.hpp"

namespace ew::agent::session {

namespace {
const ew::log::Logger Log{"agent"};
}  // namespace

nlohmann::json MsgpackToJson(const msgpack::object& object) {
  msgpack::sbuffer buffer;
  msgpack::pack(buffer, object);
  json::ParseLimits limits;
  limits.max_bytes = buffer.size();
  limits.max_depth = wamp::kMaxPayloadDepth;
  limits.what = "";
  auto value = json::Parse(std::string_view(buffer.data(), buffer.size()), limits, json::Format::kMsgpack);
  if (!value) throw std::runtime_error(value.error().message);
  return std::move(*value);
}

ew::Result<EncodedPayload> Encode(const rpc::Reply& payload, size_t max_message_bytes, std::string_view what) {
  const nlohmann::json empty_args = nlohmann::json::array();
  const nlohmann::json empty_kwargs = nlohmann::json::object();
  const nlohmann::json& args = payload.args.is_array() ? payload.args : empty_args;
  const nlohmann::json& kwargs = payload.kwargs.is_object() ? payload.kwargs : empty_kwargs;
  // Depth first: to_msgpack recurses per level.
  EW_TRY_VOID(wamp::CheckPayloadDepth(args, kwargs, what));
  std::vector<uint8_t> args_bytes = nlohmann::json::to_msgpack(args);
  std::vector<uint8_t> kwargs_bytes = nlohmann::json::to_msgpack(kwargs);
  EW_TRY_VOID(wamp::CheckEncodedSize(args_bytes.size() + kwargs_bytes.size(), max_message_bytes, what));
  return EncodedPayload{
      msgpack::unpack(reinterpret_cast<const char*>(args_bytes.data()), args_bytes.size()),
      msgpack::unpack(reinterpret_cast<const char*>(kwargs_bytes.data()), kwargs_bytes.size())};
}

namespace {

void SendError(const autobahn::wamp_invocation& invocation, const ew::Error& error) {
  std::vector<std::string> args{error.message};
  std::map<std::string, std::string> kwargs{{"code", std::string(ew::ErrorCodeName(error.code))},
                                            {"message", error.message}};
  invocation->error(std::string(ew::WampErrorUri(error.code)), args, kwargs);
}

}  // namespace

void SendReply(const autobahn::wamp_invocation& invocation, const ew::Result<rpc::Reply>& result,
               size_t max_message_bytes) {
  try {
    if (!result) return SendError(invocation, result.error());
    auto encoded = Encode(*result, max_message_bytes, "the result");
    if (!encoded) {
      Log()->warn("result of {} refused: {}", invocation->uri(), encoded.error().message);
      return SendError(invocation, encoded.error());
    }
    invocation->result(encoded->args.get(), encoded->kwargs.get());
  } catch (const std::exception& e) {
    Log()->debug("reply to {} dropped: {}", invocation->uri(), e.what());
  }
}

}  // namespace ew::agent::session
