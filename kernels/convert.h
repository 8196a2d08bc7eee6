// Element conversion and channel padding. convert: y[i] = x[i] (f32 -> bf16 and f32 -> f16
// round to nearest even). pad_channels: x (M, C) -> y (M, Cp), y[m][k] = k < C ? x[m][k] : 0, with optional
// f32 -> bf16 conversion (the 3-channel NHWC image padded to 4 or 8 channels so that conv1_1 runs
// on tensor cores). hwio_to_krsc: Keras conv kernel w (R, S, C, K) f32 -> cuDNN filter y (K, R, S,
// Cp) f32 or bf16, zero for c >= C; krsc_to_hwio: its inverse for f32 without padding (the cuDNN
// filter gradient back into the Keras layout). Tested by tests/kernels/test_convert.cpp.
#pragma once

#include <cstdint>

#include "engine/tensor.h"

namespace vggtl {

// ---- CPU twins: the specification ----
template <typename To, typename From>
void convert_cpu(To* y, const From* x, int64_t n);
template <typename To, typename From>
void pad_channels_cpu(To* y, const From* x, int64_t m, int64_t c, int64_t cp);
template <typename To>
void hwio_to_krsc_cpu(To* y, const float* w, int64_t r, int64_t s, int64_t c, int64_t k, int64_t cp);
void krsc_to_hwio_cpu(float* y, const float* w, int64_t r, int64_t s, int64_t c, int64_t k);

// ---- CUDA twins (their per-thread work: kernels/convert_thread.h) ----
template <typename To, typename From>
void convert_cuda(To* y, const From* x, int64_t n, Stream stream);
template <typename To, typename From>
void pad_channels_cuda(To* y, const From* x, int64_t m, int64_t c, int64_t cp, Stream stream);
template <typename To>
void hwio_to_krsc_cuda(To* y, const float* w, int64_t r, int64_t s, int64_t c, int64_t k, int64_t cp,
                       Stream stream);
void krsc_to_hwio_cuda(float* y, const float* w, int64_t r, int64_t s, int64_t c, int64_t k, Stream stream);
// The element types the CUDA twins are instantiated for, in one list: kernels/convert.cu and, in
// a CPU-only build, kernels/cuda_absent.cpp define exactly these.
#define VGGTL_CONVERT_CUDA_INSTANCES                                                                        \
  template void convert_cuda<float, float>(float*, const float*, int64_t, Stream);                        \
  template void convert_cuda<bf16, float>(bf16*, const float*, int64_t, Stream);                          \
  template void convert_cuda<float, bf16>(float*, const bf16*, int64_t, Stream);                          \
  template void convert_cuda<bf16, bf16>(bf16*, const bf16*, int64_t, Stream);                            \
  template void convert_cuda<f16, float>(f16*, const float*, int64_t, Stream);                            \
  template void convert_cuda<float, f16>(float*, const f16*, int64_t, Stream);                            \
  template void pad_channels_cuda<float, float>(float*, const float*, int64_t, int64_t, int64_t, Stream); \
  template void pad_channels_cuda<bf16, float>(bf16*, const float*, int64_t, int64_t, int64_t, Stream);   \
  template void pad_channels_cuda<float, bf16>(float*, const bf16*, int64_t, int64_t, int64_t, Stream);   \
  template void pad_channels_cuda<bf16, bf16>(bf16*, const bf16*, int64_t, int64_t, int64_t, Stream);     \
  template void hwio_to_krsc_cuda<float>(float*, const float*, int64_t, int64_t, int64_t, int64_t, int64_t, Stream); \
  template void hwio_to_krsc_cuda<bf16>(bf16*, const float*, int64_t, int64_t, int64_t, int64_t, int64_t, Stream);

// ---- Tensor level: the twin of the tensors' device, on its main stream ----
// Same element count and device; f32 <-> bf16 and f32 <-> f16 on any device, f32 <-> f64 on
// the CPU; equal dtypes copy.
void convert(Tensor& y, const Tensor& x);
// x (..., C) -> y (..., Cp), Cp >= C, same leading dimensions; dtypes f32 or bf16 each.
void pad_channels(Tensor& y, const Tensor& x);
// w (R, S, C, K) f32 -> y (K, R, S, Cp) f32 or bf16.
void hwio_to_krsc(Tensor& y, const Tensor& w);
// w (K, R, S, C) f32 -> y (R, S, C, K) f32.
void krsc_to_hwio(Tensor& y, const Tensor& w);

}  // namespace vggtl
