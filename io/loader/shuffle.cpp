// Philox-driven Fisher-Yates (see shuffle.h).
#include "io/loader/shuffle.h"

#include <numeric>
#include <utility>

#include "engine/error.h"
#include "engine/philox.h"

namespace vggtl {

std::vector<int64_t> identity_order(int64_t n) {
  VGGTL_CHECK(n >= 0, "identity_order: negative size ", n);
  std::vector<int64_t> order(static_cast<size_t>(n));
  std::iota(order.begin(), order.end(), int64_t{0});
  return order;
}

std::vector<int64_t> shuffle_order(int64_t n, uint64_t seed, uint32_t epoch) {
  std::vector<int64_t> order = identity_order(n);
  for (int64_t k = 0; k + 1 < n; ++k) {
    const int64_t i = n - 1 - k;
    const uint64_t hi = philox_word(seed, kRngShuffle, epoch, 2 * static_cast<uint64_t>(k));
    const uint64_t lo = philox_word(seed, kRngShuffle, epoch, 2 * static_cast<uint64_t>(k) + 1);
    const uint64_t value = (hi << 32) | lo;
    const auto j = static_cast<int64_t>((static_cast<unsigned __int128>(value) * static_cast<uint64_t>(i + 1)) >> 64);
    std::swap(order[static_cast<size_t>(i)], order[static_cast<size_t>(j)]);
  }
  return order;
}

}  // namespace vggtl
