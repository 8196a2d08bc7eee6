// The Philox fill kernel: CPU twin equal to philox_word element by element, named streams
// independent, and the GPU fill equal to the CPU fill bit for bit.
#include <gtest/gtest.h>

#include <vector>

#include "engine/philox.h"
#include "kernels/random.h"
#include "test_util.h"

namespace vggtl {

TEST(PhiloxFill, WordsAreAddressableAndStreamsDiffer) {
  std::vector<uint32_t> a(37), b(37);
  philox_fill_cpu(a.data(), 37, 42, kRngDropout, 5);
  for (uint64_t i = 0; i < 37; ++i) EXPECT_EQ(a[i], philox_word(42, kRngDropout, 5, i));
  philox_fill_cpu(b.data(), 37, 42, kRngShuffle, 5);
  int same = 0;
  for (int i = 0; i < 37; ++i) same += a[i] == b[i];
  EXPECT_LT(same, 2);
}

TEST(PhiloxGpu, FillMatchesCpuBitForBit) {
  REQUIRE_CUDA_DEVICE();
  for (int64_t n : {1, 3, 4, 5, 1023, 100003}) {
    std::vector<uint32_t> expected(n);
    philox_fill_cpu(expected.data(), n, 0x123456789abcdefull, kRngDropout, 77);
    Tensor d = test::poisoned({n}, DType::I32, Device::cuda());
    philox_fill(d, 0x123456789abcdefull, kRngDropout, 77);
    Tensor h = test::host_copy(d);
    const uint32_t* got = reinterpret_cast<const uint32_t*>(h.data<int32_t>());
    for (int64_t i = 0; i < n; ++i) ASSERT_EQ(got[i], expected[i]) << "n=" << n << " i=" << i;
  }
}

}  // namespace vggtl
