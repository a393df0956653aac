// EncodeReply (device-agent/session/wamp_payload.*): what the board sends for each outcome of an
// INVOCATION, read back with the conductor's own codec.
#include "device-agent/session/wamp_payload.hpp"

#include <gtest/gtest.h>

#include <string>
#include <variant>

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

}  // namespace
}  // namespace ew::agent::session
