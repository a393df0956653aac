// wamp.2.json and wamp.2.msgpack codecs. One list of fields per message drives three writers
// (array form, JSON text, msgpack bytes); decoding parses through a guarded SAX builder and then
// validates the array form, so malformed frames become InvalidArgument errors, never crashes.
#include "common/wamp/codec.hpp"

#include <charconv>
#include <cmath>
#include <exception>
#include <optional>
#include <vector>

#include <msgpack.hpp>

#include "common/ids/ids.hpp"
#include "common/json/guarded_json.hpp"
#include "common/wamp/kept_payload.hpp"
#include "common/wamp/msgpack_frame.hpp"

namespace ew::wamp {

namespace {

// WAMP JSON carries binary as a string starting with NUL followed by base64.
constexpr char kBinaryMarker = '\0';

bool IsEmptyValue(const Value& v) { return v.is_null() || (v.is_structured() && v.empty()); }

// ----------------------------------------------------------------------------------------------
// Fields of each message, written through a Writer (ArrayWriter, JsonWriter, MsgpackWriter):
//   Begin(type, element count incl. type)  Id(v)  String(s)  Dict(v)  List(v)  End()

// Payload elements to write: kwargs only when non-empty, args when either is non-empty; a
// payload kept as msgpack bytes as the peer sent it.
size_t PayloadElements(const Payload& p) {
  if (IsKeptPayload(p)) return KeptPayloadElements(p);
  if (!IsEmptyValue(p.kwargs)) return 2;
  return IsEmptyValue(p.args) ? 0 : 1;
}

// A decoded copy of a payload kept as msgpack bytes (for the JSON and array writers).
Payload MaterializedCopy(const Payload& p) {
  Payload copy;
  copy.args = p.args;
  // Checked when received: a failure here is a bug, and the payload goes out empty.
  if (!MaterializePayload(copy)) copy = Payload();
  return copy;
}

template <class W>
void WritePayload(W& w, const Payload& p, size_t elements) {
  if (IsKeptPayload(p)) return w.MsgpackPayload(p);
  if (elements >= 1) w.List(p.args);
  if (elements == 2) w.Dict(p.kwargs);
}

// Writers without a msgpack form write a decoded copy.
template <class W>
void WriteMaterialized(W& w, const Payload& p) {
  Payload copy = MaterializedCopy(p);
  w.List(copy.args);
  if (KeptPayloadElements(p) == 2) w.Dict(copy.kwargs);
}

template <class W>
void WriteFields(W& w, const Hello& m) {
  w.Begin(MessageType::kHello, 3);
  w.String(m.realm);
  w.Dict(m.details);
}
template <class W>
void WriteFields(W& w, const Welcome& m) {
  w.Begin(MessageType::kWelcome, 3);
  w.Id(m.session);
  w.Dict(m.details);
}
template <class W>
void WriteFields(W& w, const Abort& m) {
  w.Begin(MessageType::kAbort, 3);
  w.Dict(m.details);
  w.String(m.reason);
}
template <class W>
void WriteFields(W& w, const Challenge& m) {
  w.Begin(MessageType::kChallenge, 3);
  w.String(m.auth_method);
  w.Dict(m.extra);
}
template <class W>
void WriteFields(W& w, const Authenticate& m) {
  w.Begin(MessageType::kAuthenticate, 3);
  w.String(m.signature);
  w.Dict(m.extra);
}
template <class W>
void WriteFields(W& w, const Goodbye& m) {
  w.Begin(MessageType::kGoodbye, 3);
  w.Dict(m.details);
  w.String(m.reason);
}
template <class W>
void WriteFields(W& w, const ErrorMessage& m) {
  const size_t payload = PayloadElements(m.payload);
  w.Begin(MessageType::kError, 5 + payload);
  w.Id(static_cast<Id>(m.request_type));
  w.Id(m.request);
  w.Dict(m.details);
  w.String(m.error);
  WritePayload(w, m.payload, payload);
}
template <class W>
void WriteFields(W& w, const Publish& m) {
  const size_t payload = PayloadElements(m.payload);
  w.Begin(MessageType::kPublish, 4 + payload);
  w.Id(m.request);
  w.Dict(m.options);
  w.String(m.topic);
  WritePayload(w, m.payload, payload);
}
template <class W>
void WriteFields(W& w, const Published& m) {
  w.Begin(MessageType::kPublished, 3);
  w.Id(m.request);
  w.Id(m.publication);
}
template <class W>
void WriteFields(W& w, const Subscribe& m) {
  w.Begin(MessageType::kSubscribe, 4);
  w.Id(m.request);
  w.Dict(m.options);
  w.String(m.topic);
}
template <class W>
void WriteFields(W& w, const Subscribed& m) {
  w.Begin(MessageType::kSubscribed, 3);
  w.Id(m.request);
  w.Id(m.subscription);
}
template <class W>
void WriteFields(W& w, const Unsubscribe& m) {
  w.Begin(MessageType::kUnsubscribe, 3);
  w.Id(m.request);
  w.Id(m.subscription);
}
template <class W>
void WriteFields(W& w, const Unsubscribed& m) {
  w.Begin(MessageType::kUnsubscribed, 2);
  w.Id(m.request);
}
template <class W>
void WriteFields(W& w, const Event& m) {
  const size_t payload = PayloadElements(m.payload);
  w.Begin(MessageType::kEvent, 4 + payload);
  w.Id(m.subscription);
  w.Id(m.publication);
  w.Dict(m.details);
  WritePayload(w, m.payload, payload);
}
template <class W>
void WriteFields(W& w, const Call& m) {
  const size_t payload = PayloadElements(m.payload);
  w.Begin(MessageType::kCall, 4 + payload);
  w.Id(m.request);
  w.Dict(m.options);
  w.String(m.procedure);
  WritePayload(w, m.payload, payload);
}
template <class W>
void WriteFields(W& w, const Cancel& m) {
  w.Begin(MessageType::kCancel, 3);
  w.Id(m.request);
  w.Dict(m.options);
}
template <class W>
void WriteFields(W& w, const Result& m) {
  const size_t payload = PayloadElements(m.payload);
  w.Begin(MessageType::kResult, 3 + payload);
  w.Id(m.request);
  w.Dict(m.details);
  WritePayload(w, m.payload, payload);
}
template <class W>
void WriteFields(W& w, const Register& m) {
  w.Begin(MessageType::kRegister, 4);
  w.Id(m.request);
  w.Dict(m.options);
  w.String(m.procedure);
}
template <class W>
void WriteFields(W& w, const Registered& m) {
  w.Begin(MessageType::kRegistered, 3);
  w.Id(m.request);
  w.Id(m.registration);
}
template <class W>
void WriteFields(W& w, const Unregister& m) {
  w.Begin(MessageType::kUnregister, 3);
  w.Id(m.request);
  w.Id(m.registration);
}
template <class W>
void WriteFields(W& w, const Unregistered& m) {
  w.Begin(MessageType::kUnregistered, 2);
  w.Id(m.request);
}
template <class W>
void WriteFields(W& w, const Invocation& m) {
  const size_t payload = PayloadElements(m.payload);
  w.Begin(MessageType::kInvocation, 4 + payload);
  w.Id(m.request);
  w.Id(m.registration);
  w.Dict(m.details);
  WritePayload(w, m.payload, payload);
}
template <class W>
void WriteFields(W& w, const Interrupt& m) {
  w.Begin(MessageType::kInterrupt, 3);
  w.Id(m.request);
  w.Dict(m.options);
}
template <class W>
void WriteFields(W& w, const Yield& m) {
  const size_t payload = PayloadElements(m.payload);
  w.Begin(MessageType::kYield, 3 + payload);
  w.Id(m.request);
  w.Dict(m.options);
  WritePayload(w, m.payload, payload);
}

template <class W>
void WriteMessage(W& w, const Message& message) {
  std::visit([&w](const auto& m) { WriteFields(w, m); }, message);
  w.End();
}

// A null dict/list (a field someone reset) is written as an empty one so peers still parse it.
const Value& EmptyObject() {
  static const Value kEmpty = Value::object();
  return kEmpty;
}
const Value& EmptyArray() {
  static const Value kEmpty = Value::array();
  return kEmpty;
}
const Value& OrEmptyObject(const Value& v) { return v.is_null() ? EmptyObject() : v; }
const Value& OrEmptyArray(const Value& v) { return v.is_null() ? EmptyArray() : v; }

// The serializer-neutral array form; copies dynamic values (used by ToArray, not on the hot path).
class ArrayWriter {
 public:
  void Begin(MessageType type, size_t elements) {
    array_.get_ref<Value::array_t&>().reserve(elements);
    Id(static_cast<wamp::Id>(type));
  }
  void Id(wamp::Id v) { array_.push_back(v); }
  void String(const std::string& s) { array_.push_back(s); }
  void Dict(const Value& v) { array_.push_back(OrEmptyObject(v)); }
  void List(const Value& v) { array_.push_back(OrEmptyArray(v)); }
  void MsgpackPayload(const Payload& p) { WriteMaterialized(*this, p); }
  void End() {}
  Value Take() { return std::move(array_); }

