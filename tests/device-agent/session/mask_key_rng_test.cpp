#include "device-agent/session/mask_key_rng.hpp"

#include <bitset>
#include <set>
#include <vector>

#include <gtest/gtest.h>

namespace ew::agent::session {
namespace {

std::vector<uint32_t> Draw(MaskKeyRng& rng, size_t n) {
  std::vector<uint32_t> keys(n);
  for (auto& k : keys) k = rng();
  return keys;
}

TEST(MaskKeyRngTest, EveryBlockOfKeysIsNew) {
  MaskKeyRng rng;
  // 64 blocks of 16 keys: a keystream that did not move on between refills repeats a block.
  auto keys = Draw(rng, 16 * 64);
  std::set<uint32_t> distinct(keys.begin(), keys.end());
  // 1024 draws from 2^32: a repeat is possible but rare (p ≈ 1e-4); two would mean a bug.
  EXPECT_GE(distinct.size(), keys.size() - 1);
}

TEST(MaskKeyRngTest, InstancesAreKeyedIndependently) {
  MaskKeyRng a;
  MaskKeyRng b;
  EXPECT_NE(Draw(a, 16), Draw(b, 16));
}

TEST(MaskKeyRngTest, BitsAreBalanced) {
  MaskKeyRng rng;
  const size_t n = 4096;
  size_t ones = 0;
  for (uint32_t k : Draw(rng, n)) ones += std::bitset<32>(k).count();
  // Mean 16 bits per key; 4096 keys put the total within ±2 % of 65,536 (7 σ)
  // (σ ≈ 181 bits), while a constant or zero stream is far off.
  EXPECT_NEAR(static_cast<double>(ones), 16.0 * n, 0.02 * 16.0 * n);
}

}  // namespace
}  // namespace ew::agent::session
