// Epoch orders: permutations, reproducible from (n, seed, epoch), different across epochs and
// seeds, and uniform over the 6 orders of 3 items (a fixed sample: the counts are exact).
#include <gtest/gtest.h>

#include <algorithm>
#include <map>
#include <vector>

#include "io/loader/shuffle.h"

namespace vggtl {
namespace {

bool is_permutation_of_range(std::vector<int64_t> v) {
  std::sort(v.begin(), v.end());
  for (size_t i = 0; i < v.size(); ++i)
    if (v[i] != static_cast<int64_t>(i)) return false;
  return true;
}

TEST(ShuffleOrder, IsAPermutation) {
  for (int64_t n : {0, 1, 2, 3, 30, 202, 1001}) {
    const auto order = shuffle_order(n, 42, 0);
    EXPECT_EQ(static_cast<int64_t>(order.size()), n);
    EXPECT_TRUE(is_permutation_of_range(order)) << "n " << n;
  }
  EXPECT_EQ(identity_order(4), (std::vector<int64_t>{0, 1, 2, 3}));
}

TEST(ShuffleOrder, ReproducibleAndDifferentPerEpochAndSeed) {
  const auto a = shuffle_order(202, 7, 3);
  EXPECT_EQ(a, shuffle_order(202, 7, 3));
  EXPECT_NE(a, shuffle_order(202, 7, 4));
  EXPECT_NE(a, shuffle_order(202, 8, 3));
  EXPECT_NE(a, identity_order(202));
}

TEST(ShuffleOrder, AllOrdersOfThreeAreEquallyLikely) {
  std::map<std::vector<int64_t>, int> counts;
  const int epochs = 6000;
  for (int e = 0; e < epochs; ++e) ++counts[shuffle_order(3, 1234, static_cast<uint32_t>(e))];
  ASSERT_EQ(counts.size(), 6u);
  // Expected 1000 each; 4.5 standard deviations (sqrt(1000 * 5/6) = 29) either side.
  for (const auto& [order, count] : counts) EXPECT_NEAR(count, 1000, 130);
}

}  // namespace
}  // namespace vggtl