 private:
  Value array_ = Value::array();
};

// ----------------------------------------------------------------------------------------------
// JSON writer: builds the envelope by hand and serializes dynamic values straight into the
// output string, so encoding never copies a payload (unless it carries binary, see below).

bool ContainsBinary(const Value& v) {
  switch (v.type()) {
    case Value::value_t::binary:
      return true;
    case Value::value_t::array:
    case Value::value_t::object:
      for (const auto& child : v) {
        if (ContainsBinary(child)) return true;
      }
      return false;
    default:
      return false;
  }
}

// Copy of `v` with every binary value replaced by the WAMP JSON form "\0<base64>".
Value BinaryAsWampStrings(const Value& v) {
  switch (v.type()) {
    case Value::value_t::binary: {
      const auto& bytes = v.get_binary();
      std::string text(1, kBinaryMarker);
      text += ids::Base64(std::string_view(reinterpret_cast<const char*>(bytes.data()), bytes.size()));
      return Value(std::move(text));
    }
    case Value::value_t::array: {
      Value out = Value::array();
      for (const auto& child : v) out.push_back(BinaryAsWampStrings(child));
      return out;
    }
    case Value::value_t::object: {
      Value out = Value::object();
      for (auto it = v.begin(); it != v.end(); ++it) out[it.key()] = BinaryAsWampStrings(it.value());
      return out;
    }
    default:
      return v;
  }
}

// True when `s` can go between quotes as is: printable ASCII without '"' or '\\'.
bool NeedsNoJsonEscaping(std::string_view s) {
  for (char c : s) {
    auto u = static_cast<unsigned char>(c);
    if (u < 0x20 || u > 0x7e || c == '"' || c == '\\') return false;
  }
  return true;
}

class JsonWriter {
 public:
  explicit JsonWriter(std::string& out)
      // nlohmann's own serializer (what dump() uses), pointed at our string. `replace` turns invalid
      // UTF-8 (possible in msgpack strings) into U+FFFD instead of throwing.
      : out_(out),
        serializer_(nlohmann::detail::output_adapter<char>(out), ' ', Value::error_handler_t::replace) {}

