// The two ew.conductor.* names as they were before the board contract: kept only for code that
// has not moved to common/contract/fn.hpp yet (the agent's trigger-report queue). New code uses
// contract::fn::kFetch / kReport, which also name the request and reply types.
#pragma once

#include "common/contract/fn.hpp"

namespace ew::wamp {

inline constexpr const char* kFnFetchProcedure = contract::fn::kFetch.uri;
inline constexpr const char* kFnReportProcedure = contract::fn::kReport.uri;

}  // namespace ew::wamp
