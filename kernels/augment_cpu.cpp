// Augmentation on the CPU: Keras's matrix built on the host (augment_prepare), the CPU twin
// (plain loops over images, rows and columns calling the per-pixel function), the batch draw,
// the canonical spec text and the tensor-level dispatch. Tests: tests/kernels/test_augment.cpp.
#include <cmath>
#include <cstdio>

#include "engine/context.h"
#include "engine/error.h"
#include "kernels/augment.h"
#include "kernels/augment_thread.h"

namespace vggtl {

namespace {

struct Mat3 {
  double a[3][3];
};

Mat3 identity3() { return Mat3{{{1, 0, 0}, {0, 1, 0}, {0, 0, 1}}}; }

// np.dot of two 3x3 float64 matrices: each entry a sum of three products, left to right.
Mat3 dot(const Mat3& x, const Mat3& y) {
  Mat3 z;
  for (int i = 0; i < 3; ++i)
    for (int j = 0; j < 3; ++j) {
      double s = 0.0;
      for (int k = 0; k < 3; ++k) s += x.a[i][k] * y.a[k][j];
      z.a[i][j] = s;
    }
  return z;
}

template <typename OutT>
void augment_cpu_impl(OutT* out, const float* in, const AugmentImage* items, int n, int h, int w,
                      PixelTransform t) {
  const int64_t per_image = static_cast<int64_t>(h) * w * 3;
  for (int i = 0; i < n; ++i)
    for (int r = 0; r < h; ++r)
      for (int c = 0; c < w; ++c)
        augment_pixel(out + i * per_image + (static_cast<int64_t>(r) * w + c) * 3, in + i * per_image, items[i], h,
                      w, r, c, t);
}

std::string number(double v) {
  char buf[32];
  std::snprintf(buf, sizeof buf, "%.17g", v);
  return buf;
}

}  // namespace

AugmentImage augment_prepare(const AugmentParams& p, int h, int w) {
  AugmentImage a;
  a.flip = p.flip ? 1 : 0;
  a.brightness = p.has_brightness ? 1 : 0;
  a.alpha = static_cast<float>(p.brightness);
  bool have = false;
  Mat3 m = identity3();
  if (p.theta != 0.0) {
    const double t = p.theta * (M_PI / 180.0);  // np.deg2rad
    m = Mat3{{{std::cos(t), -std::sin(t), 0}, {std::sin(t), std::cos(t), 0}, {0, 0, 1}}};
    have = true;
  }
  if (p.tx != 0.0 || p.ty != 0.0) {
    const Mat3 s{{{1, 0, p.tx}, {0, 1, p.ty}, {0, 0, 1}}};
    m = have ? dot(m, s) : s;
    have = true;
  }
  if (p.zx != 1.0 || p.zy != 1.0) {
    const Mat3 z{{{p.zx, 0, 0}, {0, p.zy, 0}, {0, 0, 1}}};
    m = have ? dot(m, z) : z;
    have = true;
  }
  if (!have) return a;
  const double ox = static_cast<double>(h) / 2 - 0.5, oy = static_cast<double>(w) / 2 - 0.5;
  const Mat3 offset{{{1, 0, ox}, {0, 1, oy}, {0, 0, 1}}};
  const Mat3 reset{{{1, 0, -ox}, {0, 1, -oy}, {0, 0, 1}}};
  const Mat3 c = dot(dot(offset, m), reset);
  // Swap rows 0/1 and columns 0/1: the (x, y) matrix applied to (row, col) indices.
  a.m[0] = c.a[1][1], a.m[1] = c.a[1][0], a.m[2] = c.a[1][2];
  a.m[3] = c.a[0][1], a.m[4] = c.a[0][0], a.m[5] = c.a[0][2];
  a.affine = 1;
  return a;
}

std::string AugmentSpec::str() const {
  std::string s;
  auto add = [&](const std::string& part) { s += (s.empty() ? "" : ",") + part; };
  if (hflip) add("hflip");
  if (shift != 0.0) add("shift=" + number(shift));
  if (zoom_lo != 1.0 || zoom_hi != 1.0) add("zoom=" + number(zoom_lo) + ":" + number(zoom_hi));
  if (rotate != 0.0) add("rotate=" + number(rotate));
  if (brightness) add("brightness=" + number(brightness_lo) + ":" + number(brightness_hi));
  return s;
}

void augment_cpu(float* out, const float* in, const AugmentImage* items, int n, int h, int w, PixelTransform t) {
  augment_cpu_impl(out, in, items, n, h, w, t);
}

void augment_cpu(bf16* out, const float* in, const AugmentImage* items, int n, int h, int w, PixelTransform t) {
  augment_cpu_impl(out, in, items, n, h, w, t);
}

std::vector<AugmentImage> augment_batch_items(const AugmentSpec& spec, uint64_t seed, uint32_t epoch,
                                              const std::vector<int64_t>& indices, int h, int w) {
  std::vector<AugmentImage> items;
  items.reserve(indices.size());
  for (int64_t index : indices) {
    VGGTL_CHECK(index >= 0, "augment: negative image index ", index);
    items.push_back(augment_prepare(augment_draw(spec, seed, epoch, static_cast<uint64_t>(index), h, w), h, w));
  }
  return items;
}

void augment(Tensor& out, const Tensor& in, const std::vector<AugmentImage>& items, PixelTransform t) {
  VGGTL_CHECK(in.dtype() == DType::F32 && in.shape().ndim() == 4 && in.shape()[3] == 3, "augment: input ",
              in.str(), " is not (n, h, w, 3) f32");
  VGGTL_CHECK(out.shape() == in.shape(), "augment: output ", out.str(), " does not match input ", in.str());
  VGGTL_CHECK(out.dtype() == DType::F32 || out.dtype() == DType::BF16, "augment: output must be f32 or bf16");
  VGGTL_CHECK(out.device() == in.device(), "augment: input and output on different devices");
  const int n = static_cast<int>(in.shape()[0]), h = static_cast<int>(in.shape()[1]),
            w = static_cast<int>(in.shape()[2]);
  VGGTL_CHECK(static_cast<int64_t>(items.size()) == in.shape()[0], "augment: ", items.size(), " items for ", n,
              " images");
  if (n == 0) return;
  if (out.is_cuda()) {
    Context& ctx = Context::get(out.device());
    // Stream-ordered, as resize_preprocess does with its table.
    const int64_t bytes = static_cast<int64_t>(items.size() * sizeof(AugmentImage));
    Tensor dev = to_device(Tensor::wrap(const_cast<AugmentImage*>(items.data()), Shape{bytes}, DType::U8),
                           out.device(), ctx.stream());
    const AugmentImage* di = reinterpret_cast<const AugmentImage*>(dev.data<uint8_t>());
    if (out.dtype() == DType::F32)
      augment_cuda(out.data<float>(), in.data<float>(), di, n, h, w, t, ctx.stream());
    else
      augment_cuda(out.data<bf16>(), in.data<float>(), di, n, h, w, t, ctx.stream());
    return;
  }
  if (out.dtype() == DType::F32)
    augment_cpu(out.data<float>(), in.data<float>(), items.data(), n, h, w, t);
  else
    augment_cpu(out.data<bf16>(), in.data<float>(), items.data(), n, h, w, t);
}

}  // namespace vggtl
