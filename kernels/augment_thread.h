// Per-pixel work of the augmentation (kernels/augment.h), shared by the twins: the CUDA kernel
// runs augment_thread per thread, the CPU twin augment_pixel per pixel, the CPU test sweeps both.
// Tested by tests/kernels/test_augment.cpp.
#pragma once

#include "kernels/augment.h"
#include "kernels/exact_math.h"
#include "kernels/resize_preprocess_thread.h"

namespace vggtl {

// Products and sums go through kernels/exact_math.h: rounded one at a time, as scipy's C loop is
// compiled.

// scipy's order-1 'nearest' sample of one axis: the first tap, the second (mirrored at the
// edge) and their weights.
struct AugmentTaps {
  int i0, i1;
  double w0, w1;
};
VGGTL_HD AugmentTaps augment_taps(double s, int len) {
  if (s < 0.0) s = 0.0;
  else if (s > len - 1) s = len - 1;
  const double start = floor(s);
  AugmentTaps t;
  t.i0 = static_cast<int>(start);
  t.i1 = t.i0 + 1 < len ? t.i0 + 1 : (len > 1 ? len - 2 : 0);
  t.w0 = 1.0 - (s - start);
  t.w1 = 1.0 - t.w0;
  return t;
}

// Pillow's Brightness blend of one uint8 value with black.
VGGTL_HD float augment_brightness(float v, float alpha) {
  const int u8 = static_cast<int>(v);  // astype('uint8') of a value in [0, 255]
  if (alpha == 0.0f) return 0.0f;
  if (alpha == 1.0f) return static_cast<float>(u8);
  const float temp = exact_mul(alpha, static_cast<float>(u8));
  if (alpha >= 0.0f && alpha <= 1.0f) return static_cast<float>(static_cast<int>(temp));
  if (temp <= 0.0f) return 0.0f;
  if (temp >= 255.0f) return 255.0f;
  return static_cast<float>(static_cast<int>(temp));
}

// One output pixel (r, c) of one image; in and out point to that image's (h, w, 3).
template <typename OutT>
VGGTL_HD void augment_pixel(OutT* out, const float* in, const AugmentImage& a, int h, int w, int r, int c,
                            PixelTransform t) {
  const int cs = a.flip ? w - 1 - c : c;
  float v[3];
  if (!a.affine) {
    const float* p = in + (static_cast<int64_t>(r) * w + cs) * 3;
    v[0] = p[0], v[1] = p[1], v[2] = p[2];
  } else {
    const double sr = exact_add(exact_add(exact_add(0.0, exact_mul(r, a.m[0])), exact_mul(cs, a.m[1])), a.m[2]);
    const double sc = exact_add(exact_add(exact_add(0.0, exact_mul(r, a.m[3])), exact_mul(cs, a.m[4])), a.m[5]);
    const AugmentTaps tr = augment_taps(sr, h), tc = augment_taps(sc, w);
    const float* p00 = in + (static_cast<int64_t>(tr.i0) * w + tc.i0) * 3;
    const float* p01 = in + (static_cast<int64_t>(tr.i0) * w + tc.i1) * 3;
    const float* p10 = in + (static_cast<int64_t>(tr.i1) * w + tc.i0) * 3;
    const float* p11 = in + (static_cast<int64_t>(tr.i1) * w + tc.i1) * 3;
    for (int k = 0; k < 3; ++k) {
      double s = 0.0;
      s = exact_add(s, exact_mul(exact_mul(static_cast<double>(p00[k]), tr.w0), tc.w0));
      s = exact_add(s, exact_mul(exact_mul(static_cast<double>(p01[k]), tr.w0), tc.w1));
      s = exact_add(s, exact_mul(exact_mul(static_cast<double>(p10[k]), tr.w1), tc.w0));
      s = exact_add(s, exact_mul(exact_mul(static_cast<double>(p11[k]), tr.w1), tc.w1));
      v[k] = static_cast<float>(s);
    }
  }
  if (a.brightness)
    for (int k = 0; k < 3; ++k) v[k] = augment_brightness(v[k], a.alpha);
  if (t == PixelTransform::Caffe) {
    store_value(out + 0, v[2] - kCaffeMeanB);
    store_value(out + 1, v[1] - kCaffeMeanG);
    store_value(out + 2, v[0] - kCaffeMeanR);
  } else {
    store_value(out + 0, v[0]);
    store_value(out + 1, v[1]);
    store_value(out + 2, v[2]);
  }
}

// CUDA geometry: a 1-D grid of kAugmentThreads-thread blocks, thread i = block * threads + thread
// handles pixel i of the batch (image i / (h w), row-major within it); swept by the CPU test.
constexpr int kAugmentThreads = 256;
inline int64_t augment_blocks(int n, int h, int w) {
  const int64_t pixels = static_cast<int64_t>(n) * h * w;
  return (pixels + kAugmentThreads - 1) / kAugmentThreads;
}

template <typename OutT>
VGGTL_HD void augment_thread(int64_t block, int thread, OutT* out, const float* in, const AugmentImage* items,
                             int n, int h, int w, PixelTransform t) {
  const int64_t i = block * kAugmentThreads + thread;
  const int64_t per_image = static_cast<int64_t>(h) * w;
  if (i >= n * per_image) return;
  const int64_t image = i / per_image, p = i % per_image;
  const int r = static_cast<int>(p / w), c = static_cast<int>(p % w);
  augment_pixel(out + i * 3, in + image * per_image * 3, items[image], h, w, r, c, t);
}

}  // namespace vggtl
