// WAMP names of a flow (flows contract): the topic a wire that crosses partitions is published on,
// and the flow's debug and status topics. Node ids are made URI-safe here, in one place, so the
// partitioner (which writes topics into partitions) and the router (which authorizes them) agree.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

namespace ew::flows {

// Lower-case [0-9a-z_] kept, any other byte written as `_xx` (two lower-case hex digits):
// "6b61792143b3b0a3" stays, "A.b" → "_41_2eb".
std::string UriSafeNodeId(std::string_view node_id);

// "ew.flow.<flow>.wire.<node, URI-safe>.<port>".
std::string WireTopic(std::string_view flow_id, std::string_view node_id, std::uint32_t port);
// "ew.flow.<flow>.debug" / "ew.flow.<flow>.status".
std::string DebugTopic(std::string_view flow_id);
std::string StatusTopic(std::string_view flow_id);
// "ew.flow.<flow>" : every topic of the flow starts with it.
std::string FlowTopicPrefix(std::string_view flow_id);

// The flow id of "ew.flow.<flow>.<rest>" (or of the prefix "ew.flow.<flow>"), nullopt otherwise.
std::optional<std::string> FlowIdFromUri(std::string_view uri);

}  // namespace ew::flows
