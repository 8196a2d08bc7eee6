// Resize + preprocess: source indices and bilinear results worked by hand (and confirmed with
// Pillow 9.4, whose outputs are quoted), the caffe values, a CPU sweep of the CUDA per-thread
// functions over their whole launch grid against the CPU twin, and GPU vs CPU (exact: integer
// arithmetic and identical float steps, so the tolerance is zero); the batched variant likewise,
// its sweep over both launch grids of a mixed batch against the per-image twin.
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <cstring>
#include <vector>

#include "engine/context.h"
#include "engine/dtype.h"
#include "kernels/resize_preprocess.h"
#include "kernels/resize_preprocess_thread.h"
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

// A batch of images of mixed sizes and filters packed as a loader packs them: sources one after
// another at odd byte offsets, tables concatenated, output rows with a poisoned gap between them.
struct BatchCase {
  std::vector<uint8_t> in;
  std::vector<int32_t> table;
  std::vector<ResizeBatchItem> items;
  std::vector<ResizePlan> plans;
  ResizeBatchGrid grid;
  int64_t out_elems = 0;
};

constexpr int64_t kRowGap = 7;  // elements between output rows that nothing may write

BatchCase make_batch(const std::vector<SizeCase>& sizes, const std::vector<ResizeFilter>& filters, uint32_t seed) {
  BatchCase b;
  for (size_t i = 0; i < sizes.size(); ++i) {
    const SizeCase& s = sizes[i];
    ResizePlan plan = make_resize_plan(s.in_h, s.in_w, s.out_h, s.out_w, filters[i % filters.size()]);
    ResizeBatchItem it;
    it.g = plan.g;
    b.in.resize(b.in.size() + 3);  // odd offsets: the kernels must not assume alignment
    it.in_offset = static_cast<int64_t>(b.in.size());
    const auto px = test::random_bytes(static_cast<size_t>(s.in_h) * s.in_w * 3, seed + static_cast<uint32_t>(i));
    b.in.insert(b.in.end(), px.begin(), px.end());
    it.table_offset = static_cast<int64_t>(b.table.size());
    b.table.insert(b.table.end(), plan.table.begin(), plan.table.end());
    it.out_offset = b.out_elems;
    b.out_elems += int64_t{s.out_h} * s.out_w * 3 + kRowGap;
    b.items.push_back(it);
    b.plans.push_back(std::move(plan));
  }
  b.grid = resize_batch_plan(b.items.data(), static_cast<int>(b.items.size()));
  return b;
}

// NaN as test::poisoned writes it, so that untouched elements compare equal bit for bit.
void poison(std::vector<float>& v) { std::fill(v.begin(), v.end(), std::nanf("")); }
void poison(std::vector<bf16>& v) { std::memset(v.data(), 0xFF, v.size() * sizeof(bf16)); }

// Per-image CPU twin into each item's row; gaps stay NaN.
template <typename OutT>
std::vector<OutT> per_image(const BatchCase& b, PixelTransform t) {
  std::vector<OutT> out(static_cast<size_t>(b.out_elems));
  poison(out);
  for (size_t i = 0; i < b.items.size(); ++i)
    resize_preprocess_cpu(out.data() + b.items[i].out_offset, b.in.data() + b.items[i].in_offset,
                          b.plans[i].table.data(), b.plans[i].g, t);
  return out;
}

// The batched kernels' per-thread functions over every (block, thread) of both grids.
template <typename OutT>
std::vector<OutT> sweep_batch(const BatchCase& b, PixelTransform t) {
  std::vector<OutT> out(static_cast<size_t>(b.out_elems));
  poison(out);
  std::vector<uint8_t> tmp(static_cast<size_t>(b.grid.tmp_bytes) + 1, 0xCD);
  const int n = static_cast<int>(b.items.size());
  for (int64_t cta = 0; cta < b.grid.tmp_ctas; ++cta)
    for (int th = 0; th < kResizeBatchThreads; ++th)
      resize_batch_horizontal_thread(cta, th, tmp.data(), b.in.data(), b.table.data(), b.items.data(), n);
  for (int64_t cta = 0; cta < b.grid.out_ctas; ++cta)
    for (int th = 0; th < kResizeBatchThreads; ++th)
      resize_batch_output_thread(cta, th, out.data(), tmp.data(), b.in.data(), b.table.data(), b.items.data(), n, t);
  return out;
}

template <typename OutT>
::testing::AssertionResult bitwise_equal(const std::vector<OutT>& got, const std::vector<OutT>& want) {
  if (got.size() != want.size()) return ::testing::AssertionFailure() << "sizes differ";
  for (size_t i = 0; i < got.size(); ++i)
    if (std::memcmp(&got[i], &want[i], sizeof(OutT)) != 0)
      return ::testing::AssertionFailure() << "first difference at element " << i;
  return ::testing::AssertionSuccess();
}

const std::vector<SizeCase> kBatchSizes = {{37, 61, 32, 45}, {13, 20, 40, 33}, {1, 1, 32, 32},
                                           {300, 17, 32, 224}, {64, 64, 64, 64}, {5, 3, 33, 31}};

