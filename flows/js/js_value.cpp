#include "flows/js/js_value.hpp"

#include <cmath>
#include <cstring>
#include <limits>
#include <string>

namespace ew::flows::js {

namespace {

using Json = nlohmann::json;

// A JS number as JSON: integral values as integers (as JSON.stringify prints them), NaN and the
// infinities as null.
Json NumberToJson(double v) {
  if (!std::isfinite(v)) return nullptr;
  if (std::floor(v) == v && std::fabs(v) < 9007199254740992.0) {
    if (v == 0 && std::signbit(v)) return 0;
    return static_cast<int64_t>(v);
  }
  return v;
}

// Whether the value at `idx` is left out of an object (undefined, a function, a symbol).
bool Skipped(duk_context* ctx, duk_idx_t idx) {
  return duk_is_undefined(ctx, idx) || duk_is_function(ctx, idx) || duk_is_symbol(ctx, idx);
}

struct Walk {
  Json* out;
  const char* error = nullptr;
};

// Converts the stack top into `out`. Only engine calls and nlohmann assignments: an engine error
// unwinds through here with longjmp, so no C++ object with a destructor lives on these frames
// except `out`'s own tree, which the caller owns.
void Convert(duk_context* ctx, Json& out, int depth, Walk& walk) {
  duk_idx_t top = duk_get_top_index(ctx);
  if (duk_is_object(ctx, top) && !duk_is_function(ctx, top)) {
    // toJSON first, as JSON.stringify does (Date).
    if (duk_get_prop_string(ctx, top, "toJSON") && duk_is_function(ctx, -1)) {
      duk_dup(ctx, top);
      duk_call_method(ctx, 0);
      duk_replace(ctx, top);
    } else {
      duk_pop(ctx);
    }
  }
  switch (duk_get_type(ctx, top)) {
    case DUK_TYPE_NULL:
    case DUK_TYPE_UNDEFINED:
      out = nullptr;
      return;
    case DUK_TYPE_BOOLEAN:
      out = static_cast<bool>(duk_get_boolean(ctx, top));
      return;
    case DUK_TYPE_NUMBER:
      out = NumberToJson(duk_get_number(ctx, top));
      return;
    case DUK_TYPE_STRING: {
      duk_size_t len = 0;
      const char* s = duk_get_lstring(ctx, top, &len);
      out = Json::string_t(s, len);
      return;
    }
    case DUK_TYPE_OBJECT:
      break;
    default:  // buffers, pointers, lightfuncs: not message values
      out = nullptr;
      return;
  }
  if (depth >= kMaxDepth) {
    walk.error = "message nests too deep (or is circular)";
    duk_error(ctx, DUK_ERR_TYPE_ERROR, "message nests too deep (or is circular)");
  }
  duk_require_stack(ctx, 4);
  if (duk_is_array(ctx, top)) {
    out = Json::array();
    const duk_size_t n = duk_get_length(ctx, top);
    auto& array = out.get_ref<Json::array_t&>();
    array.reserve(n);
    for (duk_size_t i = 0; i < n; ++i) {
      duk_get_prop_index(ctx, top, static_cast<duk_uarridx_t>(i));
      array.emplace_back();
      if (Skipped(ctx, -1)) {
        duk_pop(ctx);
        continue;  // null
      }
      Convert(ctx, array.back(), depth + 1, walk);
      duk_pop(ctx);
    }
    return;
  }
  // Buffers (Uint8Array, ArrayBuffer): not JSON; give what JSON.stringify gives for a plain object.
  out = Json::object();
  auto& object = out.get_ref<Json::object_t&>();
  duk_enum(ctx, top, DUK_ENUM_OWN_PROPERTIES_ONLY);
  while (duk_next(ctx, -1, 1)) {
    // [enum key value]
    if (Skipped(ctx, -1)) {
      duk_pop_2(ctx);
      continue;
    }
    duk_size_t len = 0;
    const char* key = duk_get_lstring(ctx, -2, &len);
    Json& slot = object[Json::string_t(key, len)];
    Convert(ctx, slot, depth + 1, walk);
    duk_pop_2(ctx);
  }
  duk_pop(ctx);  // enum
}

duk_ret_t ConvertSafe(duk_context* ctx, void* udata) {
  auto* walk = static_cast<Walk*>(udata);
  Convert(ctx, *walk->out, 0, *walk);
  return 0;
}

void PushArray(duk_context* ctx, const Json& value);
void PushObject(duk_context* ctx, const Json& value);

}  // namespace

void PushJson(duk_context* ctx, const Json& value) {
  switch (value.type()) {
    case Json::value_t::null:
    case Json::value_t::discarded:
      duk_push_null(ctx);
      return;
    case Json::value_t::boolean:
      duk_push_boolean(ctx, value.get<bool>());
      return;
    case Json::value_t::number_integer:
      duk_push_number(ctx, static_cast<double>(value.get<int64_t>()));
      return;
    case Json::value_t::number_unsigned:
      duk_push_number(ctx, static_cast<double>(value.get<uint64_t>()));
      return;
    case Json::value_t::number_float:
      duk_push_number(ctx, value.get<double>());
      return;
    case Json::value_t::string: {
      const auto& s = value.get_ref<const Json::string_t&>();
      duk_push_lstring(ctx, s.data(), s.size());
      return;
    }
    case Json::value_t::binary: {
      // As Node-RED shows a Buffer in JSON: an array of byte values.
      const auto& bytes = value.get_binary();
      duk_push_array(ctx);
      for (size_t i = 0; i < bytes.size(); ++i) {
        duk_push_uint(ctx, bytes[i]);
        duk_put_prop_index(ctx, -2, static_cast<duk_uarridx_t>(i));
      }
      return;
    }
    case Json::value_t::array:
      PushArray(ctx, value);
      return;
    case Json::value_t::object:
      PushObject(ctx, value);
      return;
  }
}

namespace {

void PushArray(duk_context* ctx, const Json& value) {
  duk_require_stack(ctx, 2);
  duk_push_array(ctx);
  duk_uarridx_t i = 0;
  for (const auto& item : value) {
    PushJson(ctx, item);
    duk_put_prop_index(ctx, -2, i++);
  }
}

void PushObject(duk_context* ctx, const Json& value) {
  duk_require_stack(ctx, 2);
  duk_push_object(ctx);
  for (const auto& [key, item] : value.items()) {
    PushJson(ctx, item);
    duk_put_prop_lstring(ctx, -2, key.data(), key.size());
  }
}

}  // namespace

Result<Json> ToJson(duk_context* ctx, duk_idx_t idx) {
  Json out;
  Walk walk{&out};
  duk_dup(ctx, idx);
  // [.. value] -> converted; the safe call removes its argument and pushes one result slot.
  if (duk_safe_call(ctx, ConvertSafe, &walk, 1, 1) != DUK_EXEC_SUCCESS) {
    std::string text = walk.error ? walk.error : duk_safe_to_string(ctx, -1);
    duk_pop(ctx);
    return InvalidArgument(text);
  }
  duk_pop(ctx);
  return out;
}

void PushJsonText(duk_context* ctx, const Json& value) {
  const std::string text = value.dump(-1, ' ', false, Json::error_handler_t::replace);
  duk_push_lstring(ctx, text.data(), text.size());
  duk_json_decode(ctx, -1);
}

namespace {

duk_ret_t EncodeSafe(duk_context* ctx, void* udata) {
  // [value] -> [text | undefined]
  if (duk_is_undefined(ctx, -1)) return 1;
  duk_json_encode(ctx, -1);
  return 1;
}

}  // namespace

Result<Json> ToJsonText(duk_context* ctx, duk_idx_t idx) {
  duk_dup(ctx, idx);
  if (duk_safe_call(ctx, EncodeSafe, nullptr, 1, 1) != DUK_EXEC_SUCCESS) {
    std::string text = duk_safe_to_string(ctx, -1);
    duk_pop(ctx);
    return InvalidArgument(text);
  }
  if (!duk_is_string(ctx, -1)) {  // undefined, a function
    duk_pop(ctx);
    return Json();
  }
  duk_size_t len = 0;
  const char* text = duk_get_lstring(ctx, -1, &len);
  Json out = Json::parse(text, text + len, nullptr, false);
  duk_pop(ctx);
  if (out.is_discarded()) return InvalidArgument("message is not JSON");
  return out;
}

}  // namespace ew::flows::js
