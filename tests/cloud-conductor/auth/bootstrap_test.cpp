#include "cloud-conductor/auth/bootstrap.hpp"

#include <sys/stat.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <regex>
#include <sstream>

#include <gtest/gtest.h>

#include "cloud-conductor/auth/authenticator.hpp"

namespace ew::auth {
namespace {

// Every row of a paged list (the tests hold fewer than a page).
const registry::PageRequest kAllRows{registry::kMaxPageLimit, ""};
template <typename T>
Result<std::vector<T>> Items(Result<registry::Page<T>> page) {
  if (!page) return tl::unexpected(page.error());
  return std::move(page->items);
}

namespace fs = std::filesystem;

class BootstrapTest : public ::testing::Test {
 protected:
  BootstrapTest() {
    auto store = registry::OpenSqliteStore(":memory:");
    if (!store) throw std::runtime_error(store.error().message);
    store_ = std::move(*store);
    config_.store_path = ":memory:";
    dir_ = fs::temp_directory_path() / ("ew-bootstrap-" + std::to_string(::getpid()) + "-" +
                                        ::testing::UnitTest::GetInstance()->current_test_info()->name());
    fs::remove_all(dir_);
    fs::create_directories(dir_);
  }
  ~BootstrapTest() override { fs::remove_all(dir_); }

  // The password, read from the file the announcement names; "" when it names none.
  static std::string AnnouncedPassword(const std::string& text) {
    std::smatch match;
    if (!std::regex_search(text, match, std::regex("password: in (\\S+) \\(mode 0600\\)"))) return "";
    std::ifstream in(match[1].str());
    std::string line;
    std::getline(in, line);
    ::unlink(match[1].str().c_str());
    return line;
  }

  ManualClock clock_;
  std::unique_ptr<registry::Store> store_;
  config::ConductorConfig config_;
  fs::path dir_;
};

TEST_F(BootstrapTest, GeneratedPasswordGoesToAFileNeverToTheOutput) {
  std::ostringstream out;
  ASSERT_TRUE(BootstrapAdmin(*store_, clock_, config_, out));
  const std::string password = AnnouncedPassword(out.str());
  EXPECT_EQ(out.str().find(password), std::string::npos) << "the password itself is never printed";
  ASSERT_GE(password.size(), 20u) << out.str();
  EXPECT_NE(out.str().find("+---"), std::string::npos);

  Authenticator auth(*store_, clock_, std::chrono::hours(1));
  auto issued = auth.IssueToken("admin", password, std::chrono::seconds(0));
  ASSERT_TRUE(issued) << issued.error().message;
  EXPECT_EQ(issued->user.role(), "admin");
  auto project = store_->GetProject(issued->user.project_id());
  ASSERT_TRUE(project);
  EXPECT_EQ(project->name(), "default");

  // A second start finds a user and does nothing.
  std::ostringstream again;
  ASSERT_TRUE(BootstrapAdmin(*store_, clock_, config_, again));
  EXPECT_EQ(again.str(), "");
  EXPECT_EQ(*store_->CountUsers(), 1);
  EXPECT_EQ(Items(store_->ListProjects(kAllRows))->size(), 1u);
}

TEST_F(BootstrapTest, TwoConductorsNeverShareAPassword) {
  auto other = std::move(*registry::OpenSqliteStore(":memory:"));
  std::ostringstream first, second;
  ASSERT_TRUE(BootstrapAdmin(*store_, clock_, config_, first));
  const std::string first_password = AnnouncedPassword(first.str());
  ASSERT_TRUE(BootstrapAdmin(*other, clock_, config_, second));
  const std::string second_password = AnnouncedPassword(second.str());
  ASSERT_FALSE(first_password.empty());
  EXPECT_NE(first_password, second_password);
}

TEST_F(BootstrapTest, GeneratedPasswordIsSavedBesideTheStore) {
  config_.store_path = (dir_ / "edgewire.db").string();
  std::ostringstream out;
  ASSERT_TRUE(BootstrapAdmin(*store_, clock_, config_, out));
  const fs::path saved = dir_ / "admin-password";
  EXPECT_EQ(AdminPasswordPath(config_.store_path), saved.string());
  ASSERT_TRUE(fs::exists(saved));
  struct stat st {};
  ASSERT_EQ(::stat(saved.c_str(), &st), 0);
  EXPECT_EQ(st.st_mode & 0777, 0600);
  std::ifstream in(saved);
  std::string line;
  std::getline(in, line);
  EXPECT_GE(line.size(), 20u);
  EXPECT_NE(out.str().find(saved.string()), std::string::npos);
  EXPECT_EQ(out.str().find(line), std::string::npos);
}

TEST_F(BootstrapTest, ARelativeStorePathGivesAnAbsolutePasswordPath) {
  EXPECT_EQ(AdminPasswordPath("edgewire.db"), (fs::current_path() / "admin-password").string());
}

TEST_F(BootstrapTest, InMemoryStoreWritesToTheTempDirectory) {
  const std::string path = AdminPasswordPath(":memory:");
  EXPECT_EQ(fs::path(path).parent_path(), fs::temp_directory_path());
  EXPECT_NE(path.find(std::to_string(::getpid())), std::string::npos);
}

TEST_F(BootstrapTest, ExistingDefaultProjectIsReused) {
  edgewire::v1::Project project;
  project.set_id("prj-existing");
  project.set_name("default");
  ASSERT_TRUE(store_->CreateProject(project));
  std::ostringstream out;
  ASSERT_TRUE(BootstrapAdmin(*store_, clock_, config_, out));
  auto admin = store_->GetUserByName("admin");
  ASSERT_TRUE(admin);
  EXPECT_EQ(admin->project_id(), "prj-existing");
}

TEST_F(BootstrapTest, PasswordFromFileIsTrimmedAndNotPrinted) {
  const fs::path file = dir_ / "bootstrap";
  std::ofstream(file) << "  s3cret-from-file \n";
  config_.bootstrap_password_file = file.string();
  config_.store_path = (dir_ / "edgewire.db").string();
  std::ostringstream out;
  ASSERT_TRUE(BootstrapAdmin(*store_, clock_, config_, out));
  EXPECT_EQ(out.str().find("s3cret-from-file"), std::string::npos);
  EXPECT_FALSE(fs::exists(dir_ / "admin-password"));
  Authenticator auth(*store_, clock_, std::chrono::hours(1));
  EXPECT_TRUE(auth.IssueToken("admin", "s3cret-from-file", std::chrono::seconds(0)));
}

TEST_F(BootstrapTest, BadPasswordFileIsAnErrorAndCreatesNothing) {
  config_.bootstrap_password_file = (dir_ / "missing").string();
  std::ostringstream out;
  auto missing = BootstrapAdmin(*store_, clock_, config_, out);
  ASSERT_FALSE(missing);
  EXPECT_EQ(missing.error().code, ErrorCode::kInvalidArgument);

  std::ofstream(dir_ / "empty") << " \n";
  config_.bootstrap_password_file = (dir_ / "empty").string();
  auto empty = BootstrapAdmin(*store_, clock_, config_, out);
  ASSERT_FALSE(empty);
  EXPECT_NE(empty.error().message.find("empty"), std::string::npos);

  EXPECT_EQ(*store_->CountUsers(), 0);
  EXPECT_TRUE(Items(store_->ListProjects(kAllRows))->empty());
}

}  // namespace
}  // namespace ew::auth
