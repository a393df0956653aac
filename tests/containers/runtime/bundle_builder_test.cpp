#include "containers/runtime/bundle_builder.hpp"

#include <unistd.h>

#include <fstream>

#include <gtest/gtest.h>

#include "containers/runtime/sandbox_layout.hpp"
#include "containers/runtime/seccomp_policy.hpp"
#include "tests/containers/runtime/runtime_test_util.hpp"

namespace ew::containers {
namespace {

namespace fs = std::filesystem;
using nlohmann::json;

ContainerSpec Spec() {
  ContainerSpec spec;
  spec.id = "fn-1";
  spec.code_dir = "/srv/code";
  spec.argv = {"/bin/sh", "/fn/main.sh"};
  spec.env = {"EW_FUNCTION=hello"};
  spec.memory_bytes = 32ull << 20;
  spec.pids_limit = 16;
  spec.cpus = 0.5;
  return spec;
}

const json* FindMount(const json& config, const std::string& destination) {
  for (const auto& m : config["mounts"]) {
    if (m["destination"] == destination) return &m;
  }
  return nullptr;
}

bool HasNamespace(const json& config, const std::string& type) {
  for (const auto& ns : config["linux"]["namespaces"]) {
    if (ns["type"] == type) return true;
  }
  return false;
}

TEST(BundleBuilderTest, ConfigDescribesTheSandbox) {
  testing::TempDir dir;
  BundleBuilder builder(dir / "work", 65534, 65534);
  auto config = builder.Config(Spec(), true);

  EXPECT_EQ(config["root"]["path"], (dir / "work" / "rootfs").string());
  EXPECT_EQ(config["root"]["readonly"], true);
  const auto& process = config["process"];
  EXPECT_EQ(process["args"], json({"/bin/sh", "/fn/main.sh"}));
  EXPECT_EQ(process["user"]["uid"], 65534);
  EXPECT_EQ(process["noNewPrivileges"], true);
  EXPECT_EQ(process["cwd"], "/tmp");
  EXPECT_TRUE(process["capabilities"]["bounding"].empty());
  EXPECT_TRUE(process["capabilities"]["effective"].empty());
  auto env = process["env"].get<std::vector<std::string>>();
  for (const char* want : {"HOME=/tmp", "LANG=C.UTF-8", "EW_FUNCTION=hello"}) {
    EXPECT_NE(std::find(env.begin(), env.end(), want), env.end()) << want;
  }
  json rlimits = process["rlimits"];
  EXPECT_NE(std::find(rlimits.begin(), rlimits.end(), json({{"type", "RLIMIT_NPROC"}, {"hard", 16}, {"soft", 16}})),
            rlimits.end()) << rlimits.dump();
  EXPECT_NE(std::find(rlimits.begin(), rlimits.end(), json({{"type", "RLIMIT_CORE"}, {"hard", 0}, {"soft", 0}})),
            rlimits.end());

  for (const char* ns : {"pid", "mount", "ipc", "uts", "network"}) EXPECT_TRUE(HasNamespace(config, ns)) << ns;
  auto* usr = FindMount(config, "/usr");
  ASSERT_NE(usr, nullptr);
  EXPECT_EQ((*usr)["source"], "/usr");
  EXPECT_NE(std::find((*usr)["options"].begin(), (*usr)["options"].end(), "ro"), (*usr)["options"].end());
  auto* code = FindMount(config, "/fn");
  ASSERT_NE(code, nullptr);
  EXPECT_EQ((*code)["source"], "/srv/code");
  auto* tmp = FindMount(config, "/tmp");
  ASSERT_NE(tmp, nullptr);
  EXPECT_NE(std::find((*tmp)["options"].begin(), (*tmp)["options"].end(), "size=" + std::to_string(32ull << 20)),
            (*tmp)["options"].end());
  EXPECT_NE(FindMount(config, "/proc"), nullptr);
  EXPECT_NE(FindMount(config, "/dev"), nullptr);
  EXPECT_EQ(FindMount(config, "/etc/resolv.conf"), nullptr);

  const auto& resources = config["linux"]["resources"];
  EXPECT_EQ(resources["memory"]["limit"], 32ull << 20);
  EXPECT_EQ(resources["pids"]["limit"], 16);
  EXPECT_EQ(resources["cpu"]["quota"], 50000);
  EXPECT_EQ(resources["cpu"]["period"], 100000);
  ASSERT_TRUE(resources["devices"].is_array());
  EXPECT_EQ(resources["devices"][0]["allow"], false);
  EXPECT_EQ(config["linux"]["seccomp"], seccomp::OciSection());
}

TEST(BundleBuilderTest, NetworkSharesTheHostNamespaceAndResolverFiles) {
  testing::TempDir dir;
  BundleBuilder builder(dir / "work", 65534, 65534);
  auto spec = Spec();
  spec.network = true;
  auto config = builder.Config(spec, true);
  EXPECT_FALSE(HasNamespace(config, "network"));
  for (const auto& file : sandbox::NetworkFiles()) EXPECT_NE(FindMount(config, file), nullptr) << file;
}

TEST(BundleBuilderTest, WithoutResourcesThereIsNoResourceSection) {
  testing::TempDir dir;
  BundleBuilder builder(dir / "work", 65534, 65534);
  auto config = builder.Config(Spec(), false);
  EXPECT_FALSE(config["linux"].contains("resources"));
  EXPECT_TRUE(config["linux"].contains("seccomp"));
  // Memory is then bounded per process.
  json rlimits = config["process"]["rlimits"];
  EXPECT_NE(std::find(rlimits.begin(), rlimits.end(),
                      json({{"type", "RLIMIT_DATA"}, {"hard", 32ull << 20}, {"soft", 32ull << 20}})),
            rlimits.end()) << rlimits.dump();
}

// Issue #11: the OOM killer takes functions first; a spec's uid is the process's; staged
// sources replace host paths in the bundle.
TEST(BundleBuilderTest, Issue11_OomScoreUidAndStagedSources) {
  if (geteuid() != 0) GTEST_SKIP() << "rootless bundles map uid 0";
  testing::TempDir dir;
  BundleBuilder builder(dir / "work", 65534, 65534);
  auto spec = Spec();
  spec.uid = 1000123;
  spec.extra_mounts.push_back({"/srv/clients", "/opt/edgewire", true});
  StagedSources staged;
  staged.root = "/b/stage/r";
  staged.overlays[spec.code_dir] = "/b/stage/o0";
  auto config = builder.Config(spec, true, &staged);
  EXPECT_EQ(config["process"]["oomScoreAdj"], 1000);
  EXPECT_EQ(config["process"]["user"]["uid"], 1000123);
  EXPECT_EQ(config["process"]["user"]["gid"], 1000123);
  EXPECT_EQ(config["root"]["path"], "/b/stage/r");
  ASSERT_NE(FindMount(config, "/fn"), nullptr);
  EXPECT_EQ((*FindMount(config, "/fn"))["source"], "/b/stage/o0");
  ASSERT_NE(FindMount(config, "/opt/edgewire"), nullptr);
  EXPECT_EQ((*FindMount(config, "/opt/edgewire"))["source"], "/srv/clients");  // not staged: as is
}

TEST(BundleBuilderTest, ExtraMountsAndTheirMountPoints) {
  testing::TempDir dir;
  BundleBuilder builder(dir / "work", 65534, 65534);
  ASSERT_TRUE(builder.Prepare());
  testing::WriteFile(dir / "gpio.sock", "");
  auto spec = Spec();
  spec.extra_mounts.push_back({dir / "gpio.sock", "/run/ew/gpio.sock", false});
  auto bundle = builder.Build(spec, true);
  ASSERT_TRUE(bundle) << bundle.error().message;
  EXPECT_TRUE(fs::is_regular_file(builder.skeleton() / "run/ew/gpio.sock"));
  std::ifstream in(*bundle / "config.json");
  auto config = json::parse(in);
  auto* gpio = FindMount(config, "/run/ew/gpio.sock");
  ASSERT_NE(gpio, nullptr);
  EXPECT_NE(std::find((*gpio)["options"].begin(), (*gpio)["options"].end(), "rw"), (*gpio)["options"].end());
  // The same id twice is a conflict; removal frees it.
  auto again = builder.Build(spec, true);
  ASSERT_FALSE(again);
  EXPECT_EQ(again.error().code, ErrorCode::kConflict);
  builder.Remove(*bundle);
  EXPECT_FALSE(fs::exists(*bundle));
}

TEST(BundleBuilderTest, PrepareMirrorsTheHostRoot) {
  testing::TempDir dir;
  BundleBuilder builder(dir / "work", 65534, 65534);
  ASSERT_TRUE(builder.Prepare());
  ASSERT_TRUE(builder.Prepare());  // idempotent
  EXPECT_EQ(fs::status(dir / "work").permissions() & fs::perms::all, fs::perms::owner_all);
  for (const char* d : {"usr", "fn", "tmp", "proc", "dev"}) EXPECT_TRUE(fs::is_directory(builder.skeleton() / d)) << d;
  for (const auto& entry : sandbox::HostRootEntries()) {
    auto path = builder.skeleton() / entry.name.substr(1);
    if (entry.link_target.empty()) {
      EXPECT_TRUE(fs::is_directory(fs::symlink_status(path)));
    } else {
      EXPECT_EQ(fs::read_symlink(path), fs::path(entry.link_target));
    }
  }
}

TEST(BundleBuilderTest, BadSpecsAreRejected) {
  testing::TempDir dir;
  BundleBuilder builder(dir / "work", 65534, 65534);
  ASSERT_TRUE(builder.Prepare());
  auto bad_id = Spec();
  bad_id.id = "../escape";
  EXPECT_EQ(builder.Build(bad_id, true).error().code, ErrorCode::kInvalidArgument);
  auto no_argv = Spec();
  no_argv.argv.clear();
  EXPECT_EQ(builder.Build(no_argv, true).error().code, ErrorCode::kInvalidArgument);
  for (const char* dest : {"relative", "/usr/x", "/fn", "/proc/x", "/a/../b", "/"}) {
    auto spec = Spec();
    spec.extra_mounts.push_back({"/dev/null", dest, true});
    EXPECT_FALSE(builder.Build(spec, true)) << dest;
  }
}

TEST(SeccompPolicyTest, DenyListCoversTheDangerousSyscalls) {
  auto section = seccomp::OciSection();
  EXPECT_EQ(section["defaultAction"], "SCMP_ACT_ALLOW");
  std::set<std::string> denied;
  for (const auto& rule : section["syscalls"]) {
    ASSERT_TRUE(rule["names"].is_array()) << rule.dump();
    if (rule.contains("args")) {
      ASSERT_TRUE(rule["args"].is_array()) << rule.dump();
      EXPECT_EQ(rule["args"][0]["op"], "SCMP_CMP_MASKED_EQ");
    }
    if (rule["action"] == "SCMP_ACT_ERRNO" && !rule.contains("args")) {
      for (const auto& name : rule["names"]) denied.insert(name.get<std::string>());
    }
  }
  for (const char* name : {"mount", "umount2", "ptrace", "bpf", "kexec_load", "init_module", "finit_module",
                           "delete_module", "add_key", "request_key", "keyctl", "unshare", "setns", "pivot_root",
                           "swapon", "swapoff", "reboot", "perf_event_open", "userfaultfd", "open_by_handle_at",
                           "io_uring_setup", "io_uring_enter", "io_uring_register"}) {
    EXPECT_TRUE(denied.count(name)) << name;
  }
  auto program = seccomp::BpfProgram();
  ASSERT_TRUE(program) << program.error().message;
  EXPECT_EQ(program->size() % 8, 0u);  // struct sock_filter is 8 bytes
  EXPECT_GT(program->size(), 8u * 20);
}

}  // namespace
}  // namespace ew::containers
