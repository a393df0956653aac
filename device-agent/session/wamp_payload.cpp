// Payload conversion and bounds for the board session (see wamp_payload.hpp).
#include "device-agent/session/wamp_payload.hpp"

#include <algorithm>
#include <string>
#include <vector>

#include "common/json/guarded_json.hpp"
#include "common/log/log.hpp"
#include "common/wamp/codec.hpp"
#include "common/wamp/limits.hpp"

namespace ew::agent::session {

namespace {
const ew::log::Logger Log{"agent"};
}  // namespace

nlohmann::json MsgpackToJson(const msgpack::object& object) {
  msgpack::sbuffer buffer(256);  // not msgpack's 8 KiB default: most payloads are a few bytes
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

std::string EncodeReply(uint64_t request, ew::Result<rpc::Reply> result, size_t max_message_bytes,
                        std::string_view uri) {
  auto error_message = [request](const ew::Error& error) {
    wamp::ErrorMessage message;
    message.request_type = wamp::MessageType::kInvocation;
    message.request = request;
    message.error = std::string(ew::WampErrorUri(error.code));
    message.payload.args = nlohmann::json::array({error.message});
    message.payload.kwargs = {{"code", std::string(ew::ErrorCodeName(error.code))}, {"message", error.message}};
    return wamp::Encode(wamp::Serializer::kMsgpack, message);
  };
  if (!result) return error_message(result.error());
  wamp::Yield yield;
  yield.request = request;
  if (result->args.is_array()) yield.payload.args = std::move(result->args);
  if (result->kwargs.is_object()) yield.payload.kwargs = std::move(result->kwargs);
  // Depth first: the encoder recurses per level.
  if (auto deep = wamp::CheckPayloadDepth(yield.payload.args, yield.payload.kwargs, "the result"); !deep) {
    Log()->warn("result of {} refused: {}", uri, deep.error().message);
    return error_message(deep.error());
  }
  std::string encoded = wamp::Encode(wamp::Serializer::kMsgpack, yield);
  // The limit is on the payload (CheckEncodedSize keeps room for any envelope): the message
  // less its [70, request, {}] (a fixarray, two small values and a msgpack uint).
  const size_t request_bytes = request < 128 ? 1 : request < 256 ? 2 : request < 65536 ? 3 : request < (1ull << 32) ? 5 : 9;
  const size_t payload_bytes = encoded.size() - std::min(encoded.size(), 3 + request_bytes);
  if (auto fits = wamp::CheckEncodedSize(payload_bytes, max_message_bytes, "the result"); !fits) {
    Log()->warn("result of {} refused: {}", uri, fits.error().message);
    return error_message(fits.error());
  }
  return encoded;
}

}  // namespace ew::agent::session
