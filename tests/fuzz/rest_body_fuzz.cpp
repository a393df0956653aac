// Fuzz target: a REST request body through ParseJson (the guarded reader) and ParseBody
// (cloud-conductor/rest/json_body.hpp, the proto3 JSON mapping) into one of the api.proto
// requests the REST API parses. Input: one byte choosing the message (0 CreateTokenRequest,
// 1 CreateProjectRequest, 2 CreateUserRequest, 3 CreateBoardRequest, 4 EnrolRequest,
// 5 BoardCallRequest; modulo 6), then the body. Invariants: errors are
// InvalidArgument and render as an error body; an accepted body prints (ToJson) to JSON that
// parses again to an equal message (not to the same text: map and Struct keys print in hash
// order); a board call's args/kwargs survive the trip to WAMP values and back.
#include <cstddef>
#include <cstdint>
#include <memory>
#include <string>

#include <google/protobuf/util/message_differencer.h>

#include "cloud-conductor/rest/json_body.hpp"
#include "edgewire/v1/api.pb.h"
#include "tests/fuzz/fuzz_check.hpp"

namespace {

namespace v1 = edgewire::v1;
using google::protobuf::Message;
using google::protobuf::util::MessageDifferencer;

void CheckBoardCall(const v1::BoardCallRequest& request) {
  const ew::wamp::Value args = ew::rest::ToWampValue(request.args());
  const ew::wamp::Value kwargs = ew::rest::ToWampValue(request.kwargs());
  EW_FUZZ_CHECK(args.is_array() && kwargs.is_object(), "ToWampValue changed the shape");
  v1::BoardCallRequest back;
  auto args_back = ew::rest::FromWampValue(args, back.mutable_args());
  EW_FUZZ_CHECK(args_back.has_value(), "args back from WAMP: " + args_back.error().message);
  auto kwargs_back = ew::rest::FromWampValue(kwargs, back.mutable_kwargs());
  EW_FUZZ_CHECK(kwargs_back.has_value(), "kwargs back from WAMP: " + kwargs_back.error().message);
  EW_FUZZ_CHECK(MessageDifferencer::Equals(back.args(), request.args()), "args changed through WAMP");
  EW_FUZZ_CHECK(MessageDifferencer::Equals(back.kwargs(), request.kwargs()), "kwargs changed through WAMP");
}

void ParseInto(const std::string& body, Message* message, bool allow_empty) {
  auto parsed = ew::rest::ParseBody(body, message, allow_empty);
  if (!parsed) {
    EW_FUZZ_CHECK(parsed.error().code == ew::ErrorCode::kInvalidArgument, parsed.error().message);
    ew::fuzz::CheckErrorRenders(parsed.error());
    (void)ew::rest::ErrorResponse(parsed.error());
    return;
  }
  const std::string printed = ew::rest::ToJson(*message);
  std::unique_ptr<Message> again(message->New());
  auto reparsed = ew::rest::ParseBody(printed, again.get());
  EW_FUZZ_CHECK(reparsed.has_value(), "ToJson output does not parse: " + reparsed.error().message + "\n  " + printed);
  EW_FUZZ_CHECK(MessageDifferencer::Equals(*message, *again), "ParseBody(ToJson(m)) != m: " + printed);
  if (auto* call = dynamic_cast<v1::BoardCallRequest*>(message)) CheckBoardCall(*call);
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  if (size == 0) return 0;
  const std::string body(reinterpret_cast<const char*>(data + 1), size - 1);
  // The guarded reader every body goes through first (also for routes without a proto body).
  auto parsed = ew::rest::ParseJson(body, /*allow_empty=*/true);
  if (!parsed) {
    EW_FUZZ_CHECK(parsed.error().code == ew::ErrorCode::kInvalidArgument, parsed.error().message);
    ew::fuzz::CheckErrorRenders(parsed.error());
  }
  switch (data[0] % 6) {
    case 0: {
      v1::CreateTokenRequest m;
      ParseInto(body, &m, false);
      break;
    }
    case 1: {
      v1::CreateProjectRequest m;
      ParseInto(body, &m, false);
      break;
    }
    case 2: {
      v1::CreateUserRequest m;
      ParseInto(body, &m, false);
      break;
    }
    case 3: {
      v1::CreateBoardRequest m;
      ParseInto(body, &m, false);
      break;
    }
    case 4: {
      v1::EnrolRequest m;
      ParseInto(body, &m, false);
      break;
    }
    default: {
      v1::BoardCallRequest m;
      ParseInto(body, &m, /*allow_empty=*/true);
      break;
    }
  }
  return 0;
}
