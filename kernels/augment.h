// Image augmentation with Keras ImageDataGenerator's arithmetic: in (n, H, W, 3) f32 RGB 0..255
// (the loader's rows with PixelTransform::None, i.e. img_to_array(load_img(target_size))) ->
// out (n, H, W, 3) f32 or bf16 with the PixelTransform applied last (caffe: BGR minus the means).
// Tests: tests/kernels/test_augment.cpp (hand cases, CPU sweep of the per-thread function, GPU
// vs CPU, and scripts/keras_augment_reference.py, scipy.ndimage + Pillow, on real and synthetic
// images).
//
// Where Keras applies it: DirectoryIterator._get_batches_of_transformed_samples does, per image,
// load_img(path, target_size, interpolation) -> img_to_array (float32) -> get_random_transform
// (x.shape) -> apply_transform -> standardize (preprocessing_function, e.g. vgg16
// preprocess_input, then rescale). So the transform sees the resized float32 RGB image and the
// caffe step comes after it, as here.
//
// apply_transform (tf.keras 2.x keras/preprocessing/image.py, ImageDataGenerator), in order:
//  1. apply_affine_transform(x, theta, tx, ty, shear=0, zx, zy, order=1, fill_mode='nearest'):
//     M = R(theta) . T(tx, ty) . Z(zx, zy), each factor only when it is not the identity
//     (theta != 0; tx or ty != 0; zx or zy != 1), all 3x3 in float64 with
//     R = [[cos t, -sin t, 0], [sin t, cos t, 0], [0, 0, 1]] (t = theta * pi / 180, np.deg2rad),
//     T = [[1, 0, tx], [0, 1, ty], [0, 0, 1]], Z = diag(zx, zy, 1). With no factor the image is
//     returned untouched. Otherwise M is taken about the centre (transform_matrix_offset_center
//     with h = rows, w = columns): o_x = h/2 - 0.5, o_y = w/2 - 0.5,
//     M' = [[1,0,o_x],[0,1,o_y],[0,0,1]] . M . [[1,0,-o_x],[0,1,-o_y],[0,0,1]], and then, since
//     the matrix is built for (x, y) and the array is indexed (row, col), rows and columns 0 and
//     1 of M' are both swapped (M'' = P M' P). Each channel goes through
//     scipy.ndimage.affine_transform(channel, M''[:2,:2], offset=M''[:2,2], order=1,
//     mode='nearest'): output pixel (r, c) reads source (sr, sc) = M''[:2,:2] . (r, c) + offset,
//     accumulated as scipy's NI_GeometricTransform does (0 + r*m00 + c*m01, then + offset0; the
//     same for row 1), both in float64. 'nearest' clamps each coordinate to [0, len - 1]
//     (map_coordinate), then order 1 takes start = floor(s), f = s - start, weights
//     w0 = 1 - f, w1 = 1 - w0 (ni_splines: the last weight is 1 minus the others), and the
//     second tap start + 1, mirrored back inside at the edge (len -> len - 2; its weight is 0
//     there). The value sums the four taps row-major, t += (v * w_row) * w_col, from 0.0 in
//     float64, and is stored as float32 (the input's dtype): round to nearest.
//     The earlier keras_preprocessing 1.1.x code did not swap rows and columns; for the square
//     images vggtl feeds (H = W) that version draws the same distribution of images, since
//     theta, tx/ty and zx/zy are drawn symmetrically and identically for the two axes.
//  2. horizontal flip (flip_axis on the column axis): out(r, c) = affine(r, W - 1 - c).
//  3. apply_brightness_shift(x, brightness, scale=False): for an image within 0..255 (always
//     here: order-1 interpolation stays within its taps) array_to_img does
//     x.astype('uint8') (truncation toward zero) and ImageEnhance.Brightness(img).enhance(b) is
//     Image.blend(black, img, b): Pillow's ImagingBlend with alpha = (float)b computes
//     (UINT8)(0 + alpha * v) in float for 0 <= alpha <= 1, else float temp = alpha * v clipped to
//     [0, 255] and truncated; alpha == 0 gives black, alpha == 1 the image itself.
//     img_to_array then gives float32 again. (keras_preprocessing 1.1.x called array_to_img
//     with its default scale=True, which first stretched the image to min 0 and max 255.)
//  Shear, vertical flip, channel shift and the other fill modes are not offered.
//
// get_random_transform draws, for an image of shape (h, w, 3): theta = U(-rotation_range,
// rotation_range) when rotation_range, else 0; tx = U(-hs, hs) * h (height_shift_range, a
// fraction < 1 of the rows); ty = U(-ws, ws) * w; zx, zy = two draws of U(zoom_lo, zoom_hi)
// unless zoom_range is [1, 1] (a float z means [1 - z, 1 + z]); flip when U(0,1) < 0.5 and
// horizontal_flip; brightness = U(lo, hi) when brightness_range is given; U(a, b) = a + (b - a) u
// (numpy's uniform). Here u comes from Philox, not numpy's global state: draw k of image
// `index` in epoch `epoch` is the double from words 2k, 2k+1 of philox_word(seed, kRngAugment,
// epoch, index * 16 + ...) (53 bits, as numpy builds a double from two 32-bit words), so a run
// and its resume, and the CPU and the GPU, see the same images.
#pragma once

#include <cmath>
#include <cstdint>
#include <string>
#include <vector>

#include "engine/dtype.h"
#include "engine/philox.h"
#include "engine/tensor.h"
#include "kernels/resize_preprocess.h"

