// FunctionStore on a private in-memory database: versions, deployment states that only
// the current package may change, invocation trimming, and what fn.fetch may serve.
#include "cloud-conductor/functions/function_store.hpp"

#include <stdlib.h>

#include <filesystem>
#include <string>
#include <vector>

#include "cloud-conductor/functions/stored_record.hpp"
#include "cloud-conductor/registry/sqlite_store.hpp"

#include <gtest/gtest.h>

namespace ew::functions {
namespace {

// Every row of a paged list (the tests hold fewer than a page).
const registry::PageRequest kAllRows{registry::kMaxPageLimit, ""};
template <typename T>
Result<std::vector<T>> Items(Result<registry::Page<T>> page) {
  if (!page) return tl::unexpected(page.error());
  return std::move(page->items);
}

FunctionVersion TestVersion(const std::string& version, char sha_digit, int64_t at = 100) {
  FunctionVersion v;
  v.version = version;
  v.sha256 = std::string(64, sha_digit);
  v.size = 1234;
  v.spec.name = "double";
  v.spec.version = version;
  v.spec.entrypoint = "main.sh";
  v.created_at = at;
  return v;
}

class FunctionStoreTest : public ::testing::Test {
 protected:
  void SetUp() override {
    auto opened = FunctionStore::Open(":memory:");
    ASSERT_TRUE(opened) << opened.error().message;
    store_ = std::move(*opened);
  }

  static FunctionVersion Version(const std::string& version, char sha_digit, int64_t at = 100) {
    return TestVersion(version, sha_digit, at);
  }

