// The procedures the conductor serves to boards (ew.conductor.*), named once for both sides.
#pragma once

namespace ew::wamp {

// A chunk of a function package deployed to the calling board: {sha256, offset, length}.
inline constexpr const char* kFnFetchProcedure = "ew.conductor.fn.fetch";
// Outcomes of invocations the board ran by itself (GPIO edge triggers): {functionId, records}.
inline constexpr const char* kFnReportProcedure = "ew.conductor.fn.report";

}  // namespace ew::wamp