  void Begin(MessageType type, size_t /*elements*/) {
    out_ += '[';
    AppendUnsigned(static_cast<uint64_t>(type));
  }
  void Id(wamp::Id v) {
    out_ += ',';
    AppendUnsigned(v);
  }
  void String(const std::string& s) {
    out_ += ',';
    if (NeedsNoJsonEscaping(s)) {
      out_ += '"';
      out_ += s;
      out_ += '"';
    } else {
      serializer_.dump(Value(s), false, false, 0);
    }
  }
  void Dict(const Value& v) { Dynamic(OrEmptyObject(v)); }
  void List(const Value& v) { Dynamic(OrEmptyArray(v)); }
  void MsgpackPayload(const Payload& p) { WriteMaterialized(*this, p); }
  void End() { out_ += ']'; }

 private:
  void AppendUnsigned(uint64_t v) {
    char buf[24];
    auto [end, ec] = std::to_chars(buf, buf + sizeof buf, v);
    out_.append(buf, end);
  }
  void Dynamic(const Value& v) {
    out_ += ',';
    if (ContainsBinary(v)) {
      serializer_.dump(BinaryAsWampStrings(v), false, false, 0);
    } else {
      serializer_.dump(v, false, false, 0);
    }
  }

  std::string& out_;
  nlohmann::detail::serializer<Value> serializer_;
};

// ----------------------------------------------------------------------------------------------
// msgpack writer: msgpack-cxx's packer (the smallest encoding of each integer, string, dict and
// list header, as nlohmann's writer picks) for the envelope and for dynamic values down to their
// scalars; floats (nlohmann writes a float32 when it is exact) and binaries (bin, or ext with a
// subtype) through nlohmann's binary writer, appending to the same string. The bytes are
// nlohmann's either way (tests/common/wamp/codec_test.cpp).

class MsgpackWriter {
 public:
  explicit MsgpackWriter(std::string& out) : sink_{out}, packer_(sink_) {}

  void Begin(MessageType type, size_t elements) {
    packer_.pack_array(static_cast<uint32_t>(elements));
    Id(static_cast<wamp::Id>(type));
  }
  void Id(wamp::Id v) { packer_.pack_uint64(v); }
  void String(const std::string& s) {
    packer_.pack_str(static_cast<uint32_t>(s.size()));
    packer_.pack_str_body(s.data(), static_cast<uint32_t>(s.size()));
  }
  void Dict(const Value& v) { Dynamic(OrEmptyObject(v)); }
  void List(const Value& v) { Dynamic(OrEmptyArray(v)); }
  // The peer's bytes, as they came: checked on the way in (msgpack_frame.hpp).
  void MsgpackPayload(const Payload& p) {
    const auto& bytes = p.args.get_binary();
    sink_.out.append(reinterpret_cast<const char*>(bytes.data()), bytes.size());
  }
  void End() {}

 private:
  // What msgpack::packer writes to.
  struct Sink {
    std::string& out;
    void write(const char* data, size_t size) { out.append(data, size); }
  };

  // Dicts, lists and the common scalars are packed here: nlohmann's writer made every dict key a
  // JSON string value before writing it (an allocation and a copy per key). Recursion is bounded
  // as the writer's was, by where values come from: decoded frames (kMaxDepth, ParseFrame and
  // ScanMsgpackFrame), REST bodies (their depth limit), the agent's replies (CheckPayloadDepth).
  void Dynamic(const Value& v) {
    switch (v.type()) {
      case Value::value_t::object: {
        const auto& object = v.get_ref<const Value::object_t&>();
        packer_.pack_map(static_cast<uint32_t>(object.size()));
        for (const auto& [key, value] : object) {
          String(key);
          Dynamic(value);
        }
        return;
      }
      case Value::value_t::array: {
        const auto& array = v.get_ref<const Value::array_t&>();
        packer_.pack_array(static_cast<uint32_t>(array.size()));
        for (const auto& element : array) Dynamic(element);
        return;
      }
      case Value::value_t::string:
        return String(v.get_ref<const std::string&>());
      case Value::value_t::number_unsigned:
        packer_.pack_uint64(v.get<uint64_t>());
        return;
      case Value::value_t::number_integer:
        packer_.pack_int64(v.get<int64_t>());
        return;
      case Value::value_t::boolean:
        v.get<bool>() ? packer_.pack_true() : packer_.pack_false();
        return;
      case Value::value_t::null:
        packer_.pack_nil();
        return;
      default:  // number_float, binary (and discarded, which no decoded value is)
        if (!writer_) writer_.emplace(nlohmann::detail::output_adapter<char>(sink_.out));
        writer_->write_msgpack(v);
    }
  }

