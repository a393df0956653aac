#include "containers/gpio/gpio_sandbox.hpp"

#include <algorithm>
#include <system_error>

#include "containers/runtime/sandbox_layout.hpp"

namespace ew::containers {

std::filesystem::path DefaultGpioClientsDir() { return EW_GPIO_CLIENTS_DIR; }

Result<void> AddGpioToContainer(ContainerSpec& spec, const GpioBroker& broker, const std::filesystem::path& clients_dir) {
  std::error_code ec;
  if (!std::filesystem::is_directory(clients_dir, ec)) {
    return Unavailable("gpio: the GPIO clients are missing: " + clients_dir.string() + " is not a directory");
  }
  // Read-only still lets the function connect (a socket is not written through its mount).
  spec.extra_mounts.push_back({broker.socket_dir(), kGpioSocketMount, true, /*has_sockets=*/true});
  spec.extra_mounts.push_back({std::filesystem::absolute(clients_dir, ec), kGpioClientsMount, true});
  const std::string path_prefix = "PATH=";
  auto path = std::find_if(spec.env.begin(), spec.env.end(),
                           [&](const std::string& e) { return e.rfind(path_prefix, 0) == 0; });
  const std::string bin = std::string(kGpioClientsMount) + "/bin";
  if (path == spec.env.end()) {
    spec.env.push_back(path_prefix + bin + ":" + sandbox::kDefaultPath);
  } else {
    *path = path_prefix + bin + ":" + path->substr(path_prefix.size());
  }
  spec.env.push_back(std::string(kGpioSocketEnv) + "=" + kGpioSocketPath);
  spec.env.push_back("PYTHONPATH=" + std::string(kGpioClientsMount) + "/python");
  return Ok();
}

}  // namespace ew::containers
