// Row gather: CPU twin against plain indexing, the kernel's per-thread function swept over its
// whole launch grid on the CPU, and the GPU against the CPU (exact: it only copies bytes).
#include <gtest/gtest.h>

#include <numeric>
#include <vector>

#include "engine/context.h"
#include "kernels/gather_rows.h"
#include "kernels/gather_rows_thread.h"
#include "test_util.h"

namespace vggtl {

namespace {
std::vector<int32_t> some_order(int n, int src_rows) {
  std::vector<int32_t> idx(n);
  for (int i = 0; i < n; ++i) idx[i] = (i * 7 + 3) % src_rows;
  return idx;
}
}  // namespace

TEST(GatherRows, CpuMatchesPlainIndexing) {
  const int src_rows = 11, cols = 5, n = 9;
  Tensor src = Tensor::empty({src_rows, cols}, DType::F32);
  for (int i = 0; i < src_rows * cols; ++i) src.data<float>()[i] = static_cast<float>(i);
  std::vector<int32_t> idx = some_order(n, src_rows);
  Tensor index = Tensor::wrap(idx.data(), {n}, DType::I32);
  Tensor dst = Tensor::empty({n, cols}, DType::F32);
  gather_rows(dst, src, index);
  for (int i = 0; i < n; ++i)
    for (int c = 0; c < cols; ++c) ASSERT_EQ(dst.data<float>()[i * cols + c], static_cast<float>(idx[i] * cols + c));
  idx[2] = src_rows;  // out of range
  EXPECT_THROW(gather_rows(dst, src, index), Error);
}

TEST(GatherRows, LaunchGridSweepCoversEveryByteOnce) {
  // Both piece sizes: aligned rows of 7*16 bytes use 16-byte pieces, 37-byte rows single bytes.
  for (int64_t row_bytes : {int64_t{112}, int64_t{37}, int64_t{25088 * 4}}) {
    const int src_rows = 13, n = 10;
    std::vector<uint8_t> src_store(static_cast<size_t>(src_rows * row_bytes) + 16);
    std::vector<uint8_t> dst_store(static_cast<size_t>(n * row_bytes) + 16, 0xAB);
    uint8_t* src = src_store.data() + (16 - reinterpret_cast<uintptr_t>(src_store.data()) % 16) % 16;
    uint8_t* dst = dst_store.data() + (16 - reinterpret_cast<uintptr_t>(dst_store.data()) % 16) % 16;
    for (int64_t i = 0; i < src_rows * row_bytes; ++i) src[i] = static_cast<uint8_t>(i * 31 + 7);
    std::vector<int32_t> idx = some_order(n, src_rows);
    const GatherGeometry g = gather_geometry(dst, src, row_bytes);
    EXPECT_EQ(g.piece_bytes, row_bytes % 16 == 0 ? 16 : 1);
    const int64_t blocks_x = (g.pieces_per_row + g.threads - 1) / g.threads;
    for (int64_t by = 0; by < n; ++by)
      for (int64_t bx = 0; bx < blocks_x; ++bx)
        for (int64_t tx = 0; tx < g.threads; ++tx)
          gather_rows_piece(dst, src, idx.data(), n, row_bytes, g.piece_bytes, g.pieces_per_row, bx, by, tx,
                            g.threads);
    std::vector<uint8_t> expected(static_cast<size_t>(n * row_bytes));
    gather_rows_cpu(expected.data(), src, idx.data(), n, row_bytes);
    for (int64_t i = 0; i < n * row_bytes; ++i) ASSERT_EQ(dst[i], expected[i]) << "row_bytes " << row_bytes << " at " << i;
  }
}

TEST(GatherRowsGpu, MatchesCpuExactly) {
  REQUIRE_CUDA_DEVICE();
  for (int64_t cols : {int64_t{3}, int64_t{4}, int64_t{25088}}) {  // 12 B rows (byte path) and aligned rows
    const int src_rows = 31, n = 30;
    std::vector<float> values = test::random_floats(static_cast<size_t>(src_rows * cols), 5);
    Tensor src = Tensor::wrap(values.data(), {src_rows, cols}, DType::F32);
    std::vector<int32_t> idx = some_order(n, src_rows);
    Tensor index = Tensor::wrap(idx.data(), {n}, DType::I32);
    Tensor expected = Tensor::empty({n, cols}, DType::F32);
    gather_rows(expected, src, index);
    Tensor dsrc = to_device(src, Device::cuda());
    Tensor dindex = to_device(index, Device::cuda());
    Tensor ddst = test::poisoned({n, cols}, DType::F32, Device::cuda());
    gather_rows(ddst, dsrc, dindex);
    Tensor got = test::host_copy(ddst);
    test::Comparison c = test::compare(got.data<float>(), expected.data<float>(), n * cols);
    EXPECT_TRUE(test::within(c, 0.0)) << "cols " << cols;  // a copy: exact
  }
}

}  // namespace vggtl
