// The oracle of the convolution tests: the formulas of conv2d.h (forward and backward) written
// out, in double. The loop order (taps, then input channels, then output channels innermost) only
// makes it fast enough to run a whole 32x32 VGG16 base in a unit test; every product and sum is
// exact double arithmetic. Also the f64 path of the Conv2D layer (gradient checks).
#include <algorithm>
#include <vector>

#include "engine/error.h"
#include "kernels/conv2d.h"

namespace vggtl {

namespace {

template <typename T>
void forward_ref(double* y, const T* x, const T* w, const T* b, const Conv2dShape& s, bool relu) {
  VGGTL_CHECK(s.n >= 0 && s.h >= 0 && s.w >= 0 && s.c > 0 && s.k > 0, "conv2d_3x3_ref_cpu: bad shape");
  std::vector<double> acc(static_cast<size_t>(s.k));
  for (int64_t n = 0; n < s.n; ++n)
    for (int64_t i = 0; i < s.h; ++i)
      for (int64_t j = 0; j < s.w; ++j) {
        for (int64_t k = 0; k < s.k; ++k) acc[k] = b[k];
        for (int64_t r = 0; r < 3; ++r) {
          const int64_t ii = i + r - 1;
          if (ii < 0 || ii >= s.h) continue;  // zero padding
          for (int64_t q = 0; q < 3; ++q) {
            const int64_t jj = j + q - 1;
            if (jj < 0 || jj >= s.w) continue;
            const T* xp = x + ((n * s.h + ii) * s.w + jj) * s.c;
            const T* wp = w + (r * 3 + q) * s.c * s.k;
            for (int64_t c = 0; c < s.c; ++c) {
              const double xv = xp[c];
              const T* wr = wp + c * s.k;
              for (int64_t k = 0; k < s.k; ++k) acc[k] += xv * static_cast<double>(wr[k]);
            }
          }
        }
        double* yp = y + ((n * s.h + i) * s.w + j) * s.k;
        for (int64_t k = 0; k < s.k; ++k) yp[k] = relu && acc[k] < 0 ? 0.0 : acc[k];
      }
}

}  // namespace

void conv2d_3x3_ref_cpu(double* y, const float* x, const float* w, const float* b, const Conv2dShape& s,
                        bool relu) {
  forward_ref(y, x, w, b, s, relu);
}

void conv2d_3x3_ref_cpu(double* y, const double* x, const double* w, const double* b, const Conv2dShape& s,
                        bool relu) {
  forward_ref(y, x, w, b, s, relu);
}

void conv2d_3x3_backward_ref_cpu(double* dx, double* dw, double* db, const double* dy, const double* x,
                                 const double* w, const Conv2dShape& s) {
  VGGTL_CHECK(s.n >= 0 && s.h >= 0 && s.w >= 0 && s.c > 0 && s.k > 0, "conv2d_3x3_backward_ref_cpu: bad shape");
  if (dx) std::fill(dx, dx + s.n * s.h * s.w * s.c, 0.0);
  if (dw) std::fill(dw, dw + 9 * s.c * s.k, 0.0);
  if (db) std::fill(db, db + s.k, 0.0);
  // Every (output pixel, tap) pair of the forward sum, read backwards: the output gradient at
  // (n, i, j) flows to the input pixel (i+r-1, j+q-1) through w[r][q], and to w[r][q] from it.
  for (int64_t n = 0; n < s.n; ++n)
    for (int64_t i = 0; i < s.h; ++i)
      for (int64_t j = 0; j < s.w; ++j) {
        const double* g = dy + ((n * s.h + i) * s.w + j) * s.k;
        if (db)
          for (int64_t k = 0; k < s.k; ++k) db[k] += g[k];
        for (int64_t r = 0; r < 3; ++r) {
          const int64_t ii = i + r - 1;
          if (ii < 0 || ii >= s.h) continue;
          for (int64_t q = 0; q < 3; ++q) {
            const int64_t jj = j + q - 1;
            if (jj < 0 || jj >= s.w) continue;
            const int64_t pixel = (n * s.h + ii) * s.w + jj;
            for (int64_t c = 0; c < s.c; ++c) {
              const int64_t tap = ((r * 3 + q) * s.c + c) * s.k;
              if (dx) {
                double sum = 0;
                for (int64_t k = 0; k < s.k; ++k) sum += g[k] * w[tap + k];
                dx[pixel * s.c + c] += sum;
              }
              if (dw) {
                const double xv = x[pixel * s.c + c];
                for (int64_t k = 0; k < s.k; ++k) dw[tap + k] += xv * g[k];
              }
            }
          }
        }
      }
}

}  // namespace vggtl
