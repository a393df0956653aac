// Request and response bodies: proto3 JSON mapping of api.proto messages (protobuf's own
// parser and printer), ErrorJson error bodies, and the bridge between google.protobuf
// ListValue/Struct and WAMP payload values.
#pragma once

#include <string>

#include <google/protobuf/message.h>
#include <google/protobuf/struct.pb.h>
#include <nlohmann/json.hpp>

#include "cloud-conductor/server/http_types.hpp"
#include "common/error/error.hpp"
#include "common/wamp/message.hpp"

namespace ew::rest {

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
