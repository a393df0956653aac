#include "device-agent/spool/spool_options.hpp"

namespace ew::agent::spool {

std::string_view DropPolicyName(DropPolicy policy) {
  return policy == DropPolicy::kRefuseNewest ? "refuse-newest" : "drop-oldest";
}

bool IsValidStreamName(std::string_view name) {
  if (name.empty() || name.size() > 200 || name.front() == '.') return false;
  for (char c : name) {
    const bool ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '_' ||
                    c == '.' || c == '-';
    if (!ok) return false;
  }
  return true;
}

}  // namespace ew::agent::spool
