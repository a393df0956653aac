#include "device-agent/session/mask_key_rng.hpp"

#include <cstring>
#include <string>

#include "common/ids/ids.hpp"

namespace ew::agent::session {

MaskKeyRng::MaskKeyRng() {
  std::string seed = ids::RandomBytes(CHACHA_KEY_SIZE + CHACHA_NONCE_SIZE);
  chacha_set_key(&ctx_, reinterpret_cast<const uint8_t*>(seed.data()));
  chacha_set_nonce(&ctx_, reinterpret_cast<const uint8_t*>(seed.data()) + CHACHA_KEY_SIZE);
  std::memset(seed.data(), 0, seed.size());
}

uint32_t MaskKeyRng::operator()() {
  if (next_ == block_.size()) Refill();
  return block_[next_++];
}

void MaskKeyRng::Refill() {
  // Encrypting zeros gives the keystream; the block counter moves on by one per call.
  std::array<uint8_t, CHACHA_BLOCK_SIZE> zeros{};
  chacha_crypt(&ctx_, zeros.size(), reinterpret_cast<uint8_t*>(block_.data()), zeros.data());
  next_ = 0;
}

}  // namespace ew::agent::session
