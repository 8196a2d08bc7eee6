// JPEG upsampling + colour conversion: hand-computed cases, the CUDA per-thread function swept
// over its launch grid against the CPU twin, GPU vs CPU, and the whole CPU-twin chain
// (coefficients -> IDCT -> upsample+colour) against libjpeg-turbo's own RGB output, exactly.
#include <gtest/gtest.h>

#include <algorithm>
#include <array>
#include <cmath>
#include <cstdio>
#include <cstring>
#include <random>
#include <vector>

#include "engine/context.h"
#include "io/image/jpeg_coefficients.h"
#include "kernels/jpeg_color.h"
#include "kernels/jpeg_color_thread.h"
#include "kernels/jpeg_idct.h"
#include "support/jpeg_fixtures.h"
#include "test_util.h"

namespace vggtl {
namespace {

using test::ImageContent;
using test::JpegFixture;
using test::JpegStorage;


// The CPU twins chained on one image: IDCT into planes, then upsample + colour into RGB.
std::vector<uint8_t> twin_decode(const JpegCoefficients& jc) {
  const JpegLayout& l = jc.layout;
  std::vector<uint16_t> quant(static_cast<size_t>(64 * l.num_components));
  std::vector<JpegIdctPlane> planes(static_cast<size_t>(l.num_components));
  JpegColorImage im;
  im.width = l.width;
  im.height = l.height;
  im.model = l.color_space == JpegColorSpace::Gray  ? JpegColorModel::Gray
             : l.color_space == JpegColorSpace::RGB ? JpegColorModel::RGB
                                                    : JpegColorModel::YCbCr;
  im.num_planes = l.num_components;
  int64_t plane_bytes = 0;
  for (int c = 0; c < l.num_components; ++c) {
    const JpegComponentLayout& k = l.comp[c];
    JpegIdctPlane& p = planes[c];
    p.coef_offset = k.coef_offset;
    p.out_offset = plane_bytes;
    p.width_in_blocks = k.width_in_blocks;
    p.height_in_blocks = k.height_in_blocks;
    p.quant_offset = 64 * c;
    std::copy(k.quant, k.quant + 64, quant.begin() + 64 * c);
    plane_bytes += k.num_blocks() * 64;
    JpegColorPlane& cp = im.plane[c];
    cp.offset = p.out_offset;
    cp.stride = k.width_in_blocks * 8;
    cp.width = k.downsampled_width;
    cp.height = k.downsampled_height;
    EXPECT_TRUE(jpeg_upsample_method(l, c, &cp.method, &cp.h_expand, &cp.v_expand));
  }
  std::vector<uint8_t> plane_buf(static_cast<size_t>(plane_bytes), test::kPoison);
  std::vector<uint8_t> rgb(static_cast<size_t>(l.width) * l.height * 3, test::kPoison);
  jpeg_idct_cpu(plane_buf.data(), jc.coefs.data(), quant.data(), planes.data(), l.num_components);
  jpeg_color_cpu(rgb.data(), plane_buf.data(), &im, 1);
  return rgb;
}

// Decodes with libjpeg and with the twins; returns a failure naming the first differing pixel.
::testing::AssertionResult twins_match_libjpeg(const std::vector<uint8_t>& jpeg,
                                               const std::string& what) {
  if (jpeg.empty()) return ::testing::AssertionFailure() << what << ": libjpeg refused to encode";
  test::DecodedImage ref;
  std::string why;
  if (!test::libjpeg_decode_rgb(jpeg, &ref, &why))
    return ::testing::AssertionFailure() << what << ": libjpeg decode failed: " << why;
  JpegCoefficients jc;
  if (!read_jpeg_coefficients(jpeg.data(), jpeg.size(), &jc, &why))
    return ::testing::AssertionFailure() << what << ": coefficients: " << why;
  if (!supported_on_gpu(jc.layout, &why))
    return ::testing::AssertionFailure() << what << ": not supported: " << why;
  const std::vector<uint8_t> rgb = twin_decode(jc);
  if (rgb.size() != ref.rgb.size())
    return ::testing::AssertionFailure() << what << ": size " << rgb.size() << " vs " << ref.rgb.size();
  size_t diffs = 0, first = rgb.size();
  for (size_t i = 0; i < rgb.size(); ++i)
    if (rgb[i] != ref.rgb[i] && diffs++ == 0) first = i;
  if (diffs == 0) return ::testing::AssertionSuccess();
  const size_t px = first / 3;
  return ::testing::AssertionFailure()
         << what << ": " << diffs << " of " << rgb.size() << " bytes differ; first at x="
         << px % ref.width << " y=" << px / ref.width << " channel " << first % 3 << ": "
         << int{rgb[first]} << " vs libjpeg " << int{ref.rgb[first]};
}

struct Sampling {
  JpegStorage storage;
  int h0, v0, h1, v1;
};

// Every upsampling path libjpeg has: full, fancy h2v1/h1v2/h2v2, box (int_upsample), luma
// upsampled (1x1 luma under 2x2 chroma), RGB storage, grayscale with odd declared factors.
const Sampling kSamplings[] = {
    {JpegStorage::YCbCr, 1, 1, 1, 1},  // 4:4:4
    {JpegStorage::YCbCr, 2, 1, 1, 1},  // 4:2:2
    {JpegStorage::YCbCr, 2, 2, 1, 1},  // 4:2:0
    {JpegStorage::YCbCr, 1, 2, 1, 1},  // 4:4:0
    {JpegStorage::YCbCr, 4, 1, 1, 1},  // 4:1:1 (box)
    {JpegStorage::YCbCr, 4, 2, 1, 1},  // 4:1:0 (box)
    {JpegStorage::YCbCr, 3, 1, 1, 1},  // 3:1 (box)
    {JpegStorage::YCbCr, 2, 2, 1, 2},  // chroma 1x2 under 2x2: fancy h2v1
    {JpegStorage::YCbCr, 1, 1, 2, 2},  // luma 1x1 under 2x2 chroma: luma upsampled
    {JpegStorage::RGB, 1, 1, 1, 1},
    {JpegStorage::RGB, 2, 2, 1, 1},
    {JpegStorage::Gray, 1, 1, 1, 1},
    {JpegStorage::Gray, 2, 2, 1, 1},
};

const int kSizes[][2] = {{1, 1},   {2, 2},   {3, 3},   {4, 4},   {5, 3},   {7, 9},  {8, 8},
                         {9, 7},   {15, 17}, {16, 16}, {17, 33}, {33, 31}, {250, 187}};

JpegFixture fixture(const Sampling& s, int w, int h) {
  JpegFixture f;
  f.storage = s.storage;
  f.width = w;
  f.height = h;
  f.sampling(s.h0, s.v0, s.h1, s.v1, s.h1, s.v1);
  return f;
}

TEST(JpegColor, ChainEqualsLibjpegForEverySamplingAndSize) {
  int cases = 0;
  for (const Sampling& s : kSamplings) {
    for (const auto& wh : kSizes) {
      JpegFixture f = fixture(s, wh[0], wh[1]);
      f.seed = static_cast<uint64_t>(cases + 1);
      EXPECT_TRUE(twins_match_libjpeg(test::encode_jpeg(f), f.str()));
      ++cases;
    }
  }
  EXPECT_EQ(cases, 13 * 13);
}

TEST(JpegColor, ChainEqualsLibjpegForEveryQualityAndContent) {
  const int qualities[] = {50, 75, 95, 100};
  const ImageContent contents[] = {ImageContent::Noise, ImageContent::Gradient, ImageContent::Mixed};
  for (int si : {0, 1, 2, 3}) {
    for (int q : qualities) {
      for (ImageContent content : contents) {
        JpegFixture f = fixture(kSamplings[si], 33, 31);
        f.quality = q;
        f.content = content;
        f.seed = static_cast<uint64_t>(q * 7 + si);
        EXPECT_TRUE(twins_match_libjpeg(test::encode_jpeg(f), f.str()));
      }
    }
  }
}

TEST(JpegColor, ChainEqualsLibjpegForProgressiveRestartsAndArithmetic) {
  for (int si : {2, 1, 11, 3}) {
    for (const auto& wh : {std::array<int, 2>{17, 33}, std::array<int, 2>{250, 187},
                           std::array<int, 2>{1, 1}}) {
      JpegFixture base = fixture(kSamplings[si], wh[0], wh[1]);
      JpegFixture f = base;
      f.progressive = true;
      EXPECT_TRUE(twins_match_libjpeg(test::encode_jpeg(f), f.str()));
      f = base;
      f.restart_interval = 1;
      EXPECT_TRUE(twins_match_libjpeg(test::encode_jpeg(f), f.str()));
      f = base;
      f.restart_interval = 3;
      f.optimize = true;
      EXPECT_TRUE(twins_match_libjpeg(test::encode_jpeg(f), f.str()));
      f = base;
      f.arithmetic = true;
      EXPECT_TRUE(twins_match_libjpeg(test::encode_jpeg(f), f.str()));
      f.progressive = true;
      f.quality = 95;
      EXPECT_TRUE(twins_match_libjpeg(test::encode_jpeg(f), f.str()));
    }
  }
}

// Coefficients far outside what 8-bit photographs produce push the IDCT output to both ends of
// its range limit. Within +-512 every libjpeg-turbo build clamps alike (DC +-950 at quantiser 4 is
// +-475; twenty ACs of at most 3 at quantiser 2 add at most 30). Beyond, its SIMD IDCTs saturate.
TEST(JpegColor, ChainEqualsLibjpegWhenTheIdctClamps) {
  JpegFixture f = fixture(kSamplings[2], 40, 24);
  f.quality = 100;
  const std::vector<uint8_t> jpeg = test::encode_jpeg(f);
  std::mt19937 rng(7);
  test::CoefficientEdit edit;
  edit.quant = [](int, uint16_t* q) {
    for (int i = 0; i < 64; ++i) q[i] = static_cast<uint16_t>(i == 0 ? 4 : 2);
  };
  edit.block = [&](int, int64_t block, int16_t* coef) {
    coef[0] = static_cast<int16_t>(block % 2 ? 950 : -950);
    for (int i = 1; i < 64; ++i) coef[i] = 0;
    for (int k = 0; k < 20; ++k) coef[1 + rng() % 63] = static_cast<int16_t>(static_cast<int>(rng() % 7) - 3);
  };
  EXPECT_TRUE(twins_match_libjpeg(test::transcode_jpeg(jpeg, edit), "clamping coefficients"));
}

TEST(JpegColor, ChainEqualsLibjpegWhenTheIdctSaturatesPast512) {
  // DC +-1000 at quantiser 5 is +-625: jidctint.c's table would wrap to 0 / 255, SIMD saturates.
  JpegFixture f = fixture(kSamplings[0], 24, 16);
  f.quality = 100;
  std::mt19937 rng(5);
  test::CoefficientEdit edit;
  edit.quant = [](int, uint16_t* q) {
    for (int i = 0; i < 64; ++i) q[i] = static_cast<uint16_t>(i == 0 ? 5 : 2);
  };
  edit.block = [&](int, int64_t block, int16_t* coef) {
    coef[0] = static_cast<int16_t>(block % 2 ? 1000 : -1000);
    for (int i = 1; i < 64; ++i) coef[i] = static_cast<int16_t>(static_cast<int>(rng() % 41) - 20);
  };
  EXPECT_TRUE(twins_match_libjpeg(test::transcode_jpeg(test::encode_jpeg(f), edit),
                                  "saturating coefficients"));
}

TEST(JpegColor, HandComputedFancyH2V1Row) {
  // jdsample.c on one row [0, 100, 200]: first column copied, then 3/4 + 1/4 with biases 1 and 2.
  const uint8_t plane[3] = {0, 100, 200};
  JpegColorImage im;
  im.width = 6;
  im.height = 1;
  im.model = JpegColorModel::Gray;
  im.num_planes = 1;
  im.plane[0].stride = 3;
  im.plane[0].width = 3;
  im.plane[0].height = 1;
  im.plane[0].method = JpegUpsample::FancyH2V1;
  uint8_t rgb[18];
  jpeg_color_cpu(rgb, plane, &im, 1);
  const uint8_t want[6] = {0, 25, 75, 125, 175, 200};
  for (int x = 0; x < 6; ++x) {
    EXPECT_EQ(rgb[x * 3], want[x]) << "x=" << x;
    EXPECT_EQ(rgb[x * 3 + 1], want[x]);
    EXPECT_EQ(rgb[x * 3 + 2], want[x]);
  }
}

TEST(JpegColor, HandComputedYccPixels) {
  // Neutral chroma leaves Y; Cr=255 at Y=255: R clips, G = 255 + ((32768 - 46802*127) >> 16).
  uint8_t planes[3] = {255, 128, 255};
  JpegColorImage im;
  im.width = 1;
  im.height = 1;
  for (int c = 0; c < 3; ++c) {
    im.plane[c].offset = c;
    im.plane[c].stride = 1;
    im.plane[c].width = im.plane[c].height = 1;
  }
  uint8_t rgb[3];
  jpeg_color_cpu(rgb, planes, &im, 1);
  EXPECT_EQ(rgb[0], 255);
  EXPECT_EQ(rgb[1], 164);
  EXPECT_EQ(rgb[2], 255);
  planes[0] = 77, planes[1] = 128, planes[2] = 128;
  jpeg_color_cpu(rgb, planes, &im, 1);
  EXPECT_EQ(rgb[0], 77);
  EXPECT_EQ(rgb[1], 77);
  EXPECT_EQ(rgb[2], 77);
}

TEST(JpegColor, DeviceTableFormulasEqualJdcolorTables) {
  // The per-thread code computes table entries on the fly; they must be the tables, entry by entry.
  for (int c = 0; c < 256; ++c) {
    const double x = c - 128;
    EXPECT_EQ(jpeg_ycc::cr_r(c), static_cast<int>(std::floor((91881.0 * x + 32768) / 65536))) << c;
    EXPECT_EQ(jpeg_ycc::cb_b(c), static_cast<int>(std::floor((116130.0 * x + 32768) / 65536))) << c;
    EXPECT_EQ(jpeg_ycc::cr_g(c), static_cast<int32_t>(-46802 * (c - 128))) << c;
    EXPECT_EQ(jpeg_ycc::cb_g(c), static_cast<int32_t>(-22554 * (c - 128) + 32768)) << c;
  }
}

// Random planes and images covering every method, odd sizes and box factors, packed with gaps.
struct ColorBatch {
  std::vector<uint8_t> planes;
  std::vector<JpegColorImage> images;
  int64_t rgb_bytes = 0;
};

ColorBatch random_color_batch(uint64_t seed) {
  std::mt19937_64 rng(seed);
  ColorBatch b;
  struct Spec {
    int w, h;
    JpegColorModel model;
    JpegUpsample m1;
    int he, ve;
  };
  const Spec specs[] = {
      {1, 1, JpegColorModel::Gray, JpegUpsample::Full, 1, 1},
      {37, 29, JpegColorModel::YCbCr, JpegUpsample::FancyH2V2, 2, 2},
      {5, 3, JpegColorModel::YCbCr, JpegUpsample::FancyH2V2, 2, 2},
      {300, 7, JpegColorModel::YCbCr, JpegUpsample::FancyH2V1, 2, 1},
      {9, 40, JpegColorModel::YCbCr, JpegUpsample::FancyH1V2, 1, 2},
      {13, 11, JpegColorModel::YCbCr, JpegUpsample::Box, 4, 2},
      {3, 5, JpegColorModel::YCbCr, JpegUpsample::Box, 2, 2},
      {17, 9, JpegColorModel::RGB, JpegUpsample::Full, 1, 1},
      {64, 33, JpegColorModel::YCbCr, JpegUpsample::Full, 1, 1},
  };
  int64_t plane_bytes = 0;
  for (const Spec& s : specs) {
    JpegColorImage im;
    im.width = s.w;
    im.height = s.h;
    im.model = s.model;
    im.num_planes = s.model == JpegColorModel::Gray ? 1 : 3;
    for (int c = 0; c < im.num_planes; ++c) {
      JpegColorPlane& p = im.plane[c];
      p.method = c == 0 ? JpegUpsample::Full : s.m1;
      p.h_expand = c == 0 ? 1 : s.he;
      p.v_expand = c == 0 ? 1 : s.ve;
      p.width = (s.w + p.h_expand - 1) / p.h_expand;
      p.height = (s.h + p.v_expand - 1) / p.v_expand;
      p.stride = (p.width + 7) / 8 * 8;
      const int rows = (p.height + 7) / 8 * 8;
      p.offset = plane_bytes;
      plane_bytes += int64_t{p.stride} * rows + 24;  // a gap between planes
    }
    im.out_offset = b.rgb_bytes;
    b.rgb_bytes += int64_t{s.w} * s.h * 3 + 5;  // and between images
    b.images.push_back(im);
  }
  b.planes.resize(static_cast<size_t>(plane_bytes));
  for (uint8_t& v : b.planes) v = static_cast<uint8_t>(rng());
  return b;
}

// Pixels of the batch's images that the gaps between them must keep as the poison value.
std::vector<uint8_t> written_mask(const ColorBatch& b) {
  std::vector<uint8_t> mask(static_cast<size_t>(b.rgb_bytes), 0);
  for (const JpegColorImage& im : b.images)
    std::fill_n(mask.begin() + im.out_offset, int64_t{im.width} * im.height * 3, 1);
  return mask;
}

TEST(JpegColor, PerThreadSweepOverLaunchGridEqualsCpuTwin) {
  ColorBatch b = random_color_batch(3);
  const int64_t ctas = jpeg_color_plan(b.images.data(), static_cast<int>(b.images.size()));
  std::vector<uint8_t> want(static_cast<size_t>(b.rgb_bytes), test::kPoison);
  std::vector<uint8_t> got(static_cast<size_t>(b.rgb_bytes), test::kPoison);
  jpeg_color_cpu(want.data(), b.planes.data(), b.images.data(), static_cast<int>(b.images.size()));
  for (int64_t cta = 0; cta < ctas; ++cta)
    for (int t = 0; t < kColorThreads; ++t)
      jpeg_color_thread(got.data(), b.planes.data(), b.images.data(),
                        static_cast<int>(b.images.size()), cta, t);
  const std::vector<uint8_t> mask = written_mask(b);
  int64_t diffs = 0, unwritten = 0, overwritten = 0;
  for (size_t i = 0; i < got.size(); ++i) {
    diffs += got[i] != want[i];
    if (mask[i]) unwritten += got[i] == test::kPoison && want[i] != test::kPoison;
    else overwritten += got[i] != test::kPoison;
  }
  EXPECT_EQ(diffs, 0);
  EXPECT_EQ(unwritten, 0);
  EXPECT_EQ(overwritten, 0) << "bytes written between images";
}

TEST(JpegColorGpu, MatchesCpuTwin) {
  REQUIRE_CUDA_DEVICE();
  ColorBatch b = random_color_batch(11);
  const int n = static_cast<int>(b.images.size());
  const int64_t ctas = jpeg_color_plan(b.images.data(), n);
  std::vector<uint8_t> want(static_cast<size_t>(b.rgb_bytes), test::kPoison);
  jpeg_color_cpu(want.data(), b.planes.data(), b.images.data(), n);

  const Device gpu = Device::cuda();
  Tensor planes = to_device(Tensor::wrap(b.planes.data(), Shape{static_cast<int64_t>(b.planes.size())}, DType::U8), gpu);
  const int64_t desc_bytes = static_cast<int64_t>(b.images.size() * sizeof(JpegColorImage));
  Tensor images = to_device(Tensor::wrap(b.images.data(), Shape{desc_bytes}, DType::U8), gpu);
  std::vector<uint8_t> poison(static_cast<size_t>(b.rgb_bytes), test::kPoison);
  Tensor rgb = to_device(Tensor::wrap(poison.data(), Shape{b.rgb_bytes}, DType::U8), gpu);
  jpeg_color(gpu, rgb.data<uint8_t>(), planes.data<uint8_t>(),
             reinterpret_cast<const JpegColorImage*>(images.data<uint8_t>()), n, ctas, main_stream(gpu));
  const Tensor got = test::host_copy(rgb);
  const uint8_t* g = got.data<uint8_t>();
  const std::vector<uint8_t> mask = written_mask(b);
  int64_t equal = 0, worst = 0, overwritten = 0, total = 0;
  for (size_t i = 0; i < want.size(); ++i) {
    if (!mask[i]) {
      overwritten += g[i] != test::kPoison;
      continue;
    }
    ++total;
    equal += g[i] == want[i];
    worst = std::max<int64_t>(worst, std::abs(int{g[i]} - int{want[i]}));
  }
  std::printf("jpeg_color GPU vs CPU: %lld of %lld bytes identical, worst difference %lld\n",
              static_cast<long long>(equal), static_cast<long long>(total), static_cast<long long>(worst));
  // Spec bound for GPU pixels: >= 99.9% identical, never more than 1 apart (expect 100%).
  EXPECT_GE(static_cast<double>(equal), 0.999 * static_cast<double>(total));
  EXPECT_LE(worst, 1);
  EXPECT_EQ(overwritten, 0);
}

}  // namespace
}  // namespace vggtl
