// /v1/functions: uploads (content types, invalid packages, sizes), project isolation,
// deployments and their validation, invocations and how their outcomes map to HTTP statuses.
#include <future>
#include <set>
#include <map>
#include <string>
#include <thread>

#include "tests/cloud-conductor/rest/functions_test_harness.hpp"
#include "tests/support/eventually.hpp"

namespace ew::rest {
namespace {

using nlohmann::json;

using ::ew::test::Eventually;

Result<wamp::Payload> Kwargs(json kwargs) { return wamp::Payload{json::array(), std::move(kwargs)}; }

class FunctionsResourceTest : public FunctionsApiTest {
 protected:
  // A board of alice's project, online, whose agent deploys anything and runs "double".
  std::string OnlineBoard(const std::string& name) {
    auto [id, code] = CreateBoard(name, alice_);
    gateway_.SetOnline(id);
    gateway_.SetScript(
        id, [id = id](const std::string& procedure, const wamp::Payload& payload) -> Result<wamp::Payload> {
          if (procedure != "fn.invoke") return payload;
          const json& event = payload.kwargs["event"];
          if (event == "fail")
            return Kwargs({{"status", "failed"}, {"error", "exit status 3"}, {"exitCode", 3}, {"boardId", id}});
          if (event == "hang")
            return Kwargs({{"status", "timed_out"}, {"error", "killed after 3000 ms"}, {"boardId", id}});
          if (event == "gone") return Unavailable("board " + id + " went offline");
          if (event == "big")
            return Kwargs({{"status", "succeeded"}, {"output", {{"text", std::string(300 << 10, 'x')}}},
                           {"logs", std::string(300 << 10, 'l')}, {"boardId", id}});
          return Kwargs({{"status", "succeeded"}, {"output", {{"double", 2 * event.value("n", 0)}}}, {"boardId", id}});
        });
    return id;
  }

  std::string StateOn(const std::string& function_id, const std::string& board_id) {
    auto body = Json(Send("GET", "/v1/functions/" + function_id + "/deployments", "", alice_));
    for (const auto& d : body["deployments"]) {
      if (d["boardId"] == board_id) return d["state"];
    }
    return "<none>";
  }

  json DeployAndWait(const std::string& function_id, const std::string& board_id) {
    auto response =
        Send("POST", "/v1/functions/" + function_id + "/deployments", json{{"boardIds", {board_id}}}.dump(), alice_);
    EXPECT_EQ(response.status, 202) << response.body;
    EXPECT_TRUE(Eventually([&] { return StateOn(function_id, board_id) == "deployed"; }));
    return Json(response);
  }

