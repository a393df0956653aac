// The board's half of agent updates over the air (issue 16, docs/ARCHITECTURE.md "Agent
// updates"). The agent runs unprivileged, so it never installs anything itself: sys.update
// fetches the package over the board's own session (ew.conductor.update.fetch), checks its
// sha256, stages it and its signature in [update] dir with a request file, and the root-owned helper
// (deploy/scripts/edgewire-agent-update, started by edgewire-agent-update.path) installs it,
// restarts the agent and waits for the health marker the new agent writes once it has joined;
// without the marker by the deadline the helper reinstalls the previous package. The helper's
// status file tells the next agent to start how it went, and the agent reports that to the
// conductor (ew.conductor.update.report). The helper installs only a package signed by a key
// the board trusts (/etc/edgewire/update-keys); it checks the signature itself, as root, so a
// sys.update without one is refused here at once rather than staged for a certain refusal. A
// refusal by the helper (bad signature, no key) is a status this agent watches for after staging
// and reports, as nothing restarts the agent then.
//
// Files in [update] dir (owned by the agent's user; the helper runs as root):
//   <id>.deb   the staged package (agent)        request  key=value lines for the helper (agent):
//                                                         id, sha256, size, version, deadline
//   <id>.sig   its Ed25519 signature (agent)      healthy  the update id, once joined (agent)
//   status     key=value lines (helper)
#pragma once

#include <chrono>
#include <filesystem>
#include <map>
#include <memory>
#include <optional>
#include <string>

#include <boost/asio/io_context.hpp>
#include <boost/asio/steady_timer.hpp>

#include "common/contract/update.hpp"
#include "device-agent/rpc/conductor_client.hpp"
#include "device-agent/rpc/procedure.hpp"
#include "device-agent/session/session_observer.hpp"

namespace ew::agent::update {

struct AgentUpdaterOptions {
  std::filesystem::path dir;                        // [update] dir
  std::string agent_version;                        // this binary's
  size_t chunk_bytes = 256u << 10;                  // per ew.conductor.update.fetch call (its maximum)
  std::chrono::milliseconds chunk_timeout{30'000};  // per chunk
  std::chrono::milliseconds report_timeout{10'000};
  // After staging, the helper's status is read this often for a refusal of this update (the
  // helper starts within a second of the request, via edgewire-agent-update.path)...
  std::chrono::milliseconds helper_poll{1'000};
  // ...until it installs (the agent is restarted) or this long has passed.
  std::chrono::milliseconds helper_watch{120'000};
};

// The helper's status file, parsed. Bounded: a file over 4 KiB or a line that is not key=value
// is InvalidArgument.
struct HelperStatus {
  std::string id;
  std::string state;    // installing, awaiting, online, rolled-back, failed
  std::string version;  // the installed package's version
  std::string message;
};
Result<std::map<std::string, std::string>> ReadKeyValueFile(const std::filesystem::path& path);

class AgentUpdater : public session::SessionObserver {
 public:
  AgentUpdater(boost::asio::io_context& io, AgentUpdaterOptions options);
  ~AgentUpdater() override { alive_.reset(); }

  // Creates [update] dir (sys.update does, first); Internal when it cannot.
  Result<void> Prepare();
  // sys.update. Io thread.
  rpc::ProcedureTable Procedures();
  // The session that reaches the conductor; must outlive this. Io thread.
  void SetConductor(rpc::ConductorClient* conductor) { conductor_ = conductor; }
  // Once joined: writes the health marker when the helper waits for this agent, and reports the
  // helper's outcome to the conductor. Io thread.
  void OnReady(const std::string& url, uint64_t session_id) override;

  // The installed package's version per the helper's status; "" when unknown. Any thread.
  std::string PackageVersion() const;
  // The helper's status, nullopt when there is none (never updated) or it does not parse.
  std::optional<HelperStatus> ReadStatus() const;

  // sys.update's body, for tests: answers at once (fetching) and goes on in the background.
  void Update(const rpc::Request& request, rpc::Responder respond);

 private:
  void FetchChunk(contract::update::UpdateRequest request, std::shared_ptr<std::string> buffer);
  void Stage(contract::update::UpdateRequest request, std::shared_ptr<std::string> buffer);
  void Report(const std::string& update_id, contract::update::UpdateState state, const std::string& message,
              const std::string& package_version = "");
  void Fail(const std::string& update_id, const std::string& message);
  // Reads the helper's status for `update_id` every helper_poll until `left` runs out; reports
  // a refusal (state failed).
  void WatchHelper(const std::string& update_id, std::chrono::milliseconds left);

  boost::asio::io_context& io_;
  AgentUpdaterOptions options_;
  rpc::ConductorClient* conductor_ = nullptr;
  std::string in_flight_;  // the update being fetched or staged (io thread)
  boost::asio::steady_timer helper_timer_{io_};
  std::shared_ptr<bool> alive_ = std::make_shared<bool>(true);
};

}  // namespace ew::agent::update
