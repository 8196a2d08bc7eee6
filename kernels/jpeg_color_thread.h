// Per-thread work of the JPEG colour conversion's CUDA kernel (kernels/jpeg_color.h): libjpeg's
// upsampling and YCbCr arithmetic per pixel, also swept on the CPU by the tests.
// Tested by tests/kernels/test_jpeg_color.cpp.
#pragma once

#include "kernels/block_owner.h"
#include "kernels/jpeg_color.h"

namespace vggtl {

// ---- per-thread work of the CUDA kernel, also swept on the CPU by the tests ----

namespace jpeg_ycc {
// jdcolor.c: SCALEBITS 16, FIX(x) = (long)(x * 65536 + 0.5), ONE_HALF = 1 << 15.
constexpr int kScaleBits = 16;
constexpr int32_t kOneHalf = int32_t{1} << (kScaleBits - 1);
constexpr int32_t fix(double x) { return static_cast<int32_t>(x * (1 << kScaleBits) + 0.5); }
constexpr int32_t kCrR = fix(1.40200), kCbB = fix(1.77200), kCrG = fix(0.71414),
                  kCbG = fix(0.34414);

// The four table entries of build_ycc_rgb_table for a chroma sample c (0..255).
VGGTL_HD int32_t cr_r(int c) { return (kCrR * (c - 128) + kOneHalf) >> kScaleBits; }
VGGTL_HD int32_t cb_b(int c) { return (kCbB * (c - 128) + kOneHalf) >> kScaleBits; }
VGGTL_HD int32_t cr_g(int c) { return -kCrG * (c - 128); }
VGGTL_HD int32_t cb_g(int c) { return -kCbG * (c - 128) + kOneHalf; }

VGGTL_HD uint8_t clamp255(int32_t v) {
  return static_cast<uint8_t>(v < 0 ? 0 : (v > 255 ? 255 : v));
}
}  // namespace jpeg_ycc

// Sample (r, c) of a component plane.
VGGTL_HD int jpeg_plane_at(const uint8_t* planes, const JpegColorPlane& p, int r, int c) {
  return planes[p.offset + int64_t{r} * p.stride + c];
}

// The upsampled value of one component at output pixel (x, y). Context rows and columns beyond
// the downsampled size repeat the edge, as jdmainct.c's context pointers and jdsample.c's first-
// and last-column cases do. The +1/+2 and +8/+7 biases alternate rounding, as jdsample.c does.
VGGTL_HD int jpeg_upsampled(const uint8_t* planes, const JpegColorPlane& p, int x, int y) {
  const int i = x >> 1, r = y >> 1;
  const int ni = (x & 1) ? (i + 1 < p.width ? i + 1 : i) : (i > 0 ? i - 1 : 0);
  const int nr = (y & 1) ? (r + 1 < p.height ? r + 1 : r) : (r > 0 ? r - 1 : 0);
  switch (p.method) {
    case JpegUpsample::Full:
      return jpeg_plane_at(planes, p, y, x);
    case JpegUpsample::FancyH2V1:
      return (3 * jpeg_plane_at(planes, p, y, i) + jpeg_plane_at(planes, p, y, ni) +
              ((x & 1) ? 2 : 1)) >> 2;
    case JpegUpsample::FancyH1V2:
      return (3 * jpeg_plane_at(planes, p, r, x) + jpeg_plane_at(planes, p, nr, x) +
              ((y & 1) ? 2 : 1)) >> 2;
    case JpegUpsample::FancyH2V2: {
      const int here = 3 * jpeg_plane_at(planes, p, r, i) + jpeg_plane_at(planes, p, nr, i);
      const int there = 3 * jpeg_plane_at(planes, p, r, ni) + jpeg_plane_at(planes, p, nr, ni);
      return (3 * here + there + ((x & 1) ? 7 : 8)) >> 4;
    }
    case JpegUpsample::Box:
    default:
      return jpeg_plane_at(planes, p, y / p.v_expand, x / p.h_expand);
  }
}

// Index of the last image whose first_cta <= cta (images sorted by first_cta, as planned).
VGGTL_HD int jpeg_color_find_image(const JpegColorImage* images, int num_images, int64_t cta) {
  return find_block_owner(num_images, cta, [=](int i) { return images[i].first_cta; });
}

// One thread: pixel (cta - first_cta) * kColorThreads + thread of its image, if inside it.
VGGTL_HD void jpeg_color_thread(uint8_t* rgb, const uint8_t* planes, const JpegColorImage* images,
                                int num_images, int64_t cta, int thread) {
  const JpegColorImage& im = images[jpeg_color_find_image(images, num_images, cta)];
  const int64_t pixel = (cta - im.first_cta) * kColorThreads + thread;
  if (pixel >= int64_t{im.width} * im.height) return;
  const int y = static_cast<int>(pixel / im.width), x = static_cast<int>(pixel % im.width);
  uint8_t* out = rgb + im.out_offset + pixel * 3;
  const int c0 = jpeg_upsampled(planes, im.plane[0], x, y);
  if (im.model == JpegColorModel::Gray) {
    out[0] = out[1] = out[2] = static_cast<uint8_t>(c0);
    return;
  }
  const int c1 = jpeg_upsampled(planes, im.plane[1], x, y);
  const int c2 = jpeg_upsampled(planes, im.plane[2], x, y);
  if (im.model == JpegColorModel::RGB) {
    out[0] = static_cast<uint8_t>(c0);
    out[1] = static_cast<uint8_t>(c1);
    out[2] = static_cast<uint8_t>(c2);
    return;
  }
  using namespace jpeg_ycc;
  out[0] = clamp255(c0 + cr_r(c2));
  out[1] = clamp255(c0 + ((cb_g(c1) + cr_g(c2)) >> kScaleBits));
  out[2] = clamp255(c0 + cb_b(c1));
}

}  // namespace vggtl
