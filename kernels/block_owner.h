// Batched kernels whose items (images, planes) own consecutive ranges of thread blocks, planned
// on the host: which item a thread block works on.
#pragma once

#include <cstdint>

#include "engine/dtype.h"

namespace vggtl {

// Index of the last of n items whose first thread block, first_block(i), is <= cta. The items
// are sorted by first block; an item without blocks shares its successor's first block.
template <typename FirstBlock>
VGGTL_HD int find_block_owner(int n, int64_t cta, FirstBlock first_block) {
  int lo = 0, hi = n - 1;
  while (lo < hi) {
    const int mid = (lo + hi + 1) / 2;
    if (static_cast<int64_t>(first_block(mid)) <= cta)
      lo = mid;
    else
      hi = mid - 1;
  }
  return lo;
}

}  // namespace vggtl
