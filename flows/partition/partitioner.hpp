// Second step of partitioning: flattened nodes grouped by placement into Partitions
// (flows/model/partition.hpp). A wire between two placements becomes a topic
// "ew.flow.<flow>.wire.<node>.<port>": the source's partition gets an outbound entry, each
// receiving partition an inbound entry naming its targets. Config nodes a partition's nodes (or
// its configs) reference by id are copied into it.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "common/error/error.hpp"
#include "flows/model/flow.hpp"
#include "flows/model/flow_issue.hpp"
#include "flows/model/partition.hpp"
#include "flows/partition/flattener.hpp"

namespace ew::flows {

// Partitions ordered by board id (the cloud, "", first); a placement without nodes has none.
// InvalidArgument (issues filled) when a `link call` calls a `link in` in another partition (its
// reply could not find the way back), or two source nodes' URI-safe ids would share a topic.
Result<std::vector<Partition>> PartitionFlat(const FlatFlow& flat, std::string_view flow_id, std::uint64_t version,
                                             std::vector<FlowIssue>* issues = nullptr);

// Flatten + PartitionFlat.
Result<std::vector<Partition>> PartitionFlow(const Flow& flow, std::string_view flow_id, std::uint64_t version,
                                             std::vector<FlowIssue>* issues = nullptr);

// Issues for nodes of board partitions (and, with `include_cloud`, of the cloud partition) whose
// type a board runtime does not implement (flows/runtime/supported_types.hpp, the one list), and config nodes likewise;
// and `function` nodes whose code Duktape does not compile or that need external modules
// (flows/js/function_script.hpp), one issue per text.
std::vector<FlowIssue> UnsupportedNodes(const std::vector<Partition>& partitions, bool include_cloud);

}  // namespace ew::flows
