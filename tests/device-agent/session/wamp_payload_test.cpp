// EncodeReply (device-agent/session/wamp_payload.*): what the board sends for each outcome of an
// INVOCATION, read back with the conductor's own codec.
#include "device-agent/session/wamp_payload.hpp"

#include <gtest/gtest.h>

#include <string>
#include <variant>

#include "common/json/guarded_json.hpp"
#include "common/wamp/codec.hpp"
#include "common/wamp/limits.hpp"

namespace ew::agent::session {
namespace {

wamp::Message Read(const std::string& encoded) {
  auto message = wamp::Decode(wamp::Serializer::kMsgpack, encoded);
  EXPECT_TRUE(message) << (message ? "" : message.error().message);
  return message ? *message : wamp::Message{};
}

TEST(EncodeReplyTest, AResultBecomesAYieldForItsRequest) {
  rpc::Reply reply;
  reply.args = {"pong", 7};
  reply.kwargs = {{"boardId", "brd-1"}, {"bytes", nlohmann::json::binary({1, 2, 3})}};
  const wamp::Message message = Read(EncodeReply(42, reply, 1 << 20, "ew.board.brd-1.sys.ping"));
  const auto* yield = std::get_if<wamp::Yield>(&message);
  ASSERT_NE(yield, nullptr);
  EXPECT_EQ(yield->request, 42u);
  EXPECT_EQ(yield->payload.args, reply.args);
  EXPECT_EQ(yield->payload.kwargs, reply.kwargs);
}

TEST(EncodeReplyTest, AnErrorBecomesAnErrorForTheInvocation) {
  const wamp::Message message =
      Read(EncodeReply(9, ew::Result<rpc::Reply>(ew::NotFound("no such pin")), 1 << 20, "ew.board.b.gpio.read"));
  const auto* error = std::get_if<wamp::ErrorMessage>(&message);
  ASSERT_NE(error, nullptr);
  EXPECT_EQ(error->request_type, wamp::MessageType::kInvocation);
  EXPECT_EQ(error->request, 9u);
  EXPECT_EQ(error->error, std::string(ew::WampErrorUri(ew::ErrorCode::kNotFound)));
  EXPECT_EQ(error->payload.args, nlohmann::json::array({"no such pin"}));
  EXPECT_EQ(error->payload.kwargs["code"], std::string(ew::ErrorCodeName(ew::ErrorCode::kNotFound)));
  EXPECT_EQ(error->payload.kwargs["message"], "no such pin");
}

TEST(EncodeReplyTest, AResultTheRouterWouldRefuseBecomesAnErrorOfThisCallOnly) {
  rpc::Reply deep;
  nlohmann::json nested = 1;
  for (size_t i = 0; i < wamp::kMaxPayloadDepth + 2; ++i) nested = nlohmann::json::array({nested});
  deep.args = nlohmann::json::array({nested});
  rpc::Reply large;
  large.args = {std::string(4096, 'x')};
  for (const auto& [name, reply] : {std::pair{"too deep", deep}, std::pair{"too large", large}}) {
    const wamp::Message message = Read(EncodeReply(5, reply, 1024, "ew.board.b.f"));
    const auto* error = std::get_if<wamp::ErrorMessage>(&message);
    ASSERT_NE(error, nullptr) << name;
    EXPECT_EQ(error->request, 5u) << name;
    EXPECT_EQ(error->error, std::string(ew::WampErrorUri(ew::ErrorCode::kInvalidArgument))) << name;
  }
}

TEST(EncodeReplyTest, TheLimitIsOnThePayloadNotTheEnvelope) {
  // 1024 bytes a message, less the envelope room the router keeps (wamp::kEnvelopeBytes): the
  // payload may have 512 bytes. ["x" * n] is a fixarray, a str16 header (3 bytes) and n bytes.
  const size_t max_message_bytes = wamp::kEnvelopeBytes + 512;
  for (uint64_t request : {uint64_t{1}, uint64_t{300}, uint64_t{1} << 40}) {
    rpc::Reply fits, over;
    fits.args = {std::string(508, 'x')};
    over.args = {std::string(509, 'x')};
    EXPECT_TRUE(std::holds_alternative<wamp::Yield>(Read(EncodeReply(request, fits, max_message_bytes, "f"))))
        << request;
    EXPECT_TRUE(std::holds_alternative<wamp::ErrorMessage>(Read(EncodeReply(request, over, max_message_bytes, "f"))))
        << request;
  }
}

TEST(EncodeReplyTest, MissingArgsAndKwargsAreSentEmpty) {
  rpc::Reply reply;
  reply.args = nullptr;
  reply.kwargs = "not an object";
  const wamp::Message message = Read(EncodeReply(1, reply, 1 << 20, "ew.board.b.f"));
  const auto* yield = std::get_if<wamp::Yield>(&message);
  ASSERT_NE(yield, nullptr);
  EXPECT_EQ(yield->payload.args, nlohmann::json::array());
  EXPECT_EQ(yield->payload.kwargs, nlohmann::json::object());
}

// What MsgpackToJson must equal: nlohmann's msgpack reader through the guarded parser, with the
// WAMP payload depth limit (how the agent converted payloads before).
ew::Result<nlohmann::json> Reference(const msgpack::sbuffer& packed) {
  json::ParseLimits limits;
  limits.max_bytes = packed.size();
  limits.max_depth = wamp::kMaxPayloadDepth;
  return json::Parse(std::string_view(packed.data(), packed.size()), limits, json::Format::kMsgpack);
}

ew::Result<nlohmann::json> Direct(const msgpack::sbuffer& packed) {
  msgpack::object_handle handle = msgpack::unpack(packed.data(), packed.size());
  try {
    return MsgpackToJson(handle.get());
  } catch (const std::exception& e) {
    return ew::InvalidArgument(e.what());
  }
}

template <typename Pack>
msgpack::sbuffer Packed(Pack pack) {
  msgpack::sbuffer buffer;
  msgpack::packer<msgpack::sbuffer> packer(buffer);
  pack(packer);
  return buffer;
}

using Packer = msgpack::packer<msgpack::sbuffer>;

TEST(MsgpackToJsonTest, EveryKindOfValueConvertsAsNlohmannReadsIt) {
  const std::vector<msgpack::sbuffer> values = [] {
    std::vector<msgpack::sbuffer> v;
    v.push_back(Packed([](Packer& p) { p.pack_nil(); }));
    v.push_back(Packed([](Packer& p) { p.pack_true(); }));
    v.push_back(Packed([](Packer& p) { p.pack_false(); }));
    for (uint64_t u : {uint64_t{0}, uint64_t{127}, uint64_t{128}, uint64_t{1} << 32, ~uint64_t{0}})
      v.push_back(Packed([u](Packer& p) { p.pack_uint64(u); }));
    for (int64_t i : {int64_t{-1}, int64_t{-33}, int64_t{-129}, INT64_MIN})
      v.push_back(Packed([i](Packer& p) { p.pack_int64(i); }));
    v.push_back(Packed([](Packer& p) { p.pack_float(1.1f); }));
    v.push_back(Packed([](Packer& p) { p.pack_double(3.14159); }));
    v.push_back(Packed([](Packer& p) { p.pack(std::string()); }));
    v.push_back(Packed([](Packer& p) { p.pack(std::string("h\xc3\xa9llo")); }));
    v.push_back(Packed([](Packer& p) {
      p.pack_bin(3);
      p.pack_bin_body("\x00\x01\xff", 3);
    }));
    for (int8_t type : {int8_t{5}, int8_t{-3}})
      v.push_back(Packed([type](Packer& p) {
        p.pack_ext(4, type);
        p.pack_ext_body("abcd", 4);
      }));
    v.push_back(Packed([](Packer& p) {  // [1, [], {}, {"a": [null, 2.5]}, "x"]
      p.pack_array(5);
      p.pack(1);
      p.pack_array(0);
      p.pack_map(0);
      p.pack_map(1);
      p.pack(std::string("a"));
      p.pack_array(2);
      p.pack_nil();
      p.pack_double(2.5);
      p.pack(std::string("x"));
    }));
    v.push_back(Packed([](Packer& p) {  // a repeated key: the last wins
      p.pack_map(2);
      p.pack(std::string("k"));
      p.pack(1);
      p.pack(std::string("k"));
      p.pack(2);
    }));
    return v;
  }();
  for (size_t i = 0; i < values.size(); ++i) {
    auto expected = Reference(values[i]);
    ASSERT_TRUE(expected) << i << ": " << expected.error().message;
    auto got = Direct(values[i]);
    ASSERT_TRUE(got) << i << ": " << got.error().message;
    EXPECT_EQ(*got, *expected) << i << ": " << got->dump() << " vs " << expected->dump();
    EXPECT_EQ(got->type(), expected->type()) << i;
    if (expected->is_binary()) {
      EXPECT_EQ(got->get_binary().has_subtype(), expected->get_binary().has_subtype()) << i;
      EXPECT_EQ(got->get_binary().subtype(), expected->get_binary().subtype()) << i;
    }
  }
}

TEST(MsgpackToJsonTest, RefusesWhatTheGuardedParserRefuses) {
  auto nested = [](size_t depth) {
    return Packed([depth](Packer& p) {
      for (size_t i = 0; i < depth; ++i) p.pack_array(1);
      p.pack(0);
    });
  };
  EXPECT_TRUE(Reference(nested(wamp::kMaxPayloadDepth)));
  EXPECT_TRUE(Direct(nested(wamp::kMaxPayloadDepth)));
  EXPECT_FALSE(Reference(nested(wamp::kMaxPayloadDepth + 1)));
  EXPECT_FALSE(Direct(nested(wamp::kMaxPayloadDepth + 1)));
  const auto int_key = Packed([](Packer& p) {
    p.pack_map(1);
    p.pack(7);
    p.pack(std::string("v"));
  });
  EXPECT_FALSE(Reference(int_key));
  EXPECT_FALSE(Direct(int_key));
}

}  // namespace
}  // namespace ew::agent::session
