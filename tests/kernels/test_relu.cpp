// ReLU forward/backward: hand values (the gradient at 0 is 0, NaN propagates), float against
// double, the CPU's bf16 backward against the f32 one (exact), the CUDA thread functions swept
// over the grid, GPU against CPU (exact).
#include <cmath>
#include <vector>

#include "kernels/relu.h"
#include "kernels/relu_thread.h"
#include "test_util.h"

namespace vggtl {
namespace {

TEST(ReluCpu, HandComputed) {
  const double x[] = {-1, 0, 2, -0.5};
  double y[4], dx[4];
  relu_forward_cpu(y, x, 4);
  EXPECT_EQ(y[0], 0);
  EXPECT_EQ(y[1], 0);
  EXPECT_EQ(y[2], 2);
  EXPECT_EQ(y[3], 0);
  const double dy[] = {10, 20, 30, 40};
  relu_backward_cpu(dx, dy, y, 4);
  EXPECT_EQ(dx[0], 0);
  EXPECT_EQ(dx[1], 0);  // TF's ReluGrad: zero gradient at exactly 0
  EXPECT_EQ(dx[2], 30);
  EXPECT_EQ(dx[3], 0);
  const float nan_in[] = {std::nanf("")};
  float nan_out[1];
  relu_forward_cpu(nan_out, nan_in, 1);
  EXPECT_TRUE(std::isnan(nan_out[0]));
}

TEST(ReluCpu, FloatMatchesDoubleAndThreadSweep) {
  const int64_t n = 1001;
  const std::vector<float> x = test::random_floats(n, 7), dy = test::random_floats(n, 8);
  std::vector<double> xd(x.begin(), x.end()), dyd(dy.begin(), dy.end());
  std::vector<float> y(n), dx(n), ys(n, std::nanf("")), dxs(n, std::nanf(""));
  std::vector<double> yd(n), dxd(n);
  relu_forward_cpu(y.data(), x.data(), n);
  relu_forward_cpu(yd.data(), xd.data(), n);
  relu_backward_cpu(dx.data(), dy.data(), y.data(), n);
  relu_backward_cpu(dxd.data(), dyd.data(), yd.data(), n);
  EXPECT_TRUE(test::within(test::compare(y.data(), yd.data(), n), 0.0));
  EXPECT_TRUE(test::within(test::compare(dx.data(), dxd.data(), n), 0.0));
  const int64_t blocks = (n + kReluThreads - 1) / kReluThreads;
  for (int64_t b = 0; b < blocks; ++b) {
    for (int t = 0; t < kReluThreads; ++t) {
      relu_forward_thread(ys.data(), x.data(), n, b, t);
      relu_backward_thread(dxs.data(), dy.data(), y.data(), n, b, t);
    }
  }
  EXPECT_TRUE(test::within(test::compare(ys.data(), y.data(), n), 0.0));
  EXPECT_TRUE(test::within(test::compare(dxs.data(), dx.data(), n), 0.0));
}

// bf16 (the CPU's bf16 fine-tuning) through the tensor-level dispatch: the f32 twin's bits on
// the same values, zeros, negative zeros and NaN in y included.
TEST(ReluCpu, Bf16BackwardMatchesF32) {
  const int64_t n = 1003;
  std::vector<float> y = test::random_floats(n, 9), dy = test::random_floats(n, 10);
  y[0] = 0.f, y[1] = -0.f, y[2] = std::nanf("");
  Tensor y16 = Tensor::empty({n}, DType::BF16), dy16 = Tensor::empty({n}, DType::BF16);
  Tensor dx16 = Tensor::empty({n}, DType::BF16);
  for (int64_t i = 0; i < n; ++i) {
    y16.data<bf16>()[i] = float_to_bf16(y[i]);
    dy16.data<bf16>()[i] = float_to_bf16(dy[i]);
    y[i] = bf16_to_float(y16.data<bf16>()[i]);
    dy[i] = bf16_to_float(dy16.data<bf16>()[i]);
  }
  std::vector<float> want(n), got(n);
  relu_backward_cpu(want.data(), dy.data(), y.data(), n);
  relu_backward(dx16, dy16, y16);
  for (int64_t i = 0; i < n; ++i) got[i] = bf16_to_float(dx16.data<bf16>()[i]);
  EXPECT_TRUE(test::within(test::compare(got.data(), want.data(), n), 0.0));
}

TEST(ReluGpu, MatchesCpuExactly) {
  REQUIRE_CUDA_DEVICE();
  for (int64_t n : {int64_t{1}, int64_t{3}, int64_t{1920}, int64_t{100003}}) {
    Tensor x = Tensor::empty({n}, DType::F32), dy = Tensor::empty({n}, DType::F32);
    const std::vector<float> xv = test::random_floats(n, 9), dyv = test::random_floats(n, 10);
    std::copy(xv.begin(), xv.end(), x.data<float>());
    std::copy(dyv.begin(), dyv.end(), dy.data<float>());
    Tensor y = Tensor::empty({n}, DType::F32), dx = Tensor::empty({n}, DType::F32);
    relu_forward(y, x);
    relu_backward(dx, dy, y);
    Tensor gx = to_device(x, Device::cuda()), gdy = to_device(dy, Device::cuda());
    Tensor gy = test::poisoned({n}, DType::F32, Device::cuda());
    Tensor gdx = test::poisoned({n}, DType::F32, Device::cuda());
    relu_forward(gy, gx);
    relu_backward(gdx, gdy, gy);
    Tensor hy = test::host_copy(gy), hdx = test::host_copy(gdx);
    EXPECT_TRUE(test::within(test::compare(hy.data<float>(), y.data<float>(), n), 0.0));
    EXPECT_TRUE(test::within(test::compare(hdx.data<float>(), dx.data<float>(), n), 0.0));
  }
}

}  // namespace
}  // namespace vggtl
