#include "cloud-conductor/auth/hash_pool.hpp"

#include <algorithm>
#include <exception>

#include <boost/asio/post.hpp>

#include "common/log/log.hpp"

namespace ew::auth {

const ew::log::Logger Log{"auth"};

HashPool::HashPool(HashPoolOptions options)
    : options_(options), pool_(std::max<size_t>(1, options.threads)) {}

HashPool::~HashPool() { Join(); }

bool HashPool::TryPost(std::function<void()> job) {
  if (pending_.fetch_add(1) >= options_.max_queued) {
    pending_.fetch_sub(1);
    return false;
  }
  boost::asio::post(pool_, [this, job = std::move(job)] {
    try {
      job();
    } catch (const std::exception& e) {
      // Jobs answer their own errors; one that throws must not take the pool thread down.
      Log()->error("password hashing job failed: {}", e.what());
    }
    pending_.fetch_sub(1);
  });
  return true;
}

void HashPool::Join() { pool_.join(); }

}  // namespace ew::auth
