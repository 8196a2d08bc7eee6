// Bias add (+ fused ReLU) and its column-sum gradient: hand-computed values, float against
// double, the f32 gradient of a bf16 dy against double, the CUDA per-thread functions and the
// gradient's block program swept over their whole launch grid, GPU against CPU.
#include <algorithm>
#include <cmath>
#include <vector>

#include "kernels/bias.h"
#include "kernels/bias_thread.h"
#include "test_util.h"

namespace vggtl {
namespace {

TEST(BiasCpu, HandComputed) {
  const double x[] = {1, -2, 3, -4, 5, -6};
  const double b[] = {0.5, 1, -1};
  double y[6];
  bias_add_cpu(y, x, b, 2, 3, false);
  const double want[] = {1.5, -1, 2, -3.5, 6, -7};
  for (int i = 0; i < 6; ++i) EXPECT_EQ(y[i], want[i]);
  bias_add_cpu(y, x, b, 2, 3, true);
  const double want_relu[] = {1.5, 0, 2, 0, 6, 0};
  for (int i = 0; i < 6; ++i) EXPECT_EQ(y[i], want_relu[i]);
  double db[3];
  bias_grad_cpu(db, x, 2, 3);
  EXPECT_EQ(db[0], -3);
  EXPECT_EQ(db[1], 3);
  EXPECT_EQ(db[2], -3);
}

TEST(BiasCpu, ReluKeepsNaN) {
  const float x[] = {std::nanf(""), -1.f};
  const float b[] = {0.f, 0.f};
  float y[2];
  bias_add_cpu(y, x, b, 1, 2, true);
  EXPECT_TRUE(std::isnan(y[0]));
  EXPECT_EQ(y[1], 0.f);
}

TEST(BiasCpu, FloatMatchesDouble) {
  const int64_t rows = 37, cols = 13;
  const std::vector<float> x = test::random_floats(rows * cols, 1),
                           b = test::random_floats(cols, 2);
  std::vector<double> xd(x.begin(), x.end()), bd(b.begin(), b.end());
  std::vector<float> y(rows * cols), db(cols);
  std::vector<double> yd(rows * cols), dbd(cols);
  bias_add_cpu(y.data(), x.data(), b.data(), rows, cols, true);
  bias_add_cpu(yd.data(), xd.data(), bd.data(), rows, cols, true);
  EXPECT_TRUE(test::within(test::compare(y.data(), yd.data(), rows * cols), 2.5e-7));
  bias_grad_cpu(db.data(), x.data(), rows, cols);
  bias_grad_cpu(dbd.data(), xd.data(), rows, cols);
  // Sums in double on both: only the final rounding to float differs.
  EXPECT_TRUE(test::within(test::compare(db.data(), dbd.data(), cols), 1e-6));
}

// f32 db from a bf16 dy (the CPU's bf16 fine-tuning), through the tensor-level dispatch: the
// same bf16 values summed in double, so only the final rounding to float differs.
TEST(BiasCpu, GradOfBf16MatchesDouble) {
  const int64_t rows = 391, cols = 13;
  const std::vector<float> x = test::random_floats(rows * cols, 3);
  Tensor dy = Tensor::empty({rows, cols}, DType::BF16), db = Tensor::empty({cols}, DType::F32);
  std::vector<double> want(cols, 0.0);
  for (int64_t i = 0; i < rows * cols; ++i) {
    dy.data<bf16>()[i] = float_to_bf16(x[i]);
    want[i % cols] += bf16_to_float(dy.data<bf16>()[i]);
  }
  bias_grad(db, dy);
  EXPECT_TRUE(test::within(test::compare(db.data<float>(), want.data(), cols), 1e-6));
}

// The CUDA threads' work, run on the CPU over the exact launch grid of bias_add_cuda, must
// reproduce the specification.
TEST(BiasCpu, ThreadSweepMatchesSpecification) {
  for (auto [rows, cols] : {std::pair<int64_t, int64_t>{1, 1}, {30, 64}, {7, 300}, {33, 3}}) {
    const std::vector<float> x = test::random_floats(rows * cols, 3),
                             b = test::random_floats(cols, 4);
    std::vector<float> spec(rows * cols), swept(rows * cols, std::nanf(""));
    bias_add_cpu(spec.data(), x.data(), b.data(), rows, cols, true);
    const RowStridedGrid g = row_strided_grid(rows, cols, kBiasThreads, "test");
    for (int64_t bx = 0; bx < g.x; ++bx)
      for (int64_t by = 0; by < g.y; ++by)
        for (int t = 0; t < kBiasThreads; ++t)
          bias_add_thread(swept.data(), x.data(), b.data(), rows, cols, true, bx, by, g.y, t);
    EXPECT_TRUE(test::within(test::compare(swept.data(), spec.data(), rows * cols), 0.0));
  }
}

// bias_grad_cuda's block program, run on the CPU over its launch grid with its barriers and in both
// thread orders, must reproduce the specification and write nothing past the last column; zero
// rows, one row, rows not a multiple of kColumnTileY, columns not a multiple of kColumnTileX.
TEST(BiasCpu, GradBlockSweepMatchesSpecification) {
  constexpr size_t kGuard = 40;  // past the last column, more than one tile's spare threads
  const float poison = std::nanf("");
  for (int64_t rows : {0, 1, 7, 9, 33}) {
    for (int64_t cols : {1, 3, 31, 33, 64, 300}) {
      const std::vector<float> dy = test::random_floats(rows * cols, 5);
      std::vector<float> spec(cols);
      bias_grad_cpu(spec.data(), dy.data(), rows, cols);
      std::vector<std::vector<float>> by_order;
      for (test::ThreadOrder order : {test::ThreadOrder::Forward, test::ThreadOrder::Reversed}) {
        std::vector<float>& db = by_order.emplace_back(cols + kGuard, poison);
        test::sweep_block_phases(BiasGradBlock{db.data(), dy.data(), rows, cols},
                                 column_tile_blocks(cols, "test"), order);
        // Double sums of at most 33 values in [-1, 1) in two orders, rounded once to float: at
        // most an ulp apart, under 1e-6 below 8.
        EXPECT_TRUE(test::within(test::compare(db.data(), spec.data(), cols), 1e-6))
            << rows << "x" << cols;
        EXPECT_EQ(test::overwritten(db, cols, poison), 0) << rows << "x" << cols;
      }
      EXPECT_TRUE(test::within(test::compare(by_order[1].data(), by_order[0].data(), cols), 0.0));
    }
  }
}

TEST(BiasCpu, TensorLevelRejectsWrongBias) {
  Tensor x = Tensor::empty({4, 3}, DType::F32), b = Tensor::empty({4}, DType::F32);
  EXPECT_THROW(bias_add(x, x, b, false), Error);
  Tensor db = Tensor::empty({2}, DType::F32);
  EXPECT_THROW(bias_grad(db, x), Error);
}

TEST(BiasGpu, MatchesCpu) {
  REQUIRE_CUDA_DEVICE();
  for (auto [rows, cols] :
       {std::pair<int64_t, int64_t>{1, 1}, {30, 64}, {7, 300}, {1000, 3}, {3, 25088}}) {
    const std::vector<float> xv = test::random_floats(rows * cols, 5),
                             bv = test::random_floats(cols, 6);
    Tensor x = Tensor::empty({rows, cols}, DType::F32), b = Tensor::empty({cols}, DType::F32);
    std::copy(xv.begin(), xv.end(), x.data<float>());
    std::copy(bv.begin(), bv.end(), b.data<float>());
    for (bool relu : {false, true}) {
      Tensor y = Tensor::empty({rows, cols}, DType::F32);
      bias_add(y, x, b, relu);
      Tensor dx = to_device(x, Device::cuda()), dbias = to_device(b, Device::cuda());
      Tensor dy = test::poisoned({rows, cols}, DType::F32, Device::cuda());
      bias_add(dy, dx, dbias, relu);
      Tensor back = test::host_copy(dy);
      // One float addition each: identical.
      EXPECT_TRUE(
          test::within(test::compare(back.data<float>(), y.data<float>(), rows * cols), 0.0));
    }
    Tensor db = Tensor::empty({cols}, DType::F32);
    bias_grad(db, x);
    Tensor dx = to_device(x, Device::cuda());
    Tensor ddb = test::poisoned({cols}, DType::F32, Device::cuda());
    bias_grad(ddb, dx);
    Tensor back = test::host_copy(ddb);
    // Double sums in different orders, rounded once to float.
    EXPECT_TRUE(test::within(test::compare(back.data<float>(), db.data<float>(), cols),
                             1e-6 * std::sqrt(double(rows))));
    // Deterministic: the same bits on a second run.
    Tensor ddb2 = test::poisoned({cols}, DType::F32, Device::cuda());
    bias_grad(ddb2, dx);
    Tensor back2 = test::host_copy(ddb2);
    EXPECT_TRUE(test::within(test::compare(back2.data<float>(), back.data<float>(), cols), 0.0));
  }
}

}  // namespace
}  // namespace vggtl
