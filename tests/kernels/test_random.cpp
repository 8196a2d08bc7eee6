// The Philox fill kernel: CPU twin equal to philox_word element by element, named streams
// independent, the CUDA per-thread work swept on the CPU (tail included) and the GPU fill equal
// to the CPU fill bit for bit.
#include <gtest/gtest.h>

#include <vector>

#include "engine/philox.h"
#include "kernels/random.h"
#include "kernels/random_thread.h"
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

// The CUDA threads' work, run on the CPU over the launch grid of philox_fill_cuda: equal to the
// CPU fill word for word at lengths around the 4-word groups and the 1024-word thread blocks, and
// nothing written past n by the thread of a partial last group.
TEST(PhiloxFill, ThreadSweepMatchesCpuFill) {
  constexpr size_t kGuard = 8;
  constexpr uint32_t kPoison = 0xdeadbeefu;
  for (int64_t n : {1, 2, 3, 4, 5, 7, 1023, 1024, 1025, 2048, 4096, 4097}) {
    std::vector<uint32_t> expected(n);
    philox_fill_cpu(expected.data(), n, 0x123456789abcdefull, kRngDropout, 77);
    std::vector<uint32_t> swept(n + kGuard, kPoison);
    test::sweep_grid(philox_fill_blocks(n), kPhiloxFillThreads, [&](uint32_t block, uint32_t t) {
      philox_fill_thread(swept.data(), n, 0x123456789abcdefull, kRngDropout, 77, block,
                         static_cast<int>(t));
    });
    for (int64_t i = 0; i < n; ++i) ASSERT_EQ(swept[i], expected[i]) << "n=" << n << " i=" << i;
    EXPECT_EQ(test::overwritten(swept, n, kPoison), 0) << "n=" << n;
  }
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
