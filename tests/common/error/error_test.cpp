#include "common/error/error.hpp"

#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

namespace ew {
namespace {

Result<int> Half(int v) {
  if (v % 2) return InvalidArgument("odd");
  return v / 2;
}

Result<int> Quarter(int v) {
  EW_TRY(int h, Half(v));
  EW_TRY(int q, Half(h));
  return q;
}

TEST(ErrorTest, TryReturnsEarlyWithTheFirstError) {
  EXPECT_EQ(*Quarter(8), 2);
  auto r = Quarter(6);
  ASSERT_FALSE(r);
  EXPECT_EQ(r.error().code, ErrorCode::kInvalidArgument);
  EXPECT_EQ(r.error().message, "odd");
}

TEST(ErrorTest, CodesMapToHttpAndWamp) {
  EXPECT_EQ(HttpStatus(ErrorCode::kNotFound), 404);
  EXPECT_EQ(HttpStatus(ErrorCode::kPermissionDenied), 403);
  EXPECT_EQ(HttpStatus(ErrorCode::kUnauthenticated), 401);
  EXPECT_EQ(HttpStatus(ErrorCode::kDeadlineExceeded), 504);
  EXPECT_EQ(WampErrorUri(ErrorCode::kPermissionDenied), "wamp.error.not_authorized");
  for (auto code : {ErrorCode::kNotFound, ErrorCode::kInvalidArgument, ErrorCode::kPermissionDenied,
                    ErrorCode::kConflict, ErrorCode::kUnavailable, ErrorCode::kDeadlineExceeded, ErrorCode::kInternal,
                    ErrorCode::kCalleeLeft}) {
    EXPECT_EQ(ErrorCodeFromWampUri(WampErrorUri(code)), code) << ErrorCodeName(code);
  }
  EXPECT_EQ(ErrorCodeFromWampUri("com.example.whatever"), ErrorCode::kInternal);
  // Issue 14: the router's "callee left before answering" has a code of its own.
  EXPECT_EQ(WampErrorUri(ErrorCode::kCalleeLeft), "ew.error.callee_left");
  EXPECT_EQ(HttpStatus(ErrorCode::kCalleeLeft), 503);
  EXPECT_EQ(ErrorCodeName(ErrorCode::kCalleeLeft), "callee_left");
}

TEST(ErrorTest, JsonBodyHasCodeAndMessage) {
  auto body = nlohmann::json::parse(ErrorJson(Error{ErrorCode::kConflict, "board \"a\" exists"}));
  EXPECT_EQ(body["error"]["code"], "conflict");
  EXPECT_EQ(body["error"]["message"], "board \"a\" exists");
}

// Found by tests/fuzz: a function.json with a byte that is not UTF-8 got an error message quoting
// it ("last read: '\x8e'") and rendering that body threw.
TEST(ErrorTest, JsonBodyReplacesInvalidUtf8) {
  std::string text;
  ASSERT_NO_THROW(text = ErrorJson(Error{ErrorCode::kInvalidArgument, "last read: '\x8e\xff'"}));
  auto body = nlohmann::json::parse(text);
  EXPECT_EQ(body["error"]["message"], "last read: '\xef\xbf\xbd\xef\xbf\xbd'");
}

}  // namespace
}  // namespace ew
