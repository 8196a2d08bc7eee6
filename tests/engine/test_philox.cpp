// Philox4x32-10 against the known-answer vectors published with Random123 (kat_vectors:
// counter[4], key[2] -> output[4]); the uniform floats built on it.
#include <gtest/gtest.h>

#include <cmath>
#include <vector>

#include "engine/philox.h"
#include "test_util.h"

namespace vggtl {

TEST(Philox, KnownAnswerVectors) {
  struct Kat {
    uint32_t ctr[4], key[2], out[4];
  };
  const Kat kats[] = {
      {{0, 0, 0, 0}, {0, 0}, {0x6627e8d5, 0xe169c58d, 0xbc57ac4c, 0x9b00dbd8}},
      {{0xffffffff, 0xffffffff, 0xffffffff, 0xffffffff},
       {0xffffffff, 0xffffffff},
       {0x408f276d, 0x41c83b0e, 0xa20bc7c6, 0x6d5451fd}},
      {{0x243f6a88, 0x85a308d3, 0x13198a2e, 0x03707344},
       {0xa4093822, 0x299f31d0},
       {0xd16cfe09, 0x94fdcceb, 0x5001e420, 0x24126ea1}},
  };
  for (const Kat& k : kats) {
    Philox4 r = philox4x32_10(k.ctr[0], k.ctr[1], k.ctr[2], k.ctr[3], k.key[0], k.key[1]);
    for (int i = 0; i < 4; ++i) EXPECT_EQ(r.v[i], k.out[i]) << "word " << i;
  }
}

TEST(Philox, UniformIsInUnitIntervalWithRightMoments) {
  const int n = 200000;
  double sum = 0, sum2 = 0;
  int64_t outside = 0;
  for (int i = 0; i < n; ++i) {
    float u = philox_uniform(7, kRngInit, 0, i);
    outside += !(u >= 0.f && u < 1.f);  // a NaN too
    sum += u;
    sum2 += u * u;
  }
  EXPECT_EQ(outside, 0);
  const double mean = sum / n, var = sum2 / n - mean * mean;
  // Standard error of the mean of U(0,1) over 2e5 draws is 6.5e-4: 5 sigma is 3.2e-3.
  EXPECT_NEAR(mean, 0.5, 3.2e-3);
  EXPECT_NEAR(var, 1.0 / 12.0, 2e-3);
  EXPECT_EQ(uint_to_unit_float(0xffffffffu), 16777215.0f / 16777216.0f);
}

}  // namespace vggtl
