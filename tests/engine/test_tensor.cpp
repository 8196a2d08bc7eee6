// Tensor shapes, views, dtype checks and copies (CPU always; CPU<->GPU when a GPU is present).
#include <gtest/gtest.h>

#include <chrono>
#include <cmath>
#include <numeric>
#include <thread>
#include <utility>

#include "engine/context.h"
#include "engine/event.h"
#include "engine/tensor.h"
#include "test_util.h"
#if VGGTL_HAVE_CUDA
#include "engine/cuda_check.h"
#endif

namespace vggtl {

TEST(Shape, NumelStrAndEquality) {
  Shape s{30, 7, 7, 512};
  EXPECT_EQ(s.ndim(), 4);
  EXPECT_EQ(s.numel(), 30 * 7 * 7 * 512);
  EXPECT_EQ(s[-1], 512);
  EXPECT_EQ(s.str(), "(30, 7, 7, 512)");
  EXPECT_EQ(s, (Shape{30, 7, 7, 512}));
  EXPECT_NE(s, (Shape{30, 25088}));
  EXPECT_EQ(Shape{}.numel(), 1);
  EXPECT_THROW((Shape{1, 2, 3, 4, 5, 6, 7}), Error);
  EXPECT_THROW(s[4], Error);
}

TEST(Tensor, EmptyHasShapeDtypeAndBytes) {
  Tensor t = Tensor::empty({3, 5}, DType::BF16);
  EXPECT_TRUE(t.defined());
  EXPECT_EQ(t.nbytes(), 30u);
  EXPECT_EQ(t.str(), "bf16(3, 5) cpu");
  EXPECT_THROW(t.data<float>(), Error);
  EXPECT_NE(t.data<bf16>(), nullptr);
  EXPECT_FALSE(Tensor().defined());
}

// The matrix view the row-wise kernels use: first dimension by the rest, kept for empty batches.
TEST(Tensor, RowsAndColsSeeAMatrix) {
  const Tensor t = Tensor::empty({4, 3, 5}, DType::F32);
  EXPECT_EQ(t.rows(), 4);
  EXPECT_EQ(t.cols(), 15);
  const Tensor empty_batch = Tensor::empty({0, 7, 2}, DType::F32);
  EXPECT_EQ(empty_batch.rows(), 0);
  EXPECT_EQ(empty_batch.cols(), 14);
  const Tensor vec = Tensor::empty({6}, DType::F32);
  EXPECT_EQ(vec.rows(), 6);
  EXPECT_EQ(vec.cols(), 1);
  const Tensor scalar = Tensor::empty(Shape{}, DType::F32);
  EXPECT_EQ(scalar.rows(), 1);
  EXPECT_EQ(scalar.cols(), 1);
}

TEST(Tensor, SliceAndReshapeShareStorage) {
  Tensor t = Tensor::zeros({4, 3}, DType::F32);
  Tensor rows = t.slice(1, 3);
  EXPECT_EQ(rows.shape(), (Shape{2, 3}));
  rows.data<float>()[0] = 7.f;
  EXPECT_EQ(t.data<float>()[3], 7.f);
  Tensor flat = t.reshape({12});
  EXPECT_EQ(flat.data<float>()[3], 7.f);
  EXPECT_THROW(t.reshape({5}), Error);
  EXPECT_THROW(t.slice(2, 5), Error);
  EXPECT_THROW(t.slice(3, 2), Error);
  EXPECT_EQ(t.slice(4, 4).numel(), 0);
}

TEST(Tensor, ViewOutlivesOriginalHandle) {
  Tensor v;
  {
    Tensor t = Tensor::empty({100}, DType::I32);
    std::iota(t.data<int32_t>(), t.data<int32_t>() + 100, 0);
    v = t.view(90, {10});
  }
  EXPECT_EQ(v.data<int32_t>()[0], 90);
  EXPECT_EQ(v.data<int32_t>()[9], 99);
}

TEST(Tensor, HostCopyChecksShapeAndDtype) {
  Tensor a = Tensor::empty({6}, DType::F32);
  for (int i = 0; i < 6; ++i) a.data<float>()[i] = static_cast<float>(i) * 1.5f;
  Tensor b = Tensor::empty({2, 3}, DType::F32);
  copy(b, a);
  EXPECT_EQ(b.data<float>()[5], 7.5f);
  Tensor c = Tensor::empty({6}, DType::I32);
  EXPECT_THROW(copy(c, a), Error);
  Tensor d = Tensor::empty({5}, DType::F32);
  EXPECT_THROW(copy(d, a), Error);
}

TEST(Tensor, PinnedHostTensorIsUsableWithoutGpu) {
  Tensor p = Tensor::empty_pinned({16}, DType::U8);
  EXPECT_TRUE(p.is_pinned());
  EXPECT_FALSE(p.is_cuda());
  p.data<uint8_t>()[15] = 3;
  EXPECT_EQ(p.data<uint8_t>()[15], 3);
}

TEST(Tensor, Bf16RoundsToNearestEven) {
  EXPECT_EQ(float_to_bf16(1.0f).bits, 0x3f80);
  // 1 + 2^-8 is halfway between bf16 neighbours 1 and 1 + 2^-7: ties go to even (1.0).
  EXPECT_EQ(float_to_bf16(1.00390625f).bits, 0x3f80);
  // 1 + 3*2^-8 is halfway between 1 + 2^-7 (odd) and 1 + 2^-6 (even): goes up.
  EXPECT_EQ(float_to_bf16(1.01171875f).bits, 0x3f82);
  EXPECT_EQ(bf16_to_float(float_to_bf16(-2.5f)), -2.5f);
  EXPECT_TRUE(std::isnan(bf16_to_float(float_to_bf16(std::nanf("")))));
}

TEST(StreamEvent, EmptyOnTheCpuIgnoresEveryCallAndMoves) {
  StreamEvent e(Device::cpu());
  EXPECT_FALSE(e.defined());
  e.record(nullptr);
  e.host_wait();
  e.make_wait(nullptr);
  StreamEvent moved(std::move(e));
  EXPECT_FALSE(moved.defined());
  if (!cuda_available()) {
    EXPECT_THROW(StreamEvent{Device::cuda()}, Error);
  }
}

TEST(StreamEventGpu, OrdersOneStreamAfterAnotherAndTheHost) {
  REQUIRE_CUDA_DEVICE();
  Context& ctx = Context::get(Device::cuda());
  const int64_t n = (int64_t{1} << 24) + 3;  // 64 MB: the copies take long enough to overlap
  Tensor src = Tensor::empty_pinned({n}, DType::I32);
  for (int64_t i = 0; i < n; ++i) src.data<int32_t>()[i] = static_cast<int32_t>(i * 3);
  Tensor d = Tensor::empty({n}, DType::I32, Device::cuda(), ctx.transfer_stream());
  StreamEvent uploaded(Device::cuda());
  ASSERT_TRUE(uploaded.defined());
  copy(d, src, ctx.transfer_stream());
  uploaded.record(ctx.transfer_stream());
  uploaded.make_wait(main_stream(Device::cuda()));  // the download below reads the upload's result
  Tensor back = Tensor::empty_pinned({n}, DType::I32);
  copy(back, d, main_stream(Device::cuda()));
  StreamEvent downloaded(Device::cuda());
  downloaded.record(main_stream(Device::cuda()));
  StreamEvent moved;
  moved = std::move(downloaded);  // the event survives a move
  EXPECT_FALSE(downloaded.defined());
  moved.host_wait();
  for (int64_t i = 0; i < n; i += 4099) ASSERT_EQ(back.data<int32_t>()[i], static_cast<int32_t>(i * 3)) << i;
  ASSERT_EQ(back.data<int32_t>()[n - 1], static_cast<int32_t>((n - 1) * 3));
}

TEST(TensorGpu, RoundTripThroughDevice) {
  REQUIRE_CUDA_DEVICE();
  const int64_t n = 1001;  // not a multiple of anything
  Tensor h = Tensor::empty({n}, DType::F32);
  for (int64_t i = 0; i < n; ++i) h.data<float>()[i] = static_cast<float>(i) - 500.f;
  Tensor d = to_device(h, Device::cuda());
  Tensor d2 = Tensor::empty({n}, DType::F32, Device::cuda());
  copy(d2, d);
  Tensor back = test::host_copy(d2);
  for (int64_t i = 0; i < n; ++i) ASSERT_EQ(back.data<float>()[i], h.data<float>()[i]) << i;
  Tensor z = Tensor::zeros({n}, DType::F32, Device::cuda());
  Tensor zh = test::host_copy(z);
  for (int64_t i = 0; i < n; ++i) ASSERT_EQ(zh.data<float>()[i], 0.f);
}

TEST(TensorGpu, PinnedCopiesOnTransferStream) {
  REQUIRE_CUDA_DEVICE();
  Context& ctx = Context::get(Device::cuda());
  Tensor p = Tensor::empty_pinned({4097}, DType::I32);
  for (int i = 0; i < 4097; ++i) p.data<int32_t>()[i] = i * 7;
  Tensor d = Tensor::empty({4097}, DType::I32, Device::cuda(), ctx.transfer_stream());
  copy(d, p, ctx.transfer_stream());
  Tensor back = Tensor::empty_pinned({4097}, DType::I32);
  copy(back, d, ctx.transfer_stream());
  stream_synchronize(ctx.transfer_stream());
  for (int i = 0; i < 4097; ++i) ASSERT_EQ(back.data<int32_t>()[i], i * 7);
}

TEST(TensorGpu, ReleasingAPinnedBlockWaitsForItsCopyNotForOtherStreams) {
  REQUIRE_CUDA_DEVICE();
#if VGGTL_HAVE_CUDA
  // Another stream is held busy for 2 s by a host function; a page-locked block copied on the
  // transfer stream is released at once (its copy's event), not after that stream's work.
  Context& ctx = Context::get(Device::cuda());
  cudaStream_t busy = nullptr;
  CUDA_CHECK(cudaStreamCreateWithFlags(&busy, cudaStreamNonBlocking));
  CUDA_CHECK(cudaLaunchHostFunc(busy, [](void*) { std::this_thread::sleep_for(std::chrono::seconds(2)); }, nullptr));
  Tensor d = Tensor::empty({1 << 20}, DType::U8, Device::cuda(), ctx.transfer_stream());
  const auto start = std::chrono::steady_clock::now();
  {
    Tensor p = Tensor::empty_pinned({1 << 20}, DType::U8);
    std::fill(p.data<uint8_t>(), p.data<uint8_t>() + (1 << 20), uint8_t{7});
    copy(d, p, ctx.transfer_stream());
  }  // released here: waits for the copy only
  const double waited = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  EXPECT_LT(waited, 1.0) << "the release waited for unrelated work on another stream";
  stream_synchronize(ctx.transfer_stream());
  Tensor back = test::host_copy(d);
  EXPECT_EQ(back.data<uint8_t>()[(1 << 20) - 1], 7);
  CUDA_CHECK(cudaStreamSynchronize(busy));
  CUDA_CHECK(cudaStreamDestroy(busy));
#endif
}

}  // namespace vggtl
