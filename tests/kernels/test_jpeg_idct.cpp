// JPEG IDCT: the CPU twin against libjpeg-turbo's own IDCT output (raw_data_out) exactly, against
// a double-precision IDCT, hand-computed DC blocks and range limits; the CUDA per-thread passes
// swept over the launch grid (shared workspace and barrier emulated) against the CPU twin; GPU.
#include <gtest/gtest.h>

#include <algorithm>
#include <climits>
#include <cmath>
#include <cstdio>
#include <random>
#include <vector>

#include "engine/context.h"
#include "io/image/jpeg_coefficients.h"
#include "kernels/jpeg_idct.h"
#include "kernels/jpeg_idct_thread.h"
#include "support/jpeg_fixtures.h"
#include "test_util.h"

namespace vggtl {
namespace {

using test::JpegFixture;
using test::JpegStorage;


// A batch of planes with odd block counts, several quantisation tables and gaps between
// everything, so that every offset is exercised.
struct IdctBatch {
  std::vector<int16_t> coefs;
  std::vector<uint16_t> quant;
  std::vector<JpegIdctPlane> planes;
  int64_t out_bytes = 0;
};

IdctBatch random_idct_batch(uint64_t seed, bool extreme) {
  std::mt19937_64 rng(seed);
  IdctBatch b;
  const int dims[][2] = {{1, 1}, {3, 5}, {33, 1}, {1, 40}, {40, 40}, {7, 2}, {0, 3}, {2, 2}};
  for (int t = 0; t < 3; ++t)
    for (int i = 0; i < 64; ++i) b.quant.push_back(static_cast<uint16_t>(1 + rng() % (t == 2 ? 255 : 40)));
  int64_t coef_at = 5, out_at = 16;
  for (const auto& d : dims) {
    JpegIdctPlane p;
    p.width_in_blocks = d[0];
    p.height_in_blocks = d[1];
    p.coef_offset = coef_at;
    p.out_offset = out_at;
    p.quant_offset = static_cast<int32_t>(64 * (b.planes.size() % 3));
    const int64_t blocks = int64_t{d[0]} * d[1];
    coef_at += blocks * 64 + 7;
    out_at += blocks * 64 + 24;  // stays a multiple of 8, as the device stores need
    b.planes.push_back(p);
  }
  b.coefs.assign(static_cast<size_t>(coef_at), 0);
  for (int16_t& c : b.coefs) {
    const uint64_t r = rng();
    if (extreme && r % 5 == 0) {
      c = static_cast<int16_t>(r >> 16);  // anything: int64 sums, saturation
    } else if (r % 8 < 5) {
      c = 0;  // sparse, as real blocks are: exercises the DC-only shortcuts
    } else {
      c = static_cast<int16_t>(static_cast<int>((r >> 8) % 61) - 30);
    }
  }
  b.out_bytes = out_at;
  return b;
}

std::vector<uint8_t> run_cpu(const IdctBatch& b) {
  std::vector<uint8_t> out(static_cast<size_t>(b.out_bytes), test::kPoison);
  jpeg_idct_cpu(out.data(), b.coefs.data(), b.quant.data(), b.planes.data(),
                static_cast<int>(b.planes.size()));
  return out;
}

std::vector<uint8_t> plane_mask(const IdctBatch& b) {
  std::vector<uint8_t> mask(static_cast<size_t>(b.out_bytes), 0);
  for (const JpegIdctPlane& p : b.planes)
    std::fill_n(mask.begin() + p.out_offset, int64_t{p.width_in_blocks} * p.height_in_blocks * 64, 1);
  return mask;
}

TEST(JpegIdct, PlanesEqualLibjpegRawOutput) {
  struct Case {
    JpegStorage storage;
    int h0, v0, w, h, quality;
    bool progressive;
  };
  const Case cases[] = {
      {JpegStorage::YCbCr, 2, 2, 250, 187, 75, false}, {JpegStorage::YCbCr, 1, 1, 33, 31, 100, false},
      {JpegStorage::YCbCr, 2, 1, 17, 33, 50, true},    {JpegStorage::YCbCr, 1, 2, 7, 9, 95, false},
      {JpegStorage::Gray, 1, 1, 1, 1, 75, false},       {JpegStorage::Gray, 1, 1, 64, 3, 100, true},
      {JpegStorage::YCbCr, 4, 1, 45, 20, 90, false},
  };
  for (const Case& c : cases) {
    JpegFixture f;
    f.storage = c.storage;
    f.sampling(c.h0, c.v0);
    f.width = c.w;
    f.height = c.h;
    f.quality = c.quality;
    f.progressive = c.progressive;
    f.content = test::ImageContent::Noise;  // busy blocks: every coefficient in use
    const std::vector<uint8_t> jpeg = test::encode_jpeg(f);
    ASSERT_FALSE(jpeg.empty()) << f.str();
    std::vector<test::RawPlane> ref;
    std::string why;
    ASSERT_TRUE(test::libjpeg_decode_planes(jpeg, &ref, &why)) << f.str() << ": " << why;
    JpegCoefficients jc;
    ASSERT_TRUE(read_jpeg_coefficients(jpeg.data(), jpeg.size(), &jc, &why)) << why;
    ASSERT_EQ(static_cast<int>(ref.size()), jc.layout.num_components);
    for (int k = 0; k < jc.layout.num_components; ++k) {
      const JpegComponentLayout& comp = jc.layout.comp[k];
      ASSERT_EQ(ref[k].width_in_blocks, comp.width_in_blocks);
      ASSERT_EQ(ref[k].height_in_blocks, comp.height_in_blocks);
      JpegIdctPlane p;
      p.coef_offset = comp.coef_offset;
      p.width_in_blocks = comp.width_in_blocks;
      p.height_in_blocks = comp.height_in_blocks;
      std::vector<uint8_t> out(static_cast<size_t>(comp.num_blocks() * 64), test::kPoison);
      jpeg_idct_cpu(out.data(), jc.coefs.data(), comp.quant, &p, 1);
      int64_t diffs = 0;
      for (size_t i = 0; i < out.size(); ++i) diffs += out[i] != ref[k].samples[i];
      EXPECT_EQ(diffs, 0) << f.str() << " component " << k;
    }
  }
}

TEST(JpegIdct, DcOnlyBlockIsRoundedMeanPlusCenter) {
  // Both passes keep a lone DC exact: sample = 128 + floor((dc * q + 4) / 8), clamped.
  JpegIdctPlane p;
  p.width_in_blocks = p.height_in_blocks = 1;
  for (int q : {1, 3, 16}) {
    for (int dc = -1100; dc <= 1100; dc += 7) {
      int16_t coef[64] = {};
      coef[0] = static_cast<int16_t>(dc);
      uint16_t quant[64];
      std::fill_n(quant, 64, static_cast<uint16_t>(q));
      uint8_t out[64];
      jpeg_idct_cpu(out, coef, quant, &p, 1);
      const int want = std::clamp(128 + static_cast<int>(std::floor((dc * q + 4) / 8.0)), 0, 255);
      for (int i = 0; i < 64; ++i) ASSERT_EQ(out[i], want) << "dc " << dc << " q " << q << " at " << i;
    }
  }
}

TEST(JpegIdct, WithinOneOfDoublePrecisionIdct) {
  // The accurate integer IDCT is IEEE-1180 grade: never more than 1 from the rounded true value.
  std::mt19937 rng(3);
  JpegIdctPlane p;
  p.width_in_blocks = p.height_in_blocks = 1;
  int worst = 0;
  for (int trial = 0; trial < 300; ++trial) {
    int16_t coef[64];
    uint16_t quant[64];
    for (int i = 0; i < 64; ++i) {
      quant[i] = static_cast<uint16_t>(1 + rng() % 8);
      coef[i] = static_cast<int16_t>(static_cast<int>(rng() % 41) - 20);
    }
    uint8_t out[64];
    jpeg_idct_cpu(out, coef, quant, &p, 1);
    for (int y = 0; y < 8; ++y) {
      for (int x = 0; x < 8; ++x) {
        double s = 0;
        for (int v = 0; v < 8; ++v)
          for (int u = 0; u < 8; ++u)
            s += (u ? 1.0 : M_SQRT1_2) * (v ? 1.0 : M_SQRT1_2) * coef[v * 8 + u] * quant[v * 8 + u] *
                 std::cos((2 * x + 1) * u * M_PI / 16) * std::cos((2 * y + 1) * v * M_PI / 16);
        const int want = std::clamp(static_cast<int>(std::lround(s / 4)) + 128, 0, 255);
        worst = std::max(worst, std::abs(out[y * 8 + x] - want));
      }
    }
  }
  EXPECT_LE(worst, 1);
}

TEST(JpegIdct, RangeLimitClampsAroundCenter) {
  using jpeg_islow::range_limit;
  EXPECT_EQ(range_limit(0), 128);
  EXPECT_EQ(range_limit(-128), 0);
  EXPECT_EQ(range_limit(127), 255);
  EXPECT_EQ(range_limit(-129), 0);
  EXPECT_EQ(range_limit(128), 255);
  EXPECT_EQ(range_limit(511), 255);
  EXPECT_EQ(range_limit(-512), 0);
  EXPECT_EQ(range_limit(600), 255);   // jidctint.c's table would wrap to 0 here
  EXPECT_EQ(range_limit(-600), 0);    // and to 255 here
  EXPECT_EQ(range_limit(1 << 30), 255);
}

TEST(JpegIdct, PlanGivesEachPlaneItsThreadBlocks) {
  IdctBatch b = random_idct_batch(1, false);
  const int n = static_cast<int>(b.planes.size());
  const int64_t ctas = jpeg_idct_plan(b.planes.data(), n);
  int64_t want = 0;
  for (const JpegIdctPlane& p : b.planes)
    want += (int64_t{p.width_in_blocks} * p.height_in_blocks + kIdctBlocksPerCta - 1) / kIdctBlocksPerCta;
  EXPECT_EQ(ctas, want);
  for (int64_t cta = 0; cta < ctas; ++cta) {
    const int i = jpeg_idct_find_plane(b.planes.data(), n, cta);
    EXPECT_LE(b.planes[i].first_cta, cta);
    EXPECT_GT(int64_t{b.planes[i].width_in_blocks} * b.planes[i].height_in_blocks, 0)
        << "thread block " << cta << " landed on an empty plane";
    if (i + 1 < n) {
      EXPECT_GT(b.planes[i + 1].first_cta, cta);
    }
  }
  b.planes[2].out_offset += 4;  // the device writes 8 samples at a time
  EXPECT_THROW(jpeg_idct_plan(b.planes.data(), n), Error);
}

// Runs the kernel's two passes for every thread of every thread block, with the workspace as
// shared memory and the barrier between the passes; checks each 8x8 lane is covered once.
void sweep(const IdctBatch& b, int64_t ctas, std::vector<uint8_t>* out) {
  const int n = static_cast<int>(b.planes.size());
  std::vector<int> covered;
  std::vector<int64_t> block_base(b.planes.size() + 1, 0);
  for (int i = 0; i < n; ++i)
    block_base[i + 1] = block_base[i] + int64_t{b.planes[i].width_in_blocks} * b.planes[i].height_in_blocks;
  covered.assign(static_cast<size_t>(block_base[n] * 8), 0);
  std::vector<int32_t> ws(kIdctBlocksPerCta * kIdctWsStride);
  for (int64_t cta = 0; cta < ctas; ++cta) {
    std::fill(ws.begin(), ws.end(), INT32_MIN);
    for (int t = 0; t < kIdctThreads; ++t) {
      const JpegIdctWork w = jpeg_idct_work(b.planes.data(), n, cta, t);
      if (w.active)
        jpeg_idct_column_thread(b.planes[w.plane], w, b.coefs.data(), b.quant.data(),
                                ws.data() + w.slot * kIdctWsStride);
    }
    for (int t = 0; t < kIdctThreads; ++t) {
      const JpegIdctWork w = jpeg_idct_work(b.planes.data(), n, cta, t);
      if (!w.active) continue;
      jpeg_idct_row_thread(b.planes[w.plane], w, ws.data() + w.slot * kIdctWsStride, out->data());
      ++covered[static_cast<size_t>((block_base[w.plane] + w.block) * 8 + w.lane)];
    }
  }
  int64_t wrong = 0;
  for (int c : covered) wrong += c != 1;
  EXPECT_EQ(wrong, 0) << "block rows not done exactly once";
}

void expect_sweep_matches(uint64_t seed, bool extreme) {
  IdctBatch b = random_idct_batch(seed, extreme);
  const int64_t ctas = jpeg_idct_plan(b.planes.data(), static_cast<int>(b.planes.size()));
  const std::vector<uint8_t> want = run_cpu(b);
  std::vector<uint8_t> got(static_cast<size_t>(b.out_bytes), test::kPoison);
  sweep(b, ctas, &got);
  const std::vector<uint8_t> mask = plane_mask(b);
  int64_t diffs = 0, outside = 0;
  for (size_t i = 0; i < got.size(); ++i) {
    diffs += got[i] != want[i];
    outside += !mask[i] && got[i] != test::kPoison;
  }
  EXPECT_EQ(diffs, 0);
  EXPECT_EQ(outside, 0) << "bytes written outside the planes";
}

TEST(JpegIdct, PerThreadSweepOverLaunchGridEqualsCpuTwin) { expect_sweep_matches(2, false); }

TEST(JpegIdct, PerThreadSweepEqualsCpuTwinOnExtremeCoefficients) {
  // Large products take the 64-bit path of the per-thread passes and saturate.
  expect_sweep_matches(4, true);
}

TEST(JpegIdctGpu, MatchesCpuTwin) {
  REQUIRE_CUDA_DEVICE();
  for (bool extreme : {false, true}) {
    IdctBatch b = random_idct_batch(extreme ? 9 : 8, extreme);
    const int n = static_cast<int>(b.planes.size());
    const int64_t ctas = jpeg_idct_plan(b.planes.data(), n);
    const std::vector<uint8_t> want = run_cpu(b);
    const Device gpu = Device::cuda();
    auto upload = [&](void* p, size_t bytes) {
      return to_device(Tensor::wrap(p, Shape{static_cast<int64_t>(bytes)}, DType::U8), gpu);
    };
    Tensor coefs = upload(b.coefs.data(), b.coefs.size() * 2);
    Tensor quant = upload(b.quant.data(), b.quant.size() * 2);
    Tensor planes = upload(b.planes.data(), b.planes.size() * sizeof(JpegIdctPlane));
    std::vector<uint8_t> poison(static_cast<size_t>(b.out_bytes), test::kPoison);
    Tensor out = upload(poison.data(), poison.size());
    jpeg_idct(gpu, out.data<uint8_t>(), reinterpret_cast<const int16_t*>(coefs.data<uint8_t>()),
              reinterpret_cast<const uint16_t*>(quant.data<uint8_t>()),
              reinterpret_cast<const JpegIdctPlane*>(planes.data<uint8_t>()), n, ctas, main_stream(gpu));
    const Tensor got = test::host_copy(out);
    const uint8_t* g = got.data<uint8_t>();
    const std::vector<uint8_t> mask = plane_mask(b);
    int64_t equal = 0, total = 0, worst = 0, outside = 0;
    for (size_t i = 0; i < want.size(); ++i) {
      if (!mask[i]) {
        outside += g[i] != test::kPoison;
        continue;
      }
      ++total;
      equal += g[i] == want[i];
      worst = std::max<int64_t>(worst, std::abs(int{g[i]} - int{want[i]}));
    }
    std::printf("jpeg_idct GPU vs CPU (%s coefficients): %lld of %lld samples identical, worst %lld\n",
                extreme ? "extreme" : "typical", static_cast<long long>(equal),
                static_cast<long long>(total), static_cast<long long>(worst));
    // Spec bound for GPU pixels: >= 99.9% identical, never more than 1 apart (expect 100%).
    EXPECT_GE(static_cast<double>(equal), 0.999 * static_cast<double>(total));
    EXPECT_LE(worst, 1);
    EXPECT_EQ(outside, 0);
  }
}

}  // namespace
}  // namespace vggtl
