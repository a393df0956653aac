// Payload conversion and bounds for the board session (see wamp_payload.hpp).
#include "device-agent/session/wamp_payload.hpp"

#include <algorithm>
#include <cstdint>
#include <stdexcept>
#include <string>
#include <vector>

#include "common/log/log.hpp"
#include "common/wamp/codec.hpp"
#include "common/wamp/limits.hpp"

namespace ew::agent::session {

namespace {
const ew::log::Logger Log{"agent"};
}  // namespace

namespace {

// One value, `depth` containers deep (a scalar is depth 0 as json::ParseLimits counts it).
nlohmann::json ToJson(const msgpack::object& object, size_t depth) {
  switch (object.type) {
    case msgpack::type::NIL:
      return nullptr;
    case msgpack::type::BOOLEAN:
      return object.via.boolean;
    case msgpack::type::POSITIVE_INTEGER:
      return object.via.u64;
    case msgpack::type::NEGATIVE_INTEGER:
      return object.via.i64;
    case msgpack::type::FLOAT32:  // msgpack-c holds it widened; nlohmann widens the float alike
      return static_cast<double>(static_cast<float>(object.via.f64));
    case msgpack::type::FLOAT64:
      return object.via.f64;
    case msgpack::type::STR:
      return std::string(object.via.str.ptr, object.via.str.size);
    case msgpack::type::BIN: {
      const auto* bytes = reinterpret_cast<const uint8_t*>(object.via.bin.ptr);
      return nlohmann::json::binary(std::vector<uint8_t>(bytes, bytes + object.via.bin.size));
    }
    case msgpack::type::EXT: {
      const auto* bytes = reinterpret_cast<const uint8_t*>(object.via.ext.data());
      return nlohmann::json::binary(std::vector<uint8_t>(bytes, bytes + object.via.ext.size),
                                    static_cast<uint8_t>(object.via.ext.type()));
    }
    case msgpack::type::ARRAY: {
      if (depth >= wamp::kMaxPayloadDepth)
        throw std::runtime_error("nesting deeper than " + std::to_string(wamp::kMaxPayloadDepth) + " levels");
      nlohmann::json array = nlohmann::json::array();
      array.get_ref<nlohmann::json::array_t&>().reserve(object.via.array.size);
      for (uint32_t i = 0; i < object.via.array.size; ++i) array.push_back(ToJson(object.via.array.ptr[i], depth + 1));
      return array;
    }
    case msgpack::type::MAP: {
      if (depth >= wamp::kMaxPayloadDepth)
        throw std::runtime_error("nesting deeper than " + std::to_string(wamp::kMaxPayloadDepth) + " levels");
      nlohmann::json map = nlohmann::json::object();
      for (uint32_t i = 0; i < object.via.map.size; ++i) {
        const msgpack::object_kv& kv = object.via.map.ptr[i];
        if (kv.key.type != msgpack::type::STR) throw std::runtime_error("a map key is not a string");
        map[std::string(kv.key.via.str.ptr, kv.key.via.str.size)] = ToJson(kv.val, depth + 1);  // the last wins
      }
      return map;
    }
  }
  throw std::runtime_error("unknown msgpack type");
}

}  // namespace

nlohmann::json MsgpackToJson(const msgpack::object& object) { return ToJson(object, 0); }

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
    return wamp::Encode(wamp::Serializer::kMsgpack, wamp::Message(std::move(message)));
  };
  if (!result) return error_message(result.error());
  // The reply's args and kwargs moved in (a default Payload would allocate its own first); the
  // options left null are written as {}.
  wamp::Yield yield{request, wamp::Value(),
                    wamp::Payload{result->args.is_array() ? std::move(result->args) : wamp::Value::array(),
                                  result->kwargs.is_object() ? std::move(result->kwargs) : wamp::Value::object()}};
  // Depth first: the encoder recurses per level.
  if (auto deep = wamp::CheckPayloadDepth(yield.payload.args, yield.payload.kwargs, "the result"); !deep) {
    Log()->warn("result of {} refused: {}", uri, deep.error().message);
    return error_message(deep.error());
  }
  // Moved into the Message: passing the Yield would copy it, payload and all.
  std::string encoded = wamp::Encode(wamp::Serializer::kMsgpack, wamp::Message(std::move(yield)));
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
