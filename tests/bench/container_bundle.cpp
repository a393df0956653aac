// Writes the OCI bundle Edgewire would give one cold invocation of a sh function, so that the
// functions benchmark can time the bare runtime (`runc run --bundle B ID`) on exactly the bundle
// Edgewire runs. Prints the bundle directory.
//
//   ew_bench_container_bundle --work-dir DIR --code CODE_DIR --id ID [--entrypoint main.sh]
#include <iostream>

#include <CLI/CLI.hpp>

#include "containers/runtime/bundle_builder.hpp"

int main(int argc, char** argv) {
  CLI::App app{"Writes the OCI bundle of one cold sh invocation"};
  std::string work_dir, code, id, entrypoint = "main.sh";
  uint64_t memory_mb = 64;
  app.add_option("--work-dir", work_dir, "bundles and the read-only root skeleton go here")->required();
  app.add_option("--code", code, "the function's extracted package (mounted at /fn)")->required();
  app.add_option("--id", id, "container id")->required();
  app.add_option("--entrypoint", entrypoint, "sh script inside the package");
  app.add_option("--memory-mb", memory_mb, "memory limit");
  CLI11_PARSE(app, argc, argv);

  ew::containers::BundleBuilder builder(work_dir, 65534, 65534);
  if (auto ok = builder.Prepare(); !ok) {
    std::cerr << ok.error().message << "\n";
    return 1;
  }
  ew::containers::ContainerSpec spec;
  spec.id = id;
  spec.code_dir = code;
  spec.argv = {"/bin/sh", "/fn/" + entrypoint};
  spec.env = {"EW_FUNCTION=bench", "EW_VERSION=1", "EW_MODE=cold"};
  spec.memory_bytes = memory_mb << 20;
  auto bundle = builder.Build(spec, /*with_resources=*/true);
  if (!bundle) {
    std::cerr << bundle.error().message << "\n";
    return 1;
  }
  std::cout << bundle->string() << "\n";
  return 0;
}
