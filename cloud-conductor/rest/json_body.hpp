// Request and response bodies: proto3 JSON mapping of api.proto messages (protobuf's own
// parser and printer), ErrorJson error bodies, and the bridge between google.protobuf
// ListValue/Struct and WAMP payload values.
#pragma once

#include <initializer_list>
#include <string>

#include <google/protobuf/message.h>
#include <google/protobuf/struct.pb.h>
#include <nlohmann/json.hpp>

#include "cloud-conductor/server/http_types.hpp"
#include "common/error/error.hpp"
#include "common/wamp/message.hpp"

namespace ew::rest {

// Deepest JSON a request body may nest (common/json counts [] as 1). No Edgewire request needs
// more; a function's event or a board call's kwargs are bodies too.
constexpr size_t kMaxBodyDepth = 64;

// The one way REST reads a JSON body: common/json's guarded parser (depth kMaxBodyDepth, size
// already bounded by the server). An empty body is {} when `allow_empty`. InvalidArgument
// ("invalid request body: ...") for malformed or too deep JSON; the message never quotes the body.
Result<nlohmann::json> ParseJson(const std::string& body, bool allow_empty = false);
// A JSON object body (empty = {}) whose keys are all in `allowed`; InvalidArgument otherwise.
Result<nlohmann::json> ParseObject(const std::string& body, std::initializer_list<const char*> allowed);

// Parses `body` into `message`. InvalidArgument naming the field for an unknown field or a
// value of the wrong type, or describing malformed JSON. An empty body is "{}" when
// `allow_empty`, else InvalidArgument. `message` is unspecified after an error.
Result<void> ParseBody(const std::string& body, google::protobuf::Message* message, bool allow_empty = false);

// Proto3 JSON: lowerCamelCase names, primitive fields printed even when zero.
std::string ToJson(const google::protobuf::Message& message);

server::HttpResponse JsonResponse(int status, const google::protobuf::Message& message);
server::HttpResponse JsonResponse(int status, const nlohmann::json& body);
// The error's HTTP status and {"error":{"code","message"}}.
server::HttpResponse ErrorResponse(const Error& error);
// 204, no body.
server::HttpResponse NoContent();

// ListValue / Struct → WAMP value (array / object), and back. InvalidArgument when a WAMP value
// has no JSON form (e.g. non-finite numbers) or is not of the expected shape.
wamp::Value ToWampValue(const google::protobuf::ListValue& list);
wamp::Value ToWampValue(const google::protobuf::Struct& object);
Result<void> FromWampValue(const wamp::Value& array, google::protobuf::ListValue* out);
Result<void> FromWampValue(const wamp::Value& object, google::protobuf::Struct* out);

}  // namespace ew::rest
