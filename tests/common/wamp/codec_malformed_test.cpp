// Hostile and broken frames: every one must come back as InvalidArgument with a useful message,
// never as a crash, a throw, a stack overflow or a giant allocation. Ends with a fuzz loop.
#include <random>

#include <gtest/gtest.h>

#include "common/wamp/codec.hpp"
#include "common/wamp/kept_payload.hpp"
#include "tests/common/wamp/sample_messages.hpp"

namespace ew::wamp {
namespace {

std::string Bytes(std::initializer_list<int> bytes) {
  std::string out;
  for (int b : bytes) out += static_cast<char>(b);
  return out;
}

// Decodes and expects InvalidArgument whose message contains `fragment`; msgpack frames also
// with their args and kwargs kept as bytes (the router's way), which must refuse them alike.
void ExpectRejected(Serializer serializer, std::string_view frame, std::string_view fragment) {
  for (bool keep_bytes : {false, true}) {
    if (keep_bytes && serializer != Serializer::kMsgpack) continue;
    SCOPED_TRACE(keep_bytes ? "payload kept as bytes" : "payload decoded");
    auto decoded = keep_bytes ? DecodeKeepingPayload(serializer, frame) : Decode(serializer, frame);
    ASSERT_FALSE(decoded.has_value())
        << "accepted: " << Value(std::string(frame.substr(0, 200))).dump(-1, ' ', false, Value::error_handler_t::replace);
    EXPECT_EQ(decoded.error().code, ErrorCode::kInvalidArgument);
    EXPECT_NE(decoded.error().message.find(fragment), std::string::npos)
        << "message: " << decoded.error().message << "\nexpected to contain: " << fragment;
  }
}

TEST(CodecMalformedTest, EmptyFrame) {
  ExpectRejected(Serializer::kJson, "", "empty frame");
  ExpectRejected(Serializer::kMsgpack, "", "empty frame");
}

TEST(CodecMalformedTest, TopLevelMustBeANonEmptyArray) {
  for (const char* json : {"{}", "42", "\"text\"", "null", "true", "[]", "{\"0\":48}"}) {
    ExpectRejected(Serializer::kJson, json, "message must be a non-empty array");
  }
  for (const std::string& msgpack : {Bytes({0x80}), Bytes({0x2a}), Bytes({0x90}), Bytes({0xc0}), Bytes({0xa1, 'x'})}) {
    ExpectRejected(Serializer::kMsgpack, msgpack, "message must be a non-empty array");
  }
}

TEST(CodecMalformedTest, UnknownMessageTypes) {
  ExpectRejected(Serializer::kJson, "[99,1]", "unknown message type 99");
  ExpectRejected(Serializer::kJson, "[7,{},\"x\"]", "unknown message type 7");
  ExpectRejected(Serializer::kJson, "[0]", "unknown message type 0");
  ExpectRejected(Serializer::kJson, "[-1,1]", "unknown message type -1");
  ExpectRejected(Serializer::kJson, "[256]", "unknown message type 256");
  ExpectRejected(Serializer::kJson, "[18446744073709551615]", "unknown message type 18446744073709551615");
  ExpectRejected(Serializer::kJson, "[48.5,1,{},\"p\"]", "unknown message type 48.5");
  ExpectRejected(Serializer::kJson, "[\"CALL\",1,{},\"p\"]", "message type must be an integer");
  ExpectRejected(Serializer::kMsgpack, Bytes({0x92, 0x63, 0x01}), "unknown message type 99");
}

TEST(CodecMalformedTest, WrongElementCounts) {
  ExpectRejected(Serializer::kJson, "[1,\"realm\"]", "HELLO: expected 3 elements, got 2");
  ExpectRejected(Serializer::kJson, "[1,\"realm\",{},{}]", "HELLO: expected 3 elements, got 4");
  ExpectRejected(Serializer::kJson, "[48,1,{}]", "CALL: expected 4 to 6 elements, got 3");
  ExpectRejected(Serializer::kJson, "[48,1,{},\"p\",[],{},1]", "CALL: expected 4 to 6 elements, got 7");
  ExpectRejected(Serializer::kJson, "[8,48,1,{}]", "ERROR: expected 5 to 7 elements, got 4");
  ExpectRejected(Serializer::kJson, "[32,1,{},\"t\",[]]", "SUBSCRIBE: expected 4 elements, got 5");
  ExpectRejected(Serializer::kJson, "[64,1,{},\"p\",[]]", "REGISTER: expected 4 elements, got 5");
  ExpectRejected(Serializer::kJson, "[35]", "UNSUBSCRIBED: expected 2 elements, got 1");
  ExpectRejected(Serializer::kJson, "[50,1]", "RESULT: expected 3 to 5 elements, got 2");
  ExpectRejected(Serializer::kJson, "[70,1,{},[],{},[]]", "YIELD: expected 3 to 5 elements, got 6");
  ExpectRejected(Serializer::kJson, "[49,1]", "CANCEL: expected 3 elements, got 2");
  ExpectRejected(Serializer::kJson, "[69,1,{},[]]", "INTERRUPT: expected 3 elements, got 4");
}

TEST(CodecMalformedTest, WrongElementTypes) {
  const std::pair<const char*, const char*> cases[] = {
      {"[1,5,{}]", "HELLO: realm must be a string"},
      {"[1,\"r\",null]", "HELLO: details must be a dict"},
      {"[1,\"r\",[]]", "HELLO: details must be a dict"},
      {"[2,true,{}]", "WELCOME: session must be an id"},
      {"[3,{},7]", "ABORT: reason must be a string"},
      {"[4,{},{}]", "CHALLENGE: auth method must be a string"},
      {"[5,\"sig\",\"x\"]", "AUTHENTICATE: extra must be a dict"},
      {"[6,[],\"wamp.close.normal\"]", "GOODBYE: details must be a dict"},
      {"[8,48,1,{},5]", "ERROR: error must be a string"},
      {"[8,49,1,{},\"e\"]", "ERROR: request type must be"},
      {"[8,\"48\",1,{},\"e\"]", "ERROR: request type must be"},
      {"[8,48,1,{},\"e\",{}]", "ERROR: arguments must be a list"},
      {"[16,1,{},[\"t\"]]", "PUBLISH: topic must be a string"},
      {"[17,1,\"2\"]", "PUBLISHED: publication must be an id"},
      {"[32,1,\"opts\",\"t\"]", "SUBSCRIBE: options must be a dict"},
      {"[33,1,-2]", "SUBSCRIBED: subscription must be an id"},
      {"[34,{},1]", "UNSUBSCRIBE: request must be an id"},
      {"[36,1,2,{},\"notalist\"]", "EVENT: arguments must be a list"},
      {"[48,\"1\",{},\"p\"]", "CALL: request must be an id in [1, 2^53]"},
      {"[48,null,{},\"p\"]", "CALL: request must be an id"},
      {"[48,1.5,{},\"p\"]", "CALL: request must be an id"},
      {"[48,1,[],\"p\"]", "CALL: options must be a dict"},
      {"[48,1,{},5]", "CALL: procedure must be a string"},
      {"[48,1,{},\"p\",{}]", "CALL: arguments must be a list"},
      {"[48,1,{},\"p\",[],[]]", "CALL: keyword arguments must be a dict"},
      {"[48,1,{},\"p\",null,{}]", "CALL: arguments must be a list"},
      {"[49,1,null]", "CANCEL: options must be a dict"},
      {"[50,1,{},[],\"kw\"]", "RESULT: keyword arguments must be a dict"},
      {"[65,1,{}]", "REGISTERED: registration must be an id"},
      {"[66,1,[1]]", "UNREGISTER: registration must be an id"},
      {"[68,1,\"r\",{}]", "INVOCATION: registration must be an id"},
      {"[69,1,\"kill\"]", "INTERRUPT: options must be a dict"},
      {"[70,1,{},1]", "YIELD: arguments must be a list"},
  };
  for (const auto& [json, fragment] : cases) {
    SCOPED_TRACE(json);
    ExpectRejected(Serializer::kJson, json, fragment);
  }
}

TEST(CodecMalformedTest, IdsOutOfRange) {
  ExpectRejected(Serializer::kJson, "[48,0,{},\"p\"]", "CALL: request must be an id in [1, 2^53]");
  ExpectRejected(Serializer::kJson, "[48,-1,{},\"p\"]", "CALL: request must be an id");
  ExpectRejected(Serializer::kJson, "[48,9007199254740993,{},\"p\"]", "CALL: request must be an id");
  ExpectRejected(Serializer::kJson, "[48,18446744073709551615,{},\"p\"]", "CALL: request must be an id");
  ExpectRejected(Serializer::kJson, "[48,18446744073709551616,{},\"p\"]", "CALL: request must be an id");
  ExpectRejected(Serializer::kJson, "[48,1e300,{},\"p\"]", "CALL: request must be an id");
  ExpectRejected(Serializer::kJson, "[33,1,9007199254740993]", "SUBSCRIBED: subscription must be an id in [0, 2^53]");
  ExpectRejected(Serializer::kJson, "[35,0]", "UNSUBSCRIBED: request must be an id");
  ExpectRejected(Serializer::kJson, "[8,48,0,{},\"e\"]", "ERROR: request must be an id");
  // msgpack: fixint -1, int8 -128, uint64 max, float64 NaN, float64 2^53 + 2.
  ExpectRejected(Serializer::kMsgpack, Bytes({0x94, 0x30, 0xff, 0x80, 0xa1, 'p'}), "CALL: request must be an id");
  ExpectRejected(Serializer::kMsgpack, Bytes({0x94, 0x30, 0xd0, 0x80, 0x80, 0xa1, 'p'}), "CALL: request must be an id");
  ExpectRejected(Serializer::kMsgpack, Bytes({0x94, 0x30, 0xcf, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x80, 0xa1, 'p'}),
                 "CALL: request must be an id");
  ExpectRejected(Serializer::kMsgpack, Bytes({0x94, 0x30, 0xcb, 0x7f, 0xf8, 0, 0, 0, 0, 0, 0, 0x80, 0xa1, 'p'}),
                 "CALL: request must be an id");
  ExpectRejected(Serializer::kMsgpack, Bytes({0x94, 0x30, 0xcb, 0x43, 0x40, 0, 0, 0, 0, 0, 1, 0x80, 0xa1, 'p'}),
                 "CALL: request must be an id");
}

TEST(CodecMalformedTest, TruncatedMsgpackAtEveryByte) {
  Call call{123456, {{"receive_progress", true}}, "ew.board.brd-3f9a0c1d2e4b5a69.gpio.read",
            MakePayload({17, "x", 1.5, Value::binary({1, 2, 3})}, {{"k", {{"nested", true}}}})};
  const std::string frame = Encode(Serializer::kMsgpack, call);
  ASSERT_TRUE(Decode(Serializer::kMsgpack, frame).has_value());
  ExpectRejected(Serializer::kMsgpack, frame.substr(0, 0), "empty frame");
  for (size_t length = 1; length < frame.size(); ++length) {
    SCOPED_TRACE(length);
    ExpectRejected(Serializer::kMsgpack, frame.substr(0, length), "truncated msgpack");
  }
}

TEST(CodecMalformedTest, TruncatedJsonAtEveryByte) {
  Call call{123456, {{"receive_progress", true}}, "ew.board.brd-1.gpio.read", MakePayload({17, "x"}, {{"k", 1}})};
  const std::string frame = Encode(Serializer::kJson, call);
  for (size_t length = 1; length < frame.size(); ++length) {
    SCOPED_TRACE(frame.substr(0, length));
    ExpectRejected(Serializer::kJson, frame.substr(0, length), "invalid JSON");
  }
}

TEST(CodecMalformedTest, TrailingGarbage) {
  ExpectRejected(Serializer::kMsgpack, Encode(Serializer::kMsgpack, Unsubscribed{1}) + '\0', "invalid msgpack");
  ExpectRejected(Serializer::kJson, "[35,1]x", "invalid JSON");
  ExpectRejected(Serializer::kJson, "[35,1][35,1]", "invalid JSON");
}

TEST(CodecMalformedTest, InvalidJson) {
  for (const char* json : {"[48,1,{},'p']", "\xff", "[48,1,{},\"p\",]", "[48 1]", "[48,1,{\"a\"},\"p\"]", "nul",
                           "[48,1,{},\"\\uZZZZ\"]"}) {
    ExpectRejected(Serializer::kJson, json, "invalid JSON");
  }
}

TEST(CodecMalformedTest, MsgpackMapWithNonStringKey) {
  ExpectRejected(Serializer::kMsgpack, Bytes({0x93, 0x01, 0xa1, 'r', 0x81, 0x01, 0x02}), "invalid msgpack");
}

TEST(CodecMalformedTest, MsgpackReservedByte) {
  ExpectRejected(Serializer::kMsgpack, Bytes({0x92, 0x23, 0xc1}), "invalid msgpack");
}

TEST(CodecMalformedTest, HugeDeclaredLengthsAreRefusedWithoutAllocating) {
  // array32 / map32 claiming 4 billion elements, at the top and inside a CALL's arguments.
  ExpectRejected(Serializer::kMsgpack, Bytes({0xdd, 0xff, 0xff, 0xff, 0xff}), "declares 4294967295 elements");
  ExpectRejected(Serializer::kMsgpack, Bytes({0xdf, 0xff, 0xff, 0xff, 0xff}), "declares 4294967295 elements");
  ExpectRejected(Serializer::kMsgpack, Bytes({0x95, 0x30, 0x01, 0x80, 0xa1, 'p', 0xdd, 0xff, 0xff, 0xff, 0xff, 0x01}),
                 "declares 4294967295 elements");
  ExpectRejected(Serializer::kMsgpack, Bytes({0x95, 0x30, 0x01, 0x80, 0xa1, 'p', 0xdc, 0x01, 0x00, 0x01}),
                 "declares 256 elements");
  // str32 / bin32 / ext32 claiming 4 GB: read until the frame ends, then reported as truncated.
  ExpectRejected(Serializer::kMsgpack, Bytes({0x94, 0x30, 0x01, 0x80, 0xdb, 0xff, 0xff, 0xff, 0xff, 'p'}),
                 "truncated msgpack");
  ExpectRejected(Serializer::kMsgpack, Bytes({0x95, 0x30, 0x01, 0x80, 0xa1, 'p', 0x91, 0xc6, 0xff, 0xff, 0xff, 0xff, 1}),
                 "truncated msgpack");
  ExpectRejected(Serializer::kMsgpack,
                 Bytes({0x95, 0x30, 0x01, 0x80, 0xa1, 'p', 0x91, 0xc9, 0xff, 0xff, 0xff, 0xff, 0x05, 1}),
                 "truncated msgpack");
  // A declared length that does fit the frame but whose elements are missing.
  ExpectRejected(Serializer::kMsgpack, Bytes({0x95, 0x30, 0x01, 0x80, 0xa1, 'p', 0x93, 0x01}), "truncated msgpack");
}

std::string NestedJsonArrays(size_t depth) { return std::string(depth, '[') + std::string(depth, ']'); }

TEST(CodecMalformedTest, DeepJsonNestingDoesNotOverflowTheStack) {
  ExpectRejected(Serializer::kJson, std::string(100000, '['), "nesting deeper than 128 levels");
  ExpectRejected(Serializer::kJson, NestedJsonArrays(100000), "nesting deeper than 128 levels");
  ExpectRejected(Serializer::kJson, "[48,1,{},\"p\"," + NestedJsonArrays(100000) + "]", "nesting deeper than 128");
  std::string objects;
  for (int i = 0; i < 100000; ++i) objects += "{\"a\":";
  ExpectRejected(Serializer::kJson, "[48,1," + objects, "nesting deeper than 128 levels");
}

TEST(CodecMalformedTest, DeepMsgpackNestingDoesNotOverflowTheStack) {
  ExpectRejected(Serializer::kMsgpack, std::string(100000, '\x91'), "nesting deeper than 128 levels");
  std::string maps;
  for (int i = 0; i < 100000; ++i) maps += Bytes({0x81, 0xa1, 'a'});
  ExpectRejected(Serializer::kMsgpack, Bytes({0x94, 0x30, 0x01}) + maps, "nesting deeper than 128 levels");
}

TEST(CodecMalformedTest, NestingUpToTheLimitIsAccepted) {
  // The message array is level 1, so arguments may nest 127 arrays deep (args included).
  const std::string ok = "[48,1,{},\"p\"," + NestedJsonArrays(127) + "]";
  auto decoded = Decode(Serializer::kJson, ok);
  ASSERT_TRUE(decoded.has_value()) << decoded.error().message;
  auto again = Decode(Serializer::kMsgpack, Encode(Serializer::kMsgpack, *decoded));
  ASSERT_TRUE(again.has_value()) << again.error().message;
  EXPECT_EQ(Encode(Serializer::kJson, *again), ok);
  ExpectRejected(Serializer::kJson, "[48,1,{},\"p\"," + NestedJsonArrays(128) + "]", "nesting deeper than 128");
}

// ----------------------------------------------------------------------------------------------
// Fuzz: valid frames of every sample, mutated a few bytes at a time with a fixed seed. Any frame
// the decoder accepts must re-encode in both serializers and decode again.

std::string Mutate(std::string frame, std::mt19937& rng) {
  auto pick = [&rng](size_t n) { return std::uniform_int_distribution<size_t>(0, n - 1)(rng); };
  // Bytes that announce lengths or nesting, most likely to trip a parser.
  static const char kInteresting[] = {'\x91', '\xdc', '\xdd', '\xde', '\xdf', '\xdb', '\xc6', '\xc9',
                                      '\xff', '\x00', '[', '{', '"', '\\', '\x7f', '\xcf'};
  const size_t mutations = 1 + pick(4);
  for (size_t m = 0; m < mutations; ++m) {
    if (frame.empty()) frame += static_cast<char>(pick(256));
    const size_t at = pick(frame.size());
    switch (pick(7)) {
      case 0: frame[at] = static_cast<char>(frame[at] ^ (1 << pick(8))); break;
      case 1: frame[at] = static_cast<char>(pick(256)); break;
      case 2: frame.insert(frame.begin() + static_cast<long>(at), static_cast<char>(pick(256))); break;
      case 3: frame.erase(at, 1); break;
      case 4: frame.resize(at); break;
      case 5: frame.insert(at, frame.substr(pick(frame.size()), 1 + pick(8))); break;
      case 6: frame[at] = kInteresting[pick(sizeof kInteresting)]; break;
    }
  }
  return frame;
}

TEST(CodecFuzzTest, MutatedFramesNeverCrash) {
  std::vector<std::pair<Serializer, std::string>> seeds;
  for (const auto& sample : SampleMessages()) {
    for (Serializer s : {Serializer::kJson, Serializer::kMsgpack}) seeds.emplace_back(s, Encode(s, sample.message));
  }
  std::mt19937 rng(20240611);
  int accepted = 0;
  constexpr int kIterations = 6000;
  for (int i = 0; i < kIterations; ++i) {
    const auto& [serializer, seed] = seeds[static_cast<size_t>(i) % seeds.size()];
    const std::string frame = Mutate(seed, rng);
    ew::Result<Message> decoded = InvalidArgument("unset");
    ASSERT_NO_THROW(decoded = Decode(serializer, frame));
    if (!decoded && serializer == Serializer::kMsgpack) {
      auto kept = DecodeKeepingPayload(serializer, frame);
      EXPECT_FALSE(kept.has_value()) << "accepted only when kept as bytes; decoded refused it: "
                                     << decoded.error().message;
    }
    if (!decoded) {
      EXPECT_EQ(decoded.error().code, ErrorCode::kInvalidArgument);
      EXPECT_FALSE(decoded.error().message.empty());
      continue;
    }
    ++accepted;
    if (serializer == Serializer::kMsgpack) {
      // The router's decoding (args and kwargs kept as bytes) accepts exactly the same frames,
      // and forwards the same message.
      auto kept = DecodeKeepingPayload(serializer, frame);
      ASSERT_TRUE(kept.has_value()) << "refused when kept as bytes: " << kept.error().message;
      EXPECT_EQ(ToArray(*kept), ToArray(*decoded));
      EXPECT_EQ(Encode(Serializer::kJson, *kept), Encode(Serializer::kJson, *decoded));
    }
    for (Serializer out : {Serializer::kJson, Serializer::kMsgpack}) {
      std::string reencoded;
      ASSERT_NO_THROW(reencoded = Encode(out, *decoded));
      auto again = Decode(out, reencoded);
      ASSERT_TRUE(again.has_value()) << "re-decode failed: " << again.error().message;
      EXPECT_EQ(TypeOf(*again), TypeOf(*decoded));
    }
  }
  // The mutations must leave some frames valid, or the loop only exercises the error paths.
  RecordProperty("accepted", accepted);
  EXPECT_GT(accepted, kIterations / 50);
}

TEST(CodecFuzzTest, RandomBytesNeverCrash) {
  std::mt19937 rng(7);
  for (int i = 0; i < 3000; ++i) {
    std::string frame(std::uniform_int_distribution<size_t>(0, 64)(rng), '\0');
    for (char& c : frame) c = static_cast<char>(std::uniform_int_distribution<int>(0, 255)(rng));
    if (i % 2 == 0 && !frame.empty()) frame[0] = static_cast<char>(0x90 | (i % 8));  // plausible msgpack start
    for (Serializer s : {Serializer::kJson, Serializer::kMsgpack}) {
      ASSERT_NO_THROW((void)Decode(s, frame));
    }
    ASSERT_NO_THROW((void)DecodeKeepingPayload(Serializer::kMsgpack, frame));
  }
}

}  // namespace
}  // namespace ew::wamp
