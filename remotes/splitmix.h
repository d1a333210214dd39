// splitmix64's finaliser: a good 64-bit mixer for deterministic fault and
// shaping decisions (FaultRemote, ShapedRemote) from a seed and a counter.
#pragma once

#include <cstdint>

namespace kloset {

inline uint64_t SplitMix64(uint64_t x) {
  x += 0x9E3779B97F4A7C15ull;
  x = (x ^ (x >> 30)) * 0xBF58476D1CE4E5B9ull;
  x = (x ^ (x >> 27)) * 0x94D049BB133111EBull;
  return x ^ (x >> 31);
}

}  // namespace kloset
