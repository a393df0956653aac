// Scalars in proto3 JSON form, built with nlohmann::json so that the agent needs no protobuf
// (libprotobuf alone was ~1.8 MB of the agent's resident memory). Each value is what protobuf's
// MessageToJsonString prints, read back by nlohmann::json::parse; the conformance test
// (tests/device-agent/proto3_conformance_test.cpp) checks that against libprotobuf.
#pragma once

#include <cstdint>
#include <string_view>

#include <nlohmann/json.hpp>

namespace ew::agent::rpc {

// double: a JSON number printed like protobuf's SimpleDtoa (shortest of %.15g / %.17g that
// round-trips), so integral values come out as JSON integers ("3", not "3.0"); NaN and the
// infinities as the strings "NaN", "Infinity", "-Infinity".
nlohmann::json Proto3Double(double value);

// int64 / uint64: a decimal string, as proto3 JSON has it (JavaScript numbers lose precision).
nlohmann::json Proto3Int64(int64_t value);

// bytes: standard base64 with padding.
nlohmann::json Proto3Bytes(std::string_view bytes);

}  // namespace ew::agent::rpc
