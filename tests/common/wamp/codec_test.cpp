// Codec round trips for every WAMP message in both serializers, the exact wire forms, payload
// omission rules, and binary payloads crossing msgpack → JSON → msgpack through the router.
#include "common/wamp/codec.hpp"

#include <limits>
#include <utility>
#include <variant>

#include <gtest/gtest.h>

#include "common/wamp/kept_payload.hpp"
#include "tests/common/wamp/sample_messages.hpp"

namespace ew::wamp {
namespace {

std::string Bytes(std::initializer_list<int> bytes) {
  std::string out;
  for (int b : bytes) out += static_cast<char>(b);
  return out;
}

std::string ToMsgpack(const Value& v) {
  std::vector<uint8_t> bytes = Value::to_msgpack(v);
  return std::string(bytes.begin(), bytes.end());
}

Message DecodeOrDie(Serializer serializer, std::string_view frame) {
  auto decoded = Decode(serializer, frame);
  EXPECT_TRUE(decoded.has_value()) << decoded.error().message;
  return decoded ? *decoded : Message{};
}

class CodecRoundTripTest : public ::testing::TestWithParam<Serializer> {};

TEST_P(CodecRoundTripTest, EveryMessageSurvivesEncodeDecode) {
  for (const auto& sample : SampleMessages()) {
    SCOPED_TRACE(sample.name);
    std::string frame = Encode(GetParam(), sample.message);
    Message decoded = DecodeOrDie(GetParam(), frame);
    EXPECT_EQ(TypeOf(decoded), TypeOf(sample.message));
    EXPECT_EQ(ToArray(decoded), ToArray(sample.message));
    // Encoding is deterministic: the decoded message encodes to the same bytes.
    EXPECT_EQ(Encode(GetParam(), decoded), frame);
  }
}

TEST_P(CodecRoundTripTest, HandWrittenEnvelopeMatchesNlohmannOfTheArrayForm) {
  // The encoders write the envelope by hand for speed; the array form through nlohmann is the
  // reference they must agree with byte for byte.
  for (const auto& sample : SampleMessages()) {
    SCOPED_TRACE(sample.name);
    const Value array = ToArray(sample.message);
    const std::string expected = GetParam() == Serializer::kJson ? array.dump() : ToMsgpack(array);
    EXPECT_EQ(Encode(GetParam(), sample.message), expected);
  }
}

TEST_P(CodecRoundTripTest, LargeIdsAndLongStringsUseWiderEncodings) {
  for (Id id : {Id{127}, Id{128}, Id{255}, Id{256}, Id{65535}, Id{65536}, Id{0xffffffff}, Id{0x100000000}, kMaxId}) {
    for (size_t length : {0u, 31u, 32u, 255u, 256u, 65535u, 65536u}) {
      SCOPED_TRACE(std::to_string(id) + "/" + std::to_string(length));
      Call call{id, Value::object(), std::string(length, 'p'), {}};
      std::string frame = Encode(GetParam(), call);
      EXPECT_EQ(frame, GetParam() == Serializer::kJson ? ToArray(call).dump() : ToMsgpack(ToArray(call)));
      Message decoded = DecodeOrDie(GetParam(), frame);
      EXPECT_EQ(ToArray(decoded), ToArray(call));
    }
  }
}

TEST_P(CodecRoundTripTest, ProgressiveCallAndResults) {
  Call call{11, {{"receive_progress", true}}, "ew.board.brd-1.fn.invoke", MakePayload({"job"})};
  auto decoded_call = std::get<Call>(DecodeOrDie(GetParam(), Encode(GetParam(), call)));
  EXPECT_EQ(decoded_call.options.at("receive_progress"), true);

  for (bool progress : {true, true, false}) {
    Result result{11, progress ? Value{{"progress", true}} : Value::object(), MakePayload({progress ? 0.5 : 1.0})};
    auto decoded = std::get<Result>(DecodeOrDie(GetParam(), Encode(GetParam(), result)));
    EXPECT_EQ(decoded.request, 11u);
    EXPECT_EQ(decoded.details.value("progress", false), progress);
    EXPECT_EQ(decoded.payload.args, result.payload.args);
  }
}

TEST_P(CodecRoundTripTest, CancelInterruptAndAuthentication) {
  auto cancel = std::get<Cancel>(DecodeOrDie(GetParam(), Encode(GetParam(), Cancel{4, {{"mode", "kill"}}})));
  EXPECT_EQ(cancel.request, 4u);
  EXPECT_EQ(cancel.options.at("mode"), "kill");

  auto interrupt =
      std::get<Interrupt>(DecodeOrDie(GetParam(), Encode(GetParam(), Interrupt{9, {{"mode", "killnowait"}}})));
  EXPECT_EQ(interrupt.request, 9u);
  EXPECT_EQ(interrupt.options.at("mode"), "killnowait");

  Challenge challenge{"wampcra", {{"challenge", "{\"nonce\":\"n\"}"}, {"salt", "s"}, {"iterations", 1000}}};
  auto decoded_challenge = std::get<Challenge>(DecodeOrDie(GetParam(), Encode(GetParam(), challenge)));
  EXPECT_EQ(decoded_challenge.auth_method, "wampcra");
  EXPECT_EQ(decoded_challenge.extra, challenge.extra);

  auto authenticate =
      std::get<Authenticate>(DecodeOrDie(GetParam(), Encode(GetParam(), Authenticate{"c2lnbmF0dXJl", Value::object()})));
  EXPECT_EQ(authenticate.signature, "c2lnbmF0dXJl");
  EXPECT_TRUE(authenticate.extra.empty());
}

TEST_P(CodecRoundTripTest, ErrorRepliesToEveryRequestKindThatHasOne) {
  for (MessageType type : {MessageType::kSubscribe, MessageType::kUnsubscribe, MessageType::kPublish,
                           MessageType::kRegister, MessageType::kUnregister, MessageType::kCall,
                           MessageType::kInvocation}) {
    ErrorMessage error{type, 3, Value::object(), "wamp.error.canceled", {}};
    auto decoded = std::get<ErrorMessage>(DecodeOrDie(GetParam(), Encode(GetParam(), error)));
    EXPECT_EQ(decoded.request_type, type);
    EXPECT_EQ(decoded.request, 3u);
  }
}

TEST_P(CodecRoundTripTest, MissingPayloadDecodesAsEmptyArgsAndKwargs) {
  auto call = std::get<Call>(DecodeOrDie(GetParam(), Encode(GetParam(), Call{1, Value::object(), "p", {}})));
  EXPECT_TRUE(call.payload.args.is_array());
  EXPECT_TRUE(call.payload.args.empty());
  EXPECT_TRUE(call.payload.kwargs.is_object());
  EXPECT_TRUE(call.payload.kwargs.empty());
}

TEST_P(CodecRoundTripTest, BinaryPayloadSurvives) {
  Value blob = Value::binary({0x00, 0x01, 0xfe, 0xff});
  Call call{1, Value::object(), "ew.board.brd-1.fn.invoke", MakePayload(Value::array({blob}), {{"nested", {{"b", blob}}}})};
  auto decoded = std::get<Call>(DecodeOrDie(GetParam(), Encode(GetParam(), call)));
  ASSERT_TRUE(decoded.payload.args[0].is_binary());
  EXPECT_EQ(decoded.payload.args[0].get_binary(), blob.get_binary());
  EXPECT_EQ(decoded.payload.kwargs["nested"]["b"].get_binary(), blob.get_binary());
}

INSTANTIATE_TEST_SUITE_P(BothSerializers, CodecRoundTripTest,
                         ::testing::Values(Serializer::kJson, Serializer::kMsgpack),
                         [](const auto& info) { return info.param == Serializer::kJson ? "Json" : "Msgpack"; });

TEST(CodecTest, JsonWireForm) {
  Call call{4, {{"receive_progress", true}}, "ew.board.brd-1.gpio.read", MakePayload({17})};
  EXPECT_EQ(Encode(Serializer::kJson, call), R"([48,4,{"receive_progress":true},"ew.board.brd-1.gpio.read",[17]])");
  EXPECT_EQ(Encode(Serializer::kJson, Hello{"edgewire", Value::object()}), R"([1,"edgewire",{}])");
  EXPECT_EQ(Encode(Serializer::kJson, ErrorMessage{MessageType::kCall, 4, Value::object(), "wamp.error.canceled", {}}),
            R"([8,48,4,{},"wamp.error.canceled"])");
}

TEST(CodecTest, MsgpackWireForm) {
  Call call{4, Value::object(), "p", MakePayload({17})};
  EXPECT_EQ(Encode(Serializer::kMsgpack, call), Bytes({0x95, 0x30, 0x04, 0x80, 0xa1, 'p', 0x91, 0x11}));
  EXPECT_EQ(Encode(Serializer::kMsgpack, Unsubscribed{300}), Bytes({0x92, 0x23, 0xcd, 0x01, 0x2c}));
}

// The msgpack encoder writes dicts and lists itself (and scalars through nlohmann): its bytes
// must be nlohmann's, for every container size form (fix, 16- and 32-bit), nesting, keys of
// every string length form, and every scalar type.
TEST(CodecTest, MsgpackPayloadBytesAreNlohmannsWhateverTheShape) {
  const auto sized = [](size_t n) {
    Value list = Value::array();
    Value dict = Value::object();
    for (size_t i = 0; i < n; ++i) {
      list.push_back(static_cast<int>(i % 300) - 40);
      dict["k" + std::to_string(i)] = i % 2 ? Value(i) : Value("v");
    }
    return std::make_pair(list, dict);
  };
  std::vector<Value> values = {
      Value::array(), Value::object(), Value::array({nullptr, true, false, 0, -1, 127, 128, -33, 65536, -70000,
                                                     uint64_t{1} << 63, 1.5, 1e300, "", std::string(31, 's'),
                                                     -32, -128, -129, -32768, -32769, int64_t{1} << 40,
                                                     std::numeric_limits<int64_t>::min(), 255, 256, 65535,
                                                     uint64_t{255}, uint64_t{65535}, uint64_t{1} << 32, 0.1f, -0.0,
                                                     std::string(32, 's'), std::string(256, 's'), std::string(70000, 's'),
                                                     Value::binary({1, 2}), Value::binary({3}, 7),
                                                     // the 32-bit and 64-bit edges, signed and unsigned
                                                     int64_t{1} << 31, -(int64_t{1} << 31), -(int64_t{1} << 31) - 1,
                                                     (int64_t{1} << 31) - 1, int64_t{1} << 32, (int64_t{1} << 32) - 1,
                                                     uint64_t{1} << 31, (uint64_t{1} << 32) - 1,
                                                     std::numeric_limits<int64_t>::max(),
                                                     std::numeric_limits<uint64_t>::max()}),
      {{"", 1}, {std::string(31, 'a'), 2}, {std::string(32, 'b'), 3}, {std::string(300, 'c'), 4},
       {std::string(70000, 'd'), {{"nested", Value::array({Value::object(), Value::array(), {{"x", {1, 2}}}})}}}}};
  for (size_t n : {15, 16, 65535, 65536}) {
    auto [list, dict] = sized(n);
    values.push_back(list);
    values.push_back(dict);
    values.push_back(Value::array({list, dict}));
  }
  for (const Value& v : values) {
    // args, and kwargs when v is a dict: the payload is written after [70, 1, {}].
    const Payload payload = v.is_object() ? MakePayload(Value::array({v}), v) : MakePayload(v.is_array() ? v : Value::array({v}));
    const std::string encoded = Encode(Serializer::kMsgpack, Yield{1, Value::object(), payload});
    Value expected = Value::array({70, 1, Value::object()});  // empty kwargs, and args then, omitted
    if (!payload.args.empty() || !payload.kwargs.empty()) expected.push_back(payload.args);
    if (!payload.kwargs.empty()) expected.push_back(payload.kwargs);
    ASSERT_EQ(encoded, ToMsgpack(expected)) << v.dump().substr(0, 200);
  }
}

TEST(CodecTest, EncodersOmitEmptyKwargsAndArgs) {
  EXPECT_EQ(Encode(Serializer::kJson, Result{1, Value::object(), {}}), "[50,1,{}]");
  EXPECT_EQ(Encode(Serializer::kJson, Result{1, Value::object(), MakePayload({1})}), "[50,1,{},[1]]");
  EXPECT_EQ(Encode(Serializer::kJson, Result{1, Value::object(), MakePayload(Value::array(), {{"a", 1}})}),
            R"([50,1,{},[],{"a":1}])");
  EXPECT_EQ(Encode(Serializer::kJson, Yield{1, Value::object(), MakePayload({1}, {{"a", 1}})}), R"([70,1,{},[1],{"a":1}])");
  EXPECT_EQ(Encode(Serializer::kJson, Event{1, 2, Value::object(), {}}), "[36,1,2,{}]");
}

TEST(CodecTest, NullDictsAndArgsAreWrittenAsEmpty) {
  Call call{1, Value(), "p", MakePayload(Value(), {{"a", 1}})};
  EXPECT_EQ(Encode(Serializer::kJson, call), R"([48,1,{},"p",[],{"a":1}])");
  EXPECT_TRUE(Decode(Serializer::kMsgpack, Encode(Serializer::kMsgpack, call)).has_value());
}

TEST(CodecTest, StringsThatNeedEscapingAreEscaped) {
  Abort abort{{{"message", "line1\nline2 \"quoted\" é"}}, "odd\"uri\\with\ttab"};
  std::string frame = Encode(Serializer::kJson, abort);
  EXPECT_EQ(frame, ToArray(abort).dump());
  auto decoded = std::get<Abort>(DecodeOrDie(Serializer::kJson, frame));
  EXPECT_EQ(decoded.reason, abort.reason);
  EXPECT_EQ(decoded.details, abort.details);
}

TEST(CodecTest, JsonEncodesBinaryAsNulPrefixedBase64) {
  Event event{1, 2, Value::object(), MakePayload(Value::array({Value::binary({0x00, 0x01, 0x02, 0xff})}))};
  EXPECT_EQ(Encode(Serializer::kJson, event), std::string("[36,1,2,{},[\"\\u0000AAEC/w==\"]]"));
}

TEST(CodecTest, JsonDecodesNulPrefixedBase64AsBinary) {
  auto event = std::get<Event>(DecodeOrDie(Serializer::kJson, "[36,1,2,{},[\"\\u0000AAEC/w==\",\"\\u0000\"]]"));
  ASSERT_TRUE(event.payload.args[0].is_binary());
  EXPECT_EQ(event.payload.args[0].get_binary(), (std::vector<uint8_t>{0x00, 0x01, 0x02, 0xff}));
  ASSERT_TRUE(event.payload.args[1].is_binary());
  EXPECT_TRUE(event.payload.args[1].get_binary().empty());
}

TEST(CodecTest, JsonNulPrefixedStringThatIsNotBase64StaysAString) {
  auto event = std::get<Event>(DecodeOrDie(Serializer::kJson, "[36,1,2,{},[\"\\u0000not base64!\"]]"));
  ASSERT_TRUE(event.payload.args[0].is_string());
  EXPECT_EQ(event.payload.args[0].get<std::string>(), std::string("\0not base64!", 12));
}

TEST(CodecTest, BinaryCrossesMsgpackJsonMsgpack) {
  // An agent (msgpack) yields bytes, the router hands them to a browser (JSON), which echoes them
  // back in a call that the router forwards to another agent (msgpack): the bytes are unchanged.
  Value blob = Value::binary({0xde, 0xad, 0xbe, 0xef, 0x00, 0x10});
  const Value array = {48, 21, Value::object(), "ew.board.brd-1.fn.invoke", Value::array({blob, "text"}),
                       {{"image", blob}, {"list", {blob, 1}}}};
  const std::string msgpack_frame = ToMsgpack(array);

  Message from_agent = DecodeOrDie(Serializer::kMsgpack, msgpack_frame);
  std::string json_frame = Encode(Serializer::kJson, from_agent);
  EXPECT_NE(json_frame.find("\\u00003q2+7wAQ"), std::string::npos) << json_frame;

  Message from_browser = DecodeOrDie(Serializer::kJson, json_frame);
  const auto& call = std::get<Call>(from_browser);
  ASSERT_TRUE(call.payload.args[0].is_binary());
  EXPECT_EQ(call.payload.args[0].get_binary(), blob.get_binary());
  EXPECT_EQ(call.payload.kwargs["list"][0].get_binary(), blob.get_binary());

  EXPECT_EQ(Encode(Serializer::kMsgpack, from_browser), msgpack_frame);
}

TEST(CodecTest, MsgpackExtSubtypeIsKeptWithinMsgpack) {
  // fixext1, type 5, one byte of data, inside the args of a CALL.
  const std::string frame = Bytes({0x95, 0x30, 0x01, 0x80, 0xa1, 'p', 0x91, 0xd4, 0x05, 0x2a});
  Message decoded = DecodeOrDie(Serializer::kMsgpack, frame);
  EXPECT_EQ(Encode(Serializer::kMsgpack, decoded), frame);
}

TEST(CodecTest, InvalidUtf8FromMsgpackStillEncodesAsJson) {
  // str "a\xff" and a map key "\xc3" (truncated UTF-8): legal msgpack, invalid UTF-8.
  const std::string frame = Bytes({0x95, 0x30, 0x01, 0x81, 0xa1, 0xc3, 0x01, 0xa1, 'p', 0x91, 0xa2, 'a', 0xff});
  Message decoded = DecodeOrDie(Serializer::kMsgpack, frame);
  std::string json;
  ASSERT_NO_THROW(json = Encode(Serializer::kJson, decoded));
  EXPECT_TRUE(Decode(Serializer::kJson, json).has_value()) << json;
}

TEST(CodecTest, IntegersFromOtherEncodersAreAcceptedAsIds) {
  // Positive int64 (0xd3) as some encoders write signed ints, and 2^53 as float64 (0xcb) as
  // JavaScript msgpack encoders write integers above Number.MAX_SAFE_INTEGER.
  const std::string signed_id = Bytes({0x94, 0x30, 0xd3, 0, 0, 0, 0, 0, 0, 0, 0x05, 0x80, 0xa1, 'p'});
  EXPECT_EQ(std::get<Call>(DecodeOrDie(Serializer::kMsgpack, signed_id)).request, 5u);
  const std::string float_id = Bytes({0x94, 0x30, 0xcb, 0x43, 0x40, 0, 0, 0, 0, 0, 0, 0x80, 0xa1, 'p'});
  EXPECT_EQ(std::get<Call>(DecodeOrDie(Serializer::kMsgpack, float_id)).request, kMaxId);
  EXPECT_EQ(std::get<Call>(DecodeOrDie(Serializer::kJson, R"([48,7.0,{},"p"])")).request, 7u);
}

TEST(CodecTest, IdBoundaries) {
  EXPECT_EQ(std::get<Call>(DecodeOrDie(Serializer::kJson, R"([48,9007199254740992,{},"p"])")).request, kMaxId);
  EXPECT_EQ(std::get<Subscribed>(DecodeOrDie(Serializer::kJson, "[33,1,0]")).subscription, 0u);
  EXPECT_EQ(std::get<Welcome>(DecodeOrDie(Serializer::kJson, "[2,9007199254740992,{}]")).session, kMaxId);
}

TEST(CodecTest, TrailingWhitespaceInJsonIsFine) {
  EXPECT_TRUE(Decode(Serializer::kJson, " [1,\"edgewire\",{}] \n").has_value());
}

TEST(CodecTest, FromArrayValidatesWithoutConsumingTheInput) {
  const Value array = {48, 1, Value::object(), "p", {1, 2}};
  auto decoded = FromArray(array);
  ASSERT_TRUE(decoded.has_value()) << decoded.error().message;
  EXPECT_EQ(ToArray(*decoded), array);
  EXPECT_EQ(array[4], Value({1, 2}));
  EXPECT_FALSE(FromArray(Value{48, 0, Value::object(), "p"}).has_value());
}

// ----------------------------------------------------------------------------------------------
// Payloads kept as msgpack bytes (kept_payload.hpp, the router's way).

Message DecodeKeeping(std::string_view frame) {
  auto decoded = DecodeKeepingPayload(Serializer::kMsgpack, frame);
  EXPECT_TRUE(decoded.has_value()) << decoded.error().message;
  return decoded ? *decoded : Message{};
}

const Payload* PayloadIn(const Message& m) {
  if (auto* call = std::get_if<Call>(&m)) return &call->payload;
  if (auto* yield = std::get_if<Yield>(&m)) return &yield->payload;
  if (auto* error = std::get_if<ErrorMessage>(&m)) return &error->payload;
  if (auto* publish = std::get_if<Publish>(&m)) return &publish->payload;
  return nullptr;
}
Payload* PayloadIn(Message& m) { return const_cast<Payload*>(PayloadIn(std::as_const(m))); }

TEST(CodecKeptPayloadTest, CallYieldAndErrorKeepTheirBytesAndEncodeAsBefore) {
  Payload nested = MakePayload(Value::array({"text", 1.5, -3, Value::binary({1, 2, 3}), Value{{"deep", {{"x", {1}}}}}}),
                               {{"k", "v"}, {"n", nullptr}});
  const std::vector<Message> messages = {
      Call{9, {{"timeout", 100}}, "ew.board.brd-1.sys.ping", nested},
      Call{10, Value::object(), "p", MakePayload({"only args"})},
      Yield{11, Value::object(), nested},
      ErrorMessage{MessageType::kInvocation, 12, Value::object(), "ew.error.unavailable", nested},
  };
  for (const Message& message : messages) {
    SCOPED_TRACE(Encode(Serializer::kJson, message));
    const std::string frame = Encode(Serializer::kMsgpack, message);
    Message kept = DecodeKeeping(frame);
    const Payload* payload = PayloadIn(kept);
    ASSERT_NE(payload, nullptr);
    EXPECT_TRUE(IsKeptPayload(*payload)) << "payload was decoded";
    // Forwarded to a msgpack peer: the very bytes; to a JSON peer: as if it had been decoded.
    EXPECT_EQ(Encode(Serializer::kMsgpack, kept), frame);
    EXPECT_EQ(Encode(Serializer::kJson, kept), Encode(Serializer::kJson, message));
    EXPECT_EQ(ToArray(kept), ToArray(message));
    // Read inside the conductor: decoded on demand.
    Payload materialized = *payload;
    ASSERT_TRUE(MaterializePayload(materialized).has_value());
    EXPECT_FALSE(IsKeptPayload(materialized));
    EXPECT_EQ(materialized.args, PayloadIn(message)->args);
    EXPECT_EQ(materialized.kwargs, PayloadIn(message)->kwargs);
  }
}

TEST(CodecKeptPayloadTest, OtherMessagesAndBarePayloadsAreDecodedAsUsual) {
  Message publish = DecodeKeeping(Encode(Serializer::kMsgpack, Publish{1, Value::object(), "t", MakePayload({1})}));
  EXPECT_FALSE(IsKeptPayload(*PayloadIn(publish)));
  EXPECT_EQ(PayloadIn(publish)->args, Value::array({1}));
  Message bare = DecodeKeeping(Encode(Serializer::kMsgpack, Call{2, Value::object(), "p", {}}));
  EXPECT_FALSE(IsKeptPayload(*PayloadIn(bare)));
  // JSON frames never keep bytes.
  auto json = DecodeKeepingPayload(Serializer::kJson, R"([48,3,{},"p",[1],{"a":2}])");
  ASSERT_TRUE(json.has_value());
  EXPECT_FALSE(IsKeptPayload(*PayloadIn(*json)));
  // A decoded payload's args are a list: a binary value there is only ever a kept payload.
  EXPECT_FALSE(IsKeptPayload(MakePayload(Value::array({Value::binary({1})}))));
}

// CALL, YIELD and ERROR envelopes in their everyday shape are read straight from the byte scan;
// every other shape goes through the DOM. Either way the message (or the error) is Decode's.
TEST(CodecKeptPayloadTest, EnvelopesDecodeAsDecodeDoesWhateverTheirShape) {
  const auto frame = [](const Value& envelope, const Value& payload) {
    Value array = envelope;
    for (const auto& element : payload) array.push_back(element);
    const auto bytes = Value::to_msgpack(array);
    return std::string(bytes.begin(), bytes.end());
  };
  const Value args = Value::array({"x", 2});
  const Value args_kwargs = Value::array({Value::array({"x"}), {{"k", 1}}});
  const uint64_t max_id = uint64_t{1} << 53;
  std::vector<std::string> frames;
  for (const Value& payload : {Value::array({args}), args_kwargs}) {
    for (const Value& envelope : {
             // CALL: everyday, at the id limits, past them, a float id, options, wrong types.
             Value{48, 1, Value::object(), "ew.board.brd-1.sys.ping"}, Value{48, max_id, Value::object(), ""},
             Value{48, 0, Value::object(), "p"}, Value{48, max_id + 1, Value::object(), "p"},
             Value{48, -1, Value::object(), "p"}, Value{48, 7.0, Value::object(), "p"},
             Value{48, 1, {{"timeout", 5}}, "p"}, Value{48, 1, Value::object(), 5},
             Value{48, 1, Value::array(), "p"}, Value{48, "1", Value::object(), "p"},
             // YIELD.
             Value{70, 1, Value::object()}, Value{70, 0, Value::object()}, Value{70, 3, {{"progress", true}}},
             Value{70, 3, nullptr},
             // ERROR: to each kind of request, to one that has none, wrong types.
             Value{8, 68, 5, Value::object(), "ew.error.unavailable"}, Value{8, 48, 5, Value::object(), "e"},
             Value{8, 36, 5, Value::object(), "e"}, Value{8, 68, 5, Value::object(), 7},
             Value{8, 68, 5, {{"x", 1}}, "e"}, Value{8, 68, 0, Value::object(), "e"}, Value{8, -68, 5, Value::object(), "e"}}) {
      frames.push_back(frame(envelope, payload));
    }
  }
  // The message type as a uint8 rather than a fixint.
  frames.push_back(Bytes({0x95, 0xcc, 0x30, 0x01, 0x80, 0xa1, 'p', 0x91, 0x01}));
  // Empty array 16/32 and map 16/32 (a zero count in a wide header) ending an element, then more
  // elements: well formed, and with a byte too many, which Decode refuses. msgpack-cxx's parser
  // is not back at its start state after these, so the scan must not read on as if it were.
  for (int wide : {0xdc, 0xde}) {
    frames.push_back(Bytes({0x96, 0x30, 0x01, 0x80, 0xa1, 'p', 0x91, wide, 0x00, 0x00, 0x80}));
    frames.push_back(Bytes({0x96, 0x30, 0x01, 0x80, 0xa1, 'p', 0x91, wide, 0x00, 0x00, 0x00, 0x00}));
    frames.push_back(Bytes({0x94, 0x46, 0x01, wide, 0x00, 0x00, 0x91, 0x01}));
    frames.push_back(Bytes({0x94, 0x46, 0x01, 0x81, 0xa1, 'a', wide, 0x00, 0x00, 0x91, 0x01}));
    frames.push_back(Bytes({0x94, 0x46, 0x01, 0x81, 0xa1, 'a', wide, 0x00, 0x00, 0x92, 0x01, 0x02}));
    frames.push_back(Bytes({0x96, 0x08, 0x44, 0x05, wide, 0x00, 0x00, 0xa1, 'e', 0x91, 0x01}));
  }
  for (int wide : {0xdd, 0xdf}) {
    frames.push_back(Bytes({0x96, 0x30, 0x01, 0x80, 0xa1, 'p', 0x91, wide, 0x00, 0x00, 0x00, 0x00, 0x80}));
    frames.push_back(Bytes({0x96, 0x30, 0x01, 0x80, 0xa1, 'p', 0x91, wide, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00}));
    frames.push_back(Bytes({0x94, 0x46, 0x01, wide, 0x00, 0x00, 0x00, 0x00, 0x91, 0x01}));
  }
  // An ERROR whose request type is CALL plus 2^32: no message type at all.
  frames.push_back(Bytes({0x96, 0x08, 0xcf, 0x00, 0x00, 0x00, 0x01, 0x00, 0x00, 0x00, 0x30, 0x05, 0x80, 0xa1, 'e', 0x91, 0x01}));
  for (const std::string& bytes : frames) {
    auto decoded = Decode(Serializer::kMsgpack, bytes);
    SCOPED_TRACE(decoded ? Encode(Serializer::kJson, *decoded) : decoded.error().message);
    auto kept = DecodeKeepingPayload(Serializer::kMsgpack, bytes);
    ASSERT_EQ(kept.has_value(), decoded.has_value());
    if (!decoded) {
      EXPECT_EQ(kept.error().message, decoded.error().message);
      continue;
    }
    EXPECT_TRUE(IsKeptPayload(*PayloadIn(*kept)));
    EXPECT_EQ(TypeOf(*kept), TypeOf(*decoded));
    // The same message once the kept bytes are decoded (the bytes themselves go on as sent: an
    // empty kwargs or a wide header stays as it came).
    Message materialized = *kept;
    ASSERT_TRUE(MaterializePayload(*PayloadIn(materialized)).has_value());
    EXPECT_EQ(ToArray(materialized), ToArray(*decoded));
  }
}

TEST(CodecKeptPayloadTest, LimitsStillApplyToKeptPayloads) {
  auto refused = [&](const std::string& frame, std::string_view fragment) {
    auto decoded = DecodeKeepingPayload(Serializer::kMsgpack, frame);
    ASSERT_FALSE(decoded.has_value());
    EXPECT_NE(decoded.error().message.find(fragment), std::string::npos) << decoded.error().message;
  };
  const std::string call = Bytes({0x96, 0x30, 0x01, 0x80, 0xa1, 'p'});
  // 128 arrays inside the message array: one level too deep, in args and in kwargs.
  refused(Bytes({0x95, 0x30, 0x01, 0x80, 0xa1, 'p'}) + std::string(128, '\x91') + Bytes({0x90}), "nesting deeper than 128");
  std::string deep_kwargs = Bytes({0x90});
  for (int i = 0; i < 128; ++i) deep_kwargs += Bytes({0x81, 0xa1, 'a'});
  refused(call + deep_kwargs + Bytes({0xc0}), "nesting deeper than 128");
  // Not a list / not a dict, a non-string key, a reserved byte, truncation, trailing bytes.
  refused(Bytes({0x95, 0x30, 0x01, 0x80, 0xa1, 'p', 0x80}), "arguments must be a list");
  refused(call + Bytes({0x90, 0x90}), "keyword arguments must be a dict");
  refused(call + Bytes({0x90, 0x81, 0x01, 0x02}), "");
  refused(Bytes({0x95, 0x30, 0x01, 0x80, 0xa1, 'p', 0x91, 0xc1}), "");
  refused(Bytes({0x95, 0x30, 0x01, 0x80, 0xa1, 'p', 0x92, 0x01}), "truncated msgpack");
  refused(Bytes({0x95, 0x30, 0x01, 0x80, 0xa1, 'p', 0x90, 0x01}), "");
  // A declared length far beyond the frame is refused without allocating for it.
  refused(Bytes({0x95, 0x30, 0x01, 0x80, 0xa1, 'p', 0xdd, 0x7f, 0xff, 0xff, 0xff}), "msgpack");
  // Exactly at the limit: accepted and forwarded unchanged.
  const std::string ok = Bytes({0x95, 0x30, 0x01, 0x80, 0xa1, 'p'}) + std::string(126, '\x91') + Bytes({0x90});
  Message kept = DecodeKeeping(ok);
  EXPECT_EQ(Encode(Serializer::kMsgpack, kept), ok);
}

TEST(CodecTest, Subprotocols) {
  EXPECT_EQ(SubprotocolName(Serializer::kJson), "wamp.2.json");
  EXPECT_EQ(SubprotocolName(Serializer::kMsgpack), "wamp.2.msgpack");
  EXPECT_EQ(SerializerFromSubprotocol("wamp.2.json"), Serializer::kJson);
  EXPECT_EQ(SerializerFromSubprotocol("wamp.2.msgpack"), Serializer::kMsgpack);
  EXPECT_EQ(SerializerFromSubprotocol("wamp.2.cbor"), std::nullopt);
  EXPECT_EQ(SerializerFromSubprotocol(""), std::nullopt);
  EXPECT_FALSE(IsBinary(Serializer::kJson));
  EXPECT_TRUE(IsBinary(Serializer::kMsgpack));
}

}  // namespace
}  // namespace ew::wamp
