// The two bodies of POST /v1/enrol, edgewire.v1.EnrolRequest and EnrolResponse
// (common/proto/edgewire/v1/api.proto), in proto3 JSON with nlohmann::json: the agent does not
// link protobuf. tests/device-agent/proto3_conformance_test.cpp holds both to libprotobuf.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>

#include "common/error/error.hpp"

namespace ew::agent {

// Proto3 JSON of EnrolRequest{code, hostname}: what protobuf's MessageToJsonString prints
// (lowerCamelCase names, empty strings left out).
std::string EnrolRequestJson(const std::string& code, const std::string& hostname);

struct EnrolResponse {
  std::string board_id;
  std::string secret;  // the board's WAMP-CRA secret, shown once
  std::string realm;
  std::string wamp_url;
  std::string salt;
  int32_t iterations = 0;
  int32_t keylen = 0;
};

// Reads an EnrolResponse as protobuf's JSON parser does with ignore_unknown_fields: an object;
// each field by its lowerCamelCase or snake_case name; null = absent = default; strings must be
// strings; int32 fields take integral numbers or decimal strings within range; unknown fields
// are skipped (a newer conductor may say more). InvalidArgument names the field at fault.
ew::Result<EnrolResponse> ParseEnrolResponse(std::string_view body);

}  // namespace ew::agent
