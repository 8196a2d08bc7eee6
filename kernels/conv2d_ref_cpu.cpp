// The oracle of the convolution tests: the formula of conv2d.h written out, in double. The loop
// order (taps, then input channels, then output channels innermost) only makes it fast enough to
// run a whole 32x32 VGG16 base in a unit test; every product and sum is exact double arithmetic.
#include <vector>

#include "engine/error.h"
#include "kernels/conv2d.h"

namespace vggtl {

void conv2d_3x3_ref_cpu(double* y, const float* x, const float* w, const float* b, const Conv2dShape& s,
                        bool relu) {
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
            const float* xp = x + ((n * s.h + ii) * s.w + jj) * s.c;
            const float* wp = w + (r * 3 + q) * s.c * s.k;
            for (int64_t c = 0; c < s.c; ++c) {
              const double xv = xp[c];
              const float* wr = wp + c * s.k;
              for (int64_t k = 0; k < s.k; ++k) acc[k] += xv * static_cast<double>(wr[k]);
            }
          }
        }
        double* yp = y + ((n * s.h + i) * s.w + j) * s.k;
        for (int64_t k = 0; k < s.k; ++k) yp[k] = relu && acc[k] < 0 ? 0.0 : acc[k];
      }
}

}  // namespace vggtl
