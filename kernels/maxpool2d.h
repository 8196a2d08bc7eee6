// 2x2 max-pooling, stride 2, 'valid': x (N, H, W, C) NHWC -> y (N, H/2, W/2, C) (floor: an odd
// last row or column is dropped, as Keras MaxPooling2D does); y = max of x[2i..2i+1][2j..2j+1];
// f32 or bf16 (f64 on the CPU); a NaN in the window gives NaN. Backward: dy (N, H/2, W/2, C) ->
// dx (N, H, W, C), each output's gradient to one input of its window (rule at
// maxpool2d_window_argmax), zero elsewhere. Tested by tests/kernels/test_maxpool2d.cpp.
#pragma once

#include <cstdint>
#include <string>

#include "engine/tensor.h"

namespace vggtl {

template <typename T>
void maxpool2d_forward_cpu(T* y, const T* x, int64_t n, int64_t h, int64_t w, int64_t c);

// The spec: dx zeroed, then each window's gradient written at its argmax. f32 or f64.
template <typename T>
void maxpool2d_backward_cpu(T* dx, const T* dy, const T* x, int64_t n, int64_t h, int64_t w, int64_t c);
// bf16 (the CPU's bf16 fine-tuning): the same rule on the window's values widened to float
// (exact), dy moved unchanged; so the same bits as the f32 twin given the same values.
template <>
void maxpool2d_backward_cpu<bf16>(bf16* dx, const bf16* dy, const bf16* x, int64_t n, int64_t h, int64_t w,
                                  int64_t c);

template <typename T>
void maxpool2d_forward_cuda(T* y, const T* x, int64_t n, int64_t h, int64_t w, int64_t c, Stream stream);
void maxpool2d_backward_cuda(float* dx, const float* dy, const float* x, int64_t n, int64_t h, int64_t w, int64_t c,
                             Stream stream);

// The CPU's bf16 fast path (maxpool2d_onednn.cpp): oneDNN's pooling on all threads, the same
// results as maxpool2d_forward_cpu<bf16>; and the oneDNN implementation it got last, for benches.
void maxpool2d_forward_onednn(bf16* y, const bf16* x, int64_t n, int64_t h, int64_t w, int64_t c);
std::string maxpool2d_onednn_implementation();

// x (N, H, W, C) f32 or bf16 (f64 on the CPU) -> y (N, H/2, W/2, C) of the same dtype, on x's device;
// bf16 on the CPU through maxpool2d_forward_onednn.
void maxpool2d_forward(Tensor& y, const Tensor& x);
// dy (N, H/2, W/2, C), x (N, H, W, C) -> dx (N, H, W, C): f32 on any device, f64 and bf16 on the
// CPU.
void maxpool2d_backward(Tensor& dx, const Tensor& dy, const Tensor& x);

}  // namespace vggtl
