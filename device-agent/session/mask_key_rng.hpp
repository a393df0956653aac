// The masking keys of the agent's WebSocket frames (websocketpp's config rng_type). websocketpp's
// default draws every key from std::random_device, which libstdc++ 12 serves with one RDSEED
// instruction per key on x86: slow, and it runs dry when called back to back (a third of the
// agent's CPU at 64 calls in flight, docs/BENCHMARKS.md "RPC path"). Keys still must not be
// predictable (RFC 6455 §5.3: the mask keeps a peer's chosen bytes off the wire, and a caller
// chooses what sys.ping echoes), so they come from a ChaCha20 keystream (nettle) keyed once
// from getrandom(2), as Beast's "secure PRNG" does; one ChaCha block gives 16 keys.
//
// Threading: one instance per websocketpp endpoint, used on the agent's io thread only.
#pragma once

#include <array>
#include <cstddef>
#include <cstdint>

#include <nettle/chacha.h>

namespace ew::agent::session {

class MaskKeyRng {
 public:
  // Keyed from getrandom(2); throws std::runtime_error when that fails.
  MaskKeyRng();
  // The next 32-bit key (websocketpp's int_generator interface).
  uint32_t operator()();

 private:
  void Refill();

  chacha_ctx ctx_;
  std::array<uint32_t, CHACHA_BLOCK_SIZE / 4> block_{};
  size_t next_ = block_.size();  // index of the next unused key in block_
};

}  // namespace ew::agent::session
