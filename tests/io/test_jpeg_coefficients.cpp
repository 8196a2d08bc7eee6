// Reading JPEG coefficients: the layout against libjpeg's size rules, coefficients and tables
// written with known values read back in natural order, every way a file can be refused (empty,
// not a JPEG, truncated, extraneous bytes, too many pixels, 12-bit), and supported_on_gpu.
#include <gtest/gtest.h>

#include <algorithm>
#include <vector>

#include "io/image/jpeg_coefficients.h"
#include "support/jpeg_fixtures.h"

namespace vggtl {
namespace {

using test::JpegFixture;
using test::JpegStorage;

int ceil_div(int a, int b) { return (a + b - 1) / b; }

JpegLayout layout_of(const std::vector<uint8_t>& jpeg) {
  JpegLayout l;
  std::string why;
  EXPECT_TRUE(read_jpeg_layout(jpeg.data(), jpeg.size(), &l, &why)) << why;
  return l;
}

// Position of the SOFn marker segment (FF C0..C2), or npos.
size_t find_sof(const std::vector<uint8_t>& jpeg) {
  for (size_t i = 2; i + 9 < jpeg.size(); ++i)
    if (jpeg[i] == 0xFF && jpeg[i + 1] >= 0xC0 && jpeg[i + 1] <= 0xC2) return i;
  return std::string::npos;
}

TEST(JpegCoefficients, LayoutFollowsLibjpegSizeRules) {
  const int sizes[][2] = {{1, 1}, {7, 9}, {17, 33}, {250, 187}, {16, 8}};
  const int samplings[][2] = {{1, 1}, {2, 1}, {2, 2}, {1, 2}, {4, 1}};
  for (const auto& wh : sizes) {
    for (const auto& s : samplings) {
      JpegFixture f;
      f.width = wh[0];
      f.height = wh[1];
      f.sampling(s[0], s[1]);
      const JpegLayout l = layout_of(test::encode_jpeg(f));
      EXPECT_EQ(l.width, f.width);
      EXPECT_EQ(l.height, f.height);
      EXPECT_EQ(l.num_components, 3);
      EXPECT_EQ(l.color_space, JpegColorSpace::YCbCr);
      EXPECT_EQ(l.max_h_samp, s[0]);
      EXPECT_EQ(l.max_v_samp, s[1]);
      EXPECT_EQ(l.precision, 8);
      int64_t offset = 0;
      for (int c = 0; c < 3; ++c) {
        const JpegComponentLayout& k = l.comp[c];
        const int h = c == 0 ? s[0] : 1, v = c == 0 ? s[1] : 1;
        EXPECT_EQ(k.h_samp, h);
        EXPECT_EQ(k.v_samp, v);
        // jdinput.c: downsampled = ceil(size * samp / max_samp); blocks = ceil(size * samp / (8 max)).
        EXPECT_EQ(k.downsampled_width, ceil_div(f.width * h, s[0])) << f.str();
        EXPECT_EQ(k.downsampled_height, ceil_div(f.height * v, s[1])) << f.str();
        EXPECT_EQ(k.width_in_blocks, ceil_div(f.width * h, 8 * s[0])) << f.str();
        EXPECT_EQ(k.height_in_blocks, ceil_div(f.height * v, 8 * s[1])) << f.str();
        EXPECT_EQ(k.coef_offset, offset);
        offset += int64_t{k.width_in_blocks} * k.height_in_blocks * 64;
      }
      EXPECT_EQ(l.num_coefficients, offset);
    }
  }
}

TEST(JpegCoefficients, KnownCoefficientsAndTablesReadBackInNaturalOrder) {
  JpegFixture f;
  f.width = 37;
  f.height = 21;
  f.sampling(2, 1);
  test::CoefficientEdit edit;
  edit.quant = [](int table, uint16_t* q) {
    for (int i = 0; i < 64; ++i) q[i] = static_cast<uint16_t>(table == 0 ? i + 1 : 100 - i);
  };
  auto value = [](int comp, int64_t block, int i) {
    return static_cast<int16_t>((comp * 7 + block * 3 + i * 5) % 23 - 11);
  };
  edit.block = [&](int comp, int64_t block, int16_t* coef) {
    for (int i = 0; i < 64; ++i) coef[i] = value(comp, block, i);
  };
  const std::vector<uint8_t> jpeg = test::transcode_jpeg(test::encode_jpeg(f), edit);
  ASSERT_FALSE(jpeg.empty());
  JpegCoefficients jc;
  std::string why;
  ASSERT_TRUE(read_jpeg_coefficients(jpeg.data(), jpeg.size(), &jc, &why)) << why;
  ASSERT_EQ(static_cast<int64_t>(jc.coefs.size()), jc.layout.num_coefficients);
  int64_t wrong = 0;
  for (int c = 0; c < 3; ++c) {
    const JpegComponentLayout& k = jc.layout.comp[c];
    for (int i = 0; i < 64; ++i) EXPECT_EQ(k.quant[i], c == 0 ? i + 1 : 100 - i) << c << " " << i;
    for (int64_t b = 0; b < k.num_blocks(); ++b)
      for (int i = 0; i < 64; ++i) wrong += jc.coefs[k.coef_offset + b * 64 + i] != value(c, b, i);
  }
  EXPECT_EQ(wrong, 0);
}

TEST(JpegCoefficients, FlagsAndColourSpaces) {
  JpegFixture f;
  f.progressive = true;
  f.arithmetic = true;
  JpegLayout l = layout_of(test::encode_jpeg(f));
  EXPECT_TRUE(l.progressive);
  EXPECT_TRUE(l.arithmetic);
  f = JpegFixture{};
  f.storage = JpegStorage::Gray;
  l = layout_of(test::encode_jpeg(f));
  EXPECT_EQ(l.num_components, 1);
  EXPECT_EQ(l.color_space, JpegColorSpace::Gray);
  f.storage = JpegStorage::RGB;
  EXPECT_EQ(layout_of(test::encode_jpeg(f)).color_space, JpegColorSpace::RGB);
  f.storage = JpegStorage::CMYK;
  l = layout_of(test::encode_jpeg(f));
  EXPECT_EQ(l.num_components, 4);
  EXPECT_EQ(l.color_space, JpegColorSpace::CMYK);
  f.storage = JpegStorage::YCCK;
  EXPECT_EQ(layout_of(test::encode_jpeg(f)).color_space, JpegColorSpace::YCCK);
}

TEST(JpegCoefficients, RefusesEmptyAndForeignData) {
  JpegLayout l;
  std::string why;
  EXPECT_FALSE(read_jpeg_layout(nullptr, 0, &l, &why));
  EXPECT_NE(why.find("empty"), std::string::npos) << why;
  const std::vector<uint8_t> png = {0x89, 'P', 'N', 'G', 13, 10, 26, 10, 0, 0, 0, 13};
  why.clear();
  EXPECT_FALSE(read_jpeg_layout(png.data(), png.size(), &l, &why));
  EXPECT_FALSE(why.empty());
}

TEST(JpegCoefficients, TruncatedFileFailsOnlyWhenDecoding) {
  JpegFixture f;
  f.width = 64;
  f.height = 64;
  std::vector<uint8_t> jpeg = test::encode_jpeg(f);
  jpeg.resize(jpeg.size() * 2 / 3);  // headers intact, scan cut short
  JpegLayout l;
  std::string why;
  EXPECT_TRUE(read_jpeg_layout(jpeg.data(), jpeg.size(), &l, &why)) << why;
  JpegCoefficients jc;
  EXPECT_FALSE(read_jpeg_coefficients(jpeg.data(), jpeg.size(), &jc, &why));
  EXPECT_NE(why.find("Premature end"), std::string::npos) << why;
}

TEST(JpegCoefficients, WarningsAreFailures) {
  // Junk between the entropy-coded data and EOI: libjpeg warns "extraneous bytes" and goes on.
  JpegFixture f;
  std::vector<uint8_t> jpeg = test::encode_jpeg(f);
  ASSERT_GE(jpeg.size(), 2u);
  jpeg.insert(jpeg.end() - 2, 64, 0x5A);
  JpegCoefficients jc;
  std::string why;
  EXPECT_FALSE(read_jpeg_coefficients(jpeg.data(), jpeg.size(), &jc, &why));
  EXPECT_NE(why.find("extraneous"), std::string::npos) << why;
}

TEST(JpegCoefficients, TooSmallDestinationIsRefused) {
  const std::vector<uint8_t> jpeg = test::encode_jpeg(JpegFixture{});
  JpegLayout l = layout_of(jpeg);
  std::vector<int16_t> dst(static_cast<size_t>(l.num_coefficients - 1));
  std::string why;
  EXPECT_FALSE(read_jpeg_coefficients(jpeg.data(), jpeg.size(), &l, dst.data(),
                                      static_cast<int64_t>(dst.size()), &why));
  EXPECT_NE(why.find("room"), std::string::npos) << why;
}

TEST(JpegCoefficients, PixelLimitIsCheckedFromTheHeader) {
  std::vector<uint8_t> jpeg = test::encode_jpeg(JpegFixture{});
  const size_t sof = find_sof(jpeg);
  ASSERT_NE(sof, std::string::npos);
  auto set_size = [&](int w, int h) {
    jpeg[sof + 5] = static_cast<uint8_t>(h >> 8);
    jpeg[sof + 6] = static_cast<uint8_t>(h & 255);
    jpeg[sof + 7] = static_cast<uint8_t>(w >> 8);
    jpeg[sof + 8] = static_cast<uint8_t>(w & 255);
  };
  JpegLayout l;
  std::string why;
  set_size(65500, 2733);  // 179,011,500 pixels: over the limit (65500 is libjpeg's largest side)
  EXPECT_FALSE(read_jpeg_layout(jpeg.data(), jpeg.size(), &l, &why));
  EXPECT_NE(why.find("178956970"), std::string::npos) << why;
  JpegCoefficients jc;  // refused before libjpeg allocates a gigabyte of coefficients
  EXPECT_FALSE(read_jpeg_coefficients(jpeg.data(), jpeg.size(), &jc, &why));
  set_size(65500, 2732);  // 178,946,000: allowed (the header alone is read)
  EXPECT_TRUE(read_jpeg_layout(jpeg.data(), jpeg.size(), &l, &why)) << why;
  EXPECT_EQ(int64_t{l.width} * l.height, 178946000);
}

TEST(JpegCoefficients, TwelveBitSamplesAreRefused) {
  std::vector<uint8_t> jpeg = test::encode_jpeg(JpegFixture{});
  const size_t sof = find_sof(jpeg);
  ASSERT_NE(sof, std::string::npos);
  jpeg[sof + 4] = 12;
  JpegLayout l;
  std::string why;
  EXPECT_FALSE(read_jpeg_layout(jpeg.data(), jpeg.size(), &l, &why));
  EXPECT_NE(why.find("12"), std::string::npos) << why;
}

TEST(JpegCoefficients, SupportedOnGpu) {
  auto supported = [](JpegFixture f, std::string* why) {
    return supported_on_gpu(layout_of(test::encode_jpeg(f)), why);
  };
  std::string why;
  JpegFixture f;
  EXPECT_TRUE(supported(f, &why)) << why;
  f.storage = JpegStorage::Gray;
  EXPECT_TRUE(supported(f, &why)) << why;
  f.storage = JpegStorage::RGB;
  EXPECT_TRUE(supported(f, &why)) << why;
  f.storage = JpegStorage::YCbCr;
  f.sampling(4, 1);
  EXPECT_TRUE(supported(f, &why)) << why;
  f.storage = JpegStorage::CMYK;
  f.sampling(1, 1, 1, 1, 1, 1);
  EXPECT_FALSE(supported(f, &why));
  EXPECT_NE(why.find("CMYK"), std::string::npos) << why;
  f.storage = JpegStorage::YCCK;
  EXPECT_FALSE(supported(f, &why));
  EXPECT_NE(why.find("YCCK"), std::string::npos) << why;
}

TEST(JpegCoefficients, UpsampleMethodsFollowJinitUpsampler) {
  struct Case {
    int w, h0, v0, h1, v1, comp;
    JpegUpsample method;
    int he, ve;
  };
  const Case cases[] = {
      {5, 2, 2, 1, 1, 1, JpegUpsample::FancyH2V2, 2, 2},  // chroma width 3 > 2: fancy
      {4, 2, 2, 1, 1, 1, JpegUpsample::Box, 2, 2},        // chroma width 2: h2v2_upsample
      {5, 2, 1, 1, 1, 1, JpegUpsample::FancyH2V1, 2, 1},
      {3, 2, 1, 1, 1, 2, JpegUpsample::Box, 2, 1},
      {1, 1, 2, 1, 1, 1, JpegUpsample::FancyH1V2, 1, 2},  // no width condition for h1v2
      {9, 4, 1, 1, 1, 1, JpegUpsample::Box, 4, 1},        // int_upsample
      {9, 2, 2, 1, 1, 0, JpegUpsample::Full, 1, 1},
      {9, 1, 1, 2, 2, 0, JpegUpsample::FancyH2V2, 2, 2},  // luma below chroma resolution
  };
  for (const Case& c : cases) {
    JpegFixture f;
    f.width = c.w;
    f.height = 6;
    f.sampling(c.h0, c.v0, c.h1, c.v1, c.h1, c.v1);
    const JpegLayout l = layout_of(test::encode_jpeg(f));
    JpegUpsample m;
    int he = 0, ve = 0;
    ASSERT_TRUE(jpeg_upsample_method(l, c.comp, &m, &he, &ve)) << f.str();
    EXPECT_EQ(m, c.method) << f.str();
    EXPECT_EQ(he, c.he) << f.str();
    EXPECT_EQ(ve, c.ve) << f.str();
  }
}

}  // namespace
}  // namespace vggtl
