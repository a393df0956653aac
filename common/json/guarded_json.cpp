// A SAX handler that builds the value the way nlohmann's DOM parser does, but refuses nesting
// past the limit and lengths the input cannot hold before allocating for them.
#include "common/json/guarded_json.hpp"

#include <algorithm>
#include <string>
#include <utility>
#include <vector>

#include "common/ids/ids.hpp"

namespace ew::json {

namespace {

using Value = nlohmann::json;

// WAMP JSON carries binary as a string starting with NUL followed by base64.
constexpr char kBinaryMarker = '\0';

// "[json.exception.parse_error.101] parse error at line 1, column 5: syntax error while parsing
// value - invalid literal; last read: 'tru?'" → "parse error at line 1, column 5: syntax error
// while parsing value - invalid literal". What nlohmann "last read" is input, and input may be a
// token or a password: it never reaches an error message or a log.
std::string DescribeParseError(const char* what) {
  std::string_view text(what);
  if (!text.empty() && text.front() == '[') {
    auto close = text.find("] ");
    if (close != std::string_view::npos) text.remove_prefix(close + 2);
  }
  auto last_read = text.find("; last read:");
  if (last_read != std::string_view::npos) text = text.substr(0, last_read);
  return std::string(text);
}

class GuardedDomBuilder {
 public:
  using number_integer_t = Value::number_integer_t;
  using number_unsigned_t = Value::number_unsigned_t;
  using number_float_t = Value::number_float_t;
  using string_t = Value::string_t;
  using binary_t = Value::binary_t;

  GuardedDomBuilder(Value& root, const ParseLimits& limits, Format format, size_t input_size)
      : root_(root), limits_(limits), format_(format), input_size_(input_size) {}

  bool null() { return Add(Value(nullptr)); }
  bool boolean(bool v) { return Add(Value(v)); }
  bool number_integer(number_integer_t v) { return Add(Value(v)); }
  bool number_unsigned(number_unsigned_t v) { return Add(Value(v)); }
  bool number_float(number_float_t v, const string_t& /*text*/) { return Add(Value(v)); }
  bool string(string_t& v) {
    if (limits_.wamp_binary_strings && !v.empty() && v[0] == kBinaryMarker) return StringWithMarker(v);
    return Add(Value(std::move(v)));
  }
  bool binary(binary_t& v) { return Add(Value(std::move(v))); }  // keeps a msgpack ext subtype
  bool start_object(std::size_t len) { return Open(Value::object(), len, "map"); }
  bool key(string_t& k) {
    pending_key_ = std::move(k);
    return true;
  }
  bool end_object() { return Close(); }
  bool start_array(std::size_t len) { return Open(Value::array(), len, "array"); }
  bool end_array() { return Close(); }
  bool parse_error(std::size_t /*position*/, const std::string& token, const Value::exception& ex) {
    if (format_ == Format::kMsgpack && token == "<end of file>") {
      error_ = "truncated msgpack: input ends at byte " + std::to_string(input_size_) + " inside a value";
    } else {
      error_ = std::string(format_ == Format::kJson ? "invalid JSON: " : "invalid msgpack: ") +
               DescribeParseError(ex.what());
    }
    return false;
  }

  // Why parsing stopped; empty when nlohmann gave no reason.
  const std::string& error() const { return error_; }

 private:
  // "\0<base64>" is binary. When the rest is not base64 the string stays a string: it most
  // likely came from a msgpack peer whose text starts with NUL, and forwarding it unchanged beats
  // failing the message.
  bool StringWithMarker(string_t& text) {
    std::string bytes;
    if (!ids::Base64Decode(std::string_view(text).substr(1), &bytes)) return Add(Value(std::move(text)));
    return Add(Value::binary(std::vector<uint8_t>(bytes.begin(), bytes.end())));
  }