  Sink sink_;
  msgpack::packer<Sink> packer_;
  std::optional<nlohmann::detail::binary_writer<Value, char>> writer_;
};

// ----------------------------------------------------------------------------------------------
// Parsing: common/json's guarded builder (depth, declared lengths), which also turns WAMP JSON
// binary strings back into binary values.

ew::Result<Value> ParseFrame(Serializer serializer, std::string_view frame) {
  json::ParseLimits limits;
  limits.max_bytes = frame.size();  // the transport already bounds the frame
  limits.max_depth = kMaxDepth;
  limits.wamp_binary_strings = serializer == Serializer::kJson;
  limits.what = "";
  return json::Parse(frame, limits, serializer == Serializer::kJson ? json::Format::kJson : json::Format::kMsgpack);
}

// ----------------------------------------------------------------------------------------------
// Validation of the array form. Fields reads element i of a message named `name` and moves it
// out; each check fails with "<NAME>: <field> must be <what>".

// Integers arrive signed or unsigned depending on the encoder, and JavaScript msgpack encoders
// send 2^53 (not a safe integer) as a float64: accept any of them when integral.
std::optional<uint64_t> NonNegativeInteger(const Value& v) {
  if (v.is_number_unsigned()) return v.get<uint64_t>();
  if (v.is_number_integer()) {
    auto i = v.get<int64_t>();
    if (i < 0) return std::nullopt;
    return static_cast<uint64_t>(i);
  }
  if (v.is_number_float()) {
    double d = v.get<double>();
    if (!std::isfinite(d) || d < 0 || d > static_cast<double>(kMaxId) || d != std::floor(d)) return std::nullopt;
    return static_cast<uint64_t>(d);
  }
  return std::nullopt;
}

class Fields {
 public:
  Fields(Value::array_t& elements, MessageType type) : elements_(elements), name_(TypeName(type)) {}

  const Value& at(size_t i) const { return elements_[i]; }

  ew::Result<void> ExpectCount(size_t min, size_t max) const {
    size_t n = elements_.size();
    if (n >= min && n <= max) return Ok();
    std::string expected = min == max ? std::to_string(min) : std::to_string(min) + " to " + std::to_string(max);
    return InvalidArgument(std::string(name_) + ": expected " + expected + " elements, got " + std::to_string(n));
  }
  // Request ids start at 1; other ids (session, subscription, ...) may be 0.
  ew::Result<Id> TakeRequestId(size_t i) { return TakeIdInRange(i, "request", 1); }
  ew::Result<Id> TakeId(size_t i, const char* field) { return TakeIdInRange(i, field, 0); }
  ew::Result<Value> TakeDict(size_t i, const char* field) {
    if (!elements_[i].is_object()) return Fail(field, "a dict");
    return std::move(elements_[i]);
  }
  ew::Result<std::string> TakeString(size_t i, const char* field) {
    if (!elements_[i].is_string()) return Fail(field, "a string");
    return std::move(elements_[i].get_ref<std::string&>());
  }
  // Optional trailing Arguments|list and ArgumentsKw|dict starting at element `first`.
  ew::Result<Payload> TakePayload(size_t first) {
    Payload payload;
    if (elements_.size() > first) {
      if (!elements_[first].is_array()) return Fail("arguments", "a list");
      payload.args = std::move(elements_[first]);
    }
    if (elements_.size() > first + 1) {
      if (!elements_[first + 1].is_object()) return Fail("keyword arguments", "a dict");
      payload.kwargs = std::move(elements_[first + 1]);
    }
    return payload;
  }
  tl::unexpected<Error> Fail(std::string_view field, std::string_view what) const {
    return InvalidArgument(std::string(name_) + ": " + std::string(field) + " must be " + std::string(what));
  }

 private:
  ew::Result<Id> TakeIdInRange(size_t i, const char* field, Id min) {
    auto id = NonNegativeInteger(elements_[i]);
    if (!id || *id < min || *id > kMaxId) {
      return Fail(field, min == 0 ? "an id in [0, 2^53]" : "an id in [1, 2^53]");
    }
    return *id;
  }

