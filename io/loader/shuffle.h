// Epoch orders: a Fisher-Yates shuffle driven by Philox words of stream kRngShuffle, so the
// order depends only on (n, seed, epoch), on any machine. Tests: tests/io/test_shuffle.cpp.
#pragma once

#include <cstdint>
#include <vector>

namespace vggtl {

// A permutation of 0..n-1 for this epoch. Step k (k = 0..n-2) swaps position i = n-1-k with
// j uniform in [0, i], drawn from the 64-bit Philox value (words 2k, 2k+1 of (seed,
// kRngShuffle, epoch)) as floor(value * (i + 1) / 2^64): unbiased to within (i + 1) / 2^64.
std::vector<int64_t> shuffle_order(int64_t n, uint64_t seed, uint32_t epoch);

// 0..n-1 in listing order (validation, test, --shuffle off).
std::vector<int64_t> identity_order(int64_t n);

}  // namespace vggtl