  bool Open(Value container, std::size_t len, const char* kind) {
    if (stack_.size() >= limits_.max_depth) {
      error_ = "nesting deeper than " + std::to_string(limits_.max_depth) + " levels";
      return false;
    }
    // Every element takes at least one byte, so a longer declared length is a lie; refusing it
    // here also keeps nlohmann from trusting it.
    if (len != static_cast<std::size_t>(-1) && len > input_size_) {
      error_ = std::string("truncated msgpack: ") + kind + " declares " + std::to_string(len) +
               " elements but the input has only " + std::to_string(input_size_) + " bytes";
      return false;
    }
    Value* added = Place(std::move(container));
    stack_.push_back(added);
    return true;
  }

  bool Close() {
    if (!stack_.empty()) stack_.pop_back();
    return true;
  }

  bool Add(Value v) {
    Place(std::move(v));
    return true;
  }

  // Puts `v` at the current position (root, next array element, or the pending object key).
  Value* Place(Value v) {
    if (stack_.empty()) {
      root_ = std::move(v);
      return &root_;
    }
    Value& parent = *stack_.back();
    if (parent.is_array()) {
      auto& elements = parent.get_ref<Value::array_t&>();
      elements.push_back(std::move(v));
      return &elements.back();
    }
    Value& slot = parent.get_ref<Value::object_t&>()[std::move(pending_key_)];
    slot = std::move(v);
    return &slot;
  }

  Value& root_;
  const ParseLimits& limits_;
  Format format_;
  size_t input_size_;
  std::vector<Value*> stack_;
  std::string pending_key_;
  std::string error_;
};

}  // namespace

Result<nlohmann::json> Parse(std::string_view text, const ParseLimits& limits, Format format) {
  const std::string prefix = limits.what.empty() ? std::string() : std::string(limits.what) + ": ";
  if (text.size() > limits.max_bytes) {
    return InvalidArgument(prefix + "input is " + std::to_string(text.size()) + " bytes, over the " +
                           std::to_string(limits.max_bytes) + "-byte limit");
  }
  Value root;
  GuardedDomBuilder builder(root, limits, format, text.size());
  bool ok = false;
  try {
    // strict: bytes after the first value are an error, not ignored. The format is a constant
    // in each call so that the compiler drops nlohmann's readers of the other binary formats
    // (CBOR's half floats would make the static agent load libm for ldexp).
    const char* first = text.data();
    const char* last = text.data() + text.size();
    ok = format == Format::kJson
             ? Value::sax_parse(first, last, &builder, nlohmann::json::input_format_t::json, /*strict=*/true)
             : Value::sax_parse(first, last, &builder, nlohmann::json::input_format_t::msgpack, /*strict=*/true);
  } catch (const std::exception& e) {
    // nlohmann reports some failures (e.g. invalid UTF-8 in msgpack map keys) by throwing.
    return InvalidArgument(prefix + DescribeParseError(e.what()));
  }
  if (!ok) {
    return InvalidArgument(prefix + (builder.error().empty() ? std::string("malformed input") : builder.error()));
  }
  return root;
}

size_t Depth(const nlohmann::json& value, size_t stop_after) {
  if (!value.is_structured()) return 0;
  // A flat array or object (most payloads): depth 1, without the walk's stack.
  if (std::none_of(value.begin(), value.end(), [](const Value& child) { return child.is_structured(); }))
    return stop_after < 1 ? stop_after + 1 : 1;
  // Iterative depth-first walk: (value, its depth) pairs still to visit.
  size_t deepest = 0;
  std::vector<std::pair<const Value*, size_t>> todo{{&value, 0}};
  while (!todo.empty()) {
    auto [v, depth] = todo.back();
    todo.pop_back();
    if (!v->is_structured()) continue;
    const size_t inner = depth + 1;
    if (inner > deepest) deepest = inner;
    if (deepest > stop_after) return stop_after + 1;
    for (const auto& child : *v) {
      if (child.is_structured()) todo.emplace_back(&child, inner);
    }
  }
  return deepest;
}

}  // namespace ew::json