  Value::array_t& elements_;
  const char* name_;
};

ew::Result<Message> ParseHello(Fields& f) {
  EW_TRY_VOID(f.ExpectCount(3, 3));
  Hello m;
  EW_TRY(m.realm, f.TakeString(1, "realm"));
  EW_TRY(m.details, f.TakeDict(2, "details"));
  return Message(std::move(m));
}
ew::Result<Message> ParseWelcome(Fields& f) {
  EW_TRY_VOID(f.ExpectCount(3, 3));
  Welcome m;
  EW_TRY(m.session, f.TakeId(1, "session"));
  EW_TRY(m.details, f.TakeDict(2, "details"));
  return Message(std::move(m));
}
ew::Result<Message> ParseAbort(Fields& f) {
  EW_TRY_VOID(f.ExpectCount(3, 3));
  Abort m;
  EW_TRY(m.details, f.TakeDict(1, "details"));
  EW_TRY(m.reason, f.TakeString(2, "reason"));
  return Message(std::move(m));
}
ew::Result<Message> ParseChallenge(Fields& f) {
  EW_TRY_VOID(f.ExpectCount(3, 3));
  Challenge m;
  EW_TRY(m.auth_method, f.TakeString(1, "auth method"));
  EW_TRY(m.extra, f.TakeDict(2, "extra"));
  return Message(std::move(m));
}
ew::Result<Message> ParseAuthenticate(Fields& f) {
  EW_TRY_VOID(f.ExpectCount(3, 3));
  Authenticate m;
  EW_TRY(m.signature, f.TakeString(1, "signature"));
  EW_TRY(m.extra, f.TakeDict(2, "extra"));
  return Message(std::move(m));
}
ew::Result<Message> ParseGoodbye(Fields& f) {
  EW_TRY_VOID(f.ExpectCount(3, 3));
  Goodbye m;
  EW_TRY(m.details, f.TakeDict(1, "details"));
  EW_TRY(m.reason, f.TakeString(2, "reason"));
  return Message(std::move(m));
}

// Only requests that WAMP answers with ERROR.
bool CanBeAnsweredWithError(uint64_t type) {
  if (type > 0xff) return false;  // no message type; the cast below would wrap (2^32 + 48 is not CALL)
  switch (static_cast<MessageType>(type)) {
    case MessageType::kSubscribe:
    case MessageType::kUnsubscribe:
    case MessageType::kPublish:
    case MessageType::kRegister:
    case MessageType::kUnregister:
    case MessageType::kCall:
    case MessageType::kInvocation:
      return true;
    default:
      return false;
  }
}

ew::Result<Message> ParseError(Fields& f) {
  EW_TRY_VOID(f.ExpectCount(5, 7));
  ErrorMessage m;
  auto type = NonNegativeInteger(f.at(1));
  if (!type || !CanBeAnsweredWithError(*type)) {
    return f.Fail("request type", "SUBSCRIBE, UNSUBSCRIBE, PUBLISH, REGISTER, UNREGISTER, CALL or INVOCATION");
  }
  m.request_type = static_cast<MessageType>(*type);
  EW_TRY(m.request, f.TakeRequestId(2));
  EW_TRY(m.details, f.TakeDict(3, "details"));
  EW_TRY(m.error, f.TakeString(4, "error"));
  EW_TRY(m.payload, f.TakePayload(5));
  return Message(std::move(m));
}
ew::Result<Message> ParsePublish(Fields& f) {
  EW_TRY_VOID(f.ExpectCount(4, 6));
  Publish m;
  EW_TRY(m.request, f.TakeRequestId(1));
  EW_TRY(m.options, f.TakeDict(2, "options"));
  EW_TRY(m.topic, f.TakeString(3, "topic"));
  EW_TRY(m.payload, f.TakePayload(4));
  return Message(std::move(m));
}
ew::Result<Message> ParsePublished(Fields& f) {
  EW_TRY_VOID(f.ExpectCount(3, 3));
  Published m;
  EW_TRY(m.request, f.TakeRequestId(1));
  EW_TRY(m.publication, f.TakeId(2, "publication"));
  return Message(std::move(m));
}
ew::Result<Message> ParseSubscribe(Fields& f) {
  EW_TRY_VOID(f.ExpectCount(4, 4));
  Subscribe m;
  EW_TRY(m.request, f.TakeRequestId(1));
  EW_TRY(m.options, f.TakeDict(2, "options"));
  EW_TRY(m.topic, f.TakeString(3, "topic"));
  return Message(std::move(m));
}
ew::Result<Message> ParseSubscribed(Fields& f) {
  EW_TRY_VOID(f.ExpectCount(3, 3));
  Subscribed m;
  EW_TRY(m.request, f.TakeRequestId(1));
  EW_TRY(m.subscription, f.TakeId(2, "subscription"));
  return Message(std::move(m));
}
ew::Result<Message> ParseUnsubscribe(Fields& f) {
  EW_TRY_VOID(f.ExpectCount(3, 3));
  Unsubscribe m;
  EW_TRY(m.request, f.TakeRequestId(1));
  EW_TRY(m.subscription, f.TakeId(2, "subscription"));
  return Message(std::move(m));
}
ew::Result<Message> ParseUnsubscribed(Fields& f) {
  EW_TRY_VOID(f.ExpectCount(2, 2));
  Unsubscribed m;
  EW_TRY(m.request, f.TakeRequestId(1));
  return Message(std::move(m));
}
ew::Result<Message> ParseEvent(Fields& f) {
  EW_TRY_VOID(f.ExpectCount(4, 6));
  Event m;
  EW_TRY(m.subscription, f.TakeId(1, "subscription"));
  EW_TRY(m.publication, f.TakeId(2, "publication"));
  EW_TRY(m.details, f.TakeDict(3, "details"));
  EW_TRY(m.payload, f.TakePayload(4));
  return Message(std::move(m));
}
ew::Result<Message> ParseCall(Fields& f) {
  EW_TRY_VOID(f.ExpectCount(4, 6));
  Call m;
  EW_TRY(m.request, f.TakeRequestId(1));
  EW_TRY(m.options, f.TakeDict(2, "options"));
  EW_TRY(m.procedure, f.TakeString(3, "procedure"));
  EW_TRY(m.payload, f.TakePayload(4));
  return Message(std::move(m));
}
ew::Result<Message> ParseCancel(Fields& f) {
  EW_TRY_VOID(f.ExpectCount(3, 3));
  Cancel m;
  EW_TRY(m.request, f.TakeRequestId(1));
  EW_TRY(m.options, f.TakeDict(2, "options"));
  return Message(std::move(m));
}
ew::Result<Message> ParseResult(Fields& f) {
  EW_TRY_VOID(f.ExpectCount(3, 5));
  Result m;
  EW_TRY(m.request, f.TakeRequestId(1));
  EW_TRY(m.details, f.TakeDict(2, "details"));
  EW_TRY(m.payload, f.TakePayload(3));
  return Message(std::move(m));
}
ew::Result<Message> ParseRegister(Fields& f) {
  EW_TRY_VOID(f.ExpectCount(4, 4));
  Register m;
  EW_TRY(m.request, f.TakeRequestId(1));
  EW_TRY(m.options, f.TakeDict(2, "options"));
  EW_TRY(m.procedure, f.TakeString(3, "procedure"));
  return Message(std::move(m));
}
ew::Result<Message> ParseRegistered(Fields& f) {
  EW_TRY_VOID(f.ExpectCount(3, 3));
  Registered m;
  EW_TRY(m.request, f.TakeRequestId(1));
  EW_TRY(m.registration, f.TakeId(2, "registration"));
  return Message(std::move(m));
}
ew::Result<Message> ParseUnregister(Fields& f) {
  EW_TRY_VOID(f.ExpectCount(3, 3));
  Unregister m;
  EW_TRY(m.request, f.TakeRequestId(1));
  EW_TRY(m.registration, f.TakeId(2, "registration"));
  return Message(std::move(m));
}
ew::Result<Message> ParseUnregistered(Fields& f) {
  EW_TRY_VOID(f.ExpectCount(2, 2));
  Unregistered m;
  EW_TRY(m.request, f.TakeRequestId(1));
  return Message(std::move(m));
}
ew::Result<Message> ParseInvocation(Fields& f) {
  EW_TRY_VOID(f.ExpectCount(4, 6));
  Invocation m;
  EW_TRY(m.request, f.TakeRequestId(1));
  EW_TRY(m.registration, f.TakeId(2, "registration"));
  EW_TRY(m.details, f.TakeDict(3, "details"));
  EW_TRY(m.payload, f.TakePayload(4));
  return Message(std::move(m));
}
ew::Result<Message> ParseInterrupt(Fields& f) {
  EW_TRY_VOID(f.ExpectCount(3, 3));
  Interrupt m;
  EW_TRY(m.request, f.TakeRequestId(1));
  EW_TRY(m.options, f.TakeDict(2, "options"));
  return Message(std::move(m));
}
ew::Result<Message> ParseYield(Fields& f) {
  EW_TRY_VOID(f.ExpectCount(3, 5));
  Yield m;
  EW_TRY(m.request, f.TakeRequestId(1));
  EW_TRY(m.options, f.TakeDict(2, "options"));
  EW_TRY(m.payload, f.TakePayload(3));
  return Message(std::move(m));
}

// Validates `array` and moves its parts into a Message.
ew::Result<Message> FromOwnedArray(Value& array) {
  if (!array.is_array() || array.empty()) return InvalidArgument("message must be a non-empty array");
  auto& elements = array.get_ref<Value::array_t&>();
  if (!elements[0].is_number()) return InvalidArgument("message type must be an integer");
  auto code = NonNegativeInteger(elements[0]);
  // Codes above 255 are unknown anyway; refusing them here keeps the cast below in range.
  if (!code || *code > 0xff) return InvalidArgument("unknown message type " + elements[0].dump());
  const auto type = static_cast<MessageType>(*code);
  Fields f(elements, type);
  switch (type) {
    case MessageType::kHello: return ParseHello(f);
    case MessageType::kWelcome: return ParseWelcome(f);
    case MessageType::kAbort: return ParseAbort(f);
    case MessageType::kChallenge: return ParseChallenge(f);
    case MessageType::kAuthenticate: return ParseAuthenticate(f);
    case MessageType::kGoodbye: return ParseGoodbye(f);
    case MessageType::kError: return ParseError(f);
    case MessageType::kPublish: return ParsePublish(f);
    case MessageType::kPublished: return ParsePublished(f);
    case MessageType::kSubscribe: return ParseSubscribe(f);
    case MessageType::kSubscribed: return ParseSubscribed(f);
    case MessageType::kUnsubscribe: return ParseUnsubscribe(f);
    case MessageType::kUnsubscribed: return ParseUnsubscribed(f);
    case MessageType::kEvent: return ParseEvent(f);
    case MessageType::kCall: return ParseCall(f);
    case MessageType::kCancel: return ParseCancel(f);
    case MessageType::kResult: return ParseResult(f);
    case MessageType::kRegister: return ParseRegister(f);
    case MessageType::kRegistered: return ParseRegistered(f);
    case MessageType::kUnregister: return ParseUnregister(f);
    case MessageType::kUnregistered: return ParseUnregistered(f);
    case MessageType::kInvocation: return ParseInvocation(f);
    case MessageType::kInterrupt: return ParseInterrupt(f);
    case MessageType::kYield: return ParseYield(f);
  }
  return InvalidArgument("unknown message type " + std::to_string(*code));
}

// Where the payload starts in the messages whose payload may stay msgpack bytes.
std::optional<size_t> PayloadIndex(uint8_t type) {
  switch (static_cast<MessageType>(type)) {
    case MessageType::kCall: return 4;
    case MessageType::kYield: return 3;
    case MessageType::kError: return 5;
    default: return std::nullopt;
  }
}

Payload* PayloadOf(Message& message) {
  if (auto* call = std::get_if<Call>(&message)) return &call->payload;
  if (auto* yield = std::get_if<Yield>(&message)) return &yield->payload;
  if (auto* error = std::get_if<ErrorMessage>(&message)) return &error->payload;
  return nullptr;
}

using Spans = std::vector<MsgpackFrameLayout::Span>;
using SpanKind = MsgpackFrameLayout::Span::Kind;

std::optional<Id> EverydayRequestId(const MsgpackFrameLayout::Span& span) {
  if (span.kind != SpanKind::kUnsigned || span.number < 1 || span.number > kMaxId) return std::nullopt;
  return span.number;
}
bool IsEmptyDict(const MsgpackFrameLayout::Span& span) { return span.kind == SpanKind::kMap && span.number == 0; }
bool IsString(const MsgpackFrameLayout::Span& span) { return span.kind == SpanKind::kString; }

// [CALL, Request|id, Options|dict, Procedure|uri, ...]
std::optional<Message> EverydayCall(const Spans& elements) {
  auto request = EverydayRequestId(elements[1]);
  if (!request || !IsEmptyDict(elements[2]) || !IsString(elements[3])) return std::nullopt;
  // An aggregate, so the payload's default empty list and dict are not allocated only to be
  // replaced (so are the two below).
  return Message(Call{*request, Value::object(), std::string(elements[3].text), Payload{Value(), Value()}});
}

// [YIELD, INVOCATION.Request|id, Options|dict, ...]
std::optional<Message> EverydayYield(const Spans& elements) {
  auto request = EverydayRequestId(elements[1]);
  if (!request || !IsEmptyDict(elements[2])) return std::nullopt;
  return Message(Yield{*request, Value::object(), Payload{Value(), Value()}});
}

// [ERROR, REQUEST.Type|int, REQUEST.Request|id, Details|dict, Error|uri, ...]
std::optional<Message> EverydayError(const Spans& elements) {
  auto request = EverydayRequestId(elements[2]);
  if (elements[1].kind != SpanKind::kUnsigned || !CanBeAnsweredWithError(elements[1].number) || !request ||
      !IsEmptyDict(elements[3]) || !IsString(elements[4]))
    return std::nullopt;
  return Message(ErrorMessage{static_cast<MessageType>(elements[1].number), *request, Value::object(),
                              std::string(elements[4].text), Payload{Value(), Value()}});
}

// The envelope of a CALL, YIELD or ERROR read straight from the scan, in its everyday shape:
// ids as msgpack unsigned integers in range, an empty options (details) dict, a string URI.
// FromOwnedArray would build the same message from a DOM; anything else (options to read, an id
// sent as a float, a field of the wrong type) is left to it (nullopt), so it also words errors.
// The caller has checked that `elements` reach the payload index of `type`, and sets the payload
// (left null here).
std::optional<Message> EverydayEnvelope(uint8_t type, const Spans& elements) {
  switch (static_cast<MessageType>(type)) {
    case MessageType::kCall: return EverydayCall(elements);
    case MessageType::kYield: return EverydayYield(elements);
    case MessageType::kError: return EverydayError(elements);
    default: return std::nullopt;
  }
}

// A CALL, YIELD or ERROR whose args (and kwargs) stay bytes: the whole frame is checked by
// ScanMsgpackFrame, the envelope before the payload is decoded and validated as usual. nullopt
// when the frame is anything else, or breaks a rule: the full decoder then handles it (and
// words the error as it always has).
std::optional<ew::Result<Message>> DecodeMsgpackKeepingPayload(std::string_view frame) {
  auto layout = ScanMsgpackFrame(frame);
  if (!layout) return std::nullopt;
  const auto& elements = layout->elements;
  if (elements[0].kind != SpanKind::kUnsigned || elements[0].number > 0xff) return std::nullopt;
  const auto type = static_cast<uint8_t>(elements[0].number);
  auto payload_index = PayloadIndex(type);
  if (!payload_index || elements.size() <= *payload_index || elements.size() > *payload_index + 2) return std::nullopt;
  if (elements[*payload_index].kind != SpanKind::kArray) return std::nullopt;
  if (elements.size() == *payload_index + 2 && elements[*payload_index + 1].kind != SpanKind::kMap) return std::nullopt;
  const size_t payload_begin = elements[*payload_index].begin;
  std::optional<ew::Result<Message>> message;
  if (auto everyday = EverydayEnvelope(type, elements)) {
    message.emplace(std::move(*everyday));
  } else {
    // The envelope: the same elements under an array header of their own count.
    std::string envelope(1, static_cast<char>(0x90 | *payload_index));
    envelope.append(frame.data() + elements[0].begin, payload_begin - elements[0].begin);
    auto array = ParseFrame(Serializer::kMsgpack, envelope);
    if (!array) return std::nullopt;
    message.emplace(FromOwnedArray(*array));
    if (!*message) return message;
  }
  Payload* payload = PayloadOf(**message);
  if (!payload) return std::nullopt;
  const auto* first = reinterpret_cast<const uint8_t*>(frame.data()) + payload_begin;
  payload->args = Value::binary(std::vector<uint8_t>(first, first + (frame.size() - payload_begin)),
                                elements.size() - *payload_index == 2 ? kKeptArgsKwargs : kKeptArgs);
  payload->kwargs = Value::object();
  return message;
}

}  // namespace

std::string_view SubprotocolName(Serializer serializer) {
  return serializer == Serializer::kJson ? "wamp.2.json" : "wamp.2.msgpack";
}

std::optional<Serializer> SerializerFromSubprotocol(std::string_view name) {
  if (name == "wamp.2.json") return Serializer::kJson;
  if (name == "wamp.2.msgpack") return Serializer::kMsgpack;
  return std::nullopt;
}

bool IsBinary(Serializer serializer) { return serializer == Serializer::kMsgpack; }

ew::Result<Message> Decode(Serializer serializer, std::string_view frame) {
  if (frame.empty()) return InvalidArgument("empty frame");
  // Nothing below should throw; this is the last line that keeps a hostile frame from
  // unwinding through the router's io_context (bad_alloc included).
  try {
    EW_TRY(Value array, ParseFrame(serializer, frame));
    return FromOwnedArray(array);
  } catch (const std::exception& e) {
    return InvalidArgument(std::string("malformed frame: ") + e.what());
  }
}

std::string Encode(Serializer serializer, const Message& message) {
  std::string out;
  out.reserve(128);
  if (serializer == Serializer::kJson) {
    JsonWriter writer(out);
    WriteMessage(writer, message);
  } else {
    MsgpackWriter writer(out);
    WriteMessage(writer, message);
  }
  return out;
}

ew::Result<Message> DecodeKeepingPayload(Serializer serializer, std::string_view frame) {
  if (serializer == Serializer::kMsgpack && !frame.empty()) {
    try {
      if (auto kept = DecodeMsgpackKeepingPayload(frame)) return std::move(*kept);
    } catch (const std::exception&) {
      // Decode below words it.
    }
  }
  return Decode(serializer, frame);
}

bool IsKeptPayload(const Payload& payload) {
  return payload.args.is_binary() && payload.args.get_binary().has_subtype() &&
         (payload.args.get_binary().subtype() == kKeptArgs || payload.args.get_binary().subtype() == kKeptArgsKwargs);
}

size_t KeptPayloadElements(const Payload& payload) {
  if (!IsKeptPayload(payload)) return 0;
  return payload.args.get_binary().subtype() == kKeptArgsKwargs ? 2 : 1;
}

ew::Result<void> MaterializePayload(Payload& payload) {
  if (!IsKeptPayload(payload)) return Ok();
  const size_t elements = KeptPayloadElements(payload);
  const auto& bytes = payload.args.get_binary();
  // The bytes are 1 or 2 values: read them as the elements of one array.
  std::string array(1, static_cast<char>(0x90 | elements));
  array.append(reinterpret_cast<const char*>(bytes.data()), bytes.size());
  try {
    EW_TRY(Value values, ParseFrame(Serializer::kMsgpack, array));
    if (!values.is_array() || values.size() != elements) return InvalidArgument("malformed payload");
    Value args = std::move(values[0]);
    Value kwargs = elements == 2 ? std::move(values[1]) : Value::object();
    if (!args.is_array() || !kwargs.is_object()) return InvalidArgument("malformed payload");
    payload.args = std::move(args);
    payload.kwargs = std::move(kwargs);
  } catch (const std::exception& e) {
    return InvalidArgument(std::string("malformed payload: ") + e.what());
  }
  return Ok();
}

Value ToArray(const Message& message) {
  ArrayWriter writer;
  WriteMessage(writer, message);
  return writer.Take();
}

ew::Result<Message> FromArray(const Value& array) {
  // The Message owns its values: one copy is needed anyway, taken here once.
  Value copy = array;
  return FromOwnedArray(copy);
}

}  // namespace ew::wamp
