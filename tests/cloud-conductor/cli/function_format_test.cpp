#include "cloud-conductor/cli/function_format.hpp"

#include <gtest/gtest.h>

namespace ew::cli {
namespace {

using nlohmann::json;

TEST(FunctionFormatTest, FunctionTableShortensTheHash) {
  auto functions = json::parse(R"([
    {"id":"fn-1","name":"double","version":"1.0.0","sha256":"0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef"},
    {"id":"fn-22","name":"greet","version":"2","sha256":"fedcba9876543210"}
  ])");
  EXPECT_EQ(RenderFunctionTable(functions),
            "ID     NAME    VERSION  SHA256\n"
            "fn-1   double  1.0.0    0123456789ab\n"
            "fn-22  greet   2        fedcba987654\n");
  EXPECT_EQ(RenderFunctionTable(json::array()), "ID  NAME  VERSION  SHA256\n");
  EXPECT_EQ(RenderFunctionTable(json()), "ID  NAME  VERSION  SHA256\n");
}

TEST(FunctionFormatTest, CreatedNamesIdVersionAndHash) {
  auto function = json::parse(R"({"id":"fn-1","name":"double","version":"1.0.0","sha256":"ab12","size":"2150"})");
  EXPECT_EQ(RenderFunctionCreated(function), "function double 1.0.0 created: fn-1\nsha256 ab12 (2.1 KiB)\n");
}

TEST(FunctionFormatTest, Bytes) {
  EXPECT_EQ(FormatBytes(0), "0 B");
  EXPECT_EQ(FormatBytes(1023), "1023 B");
  EXPECT_EQ(FormatBytes(1024), "1.0 KiB");
  EXPECT_EQ(FormatBytes(3u << 20), "3.0 MiB");
}

TEST(FunctionFormatTest, DeploymentTable) {
  auto deployments = json::parse(R"([
    {"boardId":"brd-1","state":"deployed","version":"1.0.0","sha256":"ab","error":"","updatedAt":"1700000000"},
    {"boardId":"brd-2","state":"failed","version":"1.0.0","error":"no space left on device"},
    {"boardId":"brd-3","state":"pending"}
  ])");
  EXPECT_EQ(RenderDeploymentTable(deployments),
            "BOARD  STATE     VERSION  ERROR\n"
            "brd-1  deployed  1.0.0    -\n"
            "brd-2  failed    1.0.0    no space left on device\n"
            "brd-3  pending   -        -\n");
}

TEST(FunctionFormatTest, Issue18_StatsTableListsThePickFirst) {
  auto stats = json::parse(R"({"strategy":"ucb1","runtimes":[
    {"runtime":"cloud","available":true,"count":5,"failures":1,"meanMs":120.25,"weight":90.5},
    {"runtime":"board:brd-1","available":true,"count":5,"failures":0,"meanMs":80.0,"weight":60.0},
    {"runtime":"board:brd-2","available":false,"count":0,"failures":0,"meanMs":null,"weight":null}
  ]})");
  EXPECT_EQ(RenderStatsTable(stats),
            "RUNTIME      AVAILABLE  CALLS  FAILURES  MEAN-MS  WEIGHT\n"
            "board:brd-2  no         0      0         -        -\n"
            "board:brd-1  yes        5      0         80.0     60.0\n"
            "cloud        yes        5      1         120.2    90.5\n");
  EXPECT_EQ(RenderStatsTable(json()), "RUNTIME  AVAILABLE  CALLS  FAILURES  MEAN-MS  WEIGHT\n");
}

TEST(FunctionFormatTest, InvocationStatusAndPlace) {
  using contract::InvocationStatus;
  EXPECT_EQ(InvocationStatusOf(json::parse(R"({"status":"succeeded"})")), InvocationStatus::kSucceeded);
  EXPECT_EQ(InvocationStatusOf(json::parse(R"({"status":"failed"})")), InvocationStatus::kFailed);
  EXPECT_EQ(InvocationStatusOf(json::parse(R"({"status":"timed_out"})")), InvocationStatus::kTimedOut);
  EXPECT_EQ(InvocationStatusOf(json::parse(R"({"status":"running"})")), InvocationStatus::kRunning);
  EXPECT_FALSE(InvocationStatusOf(json::parse(R"({"status":"weird"})")));
  EXPECT_FALSE(InvocationStatusOf(json()));
  EXPECT_EQ(InvocationPlace(json::parse(R"({"boardId":"brd-1"})")), "brd-1");
  EXPECT_EQ(InvocationPlace(json::parse(R"({"target":"cloud"})")), "cloud");
  EXPECT_EQ(InvocationPlace(json::object()), "-");
}

