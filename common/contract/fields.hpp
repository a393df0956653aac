// Typed reads of a payload's keyword arguments for the contract's Parse functions: one place
// that says how a missing or mistyped field is reported ("<procedure>: <field>: <why>").
#pragma once

#include <cstdint>
#include <initializer_list>
#include <optional>
#include <string>

#include <nlohmann/json.hpp>

#include "common/error/error.hpp"

namespace ew::contract {

class Fields {
 public:
  // `what` names the message in errors ("fn.deploy"). InvalidArgument when `kwargs` is not an
  // object or (when `allowed` is not empty) carries a key outside it: a typo never passes.
  static Result<Fields> Of(const nlohmann::json& kwargs, const char* what,
                           std::initializer_list<const char*> allowed = {});

  bool Has(const char* key) const { return kwargs_->contains(key); }
  const nlohmann::json* Find(const char* key) const;

  Result<std::string> String(const char* key) const;               // required, non-empty
  Result<std::string> StringOr(const char* key, std::string fallback) const;
  Result<std::string> AnyString(const char* key) const;            // required, may be empty
  Result<uint64_t> Count(const char* key) const;                   // required, an integer >= 0
  Result<int64_t> Int(const char* key) const;                      // required, any integer
  Result<int64_t> IntOr(const char* key, int64_t fallback, int64_t min, int64_t max) const;
  Result<bool> BoolOr(const char* key, bool fallback) const;
  Result<int> Level(const char* key) const;                        // 0/1 or false/true
  Result<nlohmann::json> Array(const char* key) const;             // required array
  Result<nlohmann::json> Object(const char* key) const;            // required object

  // InvalidArgument "<what>: <key>: <why>".
  tl::unexpected<Error> Bad(const char* key, const std::string& why) const;

 private:
  Fields(const nlohmann::json& kwargs, const char* what) : kwargs_(&kwargs), what_(what) {}
  const nlohmann::json* kwargs_;
  const char* what_;
};

// A non-negative integer whichever way a codec typed it (msgpack and JSON give unsigned, code
// that builds kwargs by hand often signed).
bool IsCount(const nlohmann::json& value);

}  // namespace ew::contract