  server::HttpResponse Invoke(const std::string& function_id, const json& body) {
    return Send("POST", "/v1/functions/" + function_id + "/invocations", body.dump(), alice_);
  }
};

TEST_F(FunctionsResourceTest, UploadAnswersTheFunctionRecord) {
  auto body = Upload(Spec("double"), alice_);
  EXPECT_EQ(body["id"].get<std::string>().rfind("fn-", 0), 0u);
  EXPECT_EQ(body["name"], "double");
  EXPECT_EQ(body["projectId"], project_a_);
  EXPECT_EQ(body["version"], "1.0.0");
  EXPECT_EQ(body["sha256"].get<std::string>().size(), 64u);
  EXPECT_GT(body["size"].get<uint64_t>(), 0u);
  EXPECT_EQ(body["spec"]["timeoutMs"], 3000);
  EXPECT_TRUE(body.contains("createdAt"));

  auto again = Upload(Spec("double", "1.1.0"), alice_);
  EXPECT_EQ(again["id"], body["id"]);
  auto shown = Json(Send("GET", "/v1/functions/" + body["id"].get<std::string>(), "", alice_));
  ASSERT_EQ(shown["versions"].size(), 2u);
  EXPECT_EQ(shown["versions"][0]["version"], "1.0.0");
  EXPECT_EQ(shown["versions"][1]["version"], "1.1.0");
  EXPECT_EQ(shown["version"], "1.1.0");
}

TEST_F(FunctionsResourceTest, BadUploadsAreRefusedAndStoreNothing) {
  auto json_body = SendRaw("POST", "/v1/functions", "{}", "application/json", alice_);
  EXPECT_EQ(json_body.status, 415) << json_body.body;
  auto garbage = SendRaw("POST", "/v1/functions", "not a tarball", "application/gzip", alice_);
  EXPECT_EQ(garbage.status, 400) << garbage.body;
  auto bad_runtime =
      SendRaw("POST", "/v1/functions",
              Package(json{{"name", "x"}, {"version", "1"}, {"runtime", "cobol"}, {"entrypoint", "main.sh"}}),
              "application/gzip", alice_);
  EXPECT_EQ(bad_runtime.status, 400);
  EXPECT_NE(ErrorMessageOf(bad_runtime).find("runtime"), std::string::npos) << bad_runtime.body;
  auto no_entry =
      SendRaw("POST", "/v1/functions",
              Package(json{{"name", "x"}, {"version", "1"}, {"runtime", "sh"}, {"entrypoint", "missing.sh"}}),
              "application/octet-stream", alice_);
  EXPECT_EQ(no_entry.status, 400);
  EXPECT_NE(ErrorMessageOf(no_entry).find("missing.sh"), std::string::npos) << no_entry.body;
  auto huge = SendRaw("POST", "/v1/functions", std::string((16u << 20) + 1, 'x'), "application/gzip", alice_);
  EXPECT_EQ(huge.status, 413) << huge.body;
  EXPECT_EQ(Json(Send("GET", "/v1/functions", "", alice_))["functions"].size(), 0u);
}

TEST_F(FunctionsResourceTest, FunctionsBelongToTheirProject) {
  auto mine = Upload(Spec("double"), alice_);
  const std::string id = mine["id"];
  EXPECT_EQ(Json(Send("GET", "/v1/functions", "", alice_))["functions"].size(), 1u);
  EXPECT_EQ(Json(Send("GET", "/v1/functions", "", bob_))["functions"].size(), 0u);
  EXPECT_EQ(Send("GET", "/v1/functions/" + id, "", bob_).status, 403);
  EXPECT_EQ(Send("DELETE", "/v1/functions/" + id, "", bob_).status, 403);
  EXPECT_EQ(Send("GET", "/v1/functions/fn-0000000000000000", "", alice_).status, 404);
  // Bob's own "double" is another function.
  auto his = Upload(Spec("double"), bob_);
  EXPECT_NE(his["id"], mine["id"]);
  EXPECT_EQ(Json(Send("GET", "/v1/functions", "", admin_))["functions"].size(), 2u);
  // An empty ?project= is not "every project" for anyone but an admin (it once listed bob's
  // functions to alice); naming bob's project is refused.
  auto empty = Json(Send("GET", "/v1/functions?project=", "", alice_))["functions"];
  ASSERT_EQ(empty.size(), 1u);
  EXPECT_EQ(empty[0]["id"], id);
  EXPECT_EQ(Send("GET", "/v1/functions?project=" + project_b_, "", alice_).status, 403);
  EXPECT_EQ(Json(Send("GET", "/v1/functions?project=", "", admin_))["functions"].size(), 2u);
  // Alice may not upload into bob's project.
  EXPECT_EQ(
      SendRaw("POST", "/v1/functions?project=" + project_b_, Package(Spec("x")), "application/gzip", alice_).status,
      403);
  EXPECT_EQ(Send("DELETE", "/v1/functions/" + id, "", alice_).status, 204);
  EXPECT_EQ(Send("GET", "/v1/functions/" + id, "", alice_).status, 404);
}

TEST_F(FunctionsResourceTest, DeploymentRequestsAreValidated) {
  const std::string fn = Upload(Spec("double"), alice_)["id"];
  auto [board, code] = CreateBoard("pi-1", alice_);
  auto [bobs_board, bobs_code] = CreateBoard("pi-b", bob_);
  const std::string path = "/v1/functions/" + fn + "/deployments";
  struct Case {
    json body;
    int status;
    std::string mentions;
  };
  const std::vector<Case> cases = {
      {json::object(), 400, "boardIds"},
      {{{"boardIds", {board}}, {"fleetId", "flt-1"}}, 400, "exactly one"},
      {{{"boardIds", json::array()}}, 400, "boardIds"},
      {{{"boardIds", {17}}}, 400, "boardIds"},
      {{{"boardIds", {board}}, {"extra", 1}}, 400, "extra"},
      {{{"boardIds", {bobs_board}}}, 400, bobs_board},
      {{{"boardIds", {"brd-0000000000000000"}}}, 400, "brd-0000000000000000"},
      {{{"boardIds", {board}}, {"version", "9.9"}}, 400, "version"},
      {{{"boardIds", {board}}, {"version", 1}}, 400, "version"},
      {{{"fleetId", "flt-0000000000000000"}}, 404, "flt-0000000000000000"},
      {{{"boardIds", {board}}, {"triggers", {{{"line", "GPIO4"}, {"edge", "sideways"}}}}}, 400, "triggers[0]: edge"},
      {{{"boardIds", {board}}, {"triggers", {{{"edge", "rising"}}}}}, 400, "triggers[0]: line"},
      {{{"boardIds", {board}}, {"triggers", {{"line", "GPIO4"}}}}, 400, "triggers"},
      {{{"boardIds", {board}}, {"triggers", {{{"line", "GPIO4"}, {"debounceMs", 5000}}}}}, 400, "debounceMs"},
  };
  for (const auto& c : cases) {
    auto response = Send("POST", path, c.body.dump(), alice_);
    EXPECT_EQ(response.status, c.status) << c.body << " → " << response.body;
    EXPECT_NE(ErrorMessageOf(response).find(c.mentions), std::string::npos) << c.body << " → " << response.body;
  }
  EXPECT_EQ(Json(Send("GET", path, "", alice_))["deployments"].size(), 0u);
  EXPECT_EQ(Send("POST", path, json{{"boardIds", {board}}}.dump(), bob_).status, 403);
}

TEST_F(FunctionsResourceTest, DeploymentsGoToBoardsAndFleets) {
  const std::string fn = Upload(Spec("double"), alice_)["id"];
  const std::string online = OnlineBoard("pi-on");
  auto [offline, code] = CreateBoard("pi-off", alice_);
  auto fleet = Json(Send("POST", "/v1/fleets", json{{"name", "greenhouse"}}.dump(), alice_));
  const std::string fleet_id = fleet["id"];
  ASSERT_EQ(Send("PUT", "/v1/fleets/" + fleet_id + "/boards/" + online, "", alice_).status, 200);
  ASSERT_EQ(Send("PUT", "/v1/fleets/" + fleet_id + "/boards/" + offline, "", alice_).status, 200);

  auto response = Send("POST", "/v1/functions/" + fn + "/deployments", json{{"fleetId", fleet_id}}.dump(), alice_);
  ASSERT_EQ(response.status, 202) << response.body;
  auto started = Json(response)["deployments"];
  ASSERT_EQ(started.size(), 2u);
  std::map<std::string, std::string> states;
  for (const auto& d : started) states[d["boardId"]] = d["state"];
  EXPECT_EQ(states[online], "deploying");
  EXPECT_EQ(states[offline], "pending");
  ASSERT_TRUE(Eventually([&] { return StateOn(fn, online) == "deployed"; }));

  auto listed = Json(Send("GET", "/v1/functions/" + fn + "/deployments", "", alice_))["deployments"];
  ASSERT_EQ(listed.size(), 2u);
  for (const char* field : {"boardId", "state", "version", "sha256", "error", "updatedAt", "triggers"})
    EXPECT_TRUE(listed[0].contains(field)) << field;

  // Removing: forgotten here, fn.remove on the board.
  EXPECT_EQ(Send("DELETE", "/v1/functions/" + fn + "/deployments/" + online, "", alice_).status, 204);
  EXPECT_EQ(StateOn(fn, online), "<none>");
  EXPECT_EQ(gateway_.calls().back().procedure, "fn.remove");
  EXPECT_EQ(Send("DELETE", "/v1/functions/" + fn + "/deployments/" + online, "", alice_).status, 404);
}

TEST_F(FunctionsResourceTest, GpioTriggersGoWithTheDeploymentToTheBoard) {
  const std::string fn = Upload(Spec("mirror"), alice_)["id"];
  const std::string board = OnlineBoard("pi-on");
  const json triggers = json::parse(R"([{"line":"GPIO4","edge":"rising","debounceMs":20},{"line":"GPIO5"}])");
  auto response = Send("POST", "/v1/functions/" + fn + "/deployments",
                       json{{"boardIds", {board}}, {"triggers", triggers}}.dump(), alice_);
  ASSERT_EQ(response.status, 202) << response.body;
  const json canonical = json::parse(
      R"([{"line":"GPIO4","edge":"rising","debounceMs":20},{"line":"GPIO5","edge":"rising","debounceMs":0}])");
  EXPECT_EQ(Json(response)["deployments"][0]["triggers"], canonical);
  ASSERT_TRUE(Eventually([&] { return StateOn(fn, board) == "deployed"; }));
  std::optional<json> sent;
  for (const auto& call : gateway_.calls()) {
    if (call.procedure == "fn.deploy") sent = call.payload.kwargs;
  }
  ASSERT_TRUE(sent);
  EXPECT_EQ((*sent)["triggers"], canonical);
  auto listed = Json(Send("GET", "/v1/functions/" + fn + "/deployments", "", alice_))["deployments"];
  EXPECT_EQ(listed[0]["triggers"], canonical);
}

TEST_F(FunctionsResourceTest, InvocationRequestsAreValidated) {
  const std::string fn = Upload(Spec("double"), alice_)["id"];
  auto [board, code] = CreateBoard("pi-1", alice_);
  auto [bobs_board, bobs_code] = CreateBoard("pi-b", bob_);
  struct Case {
    json body;
    int status;
    std::string mentions;
  };
  const std::vector<Case> cases = {
      {json::object(), 503, "no runtime"},  // placement "auto": no board has it, no cloud runtime here
      {{{"boardId", board}, {"target", "cloud"}}, 400, "at most one"},
      {{{"placement", "cloud"}, {"target", "cloud"}}, 400, "at most one"},
      {{{"placement", "edge"}}, 400, "placement"},
      {{{"placement", 3}}, 400, "placement"},
      {{{"strategy", "thompson"}}, 400, "strategy"},
      {{{"deadlineMs", 0}}, 400, "deadlineMs"},
      {{{"placement", "board:" + bobs_board}}, 403, bobs_board},
      {{{"target", "mars"}}, 400, "target"},
      {{{"boardId", 5}}, 400, "boardId"},
      {{{"boardId", board}, {"async", "yes"}}, 400, "async"},
      {{{"boardId", board}, {"timeoutMs", 0}}, 400, "timeoutMs"},
      {{{"boardId", board}, {"timeoutMs", 1.5}}, 400, "timeoutMs"},
      {{{"boardId", board}, {"timeoutMs", 900001}}, 400, "timeoutMs"},
      {{{"boardId", board}, {"timeoutMs", 50}}, 400, "timeoutMs"},  // below the 100 ms floor (review H3)
      {{{"deadlineMs", 99}}, 400, "deadlineMs"},
      {{{"boardId", board}, {"colour", "red"}}, 400, "colour"},
      {{{"boardId", bobs_board}}, 403, bobs_board},
      {{{"boardId", "brd-0000000000000000"}}, 404, "brd-0000000000000000"},
      {{{"boardId", board}}, 409, "not deployed"},
  };
  for (const auto& c : cases) {
    auto response = Invoke(fn, c.body);
    EXPECT_EQ(response.status, c.status) << c.body << " → " << response.body;
    EXPECT_NE(ErrorMessageOf(response).find(c.mentions), std::string::npos) << c.body << " → " << response.body;
  }
  EXPECT_EQ(Json(Send("GET", "/v1/functions/" + fn + "/invocations", "", alice_))["invocations"].size(), 0u);
  EXPECT_EQ(Invoke("fn-0000000000000000", json{{"boardId", board}}).status, 404);
}

TEST_F(FunctionsResourceTest, SyncInvocationOutcomesMapToStatuses) {
  const std::string fn = Upload(Spec("double"), alice_)["id"];
  const std::string board = OnlineBoard("pi-1");
  DeployAndWait(fn, board);

  auto ok = Invoke(fn, {{"boardId", board}, {"event", {{"n", 21}}}});
  ASSERT_EQ(ok.status, 200) << ok.body;
  auto record = Json(ok);
  EXPECT_EQ(record["output"]["double"], 42);
  EXPECT_EQ(record["boardId"], board);
  const std::string invocation_id = record["invocationId"];

  auto failed = Invoke(fn, {{"boardId", board}, {"event", "fail"}});
  EXPECT_EQ(failed.status, 502);
  EXPECT_EQ(ErrorCodeOf(failed), "function_failed");
  EXPECT_EQ(ErrorMessageOf(failed), "exit status 3");
  EXPECT_EQ(Json(failed)["invocation"]["exitCode"], 3);

  auto timed_out = Invoke(fn, {{"boardId", board}, {"event", "hang"}});
  EXPECT_EQ(timed_out.status, 504);
  EXPECT_EQ(ErrorCodeOf(timed_out), "function_timed_out");
  EXPECT_EQ(Json(timed_out)["invocation"]["status"], "timed_out");

  auto gone = Invoke(fn, {{"boardId", board}, {"event", "gone"}});
  EXPECT_EQ(gone.status, 503);
  EXPECT_EQ(Json(gone)["invocation"]["status"], "failed");

  gateway_.SetOffline(board);
  auto offline = Invoke(fn, {{"boardId", board}, {"event", {{"n", 1}}}});
  EXPECT_EQ(offline.status, 503);
  EXPECT_NE(ErrorMessageOf(offline).find("offline"), std::string::npos);

  // Every invocation that ran has its record (stored right after the answer); the newest first.
  auto listed = [&] { return Json(Send("GET", "/v1/functions/" + fn + "/invocations", "", alice_))["invocations"]; };
  ASSERT_TRUE(Eventually([&] { return listed().size() == 4u; }));
  auto list = listed();
  auto one = Send("GET", "/v1/functions/" + fn + "/invocations/" + invocation_id, "", alice_);
  ASSERT_EQ(one.status, 200) << one.body;
  EXPECT_EQ(Json(one)["status"], "succeeded");
  EXPECT_EQ(Json(one)["boardId"], board);
  EXPECT_EQ(Send("GET", "/v1/functions/" + fn + "/invocations/inv-0000000000000000", "", alice_).status, 404);
  EXPECT_EQ(Send("GET", "/v1/functions/" + fn + "/invocations/" + invocation_id, "", bob_).status, 403);
}

TEST_F(FunctionsResourceTest, AsyncInvocationAnswersAnIdAndTheRecordFollows) {
  const std::string fn = Upload(Spec("double"), alice_)["id"];
  const std::string board = OnlineBoard("pi-1");
  DeployAndWait(fn, board);
  auto accepted = Invoke(fn, {{"boardId", board}, {"event", {{"n", 4}}}, {"async", true}});
  ASSERT_EQ(accepted.status, 202) << accepted.body;
  const std::string id = Json(accepted)["invocationId"];
  ASSERT_TRUE(Eventually([&] {
    return Json(Send("GET", "/v1/functions/" + fn + "/invocations/" + id, "", alice_)).value("status", "") ==
           "succeeded";
  }));
  auto record = Json(Send("GET", "/v1/functions/" + fn + "/invocations/" + id, "", alice_));
  EXPECT_EQ(record["output"]["double"], 8);
  EXPECT_EQ(record["invocationId"], id);
}

TEST_F(FunctionsResourceTest, CloudInvocationsFollowThePlacementHints) {
  auto spec = Spec("gpio-only");
  spec["boardOnly"] = true;
  const std::string board_only = Upload(spec, alice_)["id"];
  auto refused = Invoke(board_only, {{"target", "cloud"}});
  EXPECT_EQ(refused.status, 400);
  EXPECT_NE(ErrorMessageOf(refused).find("boardOnly"), std::string::npos);

  // This conductor has no cloud runtime.
  const std::string anywhere = Upload(Spec("double"), alice_)["id"];
  auto unavailable = Invoke(anywhere, {{"target", "cloud"}, {"event", {{"n", 1}}}});
  EXPECT_EQ(unavailable.status, 503) << unavailable.body;
  EXPECT_EQ(Json(unavailable)["invocation"]["target"], "cloud");

  spec = Spec("cloud-only");
  spec["cloudOnly"] = true;
  const std::string cloud_only = Upload(spec, alice_)["id"];
  auto [board, code] = CreateBoard("pi-1", alice_);
  auto deploy =
      Send("POST", "/v1/functions/" + cloud_only + "/deployments", json{{"boardIds", {board}}}.dump(), alice_);
  EXPECT_EQ(deploy.status, 400);
  EXPECT_NE(ErrorMessageOf(deploy).find("cloudOnly"), std::string::npos);
  auto on_board = Invoke(cloud_only, {{"boardId", board}});
  EXPECT_EQ(on_board.status, 400);
  EXPECT_NE(ErrorMessageOf(on_board).find("cloudOnly"), std::string::npos);
}

// Issue 11: after 100 runs with 1 MB outputs, one GET of the invocations answered 126 MB. A
// list now carries summaries (no output, no logs) one page at a time; an output is fetched one
// invocation at a time.
TEST_F(FunctionsResourceTest, Issue11InvocationListsStaySmallWhateverTheOutputs) {
  const std::string function_id = Upload(Spec("chatty"), alice_)["id"];
  const std::string megabyte(1 << 20, 'm');
  for (int i = 0; i < 100; ++i) {
    json record = {{"status", "succeeded"}, {"output", {{"text", megabyte}}}, {"logs", megabyte},
                   {"runMs", 3.5},          {"target", "cloud"}};
    ASSERT_TRUE(function_store_->PutInvocation(
        {"inv-" + std::to_string(1000 + i), function_id, "cloud", functions::InvocationStatus::kSucceeded, record, 1000 + i},
        1000));
  }
  const std::string path = "/v1/functions/" + function_id + "/invocations";
  auto all = Send("GET", path + "?limit=1000", "", alice_);
  ASSERT_EQ(all.status, 200) << all.body.substr(0, 300);
  EXPECT_LT(all.body.size(), 64u << 10) << "100 summaries, not 200 MB of outputs and logs";
  auto body = Json(all);
  ASSERT_EQ(body["invocations"].size(), 100u);
  EXPECT_FALSE(body.contains("nextCursor"));
  EXPECT_EQ(body["invocations"][0]["invocationId"], "inv-1099") << "newest first";
  EXPECT_EQ(body["invocations"][0]["status"], "succeeded");
  EXPECT_EQ(body["invocations"][0]["runMs"], 3.5);
  EXPECT_FALSE(body["invocations"][0].contains("output"));
  EXPECT_FALSE(body["invocations"][0].contains("logs"));

  // Pages of 30 by cursor: 30 + 30 + 30 + 10, none twice.
  std::set<std::string> seen;
  std::string cursor;
  int pages = 0;
  do {
    auto page = Json(Send("GET", path + "?limit=30" + (cursor.empty() ? "" : "&cursor=" + cursor), "", alice_));
    for (const auto& i : page["invocations"]) seen.insert(i["invocationId"].get<std::string>());
    cursor = page.value("nextCursor", "");
    ++pages;
  } while (!cursor.empty() && pages < 10);
  EXPECT_EQ(pages, 4);
  EXPECT_EQ(seen.size(), 100u);

  // One at a time, the whole record.
  auto one = Send("GET", path + "/inv-1042", "", alice_);
  ASSERT_EQ(one.status, 200);
  EXPECT_EQ(Json(one)["output"]["text"].get<std::string>().size(), megabyte.size());

  EXPECT_EQ(Send("GET", path + "?limit=0", "", alice_).status, 400);
  EXPECT_EQ(Send("GET", path + "?limit=1001", "", alice_).status, 400);
  auto bad = Send("GET", path + "?cursor=zz!", "", alice_);
  EXPECT_EQ(bad.status, 400);
  EXPECT_EQ(ErrorCodeOf(bad), "invalid_argument");
}

TEST_F(FunctionsResourceTest, StoredRecordsAreCappedButTheCallerGetsEverything) {
  const std::string board = OnlineBoard("pi-big");
  const std::string function_id = Upload(Spec("big"), alice_)["id"];
  DeployAndWait(function_id, board);
  auto answer = Invoke(function_id, {{"boardId", board}, {"event", "big"}});
  ASSERT_EQ(answer.status, 200) << answer.body.substr(0, 300);
  EXPECT_EQ(Json(answer)["output"]["text"].get<std::string>().size(), 300u << 10);
  const std::string id = Json(answer)["invocationId"];
  server::HttpResponse stored;
  ASSERT_TRUE(Eventually([&] {
    stored = Send("GET", "/v1/functions/" + function_id + "/invocations/" + id, "", alice_);
    return stored.status == 200;
  }));
  auto record = Json(stored);
  EXPECT_TRUE(record["output"].is_null());
  EXPECT_EQ(record["truncated"], true);
  EXPECT_EQ(record["logs"].get<std::string>().size(), 256u << 10);
  EXPECT_GT(record["outputBytes"].get<size_t>(), 300u << 10);
  EXPECT_EQ(record["logsBytes"], 300u << 10);
  // The list shows the sizes and the flag.
  auto listed = Json(Send("GET", "/v1/functions/" + function_id + "/invocations", "", alice_));
  ASSERT_EQ(listed["invocations"].size(), 1u);
  EXPECT_EQ(listed["invocations"][0]["truncated"], true);
  EXPECT_EQ(listed["invocations"][0]["logsBytes"], 300u << 10);
}

// Issue 18: calls that name no runtime are placed; the stats say what was measured and how
// each runtime weighs; the record says where the call went and why.
TEST_F(FunctionsResourceTest, Issue18_PlacedInvocationsAndTheirStatistics) {
  const std::string fn = Upload(Spec("double"), alice_)["id"];
  const std::string board = OnlineBoard("pi-1");
  auto empty = Json(Send("GET", "/v1/functions/" + fn + "/stats", "", alice_));
  EXPECT_EQ(empty["strategy"], "ucb1");
  EXPECT_EQ(empty["runtimes"].size(), 0u);
  DeployAndWait(fn, board);
  for (int i = 0; i < 3; ++i) {
    auto ok = Invoke(fn, {{"event", {{"n", i}}}});
    ASSERT_EQ(ok.status, 200) << ok.body;
    auto record = Json(ok);
    EXPECT_EQ(record["boardId"], board);
    EXPECT_EQ(record["placement"]["mode"], "auto");
    EXPECT_EQ(record["placement"]["strategy"], "ucb1");
    EXPECT_EQ(record["placement"]["runtime"], "board:" + board);
    EXPECT_EQ(record["placement"]["tried"].size(), 1u);
  }
  auto forced = Invoke(fn, {{"placement", "board:" + board}, {"strategy", "sliding-ucb"}, {"deadlineMs", 5000},
                            {"event", {{"n", 1}}}});
  ASSERT_EQ(forced.status, 200) << forced.body;
  EXPECT_EQ(Json(forced)["placement"]["mode"], "board");
  auto stats = Json(Send("GET", "/v1/functions/" + fn + "/stats?strategy=greedy", "", alice_));
  EXPECT_EQ(stats["functionId"], fn);
  EXPECT_EQ(stats["strategy"], "greedy");
  ASSERT_EQ(stats["runtimes"].size(), 1u);
  const json& runtime = stats["runtimes"][0];
  EXPECT_EQ(runtime["runtime"], "board:" + board);
  EXPECT_EQ(runtime["available"], true);
  EXPECT_EQ(runtime["count"], 4);
  EXPECT_EQ(runtime["failures"], 0);
  EXPECT_EQ(runtime["recentMs"].size(), 4u);
  EXPECT_TRUE(runtime["weight"].is_number());  // greedy: the mean
  // The failures of a board that went away count, and the call says it was tried.
  auto gone = Invoke(fn, {{"event", "gone"}});
  EXPECT_EQ(gone.status, 503) << gone.body;
  EXPECT_EQ(Json(gone)["invocation"]["placement"]["tried"][0]["runtime"], "board:" + board);
  stats = Json(Send("GET", "/v1/functions/" + fn + "/stats", "", alice_));
  EXPECT_EQ(stats["runtimes"][0]["failures"], 1);
  // Another project's function, an unknown strategy.
  EXPECT_EQ(Send("GET", "/v1/functions/" + fn + "/stats", "", bob_).status, 403);
  EXPECT_EQ(Send("GET", "/v1/functions/" + fn + "/stats?strategy=nope", "", alice_).status, 400);
  // The list shows where each call went.
  auto listed = Json(Send("GET", "/v1/functions/" + fn + "/invocations", "", alice_));
  ASSERT_TRUE(Eventually([&] {
    listed = Json(Send("GET", "/v1/functions/" + fn + "/invocations", "", alice_));
    return listed["invocations"].size() == 5u;
  }));
  // Where each call went: the one forced onto the board, the others placed. (All five started in
  // the same second of the test's clock; records land as calls end, so their order among
  // themselves is the order of those ends, not asserted here.)
  std::map<std::string, int> modes;
  for (const auto& record : listed["invocations"]) ++modes[record["placement"]["mode"].get<std::string>()];
  EXPECT_EQ(modes, (std::map<std::string, int>{{"auto", 4}, {"board", 1}}));
  // History by runtime and time range.
  const std::string list = "/v1/functions/" + fn + "/invocations";
  EXPECT_EQ(Json(Send("GET", list + "?runtime=board:" + board, "", alice_))["invocations"].size(), 5u);
  EXPECT_EQ(Json(Send("GET", list + "?runtime=cloud", "", alice_))["invocations"].size(), 0u);
  const int64_t now = UnixSeconds(clock_.Now());
  EXPECT_EQ(Json(Send("GET", list + "?from=" + std::to_string(now) + "&to=" + std::to_string(now), "", alice_))
                ["invocations"].size(), 5u);
  EXPECT_EQ(Json(Send("GET", list + "?from=" + std::to_string(now + 1), "", alice_))["invocations"].size(), 0u);
  EXPECT_EQ(Json(Send("GET", list + "?to=" + std::to_string(now - 1), "", alice_))["invocations"].size(), 0u);
  EXPECT_EQ(Send("GET", list + "?from=yesterday", "", alice_).status, 400);
  EXPECT_EQ(Send("GET", list + "?runtime=auto", "", alice_).status, 400);
  EXPECT_EQ(Send("GET", list + "?runtime=mars", "", alice_).status, 400);
}

TEST_F(FunctionsResourceTest, FunctionAndDeploymentListsArePaged) {
  for (int i = 0; i < 3; ++i) Upload(Spec("fn" + std::to_string(i)), alice_);
  auto first = Json(Send("GET", "/v1/functions?limit=2", "", alice_));
  ASSERT_EQ(first["functions"].size(), 2u);
  const std::string cursor = first.value("nextCursor", "");
  ASSERT_FALSE(cursor.empty());
  auto second = Json(Send("GET", "/v1/functions?limit=2&cursor=" + cursor, "", alice_));
  ASSERT_EQ(second["functions"].size(), 1u);
  EXPECT_EQ(second["functions"][0]["name"], "fn2");
  EXPECT_FALSE(second.contains("nextCursor"));
  EXPECT_EQ(Send("GET", "/v1/functions?limit=x", "", alice_).status, 400);
  const std::string fn = first["functions"][0]["id"];
  EXPECT_EQ(Send("GET", "/v1/functions/" + fn + "/deployments?limit=5000", "", alice_).status, 400);
  EXPECT_EQ(Json(Send("GET", "/v1/functions/" + fn + "/deployments?limit=5", "", alice_))["deployments"].size(), 0u);
}

}  // namespace
}  // namespace ew::rest