TEST(FunctionFormatTest, FailedInvocationShowsErrorAndLogs) {
  auto record = json::parse(R"({"invocationId":"inv-1","status":"failed","error":"exit status 3",
    "logs":"sensor not found\nretrying","exitCode":3,"runtime":"runc","cold":true,"queueMs":0.012,
    "runMs":41.25,"boardId":"brd-1"})");
  EXPECT_EQ(RenderInvocation(record),
            "invocation: inv-1\n"
            "status:     failed\n"
            "where:      brd-1\n"
            "runtime:    runc (cold start)\n"
            "timing:     queued 0.0 ms, ran 41.2 ms\n"
            "exit code:  3\n"
            "error:      exit status 3\n"
            "logs:\n"
            "sensor not found\n"
            "retrying\n");
}

TEST(FunctionFormatTest, SucceededInvocationShowsOutputAndNoLogs) {
  auto record = json::parse(R"({"invocationId":"inv-2","status":"succeeded","output":{"double":42},
    "logs":"","exitCode":0,"runtime":"bwrap","cold":false,"runMs":3,"target":"cloud"})");
  EXPECT_EQ(RenderInvocation(record),
            "invocation: inv-2\n"
            "status:     succeeded\n"
            "where:      cloud\n"
            "runtime:    bwrap (warm)\n"
            "timing:     queued - ms, ran 3.0 ms\n"
            "exit code:  0\n"
            "output:     {\"double\":42}\n"
            "logs:       -\n");
  // A running one has nothing but its id, status and place yet.
  EXPECT_EQ(RenderInvocation(json::parse(R"({"invocationId":"inv-3","status":"running","boardId":"b"})")),
            "invocation: inv-3\nstatus:     running\nwhere:      b\nlogs:       -\n");
}

TEST(FunctionFormatTest, AStoredRecordCutByTheConductorSaysSo) {
  auto record = json::parse(R"({"invocationId":"inv-4","status":"succeeded","output":null,"truncated":true,
    "outputBytes":1048576,"logsBytes":12,"logs":"x","target":"cloud"})");
  EXPECT_EQ(RenderInvocation(record),
            "invocation: inv-4\n"
            "status:     succeeded\n"
            "where:      cloud\n"
            "truncated:  stored in part (output 1048576 bytes, logs 12 bytes)\n"
            "logs:\n"
            "x\n");
}

TEST(FunctionFormatTest, InvocationTable) {
  auto invocations = json::parse(R"([
    {"invocationId":"inv-1","status":"succeeded","runMs":41.25,"boardId":"brd-1"},
    {"invocationId":"inv-2","status":"timed_out","error":"timed out after 800 ms","target":"cloud"},
    {"invocationId":"inv-3","status":"running","boardId":"brd-1"}
  ])");
  EXPECT_EQ(RenderInvocationTable(invocations),
            "INVOCATION  STATUS     WHERE  RUN-MS  ERROR\n"
            "inv-1       succeeded  brd-1  41.2    -\n"
            "inv-2       timed_out  cloud  -       timed out after 800 ms\n"
            "inv-3       running    brd-1  -       -\n");
}

TEST(FunctionFormatTest, FleetTableAndDetails) {
  auto fleets = json::parse(R"([
    {"id":"flt-1","name":"greenhouse","boardIds":["brd-1","brd-2"]},
    {"id":"flt-2","name":"empty","boardIds":[]},
    {"id":"flt-3","name":"old"}
  ])");
  EXPECT_EQ(RenderFleetTable(fleets),
            "ID     NAME        BOARDS\n"
            "flt-1  greenhouse  2\n"
            "flt-2  empty       0\n"
            "flt-3  old         0\n");
  EXPECT_EQ(RenderFleet(fleets[0], {{"brd-1", "pi-1"}}),
            "id:         flt-1\n"
            "name:       greenhouse\n"
            "boards:\n"
            "  brd-1 (pi-1)\n"
            "  brd-2\n");
  EXPECT_EQ(RenderFleet(fleets[1], {}), "id:         flt-2\nname:       empty\nboards:     -\n");
}

}  // namespace
}  // namespace ew::cli
