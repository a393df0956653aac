// Scalars in proto3 JSON form, built with nlohmann::json so that neither the agent nor the contract needs protobuf
// (libprotobuf alone was ~1.8 MB of the agent's resident memory). Each value is what protobuf's
// MessageToJsonString prints, read back by nlohmann::json::parse; the conformance test
// (tests/device-agent/proto3_conformance_test.cpp) checks that against libprotobuf.
#pragma once

#include <cstdint>
#include <string_view>

#include <string>

#include <nlohmann/json.hpp>

#include "common/error/error.hpp"

namespace ew::contract {

// double: a JSON number printed like protobuf's SimpleDtoa (shortest of %.15g / %.17g that
// round-trips), so integral values come out as JSON integers ("3", not "3.0"); NaN and the
// infinities as the strings "NaN", "Infinity", "-Infinity".
nlohmann::json Proto3Double(double value);

// int64 / uint64: a decimal string, as proto3 JSON has it (JavaScript numbers lose precision).
nlohmann::json Proto3Int64(int64_t value);

// bytes: standard base64 with padding.
nlohmann::json Proto3Bytes(std::string_view bytes);

// The readers of the same forms, for Parse functions: each accepts what protobuf's JSON parser
// accepts for the type (a number or a numeric string for int64 and double; "NaN", "Infinity",
// "-Infinity") and says what is wrong otherwise.
Result<int64_t> ReadProto3Int64(const nlohmann::json& value);
Result<double> ReadProto3Double(const nlohmann::json& value);
Result<std::string> ReadProto3Bytes(const nlohmann::json& value);  // base64 (standard, padded)

}  // namespace ew::contract
