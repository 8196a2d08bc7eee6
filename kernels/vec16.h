// 16-byte vectors of f32, bf16 or f16 for the memory-bound kernels: one load or store instruction
// per vector on the GPU, the same code on the CPU (where the per-thread functions are swept by
// the tests). Callers guarantee 16-byte alignment; `vec16_ok` says whether a launch may use it.
#pragma once

#include <cstdint>

#include "engine/dtype.h"

namespace vggtl {

template <typename T>
struct alignas(16) Vec16 {
  static constexpr int kSize = static_cast<int>(16 / sizeof(T));
  T v[kSize];
};

template <typename T>
VGGTL_HD Vec16<T> load_vec16(const T* p) {
  return *reinterpret_cast<const Vec16<T>*>(p);
}

template <typename T>
VGGTL_HD void store_vec16(T* p, const Vec16<T>& v) {
  *reinterpret_cast<Vec16<T>*>(p) = v;
}

// True when p is 16-byte aligned (tensors from the allocators always are; views may not be).
VGGTL_HD bool aligned16(const void* p) { return (reinterpret_cast<uintptr_t>(p) & 15u) == 0; }

// Element <-> float for the activation types and the f16 feature cache.
VGGTL_HD float to_float(float x) { return x; }
VGGTL_HD float to_float(bf16 x) { return bf16_to_float(x); }
VGGTL_HD float to_float(f16 x) { return f16_to_float(x); }
template <typename T>
VGGTL_HD T from_float(float x);
template <>
VGGTL_HD float from_float<float>(float x) {
  return x;
}
template <>
VGGTL_HD bf16 from_float<bf16>(float x) {
  return float_to_bf16(x);
}
template <>
VGGTL_HD f16 from_float<f16>(float x) {
  return float_to_f16(x);
}

}  // namespace vggtl