namespace vggtl {

// The ImageDataGenerator options vggtl offers (--augment hflip,shift=F,zoom=Z,rotate=D,
// brightness=LO:HI); the defaults are Keras's "off".
struct AugmentSpec {
  bool hflip = false;           // horizontal_flip
  double shift = 0.0;           // width_shift_range = height_shift_range, fraction in [0, 1)
  double zoom_lo = 1.0;         // zoom_range [zoom_lo, zoom_hi]
  double zoom_hi = 1.0;
  double rotate = 0.0;          // rotation_range, degrees
  bool brightness = false;      // brightness_range given
  double brightness_lo = 1.0;
  double brightness_hi = 1.0;

  bool any() const { return hflip || shift != 0.0 || zoom_lo != 1.0 || zoom_hi != 1.0 || rotate != 0.0 || brightness; }
  // Canonical text, parsed back to the same spec by parse_augment_spec ("" when nothing is on).
  std::string str() const;
};

// Keras's transform_parameters for one image (shear 0, no vertical flip, no channel shift).
struct AugmentParams {
  double theta = 0.0;  // degrees
  double tx = 0.0;     // pixels (height shift)
  double ty = 0.0;     // pixels (width shift)
  double zx = 1.0;
  double zy = 1.0;
  bool flip = false;
  bool has_brightness = false;
  double brightness = 1.0;
};

// What the pixel function needs for one image: the affine map from output (row, col) to source
// (row, col) in scipy's terms, and the flags. Plain data, copied to the device as it is.
struct AugmentImage {
  double m[6] = {1, 0, 0, 0, 1, 0};  // sr = m0 r + m1 c + m2, sc = m3 r + m4 c + m5
  int32_t affine = 0;                // 0: Keras leaves the pixels as they are
  int32_t flip = 0;
  int32_t brightness = 0;
  float alpha = 1.0f;                // (float)brightness, as Pillow receives it
};

// 53-bit uniform double in [0, 1) from two 32-bit words (numpy's random_sample construction).
VGGTL_HD double augment_unit_double(uint32_t hi_word, uint32_t lo_word) {
  const uint64_t a = hi_word >> 5, b = lo_word >> 6;
  return (static_cast<double>(a) * 67108864.0 + static_cast<double>(b)) * (1.0 / 9007199254740992.0);
}

constexpr uint64_t kAugmentWordsPerImage = 16;

// Draw k (0..6) of one image: the k-th uniform in [0, 1).
VGGTL_HD double augment_uniform(uint64_t seed, uint32_t epoch, uint64_t index, int k) {
  const uint64_t base = index * kAugmentWordsPerImage + 2 * static_cast<uint64_t>(k);
  return augment_unit_double(philox_word(seed, kRngAugment, epoch, base),
                             philox_word(seed, kRngAugment, epoch, base + 1));
}

// get_random_transform for an (h, w) image, each draw from its own Philox words.
VGGTL_HD AugmentParams augment_draw(const AugmentSpec& s, uint64_t seed, uint32_t epoch, uint64_t index, int h,
                                    int w) {
  AugmentParams p;
  auto uniform = [&](int k, double lo, double hi) { return lo + (hi - lo) * augment_uniform(seed, epoch, index, k); };
  if (s.rotate != 0.0) p.theta = uniform(0, -s.rotate, s.rotate);
  if (s.shift != 0.0) {
    p.tx = uniform(1, -s.shift, s.shift) * h;
    p.ty = uniform(2, -s.shift, s.shift) * w;
  }
  if (!(s.zoom_lo == 1.0 && s.zoom_hi == 1.0)) {
    p.zx = uniform(3, s.zoom_lo, s.zoom_hi);
    p.zy = uniform(4, s.zoom_lo, s.zoom_hi);
  }
  p.flip = s.hflip && augment_uniform(seed, epoch, index, 5) < 0.5;
  if (s.brightness) {
    p.has_brightness = true;
    p.brightness = uniform(6, s.brightness_lo, s.brightness_hi);
  }
  return p;
}

// apply_affine_transform's matrix for an (h, w) image, in float64 as Keras builds it.
AugmentImage augment_prepare(const AugmentParams& p, int h, int w);

// ---- the twins: out (n, h, w, 3), in (n, h, w, 3) f32 RGB 0..255, items[n] ----

// CPU specification: per image, per row, per column, in the order of the maths above.
void augment_cpu(float* out, const float* in, const AugmentImage* items, int n, int h, int w, PixelTransform t);
void augment_cpu(bf16* out, const float* in, const AugmentImage* items, int n, int h, int w, PixelTransform t);
// All pointers on the device (items too).
void augment_cuda(float* out, const float* in, const AugmentImage* items, int n, int h, int w, PixelTransform t,
                  Stream stream);
void augment_cuda(bf16* out, const float* in, const AugmentImage* items, int n, int h, int w, PixelTransform t,
                  Stream stream);

// Tensor level: in (n, h, w, 3) F32, out the same shape F32 or BF16, both on one device (not
// aliased); items[n] in host memory (the CUDA path copies them to the device, stream-ordered).
void augment(Tensor& out, const Tensor& in, const std::vector<AugmentImage>& items, PixelTransform t);

// Draws and prepares the items of a batch: row i is dataset image indices[i] in `epoch`.
std::vector<AugmentImage> augment_batch_items(const AugmentSpec& spec, uint64_t seed, uint32_t epoch,
                                              const std::vector<int64_t>& indices, int h, int w);

}  // namespace vggtl
