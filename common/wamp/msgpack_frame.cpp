#include "common/wamp/msgpack_frame.hpp"

#include <algorithm>
#include <cstdint>
#include <string>

#include <msgpack.hpp>

#include "common/wamp/limits.hpp"

namespace ew::wamp {

namespace {

using Span = MsgpackFrameLayout::Span;

std::string Truncated(size_t frame_bytes) {
  return "truncated msgpack: input ends at byte " + std::to_string(frame_bytes) + " inside a value";
}

// Checks the elements of the message array as msgpack-cxx parses them, one at a time (Element()
// before each); builds nothing, notes each element's top (Span::kind).
class ElementChecker : public msgpack::v2::null_visitor {
 public:
  explicit ElementChecker(size_t max_depth) : max_depth_(max_depth) {}

  // Before each frame.
  void Frame(size_t frame_bytes) {
    frame_bytes_ = frame_bytes;
    error_.clear();
  }

  void Element(Span& span) {
    span_ = &span;
    depth_ = 0;
    expect_key_ = false;
  }
  // msgpack-cxx's context::init() calls it; Element() resets what matters per element.
  void init() {}

  bool visit_nil() { return Scalar(); }
  bool visit_boolean(bool) { return Scalar(); }
  bool visit_positive_integer(uint64_t value) {
    if (depth_ == 0) Top(Span::Kind::kUnsigned, value);
    return Scalar();
  }
  bool visit_negative_integer(int64_t) { return Scalar(); }
  bool visit_float32(float) { return Scalar(); }
  bool visit_float64(double) { return Scalar(); }
  bool visit_str(const char* text, uint32_t size) {
    if (depth_ == 0) {
      Top(Span::Kind::kString, 0);
      span_->text = std::string_view(text, size);
    }
    expect_key_ = false;
    return true;
  }
  bool visit_bin(const char*, uint32_t) { return Scalar(); }
  bool visit_ext(const char*, uint32_t) { return Scalar(); }
  bool start_array(uint32_t elements) {
    if (depth_ == 0) Top(Span::Kind::kArray, elements);
    return Container(elements, "array");
  }
  bool end_array() {
    --depth_;
    return true;
  }
  bool start_map(uint32_t pairs) {
    if (depth_ == 0) Top(Span::Kind::kMap, pairs);
    return Container(pairs, "map");
  }
  bool start_map_key() {
    expect_key_ = true;
    return true;
  }
  bool end_map() {
    --depth_;
    return true;
  }
  void parse_error(size_t, size_t error_offset) {
    error_ = "invalid msgpack: unexpected byte at offset " + std::to_string(error_offset);
  }
  void insufficient_bytes(size_t, size_t) {
    error_ = Truncated(frame_bytes_);
  }

  const std::string& error() const { return error_; }

 private:
  void Top(Span::Kind kind, uint64_t number) {
    span_->kind = kind;
    span_->number = number;
  }
  bool Scalar() { return expect_key_ ? Fail("invalid msgpack: a map key must be a string") : true; }
  bool Container(uint32_t declared, const char* kind) {
    if (expect_key_) return Fail("invalid msgpack: a map key must be a string");
    if (++depth_ > max_depth_) return Fail("nesting deeper than " + std::to_string(kMaxDepth) + " levels");
    // Each element takes at least one byte: a larger count can only be a lie.
    if (declared > frame_bytes_)
      return Fail(std::string("truncated msgpack: ") + kind + " declares " + std::to_string(declared) +
                  " elements in a " + std::to_string(frame_bytes_) + "-byte frame");
    return true;
  }
  bool Fail(std::string message) {
    error_ = std::move(message);
    return false;
  }

  size_t max_depth_;
  size_t frame_bytes_ = 0;
  Span* span_ = nullptr;
  size_t depth_ = 0;
  bool expect_key_ = false;
  std::string error_;
};

// The message array's own header: fixarray, array 16 or array 32. nullopt for anything else.
bool ReadArrayHeader(std::string_view frame, size_t& count, size_t& offset) {
  const auto byte = [&](size_t i) { return static_cast<uint8_t>(frame[i]); };
  const uint8_t first = byte(0);
  if ((first & 0xf0) == 0x90) {
    count = first & 0x0f;
    offset = 1;
    return true;
  }
  const size_t width = first == 0xdc ? 2 : first == 0xdd ? 4 : 0;
  if (width == 0 || frame.size() < 1 + width) return false;
  count = 0;
  for (size_t i = 1; i <= width; ++i) count = (count << 8) | byte(i);
  offset = 1 + width;
  return true;
}

}  // namespace

ew::Result<MsgpackFrameLayout> ScanMsgpackFrame(std::string_view frame) {
  size_t count = 0;
  size_t offset = 0;
  if (frame.empty() || !ReadArrayHeader(frame, count, offset) || count == 0)
    return InvalidArgument("message must be a non-empty array");
  if (count > frame.size()) return InvalidArgument("truncated msgpack: the message array declares more elements than it has bytes");
  MsgpackFrameLayout layout;
  // Each element takes at least a byte: no more room than the bytes after the header.
  layout.elements.reserve(std::min(count, frame.size() - offset));
  // The message array is one level: an element may nest kMaxDepth - 1 deep. One parser for all
  // elements (msgpack::v2::parse makes one, with its stack, per element), reset before each:
  // after some values (an empty array 16/32 or map 16/32) it does not return to its start state.
  // One per thread, kept: the parser's stack is an allocation the first time a container opens.
  struct Scanner {
    ElementChecker checker{kMaxDepth - 1};
    msgpack::v2::detail::parse_helper<ElementChecker> parser{checker};
  };
  thread_local Scanner scanner;
  ElementChecker& checker = scanner.checker;
  auto& parser = scanner.parser;
  checker.Frame(frame.size());
  for (size_t i = 0; i < count; ++i) {
    if (offset >= frame.size())
      return InvalidArgument(Truncated(frame.size()));
    Span& span = layout.elements.emplace_back();
    span.begin = offset;
    checker.Element(span);
    parser.init();
    const msgpack::v2::parse_return parsed = parser.execute(frame.data(), frame.size(), offset);
    if (parsed == msgpack::v2::PARSE_CONTINUE)
      return InvalidArgument(Truncated(frame.size()));
    if (parsed != msgpack::v2::PARSE_SUCCESS)
      return InvalidArgument(checker.error().empty() ? std::string("invalid msgpack") : checker.error());
    span.end = offset;
  }
  if (offset != frame.size()) return InvalidArgument("invalid msgpack: bytes after the message");
  return layout;
}

}  // namespace ew::wamp
