// Fuzz target: Node-RED flow exports (REST POST /v1/flows bodies, the CLI's files) through the
// loader, the flattener and the partitioner (flows/model, flows/partition).
// Input: the export's JSON text.
// Invariants: a refused flow is InvalidArgument and every issue renders in an error body; a flow
// that partitions gives partitions the runtime's own reader accepts (every wire, outbound and
// inbound entry resolves), whose JSON survives a round trip, and whose topics are valid WAMP URIs.
#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "common/wamp/uri.hpp"
#include "flows/model/flow_loader.hpp"
#include "flows/model/partition_json.hpp"
#include "flows/partition/partitioner.hpp"
#include "tests/fuzz/fuzz_check.hpp"

namespace {

void CheckIssues(const ew::Error& error, const std::vector<ew::flows::FlowIssue>& issues) {
  EW_FUZZ_CHECK(error.code == ew::ErrorCode::kInvalidArgument, error.message);
  ew::fuzz::CheckErrorRenders(error);
  EW_FUZZ_CHECK(!issues.empty(), "a refusal without issues: " + error.message);
  for (const auto& issue : issues) {
    ew::fuzz::CheckErrorRenders(ew::Error{ew::ErrorCode::kInvalidArgument, ew::flows::Describe(issue)});
  }
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  std::string_view text(reinterpret_cast<const char*>(data), size);
  ew::flows::FlowLimits limits;
  limits.max_objects = 500;
  limits.max_flat_nodes = 2'000;
  std::vector<ew::flows::FlowIssue> issues;
  auto flow = ew::flows::ParseFlow(text, limits, &issues);
  if (!flow) {
    CheckIssues(flow.error(), issues);
    return 0;
  }
  auto partitions = ew::flows::PartitionFlow(*flow, "flw-0123456789abcdef", 7, &issues);
  if (!partitions) {
    CheckIssues(partitions.error(), issues);
    return 0;
  }
  for (const auto& partition : *partitions) {
    EW_FUZZ_CHECK(!partition.nodes.empty(), "an empty partition for board " + partition.board);
    nlohmann::json json = ew::flows::ToJson(partition);
    std::string dumped;
    try {
      dumped = json.dump();
    } catch (const std::exception& e) {
      EW_FUZZ_CHECK(false, std::string("a partition does not dump: ") + e.what());
    }
    auto back = ew::flows::ParsePartition(dumped);
    EW_FUZZ_CHECK(back.has_value(), "the runtime's reader refuses a partition: " + back.error().message);
    EW_FUZZ_CHECK(ew::flows::ToJson(*back).dump() == dumped, "the partition's JSON changes in a round trip");
    for (const auto& wire : partition.outbound) {
      EW_FUZZ_CHECK(ew::wamp::IsValidUri(wire.topic), "an invalid wire topic: " + wire.topic);
    }
  }
  (void)ew::flows::UnsupportedNodes(*partitions, true);
  return 0;
}
