// Fetch, verify and stage on the agent's side; the install is the root helper's. Hashing and
// file writes run on a thread of their own, never on the io thread.
#include "device-agent/update/agent_updater.hpp"

#include <fstream>
#include <sstream>
#include <system_error>
#include <thread>

#include <boost/asio/post.hpp>

#include "common/ids/ids.hpp"
#include "common/log/log.hpp"
#include "common/posix/file_io.hpp"

namespace ew::agent::update {

namespace fs = std::filesystem;
namespace upd = contract::update;

namespace {

const ew::log::Logger Log{"update"};
constexpr uintmax_t kMaxStatusBytes = 4096;

// Writes `bytes` to `path` whole or not at all: the helper never sees half a file.
Result<void> WriteAtomically(const fs::path& path, const std::string& bytes) {
  return ew::posix::WriteFileAtomically(path, bytes, 0644);
}

}  // namespace

Result<std::map<std::string, std::string>> ReadKeyValueFile(const fs::path& path) {
  std::error_code ec;
  const uintmax_t size = fs::file_size(path, ec);
  if (ec) return NotFound(path.string() + ": " + ec.message());
  if (size > kMaxStatusBytes) return InvalidArgument(path.string() + " is larger than 4 KiB");
  std::ifstream in(path);
  std::map<std::string, std::string> out;
  std::string line;
  while (std::getline(in, line)) {
    if (line.empty()) continue;
    const size_t eq = line.find('=');
    if (eq == std::string::npos || eq == 0) return InvalidArgument(path.string() + ": a line is not key=value");
    out[line.substr(0, eq)] = line.substr(eq + 1);
  }
  return out;
}

AgentUpdater::AgentUpdater(boost::asio::io_context& io, AgentUpdaterOptions options)
    : io_(io), options_(std::move(options)) {}

Result<void> AgentUpdater::Prepare() {
  std::error_code ec;
  fs::create_directories(options_.dir, ec);
  if (ec) return Internal("cannot create the update directory " + options_.dir.string() + ": " + ec.message());
  return Ok();
}

rpc::ProcedureTable AgentUpdater::Procedures() {
  rpc::ProcedureTable table;
  table.push_back({upd::kUpdate.suffix, [this](const rpc::Request& request, rpc::Responder respond) {
                     Update(request, std::move(respond));
                   }});
  return table;
}

std::optional<HelperStatus> AgentUpdater::ReadStatus() const {
  auto values = ReadKeyValueFile(options_.dir / "status");
  if (!values) return std::nullopt;
  HelperStatus status;
  status.id = (*values)["id"];
  status.state = (*values)["state"];
  status.version = (*values)["version"];
  status.message = (*values)["message"];
  return status;
}

std::string AgentUpdater::PackageVersion() const {
  auto status = ReadStatus();
  return status ? status->version : "";
}

void AgentUpdater::Update(const rpc::Request& request, rpc::Responder respond) {
  auto parsed = upd::UpdateRequest::Parse(request);
  if (!parsed) return respond(tl::unexpected(parsed.error()));
  if (!in_flight_.empty()) return respond(Conflict("update " + in_flight_ + " is being fetched on this board"));
  std::error_code ec;
  if (fs::exists(options_.dir / "request", ec))
    return respond(Conflict("an update waits for the board's update helper (" + (options_.dir / "request").string() +
                            "): is edgewire-agent-update.path enabled?"));
  if (auto status = ReadStatus(); status && (status->state == "installing" || status->state == "awaiting"))
    return respond(Conflict("update " + status->id + " is being installed on this board"));
  if (!conductor_) return respond(Unavailable("not connected to the conductor"));
  if (parsed->signature.empty())
    return respond(InvalidArgument("sys.update carries no signature: this board installs only agent packages signed "
                                   "by a key it trusts (edgewire package sign)"));
  // Made on the first update, not at start-up: a board never updated has no such directory.
  if (auto prepared = Prepare(); !prepared) return respond(tl::unexpected(prepared.error()));
  in_flight_ = parsed->update_id;
  Log()->warn("sys.update {}: fetching edgewire-agent {} ({} bytes, sha256 {})", parsed->update_id, parsed->version,
              parsed->size, parsed->sha256.substr(0, 12));
  upd::UpdateReport reply;
  reply.update_id = parsed->update_id;
  reply.state = upd::UpdateState::kFetching;
  reply.agent_version = options_.agent_version;
  reply.package_version = PackageVersion();
  respond(reply.ToPayload());
  FetchChunk(std::move(*parsed), std::make_shared<std::string>());
}

void AgentUpdater::FetchChunk(upd::UpdateRequest request, std::shared_ptr<std::string> buffer) {
  const uint64_t offset = buffer->size();
  const uint64_t length = std::min<uint64_t>(options_.chunk_bytes, request.size - offset);
  if (!conductor_) return Fail(request.update_id, "the session to the conductor is gone");
  conductor_->Call(
      upd::kFetch.uri, upd::FetchRequest{request.update_id, offset, length}.ToPayload(), options_.chunk_timeout,
      [this, alive = std::weak_ptr<bool>(alive_), request, buffer, offset](Result<rpc::Reply> reply) mutable {
        if (alive.expired()) return;
        if (!reply) return Fail(request.update_id, "fetching the package: " + reply.error().message);
        auto chunk = contract::fn::FetchReply::Parse(*reply);
        if (!chunk) return Fail(request.update_id, "fetching the package: " + chunk.error().message);
        if (chunk->size != request.size) return Fail(request.update_id, "the package is not the size sys.update named");
        buffer->append(chunk->bytes.begin(), chunk->bytes.end());
        if (buffer->size() == offset || buffer->size() > request.size)
          return Fail(request.update_id, "chunk at offset " + std::to_string(offset) + " has a wrong length");
        if (buffer->size() < request.size) return FetchChunk(std::move(request), buffer);
        Stage(std::move(request), buffer);
      });
}

void AgentUpdater::Stage(upd::UpdateRequest request, std::shared_ptr<std::string> buffer) {
  // Hash and write off the io thread; the result comes back to it.
  std::thread([this, alive = std::weak_ptr<bool>(alive_), &io = io_, dir = options_.dir, request, buffer] {
    Result<void> staged = [&]() -> Result<void> {
      if (ids::Sha256Hex(*buffer) != request.sha256)
        return InvalidArgument("the package received does not have the sha256 sys.update named: not installed");
      // Packages of earlier updates go: only this one waits for the helper.
      std::error_code ec;
      for (const auto& entry : fs::directory_iterator(dir, ec)) {
        if (entry.path().extension() == ".deb" || entry.path().extension() == ".sig") fs::remove(entry.path(), ec);
      }
      // The helper checks the signature (not this unprivileged agent): staged as sent.
      EW_TRY_VOID(WriteAtomically(dir / (request.update_id + ".sig"), request.signature));
      EW_TRY_VOID(WriteAtomically(dir / (request.update_id + ".deb"), *buffer));
      std::ostringstream lines;
      lines << "id=" << request.update_id << "\nsha256=" << request.sha256 << "\nsize=" << request.size
            << "\nversion=" << request.version << "\ndeadline=" << request.deadline_seconds << "\n";
      return WriteAtomically(dir / "request", lines.str());
    }();
    boost::asio::post(io, [this, alive, request, staged] {
      if (alive.expired()) return;
      if (!staged) return Fail(request.update_id, staged.error().message);
      in_flight_.clear();
      Log()->warn("sys.update {}: package verified and staged for the update helper", request.update_id);
      Report(request.update_id, upd::UpdateState::kInstalling, "staged for the update helper");
      WatchHelper(request.update_id, options_.helper_watch);
    });
  }).detach();
}

void AgentUpdater::WatchHelper(const std::string& update_id, std::chrono::milliseconds left) {
  if (left.count() <= 0) return;
  helper_timer_.expires_after(options_.helper_poll);
  helper_timer_.async_wait([this, alive = std::weak_ptr<bool>(alive_), update_id, left](boost::system::error_code ec) {
    if (ec || alive.expired()) return;
    auto status = ReadStatus();
    if (!status || status->id != update_id) return WatchHelper(update_id, left - options_.helper_poll);
    // installing/awaiting: the helper took it and restarts this agent; the next one reports.
    if (status->state != "failed") return;
    Log()->error("sys.update {}: the update helper refused it: {}", update_id, status->message);
    Report(update_id, upd::UpdateState::kFailed, status->message);
  });
}

void AgentUpdater::Fail(const std::string& update_id, const std::string& message) {
  Log()->error("sys.update {}: {}", update_id, message);
  in_flight_.clear();
  Report(update_id, upd::UpdateState::kFailed, message);
}

void AgentUpdater::Report(const std::string& update_id, upd::UpdateState state, const std::string& message,
                          const std::string& package_version) {
  if (!conductor_) return;
  upd::UpdateReport report;
  report.update_id = update_id;
  report.state = state;
  report.message = message;
  report.agent_version = options_.agent_version;
  report.package_version = package_version.empty() ? PackageVersion() : package_version;
  conductor_->Call(upd::kReport.uri, report.ToPayload(), options_.report_timeout,
                   [update_id](Result<rpc::Reply> reply) {
                     if (!reply) Log()->warn("update {}: the conductor did not take the report: {}", update_id,
                                             reply.error().message);
                   });
}

void AgentUpdater::OnReady(const std::string&, uint64_t) {
  auto status = ReadStatus();
  if (!status || !upd::IsUpdateId(status->id)) return;
  if (status->state == "awaiting") {
    // The helper installed this agent and waits for proof that it joined.
    if (auto marked = WriteAtomically(options_.dir / "healthy", status->id + "\n"); !marked) {
      Log()->error("update {}: cannot write the health marker: {}", status->id, marked.error().message);
      return;
    }
    Log()->warn("update {}: edgewire-agent {} joined; health marker written", status->id, status->version);
    return Report(status->id, upd::UpdateState::kOnline, "the new agent joined", status->version);
  }
  if (status->state == "online") return Report(status->id, upd::UpdateState::kOnline, status->message);
  if (status->state == "rolled-back") return Report(status->id, upd::UpdateState::kRolledBack, status->message);
  if (status->state == "failed") return Report(status->id, upd::UpdateState::kFailed, status->message);
}

}  // namespace ew::agent::update
