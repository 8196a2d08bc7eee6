// Decoding every supported format to RGB, from images written by tests/support/image_writer:
// lossless formats against values worked out by hand from PIL's rules, JPEG against the source
// pattern within a stated tolerance (and exactly across entropy codings of one image), and the
// bad files: truncated, corrupt, empty, random, not images, size bombs.
#include <gtest/gtest.h>

#include <tiffio.h>

#include <cmath>
#include <string>
#include <vector>

#include "io/image/image_decode.h"
#include "support/image_writer.h"
#include "test_util.h"

namespace vggtl {
namespace {

using test::encode_jpeg;
using test::JpegColor;
using test::JpegOptions;

DecodeResult decode(const std::vector<uint8_t>& bytes, RgbImage* img) {
  return decode_image(bytes.data(), bytes.size(), img);
}

// Largest and mean absolute difference between a decoded image and RGB samples.
struct Diff {
  int max = 0;
  double mean = 0;
};
Diff diff_rgb(const RgbImage& img, const std::vector<uint8_t>& rgb) {
  Diff d;
  EXPECT_EQ(img.pixels.size(), rgb.size());
  const size_t n = std::min(img.pixels.size(), rgb.size());
  for (size_t i = 0; i < n; ++i) {
    const int e = std::abs(int(img.pixels[i]) - int(rgb[i]));
    d.max = std::max(d.max, e);
    d.mean += e;
  }
  d.mean /= std::max<size_t>(n, 1);
  return d;
}

std::vector<uint8_t> grey_to_rgb(const std::vector<uint8_t>& grey) {
  std::vector<uint8_t> rgb;
  for (uint8_t g : grey) rgb.insert(rgb.end(), {g, g, g});
  return rgb;
}


// ------------------------------------------------------------------------------- JPEG

TEST(DecodeJpeg, SamplingFactorsMatchTheSourceWithinJpegError) {
  const int w = 61, h = 37;  // not multiples of the MCU
  const auto rgb = test::pattern_image(w, h, 3);
  const int factors[][2] = {{1, 1}, {2, 1}, {2, 2}, {1, 2}, {4, 1}};
  for (const auto& f : factors) {
    JpegOptions opt;
    opt.quality = 100;
    opt.h_samp = f[0], opt.v_samp = f[1];
    RgbImage img;
    DecodeResult r = decode(encode_jpeg(rgb.data(), w, h, opt), &img);
    ASSERT_TRUE(r.ok) << r.reason;
    EXPECT_EQ(r.format, ImageFormat::Jpeg);
    ASSERT_EQ(img.width, w);
    ASSERT_EQ(img.height, h);
    const Diff d = diff_rgb(img, rgb);
    // Smooth pattern at quality 100: chroma subsampling costs a few levels (4:1:1 the most).
    EXPECT_LE(d.max, 12) << f[0] << "x" << f[1];
    EXPECT_LT(d.mean, 2.5) << f[0] << "x" << f[1];
  }
}

TEST(DecodeJpeg, EntropyCodingsOfOneImageDecodeIdentically) {
  // Same quantised coefficients, different entropy coding: pixels must be equal bit for bit.
  const int w = 50, h = 42;
  const auto rgb = test::pattern_image(w, h, 3, 5);
  JpegOptions base;
  base.quality = 85;
  base.h_samp = 2, base.v_samp = 2;
  RgbImage ref;
  ASSERT_TRUE(decode(encode_jpeg(rgb.data(), w, h, base), &ref).ok);
  JpegOptions variants[4] = {base, base, base, base};
  variants[0].progressive = true;
  variants[1].restart_interval = 1;
  variants[2].restart_interval = 3, variants[2].progressive = true;
  variants[3].arithmetic = true;
  for (const JpegOptions& v : variants) {
    RgbImage img;
    DecodeResult r = decode(encode_jpeg(rgb.data(), w, h, v), &img);
    ASSERT_TRUE(r.ok) << r.reason;
    EXPECT_EQ(img.pixels, ref.pixels) << "progressive " << v.progressive << " restart " << v.restart_interval
                                      << " arithmetic " << v.arithmetic;
  }
}

TEST(DecodeJpeg, GreyIsReplicatedAndRgbTransformIsHonoured) {
  const int w = 33, h = 20;
  const auto grey = test::pattern_image(w, h, 1);
  JpegOptions g;
  g.quality = 100;
  g.color = JpegColor::Gray;
  RgbImage img;
  ASSERT_TRUE(decode(encode_jpeg(grey.data(), w, h, g), &img).ok);
  for (size_t i = 0; i < img.pixels.size(); i += 3) {
    ASSERT_EQ(img.pixels[i], img.pixels[i + 1]);
    ASSERT_EQ(img.pixels[i], img.pixels[i + 2]);
  }
  EXPECT_LE(diff_rgb(img, grey_to_rgb(grey)).max, 2);

  const auto rgb = test::pattern_image(w, h, 3);
  JpegOptions r;
  r.quality = 100;
  r.color = JpegColor::Rgb;  // components stored as R, G, B: no YCbCr conversion on decode
  ASSERT_TRUE(decode(encode_jpeg(rgb.data(), w, h, r), &img).ok);
  EXPECT_LE(diff_rgb(img, rgb).max, 3);
}

// PIL's rule for 4-component JPEGs, worked on stored (inverted) bytes c, m, y, k.
std::vector<uint8_t> pil_rgb_from_stored_cmyk(const std::vector<uint8_t>& cmyk) {
  std::vector<uint8_t> rgb;
  for (size_t i = 0; i < cmyk.size(); i += 4) {
    const int nk = cmyk[i + 3];  // 255 - K with K = 255 - stored k
    for (int c = 0; c < 3; ++c) {
      const int C = 255 - cmyk[i + c];
      const int t = C * nk + 128;
      rgb.push_back(static_cast<uint8_t>(nk - (((t >> 8) + t) >> 8)));
    }
  }
  return rgb;
}

TEST(DecodeJpeg, CmykAndYcckAreInvertedAdobeCmyk) {
  // A flat colour worked by hand: stored (255, 0, 128, 200) -> C=0, M=255, Y=127, nk=200:
  // R = 200 - 0 = 200, G = 200 - 200 = 0, B = 200 - MULDIV255(127, 200) = 200 - 100 = 100.
  std::vector<uint8_t> flat;
  for (int i = 0; i < 16 * 16; ++i) flat.insert(flat.end(), {255, 0, 128, 200});
  for (JpegColor colour : {JpegColor::Cmyk, JpegColor::Ycck}) {
    JpegOptions opt;
    opt.quality = 100;
    opt.color = colour;
    RgbImage img;
    DecodeResult r = decode(encode_jpeg(flat.data(), 16, 16, opt), &img);
    ASSERT_TRUE(r.ok) << r.reason;
    for (size_t i = 0; i < img.pixels.size(); i += 3) {
      EXPECT_NEAR(img.pixels[i], 200, 2);
      EXPECT_NEAR(img.pixels[i + 1], 0, 2);
      EXPECT_NEAR(img.pixels[i + 2], 100, 2);
    }
    const int w = 40, h = 24;
    const auto cmyk = test::pattern_image(w, h, 4, 3);
    ASSERT_TRUE(decode(encode_jpeg(cmyk.data(), w, h, opt), &img).ok);
    const Diff d = diff_rgb(img, pil_rgb_from_stored_cmyk(cmyk));
    EXPECT_LE(d.max, 6);
    EXPECT_LT(d.mean, 1.5);
  }
}

TEST(DecodeJpeg, TruncatedAndCorruptFilesAreBad) {
  const int w = 64, h = 48;
  const auto rgb = test::pattern_image(w, h, 3);
  for (bool progressive : {false, true}) {
    JpegOptions opt;
    opt.progressive = progressive;
    const auto good = encode_jpeg(rgb.data(), w, h, opt);
    RgbImage img;
    for (double keep : {0.3, 0.6, 0.95}) {
      std::vector<uint8_t> cut(good.begin(), good.begin() + static_cast<long>(good.size() * keep));
      DecodeResult r = decode(cut, &img);
      EXPECT_FALSE(r.ok) << "kept " << keep;
      EXPECT_EQ(r.reason, "truncated JPEG data") << "kept " << keep << " progressive " << progressive;
    }
    // A marker in the middle of the entropy-coded data: libjpeg would pad with grey.
    std::vector<uint8_t> marked = good;
    const size_t mid = good.size() * 2 / 3;
    marked[mid] = 0xFF;
    marked[mid + 1] = 0xD5;
    DecodeResult r = decode(marked, &img);
    EXPECT_FALSE(r.ok);
    EXPECT_NE(r.reason.find("corrupt JPEG data"), std::string::npos) << r.reason;
  }
}

TEST(DecodeJpeg, TrailingGarbageIsToleratedAMissingEoiIsNot) {
  // As Pillow 9.4: stray bytes before EOI decode normally; without EOI "image file is truncated".
  const int w = 24, h = 24;
  const auto rgb = test::pattern_image(w, h, 3);
  for (bool progressive : {false, true}) {
    JpegOptions opt;
    opt.progressive = progressive;
    const auto good = encode_jpeg(rgb.data(), w, h, opt);
    RgbImage ref, img;
    ASSERT_TRUE(decode(good, &ref).ok);
    std::vector<uint8_t> junk(good.begin(), good.end() - 2);  // bytes before EOI
    junk.insert(junk.end(), {0x00, 0x12, 0x34, 0xFF, 0xD9});
    DecodeResult r = decode(junk, &img);
    EXPECT_TRUE(r.ok) << r.reason;
    EXPECT_EQ(img.pixels, ref.pixels);
    std::vector<uint8_t> no_eoi(good.begin(), good.end() - 2);
    r = decode(no_eoi, &img);
    EXPECT_FALSE(r.ok);
    EXPECT_EQ(r.reason, "truncated JPEG data");
  }
}

TEST(DecodeJpeg, HeaderClaimingAHugeImageIsRefusedBeforeAllocating) {
  RgbImage img;
  DecodeResult r = decode(test::jpeg_claiming_size(65500, 65500), &img);
  EXPECT_FALSE(r.ok);
  EXPECT_EQ(r.reason, "image of 65500x65500 exceeds the 178956970-pixel limit");
  EXPECT_TRUE(img.pixels.empty());
  // Exactly at the limit is allowed by PIL; one pixel more is not (13379 * 13376 > limit).
  EXPECT_EQ(check_image_size(178956970, 1), "");
  EXPECT_NE(check_image_size(178956971, 1), "");
}

// ------------------------------------------------------------------------------- PNG

// Samples in [0, 2^bits) for n samples, reproducible.
std::vector<uint16_t> samples(size_t n, int bits, uint32_t seed) {
  auto bytes = test::random_bytes(2 * n, seed);
  std::vector<uint16_t> s(n);
  for (size_t i = 0; i < n; ++i) s[i] = static_cast<uint16_t>(((bytes[2 * i] << 8) | bytes[2 * i + 1]) >> (16 - bits));
  return s;
}

// 16 -> 8 bits as the spec states it: v / 257 rounded to nearest.
uint8_t v16(uint32_t v) { return static_cast<uint8_t>(std::lround(v / 257.0)); }
// Low depths as PIL's unpackers expand them.
uint8_t expand(uint32_t v, int bits) {
  switch (bits) {
    case 1: return v ? 255 : 0;
    case 2: return static_cast<uint8_t>(v * 85);
    case 4: return static_cast<uint8_t>(v * 17);
    case 8: return static_cast<uint8_t>(v);
    default: return v16(v);
  }
}

TEST(DecodePng, EveryColourTypeAndDepthInterlacedOrNot) {
  const int w = 13, h = 9;
  struct Case {
    test::PngColor colour;
    int channels;
    std::vector<int> depths;
  };
  const Case cases[] = {{test::PngColor::Gray, 1, {1, 2, 4, 8, 16}},
                        {test::PngColor::GrayAlpha, 2, {8, 16}},
                        {test::PngColor::Rgb, 3, {8, 16}},
                        {test::PngColor::Rgba, 4, {8, 16}}};
  for (const Case& c : cases) {
    for (int depth : c.depths) {
      for (bool interlaced : {false, true}) {
        const auto s = samples(static_cast<size_t>(w) * h * c.channels, depth, depth * 7 + c.channels);
        test::PngOptions opt;
        opt.color = c.colour, opt.bit_depth = depth, opt.interlaced = interlaced;
        RgbImage img;
        DecodeResult r = decode(test::encode_png(s, w, h, opt), &img);
        ASSERT_TRUE(r.ok) << r.reason;
        ASSERT_EQ(img.width, w);
        std::vector<uint8_t> want;
        for (int p = 0; p < w * h; ++p) {
          const uint16_t* px = s.data() + static_cast<size_t>(p) * c.channels;
          if (c.channels <= 2) {
            const uint8_t g = expand(px[0], depth);
            want.insert(want.end(), {g, g, g});  // alpha dropped, never blended
          } else {
            for (int k = 0; k < 3; ++k) want.push_back(expand(px[k], depth));
          }
        }
        EXPECT_EQ(img.pixels, want) << "colour type " << int(c.colour) << " depth " << depth << " interlaced "
                                    << interlaced;
      }
    }
  }
}

TEST(DecodePng, SixteenBitScalingIsRoundedNotClipped) {
  // v / 257 rounded: 128 -> 0 (0.498), 129 -> 1 (0.502), 0x8080 -> 128, 0xFF7F -> 255 (254.50).
  const std::vector<uint16_t> s = {0, 128, 129, 0x0101, 0x8080, 0xFF7F, 0xFFFF};
  test::PngOptions opt;
  opt.color = test::PngColor::Gray, opt.bit_depth = 16;
  RgbImage img;
  ASSERT_TRUE(decode(test::encode_png(s, 7, 1, opt), &img).ok);
  const uint8_t want[] = {0, 0, 1, 1, 128, 255, 255};
  for (int x = 0; x < 7; ++x) EXPECT_EQ(img.pixels[3 * x], want[x]) << "x " << x;
}

TEST(DecodePng, PaletteLookupIgnoresTransparencyAndFallsBackToGrey) {
  const std::vector<uint8_t> three = {10, 20, 30, 40, 50, 60, 250, 5, 7};
  test::PngOptions opt;
  opt.color = test::PngColor::Palette;
  opt.trns = {0, 128};
  for (int depth : {1, 2, 4, 8}) {
    opt.bit_depth = depth;
    // libpng writes at most 2^depth entries: two at depth 1, else three.
    opt.palette.assign(three.begin(), three.begin() + (depth == 1 ? 6 : 9));
    const int entries = static_cast<int>(opt.palette.size() / 3);
    // Indices past the entries give grey (i, i, i), as Pillow's palette does.
    std::vector<uint16_t> idx = {0, 1, 1, 0};
    if (depth >= 2) idx = {0, 1, 2, 1, 3};
    if (depth >= 4) idx.push_back(9);
    if (depth == 8) idx.push_back(200);
    RgbImage img;
    DecodeResult r = decode(test::encode_png(idx, static_cast<int>(idx.size()), 1, opt), &img);
    ASSERT_TRUE(r.ok) << r.reason;
    for (size_t x = 0; x < idx.size(); ++x) {
      const int i = idx[x];
      for (int c = 0; c < 3; ++c) {
        const uint8_t want = i < entries ? opt.palette[3 * i + c] : static_cast<uint8_t>(i);
        EXPECT_EQ(img.pixels[3 * x + c], want) << "depth " << depth << " x " << x;
      }
    }
  }
}

TEST(DecodePng, TransparentColourKeysAreIgnored) {
  test::PngOptions grey;
  grey.color = test::PngColor::Gray;
  grey.trns_color = {7};
  RgbImage img;
  ASSERT_TRUE(decode(test::encode_png({7, 8}, 2, 1, grey), &img).ok);
  EXPECT_EQ(img.pixels, (std::vector<uint8_t>{7, 7, 7, 8, 8, 8}));
  test::PngOptions rgb;
  rgb.trns_color = {1, 2, 3};
  ASSERT_TRUE(decode(test::encode_png({1, 2, 3, 4, 5, 6}, 2, 1, rgb), &img).ok);
  EXPECT_EQ(img.pixels, (std::vector<uint8_t>{1, 2, 3, 4, 5, 6}));
}

TEST(DecodePng, BadFiles) {
  const int w = 40, h = 30;
  const auto good = test::encode_png(test::widen(test::random_bytes(w * h * 3, 1)), w, h, test::PngOptions{});
  RgbImage img;
  std::vector<uint8_t> cut(good.begin(), good.begin() + static_cast<long>(good.size() / 2));
  DecodeResult r = decode(cut, &img);
  EXPECT_FALSE(r.ok);
  EXPECT_EQ(r.reason, "truncated PNG data");
  std::vector<uint8_t> data = good;
  data[good.size() / 2] ^= 0x40;  // inside IDAT: zlib's check or libpng's CRC, whichever first
  r = decode(data, &img);
  EXPECT_FALSE(r.ok);
  EXPECT_EQ(r.reason.rfind("PNG: IDAT: ", 0), 0u) << r.reason;
  std::vector<uint8_t> crc = good;
  crc[8 + 8 + 13] ^= 0x01;  // IHDR's CRC: signature, length + type, 13 bytes of data
  r = decode(crc, &img);
  EXPECT_FALSE(r.ok);
  EXPECT_EQ(r.reason, "PNG: IHDR: CRC error");
  r = decode(test::png_claiming_size(65500, 65500), &img);
  EXPECT_FALSE(r.ok);
  EXPECT_EQ(r.reason, "image of 65500x65500 exceeds the 178956970-pixel limit");
}

// ------------------------------------------------------------------------------- BMP

TEST(DecodeBmp, TrueColourLayoutsAndRowOrder) {
  const int w = 5, h = 3;  // 5 * 3 bytes per row: padding needed
  const auto rgb = test::random_bytes(w * h * 3, 9);
  for (auto layout : {test::BmpLayout::Bgr24, test::BmpLayout::Bgrx32}) {
    for (bool top_down : {false, true}) {
      test::BmpOptions opt;
      opt.layout = layout, opt.top_down = top_down;
      RgbImage img;
      DecodeResult r = decode(test::encode_bmp(test::widen(rgb), w, h, opt), &img);
      ASSERT_TRUE(r.ok) << r.reason;
      EXPECT_EQ(r.format, ImageFormat::Bmp);
      EXPECT_EQ(img.pixels, rgb) << "layout " << int(layout) << " top-down " << top_down;
    }
  }
  test::BmpOptions os2;
  os2.os2_header = true;
  RgbImage img;
  ASSERT_TRUE(decode(test::encode_bmp(test::widen(rgb), w, h, os2), &img).ok);
  EXPECT_EQ(img.pixels, rgb);
}

TEST(DecodeBmp, SixteenBitChannelsScaleLikePillow) {
  // Pillow's BGR;15 / BGR;16 unpackers: v * 255 / max, truncated: 1/31 -> 8, 16/31 -> 131,
  // 1/63 -> 4, 32/63 -> 129.
  test::BmpOptions opt;
  opt.layout = test::BmpLayout::Rgb555;
  RgbImage img;
  ASSERT_TRUE(decode(test::encode_bmp({31, 1, 16, 0, 0, 0}, 2, 1, opt), &img).ok);
  EXPECT_EQ(img.pixels, (std::vector<uint8_t>{255, 8, 131, 0, 0, 0}));
  opt.layout = test::BmpLayout::Rgb565;
  ASSERT_TRUE(decode(test::encode_bmp({1, 1, 31, 16, 32, 31}, 2, 1, opt), &img).ok);
  EXPECT_EQ(img.pixels, (std::vector<uint8_t>{8, 4, 255, 131, 129, 255}));
}

TEST(DecodeBmp, Palettes) {
  const std::vector<uint8_t> pal = {0, 0, 0, 255, 255, 255, 12, 34, 56, 200, 100, 50};
  struct Case {
    test::BmpLayout layout;
    std::vector<uint16_t> idx;
  };
  const Case cases[] = {{test::BmpLayout::Palette1, {1, 0, 0, 1, 1}},
                        {test::BmpLayout::Palette4, {3, 2, 1, 0, 3}},
                        {test::BmpLayout::Palette8, {2, 3, 0, 1, 2}}};
  for (const Case& c : cases) {
    test::BmpOptions opt;
    opt.layout = c.layout;
    opt.palette = c.layout == test::BmpLayout::Palette1 ? std::vector<uint8_t>(pal.begin(), pal.begin() + 6) : pal;
    RgbImage img;
    DecodeResult r = decode(test::encode_bmp(c.idx, 5, 1, opt), &img);
    ASSERT_TRUE(r.ok) << r.reason;
    std::vector<uint8_t> want;
    for (uint16_t i : c.idx) want.insert(want.end(), pal.begin() + 3 * i, pal.begin() + 3 * i + 3);
    EXPECT_EQ(img.pixels, want) << "layout " << int(c.layout);
  }
}

TEST(DecodeBmp, TruncatedAndRleAreBad) {
  const auto good = test::encode_bmp(test::widen(test::random_bytes(8 * 8 * 3, 2)), 8, 8, test::BmpOptions{});
  RgbImage img;
  std::vector<uint8_t> cut(good.begin(), good.end() - 10);
  DecodeResult r = decode(cut, &img);
  EXPECT_FALSE(r.ok);
  EXPECT_EQ(r.reason, "truncated BMP data");
  std::vector<uint8_t> rle = good;
  rle[30] = 1;  // biCompression = BI_RLE8
  r = decode(rle, &img);
  EXPECT_FALSE(r.ok);
  EXPECT_EQ(r.reason, "BMP: RLE compression is not supported");
}

// ------------------------------------------------------------------------------- PNM

TEST(DecodePnm, BinaryAndPlainVariants) {
  const int w = 4, h = 3;
  const auto rgb = test::random_bytes(w * h * 3, 4);
  const auto grey = test::random_bytes(w * h, 5);
  RgbImage img;
  ASSERT_TRUE(decode(test::encode_pnm(6, test::widen(rgb), w, h), &img).ok);
  EXPECT_EQ(img.pixels, rgb);
  ASSERT_TRUE(decode(test::encode_pnm(3, test::widen(rgb), w, h), &img).ok);
  EXPECT_EQ(img.pixels, rgb);
  ASSERT_TRUE(decode(test::encode_pnm(5, test::widen(grey), w, h, 255, "a comment"), &img).ok);
  EXPECT_EQ(img.pixels, grey_to_rgb(grey));
  ASSERT_TRUE(decode(test::encode_pnm(2, test::widen(grey), w, h), &img).ok);
  EXPECT_EQ(img.pixels, grey_to_rgb(grey));
  const std::vector<uint16_t> bits = {1, 0, 0, 1, 1, 1, 0, 0, 0, 1, 0, 1};  // 1 is black
  std::vector<uint8_t> want;
  for (uint16_t b : bits) want.push_back(b ? 0 : 255);
  for (int kind : {1, 4}) {
    ASSERT_TRUE(decode(test::encode_pnm(kind, bits, w, h), &img).ok) << "P" << kind;
    EXPECT_EQ(img.pixels, grey_to_rgb(want)) << "P" << kind;
  }
}

TEST(DecodePnm, MaxvalScalingRoundsHalfToEvenLikePython) {
  // round(v / maxval * 255): 49/102 -> 122.5 -> 122 and 253/510 -> 126.5 -> 126 (ties to
  // even), 50/100 -> 127.5 -> 128, 1/100 -> 2.55 -> 3; values above maxval cap at 255.
  RgbImage img;
  ASSERT_TRUE(decode(test::encode_pnm(5, {49, 0, 102, 150}, 4, 1, 102), &img).ok);
  EXPECT_EQ(img.pixels, grey_to_rgb({122, 0, 255, 255}));
  ASSERT_TRUE(decode(test::encode_pnm(6, {50, 1, 100}, 1, 1, 100), &img).ok);
  EXPECT_EQ(img.pixels, (std::vector<uint8_t>{128, 3, 255}));
  ASSERT_TRUE(decode(test::encode_pnm(5, {253, 251, 510}, 3, 1, 510), &img).ok);
  EXPECT_EQ(img.pixels, grey_to_rgb({126, 126, 255}));
  ASSERT_TRUE(decode(test::encode_pnm(5, {129, 0x8080, 0xFFFF}, 3, 1, 65535), &img).ok);
  EXPECT_EQ(img.pixels, grey_to_rgb({1, 128, 255}));
}

TEST(DecodePnm, TruncatedIsBad) {
  auto bytes = test::encode_pnm(6, test::widen(test::random_bytes(30, 3)), 5, 2);
  bytes.resize(bytes.size() - 1);
  RgbImage img;
  DecodeResult r = decode(bytes, &img);
  EXPECT_FALSE(r.ok);
  EXPECT_EQ(r.reason, "truncated PNM data");
}

// ------------------------------------------------------------------------------- TIFF

TEST(DecodeTiff, CompressionsPredictorsAndByteOrders) {
  const int w = 23, h = 11;
  const auto rgb = test::widen(test::pattern_image(w, h, 3, 1));
  for (auto comp : {test::TiffCompression::None, test::TiffCompression::PackBits, test::TiffCompression::Lzw,
                    test::TiffCompression::Deflate}) {
    for (bool predictor : {false, true}) {
      // The predictor belongs to LZW and Deflate (libtiff ignores it elsewhere).
      if (predictor && (comp == test::TiffCompression::None || comp == test::TiffCompression::PackBits)) continue;
      for (bool big : {false, true}) {
        test::TiffOptions opt;
        opt.compression = comp, opt.predictor = predictor, opt.big_endian = big;
        RgbImage img;
        DecodeResult r = decode(test::encode_tiff(rgb, w, h, opt), &img);
        ASSERT_TRUE(r.ok) << r.reason;
        EXPECT_EQ(std::vector<uint16_t>(img.pixels.begin(), img.pixels.end()), rgb)
            << "compression " << int(comp) << " predictor " << predictor << " big-endian " << big;
      }
    }
  }
}

TEST(DecodeTiff, RowsPerStripOfZeroIsABadFileNotACrash) {
  const std::vector<uint16_t> rgb(4 * 3 * 3, 100);
  std::vector<uint8_t> bytes = test::encode_tiff(rgb, 4, 3, test::TiffOptions{});
  // Patch the RowsPerStrip entry (tag 278 = 0x0116, little-endian IFD entry) to hold 0.
  bool patched = false;
  for (size_t i = 8; i + 12 <= bytes.size() && !patched; i += 2)
    if (bytes[i] == 0x16 && bytes[i + 1] == 0x01 && (bytes[i + 2] == 3 || bytes[i + 2] == 4) && bytes[i + 3] == 0 &&
        bytes[i + 4] == 1) {
      std::fill(bytes.begin() + static_cast<std::ptrdiff_t>(i + 8), bytes.begin() + static_cast<std::ptrdiff_t>(i + 12), 0);
      patched = true;
    }
  ASSERT_TRUE(patched);
  RgbImage img;
  const DecodeResult r = decode(bytes, &img);
  EXPECT_FALSE(r.ok);
  // libtiff refuses the value itself.
  EXPECT_EQ(r.reason, "TIFF: Bad value 0 for \"RowsPerStrip\" tag");
}

TEST(DecodeTiff, LzwCodeWidthsGrowAcrossALongStrip) {
  // Random data fills the LZW table past 511, 1023 and 2047 entries and forces a Clear.
  const int w = 100, h = 60;
  const auto rgb = test::widen(test::random_bytes(w * h * 3, 11));
  test::TiffOptions opt;
  opt.compression = test::TiffCompression::Lzw;
  opt.rows_per_strip = h;
  RgbImage img;
  DecodeResult r = decode(test::encode_tiff(rgb, w, h, opt), &img);
  ASSERT_TRUE(r.ok) << r.reason;
  EXPECT_EQ(std::vector<uint16_t>(img.pixels.begin(), img.pixels.end()), rgb);
}

TEST(DecodeTiff, GreyPaletteCmykPlanarAndAlpha) {
  RgbImage img;
  test::TiffOptions grey;
  grey.photometric = 1, grey.samples_per_pixel = 1, grey.bits = 16;
  ASSERT_TRUE(decode(test::encode_tiff({129, 0x8080, 0xFFFF}, 3, 1, grey), &img).ok);
  EXPECT_EQ(img.pixels, grey_to_rgb({1, 128, 255}));

  test::TiffOptions white;  // min-is-white bilevel: 0 is white
  white.photometric = 0, white.samples_per_pixel = 1, white.bits = 1;
  ASSERT_TRUE(decode(test::encode_tiff({0, 1, 1, 0, 1}, 5, 1, white), &img).ok);
  EXPECT_EQ(img.pixels, grey_to_rgb({255, 0, 0, 255, 0}));

  test::TiffOptions pal;  // 4-bit palette: 16-bit colour map entries, high byte kept
  pal.photometric = 3, pal.samples_per_pixel = 1, pal.bits = 4;
  pal.compression = test::TiffCompression::PackBits;
  pal.colormap.assign(48, 0);
  pal.colormap[2] = 0x12FF, pal.colormap[16 + 2] = 0x3400, pal.colormap[32 + 2] = 0xFF00;
  pal.colormap[15] = 0x0100, pal.colormap[16 + 15] = 0x0200, pal.colormap[32 + 15] = 0x0300;
  ASSERT_TRUE(decode(test::encode_tiff({2, 15, 0}, 3, 1, pal), &img).ok);
  EXPECT_EQ(img.pixels, (std::vector<uint8_t>{0x12, 0x34, 0xFF, 1, 2, 3, 0, 0, 0}));

  test::TiffOptions cmyk;  // not inverted: R = (255 - K) - MULDIV255(C, 255 - K)
  cmyk.photometric = 5, cmyk.samples_per_pixel = 4;
  ASSERT_TRUE(decode(test::encode_tiff({0, 255, 128, 55}, 1, 1, cmyk), &img).ok);
  EXPECT_EQ(img.pixels, (std::vector<uint8_t>{200, 0, 100}));

  const auto rgb = test::widen(test::random_bytes(7 * 5 * 3, 6));
  test::TiffOptions planar;
  planar.planar = true, planar.compression = test::TiffCompression::Deflate, planar.predictor = true;
  ASSERT_TRUE(decode(test::encode_tiff(rgb, 7, 5, planar), &img).ok);
  EXPECT_EQ(std::vector<uint16_t>(img.pixels.begin(), img.pixels.end()), rgb);

  test::TiffOptions rgba;  // unassociated alpha is dropped; associated alpha is divided out
  rgba.samples_per_pixel = 4, rgba.extra_samples = 2;
  ASSERT_TRUE(decode(test::encode_tiff({10, 20, 30, 0, 40, 50, 60, 128}, 2, 1, rgba), &img).ok);
  EXPECT_EQ(img.pixels, (std::vector<uint8_t>{10, 20, 30, 40, 50, 60}));
  rgba.extra_samples = 1;  // 40 * 255 / 128 = 79, ... ; alpha 0 gives black
  ASSERT_TRUE(decode(test::encode_tiff({10, 20, 30, 0, 40, 50, 200, 128}, 2, 1, rgba), &img).ok);
  EXPECT_EQ(img.pixels, (std::vector<uint8_t>{0, 0, 0, 79, 99, 255}));
}

// Tiled files (which the test writer does not make) written with libtiff itself: partial tiles
// at the right and bottom edges, 8-bit RGB and 1-bit grey (tile starts inside a packed row).
std::vector<uint8_t> write_tiled_tiff(const std::string& path, const std::vector<uint8_t>& samples, int w, int h,
                                      int spp, int bits, uint16_t photometric, uint16_t compression) {
  TIFF* t = TIFFOpen(path.c_str(), "w");
  EXPECT_NE(t, nullptr);
  if (!t) return {};
  TIFFSetField(t, TIFFTAG_IMAGEWIDTH, static_cast<uint32_t>(w));
  TIFFSetField(t, TIFFTAG_IMAGELENGTH, static_cast<uint32_t>(h));
  TIFFSetField(t, TIFFTAG_SAMPLESPERPIXEL, static_cast<uint16_t>(spp));
  TIFFSetField(t, TIFFTAG_BITSPERSAMPLE, static_cast<uint16_t>(bits));
  TIFFSetField(t, TIFFTAG_PHOTOMETRIC, photometric);
  TIFFSetField(t, TIFFTAG_PLANARCONFIG, PLANARCONFIG_CONTIG);
  TIFFSetField(t, TIFFTAG_COMPRESSION, compression);
  TIFFSetField(t, TIFFTAG_TILEWIDTH, 16u);
  TIFFSetField(t, TIFFTAG_TILELENGTH, 16u);
  const size_t row_bytes = (static_cast<size_t>(w) * spp * bits + 7) / 8;
  const size_t tile_row = static_cast<size_t>(TIFFTileRowSize(t));
  std::vector<uint8_t> tile(static_cast<size_t>(TIFFTileSize(t)));
  for (int ty = 0; ty < h; ty += 16)
    for (int tx = 0; tx < w; tx += 16) {
      std::fill(tile.begin(), tile.end(), 0);
      const size_t at = static_cast<size_t>(tx) * spp * bits / 8;
      for (int y = ty; y < std::min(ty + 16, h); ++y)
        std::memcpy(tile.data() + (y - ty) * tile_row, samples.data() + y * row_bytes + at,
                    std::min(tile_row, row_bytes - at));
      EXPECT_GE(TIFFWriteTile(t, tile.data(), static_cast<uint32_t>(tx), static_cast<uint32_t>(ty), 0, 0), 0);
    }
  TIFFClose(t);
  return test::read_file(path);
}

TEST(DecodeTiff, TiledImagesWithPartialEdgeTiles) {
  const std::string dir = test::temp_dir("decode_tiled");
  const int w = 37, h = 21;
  const auto rgb = test::pattern_image(w, h, 3, 4);
  RgbImage img;
  for (uint16_t comp : {COMPRESSION_NONE, COMPRESSION_LZW, COMPRESSION_ADOBE_DEFLATE}) {
    DecodeResult r = decode(write_tiled_tiff(dir + "/rgb.tif", rgb, w, h, 3, 8, PHOTOMETRIC_RGB, comp), &img);
    ASSERT_TRUE(r.ok) << r.reason;
    EXPECT_EQ(img.width, w);
    EXPECT_EQ(img.height, h);
    EXPECT_EQ(img.pixels, rgb) << "compression " << comp;
  }
  // 1-bit min-is-black: bit 1 is white, packed MSB first, rows padded to a byte.
  const size_t row_bytes = (w + 7) / 8;
  const auto bits = test::random_bytes(row_bytes * h, 31);
  ASSERT_TRUE(decode(write_tiled_tiff(dir + "/bilevel.tif", bits, w, h, 1, 1, PHOTOMETRIC_MINISBLACK,
                                      COMPRESSION_PACKBITS), &img).ok);
  for (int y = 0; y < h; ++y)
    for (int x = 0; x < w; ++x) {
      const int bit = (bits[y * row_bytes + x / 8] >> (7 - x % 8)) & 1;
      ASSERT_EQ(img.row(y)[3 * x], bit ? 255 : 0) << x << "," << y;
      ASSERT_EQ(img.row(y)[3 * x + 2], img.row(y)[3 * x]) << x << "," << y;
    }
}

// Found by fuzz_image_decode: StripOffsets with 2 entries for 830,205 strips. libtiff ignores
// the table and makes one up (every strip at offset 0), so the 298-byte file "decoded" to a
// 7x2490615 image of header bytes; it must be bad.
TEST(DecodeTiff, AStripTableWithTheWrongCountIsBad) {
  const std::string path = std::string(VGGTL_SOURCE_DIR) + "/fuzz/regressions/image_decode/tiff_strip_offsets_wrong_count.tif";
  RgbImage img;
  const DecodeResult r = decode(test::read_file(path), &img);
  EXPECT_FALSE(r.ok);
  EXPECT_EQ(r.reason, "TIFF: damaged strip or tile table (Incorrect count for \"StripOffsets\"; tag ignored)");
}

TEST(DecodeTiff, UnsupportedAndTruncated) {
  const auto rgb = test::widen(test::random_bytes(6 * 4 * 3, 8));
  test::TiffOptions opt;
  auto bytes = test::encode_tiff(rgb, 6, 4, opt);
  RgbImage img;
  std::vector<uint8_t> cut(bytes.begin(), bytes.begin() + 40);
  EXPECT_FALSE(decode(cut, &img).ok);
  opt.compression = test::TiffCompression::PackBits;
  bytes = test::encode_tiff(rgb, 6, 4, opt);
  // Patch the Compression entry's value to 7 (JPEG).
  for (size_t i = 8; i + 12 <= bytes.size(); i += 2) {
    if (bytes[i] == 0x03 && bytes[i + 1] == 0x01 && bytes[i + 2] == 3 && bytes[i + 8] == 0x05 && bytes[i + 9] == 0x80) {
      bytes[i + 8] = 7, bytes[i + 9] = 0;
      break;
    }
  }
  DecodeResult r = decode(bytes, &img);
  EXPECT_FALSE(r.ok);
  EXPECT_EQ(r.reason, "TIFF: compression 7 is not supported");
}

// ------------------------------------------------------------------------------- any file

TEST(DecodeAny, FormatComesFromTheBytesNotTheName) {
  const std::string dir = test::temp_dir("decode");
  const auto rgb = test::random_bytes(4 * 2 * 3, 12);
  test::write_file(dir + "/really_a_png.jpg", test::encode_png(test::widen(rgb), 4, 2, test::PngOptions{}));
  RgbImage img;
  std::vector<uint8_t> buffer;
  DecodeResult r = decode_image_file(dir + "/really_a_png.jpg", &img, &buffer);
  ASSERT_TRUE(r.ok) << r.reason;
  EXPECT_EQ(r.format, ImageFormat::Png);
  EXPECT_EQ(img.pixels, rgb);
}

TEST(DecodeAny, NonImagesAreBadWithAReason) {
  RgbImage img;
  EXPECT_EQ(decode({}, &img).reason, "empty file");
  EXPECT_EQ(decode(test::random_bytes(1000, 3), &img).reason, "not an image (unknown signature)");
  const std::vector<uint8_t> ds_store = {0, 0, 0, 1, 'B', 'u', 'd', '1', 0, 0, 0x10, 0};
  EXPECT_EQ(decode(ds_store, &img).reason, "not an image (unknown signature)");
  const std::string gif = "GIF89a\x01\x00\x01\x00";
  EXPECT_EQ(decode(std::vector<uint8_t>(gif.begin(), gif.end()), &img).reason, "unsupported image format (GIF)");
  const std::vector<uint8_t> soi_only = {0xFF, 0xD8, 0xFF};
  DecodeResult r = decode(soi_only, &img);
  EXPECT_FALSE(r.ok);
  EXPECT_EQ(r.format, ImageFormat::Jpeg);
  DecodeResult missing = decode_image_file(test::temp_dir("decode_missing") + "/nope.jpg", &img, nullptr);
  EXPECT_FALSE(missing.ok);
  EXPECT_NE(missing.reason.find("cannot open"), std::string::npos);
}

TEST(DecodeAny, DamagedFilesNeverCrash) {
  // Random byte changes and cuts in every format: each decode ends with a verdict (run under
  // AddressSanitizer by the test script, this also checks that no read leaves the buffer).
  const int w = 19, h = 13;
  const auto rgb = test::pattern_image(w, h, 3, 2);
  const auto wide = test::widen(rgb);
  JpegOptions progressive;
  progressive.progressive = true;
  test::TiffOptions lzw, packbits;
  lzw.compression = test::TiffCompression::Lzw, lzw.predictor = true;
  packbits.compression = test::TiffCompression::PackBits;
  test::PngOptions interlaced;
  interlaced.interlaced = true;
  const std::vector<std::vector<uint8_t>> files = {
      encode_jpeg(rgb.data(), w, h), encode_jpeg(rgb.data(), w, h, progressive),
      test::encode_png(wide, w, h, interlaced), test::encode_bmp(wide, w, h, {}),
      test::encode_pnm(6, wide, w, h), test::encode_pnm(3, wide, w, h),
      test::encode_tiff(wide, w, h, lzw), test::encode_tiff(wide, w, h, packbits)};
  const auto noise = test::random_bytes(4 * 400 * files.size(), 77);
  size_t k = 0, bad = 0;
  for (const auto& good : files) {
    for (int trial = 0; trial < 400; ++trial, k += 4) {
      std::vector<uint8_t> f = good;
      const size_t at = ((noise[k] << 8) | noise[k + 1]) % f.size();
      if (trial % 4 == 0) {
        f.resize(at);
      } else {
        for (int j = 0; j < 1 + trial % 3; ++j) f[(at + 7 * j) % f.size()] = noise[k + 2 + (j & 1)];
      }
      RgbImage img;
      DecodeResult r = decode(f, &img);
      if (r.ok) {
        ASSERT_EQ(img.pixels.size(), static_cast<size_t>(img.width) * img.height * 3);
      } else {
        ASSERT_FALSE(r.reason.empty());
        ++bad;
      }
    }
  }
  EXPECT_GT(bad, files.size() * 100);  // every cut file at least
}

}  // namespace
}  // namespace vggtl
