// Philox4x32-10 (Salmon et al., "Parallel random numbers: as easy as 1, 2, 3", SC'11): a
// counter-based generator, the same numbers for the same (key, counter) on the CPU and the GPU.
// Checked against the paper's known-answer vectors in tests/engine/test_philox.cpp.
#pragma once

#include <cstdint>

#include "engine/dtype.h"  // VGGTL_HD

namespace vggtl {

struct Philox4 {
  uint32_t v[4];
};

VGGTL_HD void philox_mulhilo(uint32_t a, uint32_t b, uint32_t* hi, uint32_t* lo) {
  const uint64_t p = static_cast<uint64_t>(a) * b;
  *hi = static_cast<uint32_t>(p >> 32);
  *lo = static_cast<uint32_t>(p);
}

// One block of four 32-bit outputs for counter (c0..c3) under key (k0, k1).
VGGTL_HD Philox4 philox4x32_10(uint32_t c0, uint32_t c1, uint32_t c2, uint32_t c3, uint32_t k0,
                               uint32_t k1) {
  const uint32_t kM0 = 0xD2511F53u, kM1 = 0xCD9E8D57u;
  const uint32_t kW0 = 0x9E3779B9u, kW1 = 0xBB67AE85u;
  for (int round = 0; round < 10; ++round) {
    if (round > 0) {
      k0 += kW0;
      k1 += kW1;
    }
    uint32_t hi0, lo0, hi1, lo1;
    philox_mulhilo(kM0, c0, &hi0, &lo0);
    philox_mulhilo(kM1, c2, &hi1, &lo1);
    const uint32_t n0 = hi1 ^ c1 ^ k0;
    const uint32_t n1 = lo1;
    const uint32_t n2 = hi0 ^ c3 ^ k1;
    const uint32_t n3 = lo0;
    c0 = n0;
    c1 = n1;
    c2 = n2;
    c3 = n3;
  }
  return Philox4{{c0, c1, c2, c3}};
}

// A uniform float in [0, 1) from the top 24 bits: exact in float, never 1.0.
VGGTL_HD float uint_to_unit_float(uint32_t x) { return static_cast<float>(x >> 8) * (1.0f / 16777216.0f); }

// The i-th 32-bit word of the sequence named by (seed, stream_id, offset): key = seed, counter =
// (i / 4 as 64 bits, offset, stream_id), word i % 4 of that block. Any element can be drawn
// alone, in any order, on any device. `offset` is a step or epoch number.
VGGTL_HD uint32_t philox_word(uint64_t seed, uint32_t stream_id, uint32_t offset, uint64_t i) {
  const uint64_t block = i >> 2;
  const Philox4 r = philox4x32_10(static_cast<uint32_t>(block), static_cast<uint32_t>(block >> 32),
                                  offset, stream_id, static_cast<uint32_t>(seed),
                                  static_cast<uint32_t>(seed >> 32));
  return r.v[i & 3];
}

VGGTL_HD float philox_uniform(uint64_t seed, uint32_t stream_id, uint32_t offset, uint64_t i) {
  return uint_to_unit_float(philox_word(seed, stream_id, offset, i));
}

// Named streams, so that dropout, shuffling and initialisation never share numbers.
enum RngStream : uint32_t {
  kRngShuffle = 0x5348u,
  kRngInit = 0x494eu,
  kRngDropout = 0x4452u,
  kRngAugment = 0x4147u,
};

}  // namespace vggtl
