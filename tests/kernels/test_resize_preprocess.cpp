// Resize + preprocess: source indices and bilinear results worked by hand (and confirmed with
// Pillow 9.4, whose outputs are quoted), the caffe values, a CPU sweep of the CUDA per-thread
// functions over their whole launch grid against the CPU twin, and GPU vs CPU (exact: integer
// arithmetic and identical float steps, so the tolerance is zero).
#include <gtest/gtest.h>

#include <cmath>
#include <cstring>
#include <vector>

#include "engine/dtype.h"
#include "kernels/resize_preprocess.h"
#include "support/image_writer.h"
#include "test_util.h"

namespace vggtl {
namespace {

// Resizes a grey image (replicated to RGB) with PixelTransform::None and returns channel 0.
std::vector<int> resize_grey(const std::vector<uint8_t>& grey, int h, int w, int oh, int ow, ResizeFilter f) {
  std::vector<uint8_t> rgb;
  for (uint8_t g : grey) rgb.insert(rgb.end(), {g, g, g});
  ResizePlan plan = make_resize_plan(h, w, oh, ow, f);
  std::vector<float> out(static_cast<size_t>(oh) * ow * 3, std::nanf(""));
  resize_preprocess_cpu(out.data(), rgb.data(), plan.table.data(), plan.g, PixelTransform::None);
  std::vector<int> r;
  for (size_t i = 0; i < out.size(); i += 3) r.push_back(static_cast<int>(out[i]));
  return r;
}

std::vector<int> nearest_map(int in, int out) {
  ResizePlan plan = make_resize_plan(1, in, 1, out, ResizeFilter::Nearest);
  return std::vector<int>(plan.table.begin() + plan.g.off_x, plan.table.begin() + plan.g.off_x + out);
}

TEST(ResizeNearest, HandComputedIndices) {
  // 5 -> 3: scale 5/3, positions 0.83, 2.5, 4.17.
  EXPECT_EQ(nearest_map(5, 3), (std::vector<int>{0, 2, 4}));
  // 2 -> 5: scale 0.4, positions 0.2, 0.6, 1.0, 1.4, 1.8.
  EXPECT_EQ(nearest_map(2, 5), (std::vector<int>{0, 0, 1, 1, 1}));
  // Same size: identity (Keras skips the resize; the result is the same).
  EXPECT_EQ(nearest_map(4, 4), (std::vector<int>{0, 1, 2, 3}));
}

TEST(ResizeNearest, RunningSumDiffersFromTheDirectFormula) {
  // 64 -> 224: after three additions of 64/224 the running sum from 0.5 * scale is
  // 0.9999999999999999, so column 3 reads source 0, while int((3 + 0.5) * 64 / 224) = 1.
  // Pillow 9.4 gives [0, 0, 0, 0, 1, 1] for the first six columns.
  const std::vector<int> map = nearest_map(64, 224);
  EXPECT_EQ(std::vector<int>(map.begin(), map.begin() + 6), (std::vector<int>{0, 0, 0, 0, 1, 1}));
  EXPECT_EQ(static_cast<int>((3 + 0.5) * (64.0 / 224.0)), 1);
  // Rows use the same arithmetic.
  ResizePlan plan = make_resize_plan(64, 10, 224, 10, ResizeFilter::Nearest);
  EXPECT_EQ(plan.table[plan.g.off_y + 3], 0);
}

TEST(ResizeNearest, EveryIndexIsTheRunningSum) {
  for (int in : {1, 3, 75, 224, 333, 500, 3024}) {
    for (int out : {32, 224, 225}) {
      const std::vector<int> map = nearest_map(in, out);
      const double scale = static_cast<double>(in) / out;
      double pos = 0.5 * scale;
      for (int o = 0; o < out; ++o, pos += scale) ASSERT_EQ(map[o], static_cast<int>(pos)) << in << "->" << out << " at " << o;
    }
  }
}

TEST(ResizeBilinear, HandComputedOneDimensional) {
  // 4 -> 2: scale 2, support 2; output 0 takes sources 0..2 with weights 3/7, 3/7, 1/7, output
  // 1 sources 1..3 with 1/7, 3/7, 3/7: 120/7 -> 17, 230/7 -> 33 (Pillow: [17, 33]).
  EXPECT_EQ(resize_grey({10, 20, 30, 40}, 1, 4, 1, 2, ResizeFilter::Bilinear), (std::vector<int>{17, 33}));
  EXPECT_EQ(resize_grey({10, 20, 30, 40}, 4, 1, 2, 1, ResizeFilter::Bilinear), (std::vector<int>{17, 33}));
  // 2 -> 4: weights 1; 3/4, 1/4; 1/4, 3/4; 1 (Pillow: [0, 25, 75, 100]).
  EXPECT_EQ(resize_grey({0, 100}, 1, 2, 1, 4, ResizeFilter::Bilinear), (std::vector<int>{0, 25, 75, 100}));
  ResizePlan plan = make_resize_plan(1, 4, 1, 2, ResizeFilter::Bilinear);
  EXPECT_EQ(plan.g.ksize_x, 5);
  const int32_t* k = plan.table.data() + plan.g.off_kx;
  EXPECT_EQ(k[0], 1797559);  // round(3/7 * 2^22)
  EXPECT_EQ(k[2], 599186);   // round(1/7 * 2^22)
}

TEST(ResizeBilinear, TwoPassesRoundBetweenPasses) {
  // 4x4 -> 2x2. Output (0,0) of the grey values below: rows 0..2 first give 250/7 -> 36,
  // 1380/7 -> 197, 120/7 -> 17, then (3*36 + 3*197 + 17)/7 = 102.3 -> 102. Pillow 9.4 gives
  // R [[102, 89], [98, 73]], G = g/2 [[51, 44], [49, 36]], B = 255 - g [[153, 166], [157, 182]].
  const uint8_t g[16] = {0, 50, 100, 150, 200, 250, 30, 80, 10, 20, 30, 40, 255, 0, 255, 0};
  std::vector<uint8_t> rgb;
  for (uint8_t v : g) rgb.insert(rgb.end(), {v, static_cast<uint8_t>(v / 2), static_cast<uint8_t>(255 - v)});
  ResizePlan plan = make_resize_plan(4, 4, 2, 2, ResizeFilter::Bilinear);
  std::vector<float> out(12);
  resize_preprocess_cpu(out.data(), rgb.data(), plan.table.data(), plan.g, PixelTransform::None);
  const float want[12] = {102, 51, 153, 89, 44, 166, 98, 49, 157, 73, 36, 182};
  for (int i = 0; i < 12; ++i) EXPECT_EQ(out[i], want[i]) << "element " << i;
}

TEST(ResizePreprocess, CaffeIsBgrMinusMeansInFloat32) {
  const std::vector<uint8_t> px = {10, 20, 30, 255, 0, 128};  // two pixels, RGB
  ResizePlan plan = make_resize_plan(1, 2, 1, 2, ResizeFilter::Nearest);
  std::vector<float> out(6);
  resize_preprocess_cpu(out.data(), px.data(), plan.table.data(), plan.g, PixelTransform::Caffe);
  // B - 103.939, G - 116.779, R - 123.68 in float32 (Keras subtracts in the array's float32):
  // for the first pixel the results are the nearest floats to -73.939, -96.779, -113.68; the
  // second pixel leaves the constants' binade, so its expectations are the float operations.
  const float want[6] = {-73.939f, -96.779f, -113.68f, 128.0f - 103.939f, 0.0f - 116.779f, 255.0f - 123.68f};
  for (int i = 0; i < 6; ++i) EXPECT_EQ(out[i], want[i]) << "element " << i;
  resize_preprocess_cpu(out.data(), px.data(), plan.table.data(), plan.g, PixelTransform::None);
  for (int i = 0; i < 6; ++i) EXPECT_EQ(out[i], float(px[i]));
  std::vector<bf16> half(6);
  resize_preprocess_cpu(half.data(), px.data(), plan.table.data(), plan.g, PixelTransform::Caffe);
  for (int i = 0; i < 6; ++i) EXPECT_EQ(half[i].bits, float_to_bf16(want[i]).bits) << "element " << i;
}

// The CUDA per-thread functions, run on the CPU over every (block, thread) of their grids.
template <typename OutT>
std::vector<OutT> sweep(const std::vector<uint8_t>& in, const ResizePlan& plan, PixelTransform t, int block_dim) {
  const ResizeGeometry& g = plan.g;
  std::vector<OutT> out(static_cast<size_t>(g.out_h) * g.out_w * 3);
  for (OutT& v : out) std::memset(&v, 0xFF, sizeof v);  // NaN
  const int64_t n_out = static_cast<int64_t>(g.out_h) * g.out_w;
  const int blocks = static_cast<int>((n_out + block_dim - 1) / block_dim);
  if (g.filter == ResizeFilter::Nearest) {
    for (int b = 0; b < blocks; ++b)
      for (int t_ = 0; t_ < block_dim; ++t_) resize_nearest_thread(b, t_, block_dim, out.data(), in.data(), plan.table.data(), g, t);
    return out;
  }
  std::vector<uint8_t> tmp(resize_tmp_bytes(g), 0xCD);
  const int64_t n_tmp = static_cast<int64_t>(g.tmp_rows) * g.out_w;
  const int tmp_blocks = static_cast<int>((n_tmp + block_dim - 1) / block_dim);
  for (int b = 0; b < tmp_blocks; ++b)
    for (int t_ = 0; t_ < block_dim; ++t_) resample_horizontal_thread(b, t_, block_dim, tmp.data(), in.data(), plan.table.data(), g);
  for (int b = 0; b < blocks; ++b)
    for (int t_ = 0; t_ < block_dim; ++t_) resample_vertical_thread(b, t_, block_dim, out.data(), tmp.data(), plan.table.data(), g, t);
  return out;
}

struct SizeCase {
  int in_h, in_w, out_h, out_w;
};
const SizeCase kSizes[] = {{37, 61, 32, 45}, {13, 20, 40, 33}, {1, 1, 32, 32}, {300, 17, 32, 224}, {224, 224, 224, 224}};

TEST(ResizePreprocess, PerThreadFunctionsSweptOnTheCpuMatchTheCpuTwin) {
  for (const SizeCase& s : kSizes) {
    const auto in = test::random_bytes(static_cast<size_t>(s.in_h) * s.in_w * 3, s.in_h * 131 + s.in_w);
    for (ResizeFilter f : {ResizeFilter::Nearest, ResizeFilter::Bilinear}) {
      const ResizePlan plan = make_resize_plan(s.in_h, s.in_w, s.out_h, s.out_w, f);
      std::vector<float> want(static_cast<size_t>(s.out_h) * s.out_w * 3);
      resize_preprocess_cpu(want.data(), in.data(), plan.table.data(), plan.g, PixelTransform::Caffe);
      const auto got = sweep<float>(in, plan, PixelTransform::Caffe, 96);  // 96: a partial last block
      const test::Comparison c = test::compare(got.data(), want.data(), static_cast<int64_t>(want.size()));
      EXPECT_TRUE(test::within(c, 0.0)) << resize_filter_name(f) << " " << s.in_h << "x" << s.in_w << " -> "
                                        << s.out_h << "x" << s.out_w;
      std::vector<bf16> want16(want.size());
      resize_preprocess_cpu(want16.data(), in.data(), plan.table.data(), plan.g, PixelTransform::Caffe);
      const auto got16 = sweep<bf16>(in, plan, PixelTransform::Caffe, 128);
      for (size_t i = 0; i < want16.size(); ++i) ASSERT_EQ(got16[i].bits, want16[i].bits) << "bf16 element " << i;
    }
  }
}

TEST(ResizePreprocessGpu, MatchesCpuExactly) {
  REQUIRE_CUDA_DEVICE();
  for (const SizeCase& s : kSizes) {
    const auto bytes = test::random_bytes(static_cast<size_t>(s.in_h) * s.in_w * 3, s.in_w);
    Tensor in = Tensor::empty(Shape{s.in_h, s.in_w, 3}, DType::U8);
    std::memcpy(in.raw(), bytes.data(), bytes.size());
    Tensor in_gpu = to_device(in, Device::cuda());
    for (ResizeFilter f : {ResizeFilter::Nearest, ResizeFilter::Bilinear}) {
      for (PixelTransform t : {PixelTransform::Caffe, PixelTransform::None}) {
        const ResizePlan plan = make_resize_plan(s.in_h, s.in_w, s.out_h, s.out_w, f);
        Tensor want = Tensor::empty(Shape{s.out_h, s.out_w, 3}, DType::F32);
        resize_preprocess(want, in, plan, t);
        Tensor got = test::poisoned(Shape{s.out_h, s.out_w, 3}, DType::F32, Device::cuda());
        resize_preprocess(got, in_gpu, plan, t);
        Tensor host = test::host_copy(got);
        const test::Comparison c = test::compare(host.data<float>(), want.data<float>(), want.numel());
        EXPECT_TRUE(test::within(c, 0.0)) << resize_filter_name(f) << " " << s.in_h << "x" << s.in_w;
        Tensor got16 = test::poisoned(Shape{s.out_h, s.out_w, 3}, DType::BF16, Device::cuda());
        resize_preprocess(got16, in_gpu, plan, t);
        Tensor want16 = Tensor::empty(Shape{s.out_h, s.out_w, 3}, DType::BF16);
        resize_preprocess(want16, in, plan, t);
        Tensor host16 = test::host_copy(got16);
        EXPECT_EQ(std::memcmp(host16.raw(), want16.raw(), want16.nbytes()), 0);
      }
    }
  }
}

}  // namespace
}  // namespace vggtl