TEST(ResizePreprocessBatch, PlanGivesEveryItemItsBlocksAndScratch) {
  const BatchCase b = make_batch(kBatchSizes, {ResizeFilter::Bilinear, ResizeFilter::Nearest}, 1);
  int64_t out = 0, tmp = 0, tmp_bytes = 0;
  for (const ResizeBatchItem& it : b.items) {
    EXPECT_EQ(it.first_cta, out);
    out += (int64_t{it.g.out_h} * it.g.out_w + 255) / 256;
    EXPECT_EQ(it.first_tmp_cta, tmp);
    EXPECT_EQ(it.tmp_offset, tmp_bytes);
    if (it.g.filter == ResizeFilter::Bilinear) {
      tmp += (int64_t{it.g.tmp_rows} * it.g.out_w + 255) / 256;
      tmp_bytes += static_cast<int64_t>(resize_tmp_bytes(it.g));
    }
  }
  EXPECT_EQ(b.grid.out_ctas, out);
  EXPECT_EQ(b.grid.tmp_ctas, tmp);
  EXPECT_EQ(b.grid.tmp_bytes, tmp_bytes);
  // Nearest items own no horizontal blocks: the search skips them to the next bilinear item.
  EXPECT_EQ(resize_batch_find(b.items.data(), 6, b.items[2].first_tmp_cta, true), 2);
  EXPECT_EQ(resize_batch_find(b.items.data(), 6, b.items[1].first_cta, false), 1);
}

TEST(ResizePreprocessBatch, PerThreadFunctionsSweptOverTheGridMatchThePerImageTwin) {
  const std::vector<std::vector<ResizeFilter>> mixes = {
      {ResizeFilter::Nearest}, {ResizeFilter::Bilinear}, {ResizeFilter::Nearest, ResizeFilter::Bilinear}};
  for (size_t m = 0; m < mixes.size(); ++m) {
    for (const std::vector<SizeCase>& sizes : {kBatchSizes, std::vector<SizeCase>{{3, 300, 32, 32}}}) {
      const BatchCase b = make_batch(sizes, mixes[m], 40 + static_cast<uint32_t>(m));
      const int n = static_cast<int>(b.items.size());
      for (PixelTransform t : {PixelTransform::Caffe, PixelTransform::None}) {
        const auto want = per_image<float>(b, t);
        EXPECT_TRUE(bitwise_equal(sweep_batch<float>(b, t), want)) << "mix " << m << ", " << n << " items";
        std::vector<float> twin(want.size());
        poison(twin);
        resize_preprocess_batch_cpu(twin.data(), b.in.data(), b.table.data(), b.items.data(), n, t);
        EXPECT_TRUE(bitwise_equal(twin, want)) << "mix " << m;
        EXPECT_TRUE(bitwise_equal(sweep_batch<bf16>(b, t), per_image<bf16>(b, t))) << "bf16, mix " << m;
      }
    }
  }
}

TEST(ResizePreprocessBatchGpu, MatchesCpuExactly) {
  REQUIRE_CUDA_DEVICE();
  const Device gpu = Device::cuda();
  for (const std::vector<SizeCase>& sizes : {kBatchSizes, std::vector<SizeCase>{{375, 500, 224, 224}}}) {
    const BatchCase b = make_batch(sizes, {ResizeFilter::Nearest, ResizeFilter::Bilinear}, 77);
    const int n = static_cast<int>(b.items.size());
    auto upload = [&](const void* p, size_t bytes) {
      Tensor h = Tensor::wrap(const_cast<void*>(p), Shape{static_cast<int64_t>(bytes)}, DType::U8);
      return to_device(h, gpu);
    };
    Tensor in = upload(b.in.data(), b.in.size());
    Tensor table = upload(b.table.data(), b.table.size() * sizeof(int32_t));
    Tensor items = upload(b.items.data(), b.items.size() * sizeof(ResizeBatchItem));
    Tensor tmp = Tensor::empty(Shape{b.grid.tmp_bytes + 1}, DType::U8, gpu);
    for (PixelTransform t : {PixelTransform::Caffe, PixelTransform::None}) {
      for (DType dt : {DType::F32, DType::BF16}) {
        Tensor out = test::poisoned(Shape{b.out_elems}, dt, gpu);
        resize_preprocess_batch(gpu, dt, out.raw(), tmp.data<uint8_t>(), in.data<uint8_t>(),
                                reinterpret_cast<const int32_t*>(table.raw()),
                                reinterpret_cast<const ResizeBatchItem*>(items.raw()), n, b.grid, t,
                                main_stream(gpu));
        const Tensor host = test::host_copy(out);
        if (dt == DType::F32) {
          const float* p = host.data<float>();
          EXPECT_TRUE(bitwise_equal(std::vector<float>(p, p + b.out_elems), per_image<float>(b, t)))
              << n << " items";
        } else {
          const bf16* p = host.data<bf16>();
          EXPECT_TRUE(bitwise_equal(std::vector<bf16>(p, p + b.out_elems), per_image<bf16>(b, t)))
              << n << " items, bf16";
        }
      }
    }
  }
}

}  // namespace
}  // namespace vggtl
