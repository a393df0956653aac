// Chunked fetch by content hash; hashing and extraction run on the blocking pool, never on the
// io thread.
#include "device-agent/functions/package_fetcher.hpp"

#include <system_error>

#include <boost/asio/post.hpp>

#include "common/contract/fn.hpp"
#include "common/ids/ids.hpp"
#include "common/log/log.hpp"
#include "containers/package/package.hpp"

namespace ew::agent::functions {

namespace fs = std::filesystem;
namespace fn = contract::fn;

namespace {
const ew::log::Logger Log{"functions"};
}  // namespace

PackageFetcher::PackageFetcher(boost::asio::io_context& io, PackageFetcherOptions options,
                               BlockingPool blocking)
    : io_(io), options_(std::move(options)), blocking_(std::move(blocking)) {}

Result<void> PackageFetcher::Prepare() {
  std::error_code ec;
  fs::create_directories(options_.cache_dir, ec);
  if (ec) return Internal("cannot create " + options_.cache_dir.string() + ": " + ec.message());
  for (const auto& entry : fs::directory_iterator(options_.cache_dir, ec)) {
    if (entry.path().filename().string().find(".tmp") != std::string::npos) fs::remove_all(entry.path(), ec);
  }
  return Ok();
}

void PackageFetcher::Fetch(const std::string& sha256, uint64_t size, Done done) {
  if (fs::exists(Dir(sha256))) return done(Dir(sha256), true);
  if (!conductor_) return done(Unavailable("not connected to the conductor"), false);
  auto& waiters = waiting_[sha256];
  waiters.push_back(std::move(done));
  if (waiters.size() == 1) FetchChunk(sha256, size, std::make_shared<std::string>());
}

void PackageFetcher::Discard(const std::string& sha256) {
  boost::asio::post(blocking_(), [dir = Dir(sha256)] {
    std::error_code ec;
    fs::remove_all(dir, ec);
  });
}

void PackageFetcher::FetchChunk(const std::string& sha256, uint64_t size, std::shared_ptr<std::string> buffer) {
  const uint64_t offset = buffer->size();
  const uint64_t length = std::min<uint64_t>(options_.chunk_bytes, size - offset);
  auto failed = [sha256](const std::string& why) { return "fetching package " + sha256 + ": " + why; };
  conductor_->Call(
      fn::kFetch.uri, fn::FetchRequest{sha256, offset, length}.ToPayload(), options_.chunk_timeout,
      [self = this, alive = std::weak_ptr<bool>(alive_), sha256, size, buffer, offset, failed](Result<rpc::Reply> reply) {
        if (alive.expired()) return;
        if (!reply) return self->Finish(sha256, MakeError(reply.error().code, failed(reply.error().message)));
        auto chunk = fn::FetchReply::Parse(*reply);
        if (!chunk) return self->Finish(sha256, Internal(failed(chunk.error().message)));
        if (chunk->size != size)
          return self->Finish(sha256, InvalidArgument(failed("its size is not the one the deployment names")));
        buffer->append(chunk->bytes.begin(), chunk->bytes.end());
        if (buffer->size() == offset || buffer->size() > size) {
          return self->Finish(sha256,
                              Internal(failed("chunk at offset " + std::to_string(offset) + " has a wrong length")));
        }
        if (buffer->size() < size) return self->FetchChunk(sha256, size, buffer);
        // Whole package here: hash and extract off the io thread.
        boost::asio::post(self->blocking_(), [self, alive, &io = self->io_, sha256, buffer,
                                            target = self->Dir(sha256)] {
          Result<fs::path> dir = target;
          if (ids::Sha256Hex(*buffer) != sha256) {
            dir = InvalidArgument("package " + sha256 + ": the bytes received do not have that sha256");
          } else if (auto extracted = containers::ExtractPackage(*buffer, target); !extracted && !fs::exists(target)) {
            dir = tl::unexpected(extracted.error());
          }
          boost::asio::post(io, [self, alive, sha256, dir = std::move(dir)]() mutable {
            if (!alive.expired()) self->Finish(sha256, std::move(dir));
          });
        });
      });
}

void PackageFetcher::Finish(const std::string& sha256, Result<fs::path> dir) {
  auto node = waiting_.extract(sha256);
  if (node.empty()) return;
  if (!dir) Log()->warn("package {}: {}", sha256.substr(0, 12), dir.error().message);
  for (auto& waiter : node.mapped()) waiter(dir, false);
}

}  // namespace ew::agent::functions
