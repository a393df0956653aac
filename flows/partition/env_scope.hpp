// Node-RED's typed environment properties (tab, group, subflow and subflow-instance `env` lists)
// evaluated once, at partitioning, into plain JSON values: what a node sees as env is its tab's,
// then its groups', then each enclosing subflow's (definition, overridden by the instance's).
#pragma once

#include <nlohmann/json.hpp>

#include "common/error/error.hpp"

namespace ew::flows {

// Returns `outer` with each entry of `entries` ([{name, type, value}], as exported) added or
// replacing the outer value. Types: str (default), num, bool, json (parsed with the guarded
// reader), bin (a JSON array of bytes), env (the value of the named variable in `outer`, "" when
// unset); cred entries are skipped (credentials are never in an export). InvalidArgument naming
// the entry for any other type (jsonata, date, ...) or a value that is not of its type.
Result<nlohmann::json> ApplyEnv(const nlohmann::json& entries, const nlohmann::json& outer);

// The `EDGEWIRE_BOARD` entry of an env list evaluated against `outer`, "" when there is none.
Result<std::string> BoardFromEnv(const nlohmann::json& entries, const nlohmann::json& outer);

}  // namespace ew::flows
