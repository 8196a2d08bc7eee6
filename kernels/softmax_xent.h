// Softmax cross-entropy from logits, row by row over a row-major (n, k) matrix with int32 class
// labels in [0, k): p = softmax(z) computed from z - max(z); loss_r = log(sum_j exp(z_j - max)) -
// (z_label - max); predicted_r = the first index of the largest logit (NumPy argmax);
// dlogits = (p - onehot(label)) / n, the gradient of the batch mean. A label outside [0, k)
// gives a NaN loss. Tested in tests/kernels/test_softmax_xent.cpp.
#pragma once

#include <cmath>
#include <cstdint>

#include "engine/dtype.h"
#include "engine/tensor.h"

namespace vggtl {

// labels, row_loss and dlogits may be null together (prediction without targets); dlogits alone
// may be null (evaluation).
template <typename T>
void softmax_xent_cpu(T* probs, T* dlogits, T* row_loss, int32_t* predicted, const T* logits,
                      const int32_t* labels, int64_t n, int64_t k);
// totals[0] += sum of row_loss, totals[1] += rows with predicted == label, totals[2] += n: the
// per-sample running sums of an epoch, added in row order.
template <typename T>
void xent_accumulate_cpu(double* totals, const T* row_loss, const int32_t* predicted,
                         const int32_t* labels, int64_t n);

void softmax_xent_cuda(float* probs, float* dlogits, float* row_loss, int32_t* predicted,
                       const float* logits, const int32_t* labels, int64_t n, int64_t k,
                       Stream stream);
void xent_accumulate_cuda(double* totals, const float* row_loss, const int32_t* predicted,
                          const int32_t* labels, int64_t n, Stream stream);

// Tensor level. logits, probs, dlogits (n, k) F32 (any device) or F64 (CPU); labels, predicted
// I32 (n); row_loss (n) like logits; totals F64 (3) on the same device. Null pointers as above.
void softmax_xent(Tensor& probs, Tensor* dlogits, Tensor* row_loss, Tensor& predicted,
                  const Tensor& logits, const Tensor* labels);
void xent_accumulate(Tensor& totals, const Tensor& row_loss, const Tensor& predicted,
                     const Tensor& labels);

}  // namespace vggtl
