// Arithmetic rounded one operation at a time, the same bits on the host and the device: no
// contraction into a fused multiply-add (CUDA's round-to-nearest intrinsics on the device; on the
// host the kernels build with -ffp-contract=off, CMakeLists.txt). For the twins whose results must
// agree exactly: the optimizers' updates, BatchNorm's moving statistics, the augmentation's
// resampling and brightness. Tested through tests/kernels/test_optimizer.cpp, test_batchnorm.cpp
// and test_augment.cpp.
#pragma once

#include <cmath>

#include "engine/dtype.h"

namespace vggtl {

VGGTL_HD float exact_add(float a, float b) {
#if defined(__CUDA_ARCH__)
  return __fadd_rn(a, b);
#else
  return a + b;
#endif
}
VGGTL_HD float exact_sub(float a, float b) {
#if defined(__CUDA_ARCH__)
  return __fsub_rn(a, b);
#else
  return a - b;
#endif
}
VGGTL_HD float exact_mul(float a, float b) {
#if defined(__CUDA_ARCH__)
  return __fmul_rn(a, b);
#else
  return a * b;
#endif
}
VGGTL_HD float exact_div(float a, float b) {
#if defined(__CUDA_ARCH__)
  return __fdiv_rn(a, b);
#else
  return a / b;
#endif
}
VGGTL_HD float exact_sqrt(float a) {
#if defined(__CUDA_ARCH__)
  return __fsqrt_rn(a);
#else
  return std::sqrt(a);
#endif
}

VGGTL_HD double exact_add(double a, double b) {
#if defined(__CUDA_ARCH__)
  return __dadd_rn(a, b);
#else
  return a + b;
#endif
}
VGGTL_HD double exact_mul(double a, double b) {
#if defined(__CUDA_ARCH__)
  return __dmul_rn(a, b);
#else
  return a * b;
#endif
}

}  // namespace vggtl