  std::unique_ptr<FunctionStore> store_;
};

TEST_F(FunctionStoreTest, UploadsOfOneNameAreVersionsOfOneFunction) {
  auto first = store_->AddVersion("prj-1", "double", "fn-1", Version("1.0.0", 'a'));
  ASSERT_TRUE(first) << first.error().message;
  EXPECT_EQ(first->id, "fn-1");
  EXPECT_EQ(first->latest.seq, 1);
  auto second = store_->AddVersion("prj-1", "double", "fn-ignored", Version("1.1.0", 'b', 200));
  ASSERT_TRUE(second);
  EXPECT_EQ(second->id, "fn-1");
  EXPECT_EQ(second->latest.version, "1.1.0");
  EXPECT_EQ(second->latest.seq, 2);
  // The same package again changes nothing.
  auto again = store_->AddVersion("prj-1", "double", "fn-x", Version("1.0.0", 'a', 300));
  ASSERT_TRUE(again);
  EXPECT_EQ(again->latest.version, "1.1.0");
  auto versions = store_->ListVersions("fn-1");
  ASSERT_TRUE(versions);
  ASSERT_EQ(versions->size(), 2u);
  EXPECT_EQ((*versions)[0].version, "1.0.0");
  EXPECT_EQ((*versions)[0].spec.version, "1.0.0");  // typed, as uploaded
  // A deployment names its package: the version it runs is found by that.
  auto by_sha = store_->GetVersion("fn-1", std::string(64, 'a'));
  ASSERT_TRUE(by_sha) << by_sha.error().message;
  EXPECT_EQ(by_sha->version, "1.0.0");
  EXPECT_EQ(by_sha->seq, 1);
  EXPECT_EQ(store_->GetVersion("fn-1", std::string(64, 'f')).error().code, ErrorCode::kNotFound);
  // Another project has its own "double".
  auto other = store_->AddVersion("prj-2", "double", "fn-2", Version("9", 'c'));
  ASSERT_TRUE(other);
  EXPECT_EQ(other->id, "fn-2");
  EXPECT_EQ(Items(store_->ListFunctions("prj-1", kAllRows))->size(), 1u);
  EXPECT_EQ(Items(store_->ListFunctions("", kAllRows))->size(), 2u);
}

TEST_F(FunctionStoreTest, DeletingAFunctionTakesItsRecordsAndFreesItsPackages) {
  ASSERT_TRUE(store_->AddVersion("prj-1", "double", "fn-1", Version("1", 'a')));
  ASSERT_TRUE(store_->PutDeployment({"fn-1", "brd-1", "1", std::string(64, 'a'), 10, DeploymentState::kDeployed, "", 1}));
  ASSERT_TRUE(store_->PutInvocation({"inv-1", "fn-1", "brd-1", InvocationStatus::kSucceeded, {{"status", "succeeded"}}, 1}, 10));
  EXPECT_TRUE(*store_->PackageReferenced(std::string(64, 'a')));
  ASSERT_TRUE(store_->DeleteFunction("fn-1"));
  EXPECT_FALSE(*store_->PackageReferenced(std::string(64, 'a')));
  EXPECT_EQ(store_->GetFunction("fn-1").error().code, ErrorCode::kNotFound);
  EXPECT_TRUE(Items(store_->ListDeployments("fn-1", kAllRows))->empty());
  EXPECT_EQ(store_->GetInvocation("fn-1", "inv-1").error().code, ErrorCode::kNotFound);
  EXPECT_EQ(store_->DeleteFunction("fn-1").error().code, ErrorCode::kNotFound);
}

// Issue 18: what placement learnt is stored per (function, runtime) and read back whole.
TEST_F(FunctionStoreTest, PlacementStatisticsAreReplacedPerFunctionAndReadBack) {
  ASSERT_TRUE(store_->AddVersion("prj-1", "double", "fn-1", Version("1", 'a')));
  placement::FunctionState state{"fn-1", 7, {}};
  placement::RuntimeState board{"board:brd-1", {}, Clock::TimePoint(std::chrono::milliseconds(1'700'000'000'123))};
  board.stats = {5, 2, 1, 42.5, 12.25, {{3, placement::Millis(40)}, {6, placement::Millis(45.5)}}};
  placement::RuntimeState cloud{"cloud", {}, std::nullopt};
  cloud.stats.failures = 1;
  state.runtimes = {board, cloud};
  // A function deleted after it was measured is skipped, not an error.
  ASSERT_TRUE(store_->PutPlacementStats({state, {"fn-gone", 3, {cloud}}}));
  auto loaded = store_->LoadPlacementStats();
  ASSERT_TRUE(loaded) << loaded.error().message;
  ASSERT_EQ(loaded->size(), 1u);
  const auto& back = loaded->at(0);
  EXPECT_EQ(back.function_id, "fn-1");
  EXPECT_EQ(back.plays, 7u);
  ASSERT_EQ(back.runtimes.size(), 2u);
  EXPECT_EQ(back.runtimes[0].runtime, "board:brd-1");
  EXPECT_EQ(back.runtimes[0].stats.successes, 5u);
  EXPECT_EQ(back.runtimes[0].stats.failures_in_a_row, 1u);
  EXPECT_DOUBLE_EQ(back.runtimes[0].stats.mean_ms, 42.5);
  EXPECT_DOUBLE_EQ(back.runtimes[0].stats.m2, 12.25);
  ASSERT_EQ(back.runtimes[0].stats.recent.size(), 2u);
  EXPECT_EQ(back.runtimes[0].stats.recent[1].play, 6u);
  EXPECT_DOUBLE_EQ(back.runtimes[0].stats.recent[1].duration.count(), 45.5);
  EXPECT_EQ(back.runtimes[0].last_at, board.last_at);
  EXPECT_FALSE(back.runtimes[1].last_at);
  // A later batch replaces the function's rows (a runtime it no longer has goes).
  state.plays = 9;
  state.runtimes = {cloud};
  ASSERT_TRUE(store_->PutPlacementStats({state}));
  loaded = store_->LoadPlacementStats();
  ASSERT_EQ(loaded->at(0).runtimes.size(), 1u);
  EXPECT_EQ(loaded->at(0).plays, 9u);
  // Deleting the function takes them.
  ASSERT_TRUE(store_->DeleteFunction("fn-1"));
  EXPECT_TRUE(store_->LoadPlacementStats()->empty());
}

TEST_F(FunctionStoreTest, OnlyTheCurrentPackageMovesADeploymentsState) {
  const std::string old_sha(64, 'a');
  const std::string new_sha(64, 'b');
  ASSERT_TRUE(store_->PutDeployment({"fn-1", "brd-1", "1", old_sha, 10, DeploymentState::kDeploying, "", 1}));
  // A newer deploy replaces it while the old one is still under way on the board...
  ASSERT_TRUE(store_->PutDeployment({"fn-1", "brd-1", "2", new_sha, 10, DeploymentState::kDeploying, "", 2}));
  // ... so the old one's answer must not mark the board as running the new version.
  EXPECT_FALSE(*store_->SetDeploymentState("fn-1", "brd-1", old_sha, DeploymentState::kDeployed, "", 3));
  EXPECT_EQ((*store_->GetDeployment("fn-1", "brd-1"))->state, DeploymentState::kDeploying);
  EXPECT_TRUE(*store_->SetDeploymentState("fn-1", "brd-1", new_sha, DeploymentState::kFailed, "disk full", 4));
  auto d = *store_->GetDeployment("fn-1", "brd-1");
  EXPECT_EQ(d->state, DeploymentState::kFailed);
  EXPECT_EQ(d->error, "disk full");
  EXPECT_EQ(d->version, "2");
  EXPECT_TRUE(*store_->PackageDeployedTo(new_sha, "brd-1"));
  EXPECT_FALSE(*store_->PackageDeployedTo(old_sha, "brd-1"));
  EXPECT_FALSE(*store_->PackageDeployedTo(new_sha, "brd-2"));
  EXPECT_EQ(store_->BoardDeployments("brd-1")->size(), 1u);
  ASSERT_TRUE(store_->DeleteDeployment("fn-1", "brd-1"));
  EXPECT_FALSE(store_->GetDeployment("fn-1", "brd-1")->has_value());
  EXPECT_EQ(store_->DeleteDeployment("fn-1", "brd-1").error().code, ErrorCode::kNotFound);
}

TEST_F(FunctionStoreTest, InvocationsAreReplacedByIdAndTrimmedToTheNewest) {
  for (int i = 0; i < 5; ++i) {
    ASSERT_TRUE(store_->PutInvocation(
        {"inv-" + std::to_string(i), "fn-1", "cloud", InvocationStatus::kRunning, {{"status", "running"}}, 100 + i}, 3));
  }
  auto list = Items(store_->ListInvocations("fn-1", {10, ""}));
  ASSERT_TRUE(list);
  ASSERT_EQ(list->size(), 3u);
  EXPECT_EQ((*list)[0].id, "inv-4");
  EXPECT_EQ((*list)[2].id, "inv-2");
  EXPECT_EQ(store_->GetInvocation("fn-1", "inv-0").error().code, ErrorCode::kNotFound);
  // An asynchronous invocation's record is replaced when it ends.
  ASSERT_TRUE(store_->PutInvocation({"inv-4", "fn-1", "cloud", InvocationStatus::kSucceeded, {{"status", "succeeded"}}, 104}, 3));
  auto done = store_->GetInvocation("fn-1", "inv-4");
  ASSERT_TRUE(done);
  EXPECT_EQ(done->status, InvocationStatus::kSucceeded);
  EXPECT_EQ(done->record["status"], "succeeded");
  EXPECT_EQ(Items(store_->ListInvocations("fn-1", {10, ""}))->size(), 3u);
}

// The trim runs every PutsPerTrim(keep) Puts (its cost grows with keep): the newest `keep` are
// always there, and never more than keep + PutsPerTrim(keep) - 1 records.
TEST_F(FunctionStoreTest, InvocationsAreTrimmedInBatches) {
  const size_t keep = 64;
  const size_t batch = FunctionStore::PutsPerTrim(keep);
  ASSERT_EQ(batch, 4u);
  EXPECT_EQ(FunctionStore::PutsPerTrim(3), 1u);
  EXPECT_EQ(FunctionStore::PutsPerTrim(1000), 62u);
  size_t most = 0;
  for (int i = 0; i < 200; ++i) {
    ASSERT_TRUE(store_->PutInvocation(
        {"inv-" + std::to_string(1000 + i), "fn-1", "cloud", InvocationStatus::kSucceeded, {{"status", "succeeded"}}, 100 + i},
        keep));
    auto list = Items(store_->ListInvocations("fn-1", {500, ""}));
    ASSERT_TRUE(list);
    const size_t expected_min = std::min<size_t>(i + 1, keep);
    ASSERT_GE(list->size(), expected_min);
    ASSERT_LE(list->size(), keep + batch - 1);
    most = std::max(most, list->size());
    EXPECT_EQ(list->front().id, "inv-" + std::to_string(1000 + i));
    // The newest `keep` are all there.
    for (size_t k = 0; k < expected_min; ++k) EXPECT_EQ((*list)[k].id, "inv-" + std::to_string(1000 + i - k));
  }
  EXPECT_EQ(most, keep + batch - 1) << "trimmed in batches, not on every Put";
}

// The counts live in the process: a store opened anew trims each function on its first Put,
// whatever the last run left.
TEST(FunctionStoreFileTest, TheFirstPutAfterAReopenTrimsWhatTheLastRunLeft) {
  char dir_template[] = "/tmp/ew-fn-store-XXXXXX";
  ASSERT_NE(mkdtemp(dir_template), nullptr);
  const std::string dir = dir_template;
  const std::string path = dir + "/store.db";
  {
    auto registry = registry::OpenSqliteStore(path);  // creates and migrates the file
    ASSERT_TRUE(registry) << registry.error().message;
    edgewire::v1::Project project;
    project.set_id("prj-1");
    project.set_name("alpha");
    ASSERT_TRUE((*registry)->CreateProject(project));  // the function's project (foreign key)
  }
  auto put = [](FunctionStore& store, int i, size_t keep) {
    return store.PutInvocation(
        {"inv-" + std::to_string(i), "fn-1", "cloud", InvocationStatus::kSucceeded, {{"status", "succeeded"}}, 100 + i}, keep);
  };
  {
    auto first = FunctionStore::Open(path);
    ASSERT_TRUE(first) << first.error().message;
    ASSERT_TRUE((*first)->AddVersion("prj-1", "double", "fn-1", TestVersion("1.0.0", 'a')));
    for (int i = 0; i < 20; ++i) ASSERT_TRUE(put(**first, i, 1000));
  }
  auto second = FunctionStore::Open(path);
  ASSERT_TRUE(second) << second.error().message;
  ASSERT_TRUE(put(**second, 20, 5));
  auto list = Items((*second)->ListInvocations("fn-1", {500, ""}));
  ASSERT_TRUE(list);
  ASSERT_EQ(list->size(), 5u);
  EXPECT_EQ(list->front().id, "inv-20");
  EXPECT_EQ(list->back().id, "inv-16");
  second->reset();
  std::filesystem::remove_all(dir);
}

// Issue 14: an asynchronous invocation in flight when the conductor was killed stayed
// "running" forever.
TEST_F(FunctionStoreTest, InvocationsLeftRunningAreFailedWithTheReasonAndOthersKept) {
  ASSERT_TRUE(store_->PutInvocation({"inv-1", "fn-1", "brd-1", InvocationStatus::kRunning,
                                     {{"status", "running"}, {"boardId", "brd-1"}}, 100}, 10));
  ASSERT_TRUE(store_->PutInvocation({"inv-2", "fn-1", "cloud", InvocationStatus::kSucceeded,
                                     {{"status", "succeeded"}, {"output", 3}}, 101}, 10));
  ASSERT_TRUE(store_->PutInvocation({"inv-3", "fn-1", "cloud", InvocationStatus::kRunning, {{"status", "running"}}, 102}, 10));
  auto failed = store_->FailRunningInvocations("conductor restarted");
  ASSERT_TRUE(failed) << failed.error().message;
  EXPECT_EQ(*failed, 2u);
  for (const char* id : {"inv-1", "inv-3"}) {
    auto record = store_->GetInvocation("fn-1", id);
    ASSERT_TRUE(record);
    EXPECT_EQ(record->status, InvocationStatus::kFailed);
    EXPECT_EQ(record->record["status"], "failed");
    EXPECT_EQ(record->record["error"], "conductor restarted");
  }
  EXPECT_EQ(store_->GetInvocation("fn-1", "inv-1")->record["boardId"], "brd-1");
  auto kept = store_->GetInvocation("fn-1", "inv-2");
  EXPECT_EQ(kept->status, InvocationStatus::kSucceeded);
  EXPECT_EQ(kept->record["output"], 3);
  EXPECT_FALSE(kept->record.contains("error"));
  EXPECT_EQ(*store_->FailRunningInvocations("again"), 0u);
}

TEST_F(FunctionStoreTest, InvocationPagesAreSummariesNewestFirst) {
  const std::string big(100'000, 'o');
  for (int i = 0; i < 7; ++i) {
    nlohmann::json record = {{"status", "succeeded"}, {"output", {{"text", big}}}, {"logs", big},
                             {"runMs", 1.5},          {"outputBytes", big.size() + 11},
                             {"error", big},          {"junk", big},
                             {"trigger", {{"line", "GPIO4"}, {"edge", "rising"}}}};
    // Two per second: the cursor must tell invocations of the same second apart.
    ASSERT_TRUE(store_->PutInvocation({"inv-" + std::to_string(i), "fn-1", "cloud", InvocationStatus::kSucceeded, record, 100 + i / 2},
                                      100));
  }
  std::vector<std::string> ids;
  PageRequest page{3, ""};
  int pages = 0;
  do {
    auto listed = store_->ListInvocations("fn-1", page);
    ASSERT_TRUE(listed) << listed.error().message;
    ASSERT_LE(listed->items.size(), 3u);
    for (const auto& i : listed->items) {
      ids.push_back(i.id);
      EXPECT_FALSE(i.record.contains("output")) << "a list never carries outputs";
      EXPECT_FALSE(i.record.contains("logs"));
      EXPECT_EQ(i.record["runMs"], 1.5);
      EXPECT_EQ(i.record["outputBytes"], big.size() + 11);
      EXPECT_EQ(i.status, InvocationStatus::kSucceeded);
      EXPECT_FALSE(i.record.contains("junk")) << "only the summary's fields";
      EXPECT_EQ(i.record["error"].get<std::string>().size(), kMaxSummaryText);
      EXPECT_EQ(i.record["trigger"]["line"], "GPIO4");
    }
    page.cursor = listed->next_cursor;
    ++pages;
  } while (!page.cursor.empty() && pages < 10);
  EXPECT_EQ(pages, 3);
  EXPECT_EQ(ids, (std::vector<std::string>{"inv-6", "inv-5", "inv-4", "inv-3", "inv-2", "inv-1", "inv-0"}));
  // One invocation is still whole.
  auto one = store_->GetInvocation("fn-1", "inv-3");
  ASSERT_TRUE(one);
  EXPECT_EQ(one->record["logs"], big);
  EXPECT_EQ(store_->ListInvocations("fn-1", {3, "garbage"}).error().code, ErrorCode::kInvalidArgument);
  EXPECT_EQ(store_->ListInvocations("fn-1", {3, registry::EncodeCursor({"x", "1"})}).error().code,
            ErrorCode::kInvalidArgument);
  EXPECT_EQ(store_->ListInvocations("fn-1", {0, ""}).error().code, ErrorCode::kInvalidArgument);
}

TEST_F(FunctionStoreTest, FunctionsAndDeploymentsArePaged) {  // fleets: registry's sqlite_store_test
  for (int i = 0; i < 5; ++i) {
    const std::string n = std::to_string(i);
    ASSERT_TRUE(store_->AddVersion(i < 3 ? "prj-1" : "prj-2", "fn" + n, "fn-" + n, Version("1", 'a' + i)));
    ASSERT_TRUE(store_->PutDeployment({"fn-0", "brd-" + n, "1", std::string(64, 'a'), 1, DeploymentState::kDeployed, "", 100}));
  }
  auto functions = store_->ListFunctions("", {2, ""});
  ASSERT_TRUE(functions);
  ASSERT_EQ(functions->items.size(), 2u);
  EXPECT_EQ(functions->items[1].name, "fn1");
  auto next = store_->ListFunctions("", {2, functions->next_cursor});
  ASSERT_TRUE(next);
  ASSERT_EQ(next->items.size(), 2u);
  EXPECT_EQ(next->items[0].name, "fn2");
  auto last = store_->ListFunctions("", {2, next->next_cursor});
  ASSERT_TRUE(last);
  ASSERT_EQ(last->items.size(), 1u);
  EXPECT_TRUE(last->next_cursor.empty());
  auto own = store_->ListFunctions("prj-1", {3, ""});
  ASSERT_TRUE(own);
  EXPECT_EQ(own->items.size(), 3u);
  EXPECT_TRUE(own->next_cursor.empty());

  auto deployments = store_->ListDeployments("fn-0", {3, ""});
  ASSERT_TRUE(deployments);
  ASSERT_EQ(deployments->items.size(), 3u);
  auto rest = store_->ListDeployments("fn-0", {3, deployments->next_cursor});
  ASSERT_TRUE(rest);
  ASSERT_EQ(rest->items.size(), 2u);
  EXPECT_EQ(rest->items[1].board_id, "brd-4");
  EXPECT_TRUE(rest->next_cursor.empty());
  EXPECT_EQ(store_->ListDeployments("fn-0")->size(), 5u) << "the service still sees every deployment";
}

TEST(StoredRecordTest, OutputAndLogsAreCappedWithTheirSizesKept) {
  StoredRecordLimits limits;
  limits.max_output_bytes = 100;
  limits.max_logs_bytes = 10;
  nlohmann::json small = {{"status", "succeeded"}, {"output", {{"n", 1}}}, {"logs", "ok"}};
  CapStoredRecord(small, limits);
  EXPECT_EQ(small["output"], (nlohmann::json{{"n", 1}}));
  EXPECT_EQ(small["outputBytes"], 7);
  EXPECT_EQ(small["logsBytes"], 2);
  EXPECT_FALSE(small.contains("truncated"));

  nlohmann::json big = {{"status", "failed"},
                        {"output", {{"text", std::string(200, 'x')}}},
                        {"logs", "caf\xc3\xa9 caf\xc3\xa9 caf\xc3\xa9"},
                        {"error", std::string(50, 'e')}};
  CapStoredRecord(big, limits);
  EXPECT_TRUE(big["output"].is_null());
  EXPECT_EQ(big["outputBytes"], 211);
  EXPECT_EQ(big["logsBytes"], 17);
  EXPECT_EQ(big["logs"], "caf\xc3\xa9 caf") << "cut before a UTF-8 sequence, not inside it";
  EXPECT_EQ(big["error"], std::string(10, 'e'));
  EXPECT_EQ(big["truncated"], true);
  // Capping again keeps the sizes the function produced.
  CapStoredRecord(big, limits);
  EXPECT_EQ(big["outputBytes"], 211);
  EXPECT_EQ(big["logsBytes"], 17);
  EXPECT_EQ(big["truncated"], true);
}

}  // namespace
}  // namespace ew::functions
