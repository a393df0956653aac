// POST /v1/boards/{id}/calls/{procedure}: mapped onto BoardGateway::CallBoard.
#include "tests/cloud-conductor/rest/rest_test_harness.hpp"

namespace ew::rest {
namespace {

class BoardCallTest : public RestApiTest {
 protected:
  BoardCallTest() { std::tie(board_, std::ignore) = CreateBoard("pi-1", alice_); }
  std::string board_;
};

TEST_F(BoardCallTest, CallPassesArgumentsAndReturnsTheResult) {
  gateway_.SetOnline(board_);
  gateway_.SetScript(board_, [](const std::string& procedure, const wamp::Payload& payload) -> Result<wamp::Payload> {
    wamp::Payload result;
    result.args = wamp::Value::array({procedure, payload.args.size()});
    result.kwargs = {{"echo", payload.kwargs}};
    return result;
  });
  auto response = Send("POST", "/v1/boards/" + board_ + "/calls/gpio.read",
                       R"({"args":[17,"x"],"kwargs":{"pull":"up","n":1.5},"timeoutMs":"2500"})", alice_);
  ASSERT_EQ(response.status, 200) << response.body;
  auto body = Json(response);
  EXPECT_EQ(body["args"], nlohmann::json::parse(R"(["gpio.read", 2])"));
  EXPECT_EQ(body["kwargs"], nlohmann::json::parse(R"({"echo":{"pull":"up","n":1.5}})"));
  EXPECT_TRUE(body.contains("durationMs"));

  auto calls = gateway_.calls();
  ASSERT_EQ(calls.size(), 1u);
  EXPECT_EQ(calls[0].board_id, board_);
  EXPECT_EQ(calls[0].procedure, "gpio.read");
  EXPECT_EQ(calls[0].payload.args, nlohmann::json::parse(R"([17,"x"])"));
  EXPECT_EQ(calls[0].payload.kwargs, nlohmann::json::parse(R"({"pull":"up","n":1.5})"));
  EXPECT_EQ(calls[0].timeout, std::chrono::milliseconds(2500));
}

TEST_F(BoardCallTest, EmptyBodyUsesTheDefaultTimeout) {
  gateway_.SetOnline(board_);
  auto response = Send("POST", "/v1/boards/" + board_ + "/calls/sys.ping", "", alice_);
  ASSERT_EQ(response.status, 200) << response.body;
  auto body = Json(response);
  EXPECT_EQ(body["args"], nlohmann::json::array());
  EXPECT_EQ(body["kwargs"], nlohmann::json::object());
  ASSERT_EQ(gateway_.calls().size(), 1u);
  EXPECT_EQ(gateway_.calls()[0].timeout, config_.call_timeout);
  EXPECT_TRUE(gateway_.calls()[0].payload.args.empty());
}

TEST_F(BoardCallTest, OfflineBoardIs503) {
  auto response = Send("POST", "/v1/boards/" + board_ + "/calls/sys.ping", "", alice_);
  EXPECT_EQ(response.status, 503) << response.body;
  EXPECT_EQ(ErrorCodeOf(response), "unavailable");
}

TEST_F(BoardCallTest, TimeoutIs504) {
  gateway_.SetOnline(board_);
  gateway_.SetScript(board_, [](const std::string&, const wamp::Payload&) -> Result<wamp::Payload> {
    return DeadlineExceeded("the board did not answer in time");
  });
  auto response = Send("POST", "/v1/boards/" + board_ + "/calls/sys.ping", R"({"timeoutMs":100})", alice_);
  EXPECT_EQ(response.status, 504) << response.body;
  EXPECT_EQ(ErrorCodeOf(response), "deadline_exceeded");
}

TEST_F(BoardCallTest, BoardErrorsKeepTheirCodeAndMessage) {
  gateway_.SetOnline(board_);
  gateway_.SetScript(board_, [](const std::string& procedure, const wamp::Payload&) -> Result<wamp::Payload> {
    if (procedure == "gpio.write") return InvalidArgument("line 99 does not exist");
    return NotFound("no such procedure");
  });
  auto invalid = Send("POST", "/v1/boards/" + board_ + "/calls/gpio.write", "", alice_);
  EXPECT_EQ(invalid.status, 400);
  EXPECT_EQ(ErrorMessageOf(invalid), "line 99 does not exist");
  auto missing = Send("POST", "/v1/boards/" + board_ + "/calls/no.such", "", alice_);
  EXPECT_EQ(missing.status, 404);
}

TEST_F(BoardCallTest, BadCallsAre400AndNeverReachTheBoard) {
  gateway_.SetOnline(board_);
  const std::vector<std::string> procedures = {"Sys.ping", "sys..ping", ".sys", "sys.", "sys-ping", "sys%2Fping"};
  for (const auto& procedure : procedures) {
    auto response = Send("POST", "/v1/boards/" + board_ + "/calls/" + procedure, "", alice_);
    EXPECT_EQ(response.status, 400) << procedure << " → " << response.body;
  }
  const std::vector<std::string> bodies = {R"({"args":{}})", R"({"kwargs":[]})", R"({"timeoutMs":-5})",
                                           R"({"timeoutMs":"soon"})", R"({"arguments":[]})", "{",
                                           R"({"args":5})", R"({"kwargs":"x"})", "[]"};
  for (const auto& body : bodies) {
    auto response = Send("POST", "/v1/boards/" + board_ + "/calls/sys.ping", body, alice_);
    EXPECT_EQ(response.status, 400) << body << " → " << response.body;
  }
  EXPECT_TRUE(gateway_.calls().empty());
}

TEST_F(BoardCallTest, UnknownBoardIs404) {
  auto response = Send("POST", "/v1/boards/brd-0000000000000000/calls/sys.ping", "", admin_);
  EXPECT_EQ(response.status, 404);
  EXPECT_TRUE(gateway_.calls().empty());
}

}  // namespace
}  // namespace ew::rest
