// A CPU-only build given CUDA tensors: every Tensor-level dispatch fails with "this build has no
// CUDA backend" and leaves the output untouched (no fall-through to the CPU loop), and every
// launcher of kernels/cuda_absent.cpp fails naming its op. The tensors wrap host memory labelled
// cuda:0, which only a CPU-only build can hand to these functions safely; a CUDA build skips.
#include <gtest/gtest.h>

#include <cstring>
#include <functional>
#include <string>
#include <vector>

#include "engine/error.h"
#include "engine/tensor.h"
#include "kernels/bias.h"
#include "kernels/bias_relu.h"
#include "kernels/conv2d.h"
#include "kernels/convert.h"
#include "kernels/gather_rows.h"
#include "kernels/gemm.h"
#include "kernels/jpeg_idct.h"
#include "kernels/maxpool2d.h"
#include "kernels/optimizer.h"
#include "kernels/random.h"
#include "kernels/relu.h"
#include "kernels/softmax_xent.h"

namespace vggtl {
namespace {

#define SKIP_IN_CUDA_BUILD()                                                          \
  if (VGGTL_HAVE_CUDA) GTEST_SKIP() << "a CUDA build defines the launchers themselves"

// Runs f, which must throw vggtl::Error whose message contains `want`.
void expect_fails(const std::function<void()>& f, const std::string& want, const char* what) {
  try {
    f();
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find(want), std::string::npos) << what << ": " << e.what();
    return;
  }
  ADD_FAILURE() << what << ": did not throw";
}

// Host memory labelled cuda:0, filled with a byte pattern that must survive a refused call.
struct FakeCuda {
  std::vector<float> store;
  Tensor t;
  FakeCuda(const Shape& shape, DType dt) : store(static_cast<size_t>(shape.numel()) * 2 + 1, -7.25f) {
    t = Tensor::wrap(store.data(), shape, dt, Device::cuda());
  }
  bool untouched() const {
    for (float v : store)
      if (v != -7.25f) return false;
    return true;
  }
};

TEST(CudaAbsent, TensorDispatchRefusesCudaTensorsAndWritesNothing) {
  SKIP_IN_CUDA_BUILD();
  const std::string want = "this build has no CUDA backend";
  {
    FakeCuda x({1, 4, 4, 2}, DType::F32), y({1, 2, 2, 2}, DType::F32);
    expect_fails([&] { maxpool2d_forward(y.t, x.t); }, want, "maxpool2d_forward f32");
    EXPECT_TRUE(y.untouched()) << "maxpool2d_forward wrote through a CUDA tensor on the CPU";
    FakeCuda xb({1, 4, 4, 2}, DType::BF16), yb({1, 2, 2, 2}, DType::BF16);
    expect_fails([&] { maxpool2d_forward(yb.t, xb.t); }, want, "maxpool2d_forward bf16");
    EXPECT_TRUE(yb.untouched());
    FakeCuda dx({1, 4, 4, 2}, DType::F32);
    expect_fails([&] { maxpool2d_backward(dx.t, y.t, x.t); }, want, "maxpool2d_backward");
    EXPECT_TRUE(dx.untouched());
  }
  {
    FakeCuda x({6, 4}, DType::F32), y({6, 4}, DType::F32), b({4}, DType::F32);
    expect_fails([&] { relu_forward(y.t, x.t); }, want, "relu_forward");
    expect_fails([&] { bias_add(y.t, x.t, b.t, true); }, want, "bias_add");
    expect_fails([&] { bias_relu(y.t, x.t, b.t); }, want, "bias_relu");
    expect_fails([&] { bias_grad(b.t, x.t); }, want, "bias_grad");
    FakeCuda yb({6, 4}, DType::BF16);
    expect_fails([&] { convert(yb.t, x.t); }, want, "convert");
    EXPECT_TRUE(y.untouched() && b.untouched() && yb.untouched());
    FakeCuda c({6, 6}, DType::F32);
    expect_fails([&] { gemm(c.t, x.t, y.t, false, true); }, want, "gemm");
    EXPECT_TRUE(c.untouched());
  }
  {
    FakeCuda w({8}, DType::F32), m({8}, DType::F32), v({8}, DType::F32), g({8}, DType::F32);
    expect_fails([&] { adam_step(w.t, m.t, v.t, g.t, 0.1, 0.9, 0.999, 1e-7, 1); }, want, "adam_step");
    expect_fails([&] { sgd_step(w.t, &m.t, g.t, 0.1, 0.9, false); }, want, "sgd_step");
    FakeCuda bits({8}, DType::I32);
    expect_fails([&] { philox_fill(bits.t, 1, 2, 3); }, want, "philox_fill");
    FakeCuda rows({4, 2}, DType::F32), index({4}, DType::I32), dst({4, 2}, DType::F32);
    expect_fails([&] { gather_rows(dst.t, rows.t, index.t); }, want, "gather_rows");
    EXPECT_TRUE(w.untouched() && m.untouched() && bits.untouched() && dst.untouched());
  }
  {
    // Pointer-level dispatch with the stream given: the launcher itself refuses.
    std::vector<uint8_t> out(64, 0xAB);
    expect_fails([&] { jpeg_idct(Device::cuda(), out.data(), nullptr, nullptr, nullptr, 0, 0, nullptr); },
                 "jpeg_idct: " + want, "jpeg_idct");
    EXPECT_EQ(out, std::vector<uint8_t>(64, 0xAB));
  }
}

TEST(CudaAbsent, EachLauncherNamesItsOp) {
  SKIP_IN_CUDA_BUILD();
  float f = 0;
  bf16 h{};
  expect_fails([&] { relu_forward_cuda(&f, &f, 1, nullptr); }, "relu: this build has no CUDA backend", "relu");
  expect_fails([&] { maxpool2d_forward_cuda(&h, &h, 1, 2, 2, 1, nullptr); },
               "maxpool2d: this build has no CUDA backend", "maxpool2d bf16");
  expect_fails([&] { maxpool2d_backward_cuda(&f, &f, &f, 1, 2, 2, 1, nullptr); },
               "maxpool2d_backward: this build has no CUDA backend", "maxpool2d_backward");
  expect_fails([&] { convert_cuda<bf16, float>(&h, &f, 1, nullptr); }, "convert: this build has no CUDA backend",
               "convert");
  expect_fails([&] { gemm_cuda(nullptr, &f, &f, &f, 1, 1, 1, false, false, 1.f, 0.f); },
               "gemm: this build has no CUDA backend", "gemm");
  expect_fails([&] { xent_accumulate_cuda(nullptr, &f, nullptr, nullptr, 1, nullptr); },
               "xent_accumulate: this build has no CUDA backend", "xent_accumulate");
  const Conv2dShape s{1, 4, 4, 8, 8};
  expect_fails([&] { conv2d_cudnn_workspace_bytes(s, ConvMath::FP32, ConvEpilogue::Auto, Device::cuda(), nullptr); },
               "conv2d (cuDNN): this build has no CUDA backend", "conv2d_cudnn_workspace_bytes");
}

#undef SKIP_IN_CUDA_BUILD

}  // namespace
}  // namespace vggtl
