#include "support/random_cases.h"

#include "engine/error.h"
#include "test_util.h"

namespace vggtl::test {

Tensor random_tensor(const Shape& shape, uint64_t seed, float lo, float hi, DType dtype) {
  const std::vector<float> v = random_floats(static_cast<size_t>(shape.numel()), seed, lo, hi);
  Tensor t = Tensor::empty(shape, dtype);
  for (size_t i = 0; i < v.size(); ++i) {
    if (dtype == DType::F32) t.data<float>()[i] = v[i];
    else if (dtype == DType::BF16) t.data<bf16>()[i] = float_to_bf16(v[i]);
    else if (dtype == DType::F64) t.data<double>()[i] = v[i];
    else VGGTL_FAIL("random_tensor: F32, BF16 or F64, not ", dtype_name(dtype));
  }
  return t;
}

ConvCase random_conv_case(const Conv2dShape& s, uint64_t seed) {
  return ConvCase{s, random_floats(static_cast<size_t>(s.n * s.h * s.w * s.c), seed, -1.f, 1.f),
                  random_floats(static_cast<size_t>(9 * s.c * s.k), seed + 1, -0.5f, 0.5f),
                  random_floats(static_cast<size_t>(s.k), seed + 2, -0.5f, 0.5f)};
}

ConvBackwardCase random_conv_backward_case(const Conv2dShape& s, uint64_t seed) {
  ConvCase c = random_conv_case(s, seed);
  return ConvBackwardCase{s, std::move(c.x), std::move(c.w),
                          random_floats(static_cast<size_t>(s.n * s.h * s.w * s.k), seed + 2, -1.f, 1.f)};
}

}  // namespace vggtl::test
