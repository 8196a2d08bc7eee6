// Per-thread work of the softmax cross-entropy CUDA kernels (kernels/softmax_xent.h), swept over
// the launch grid by the CPU test. Tested in tests/kernels/test_softmax_xent.cpp.
#pragma once

#include "kernels/softmax_xent.h"

namespace vggtl {

// CUDA geometry: one thread per row (the class count is small: 2 in the reference job), blocks
// of kXentThreads; swept by the CPU test. Sums in double.
constexpr int kXentThreads = 128;
VGGTL_HD void softmax_xent_thread(float* probs, float* dlogits, float* row_loss, int32_t* predicted,
                                  const float* logits, const int32_t* labels, int64_t n, int64_t k,
                                  int64_t block, int thread) {
  const int64_t r = block * kXentThreads + thread;
  if (r >= n || k <= 0) return;
  const float* z = logits + r * k;
  int64_t best = 0;
  for (int64_t j = 1; j < k; ++j)
    if (z[j] > z[best]) best = j;
  const double zmax = static_cast<double>(z[best]);
  double s = 0;
  for (int64_t j = 0; j < k; ++j) s += exp(static_cast<double>(z[j]) - zmax);
  predicted[r] = static_cast<int32_t>(best);
  const int32_t label = labels ? labels[r] : -1;
  const bool valid = label >= 0 && label < k;
  for (int64_t j = 0; j < k; ++j) {
    const double p = exp(static_cast<double>(z[j]) - zmax) / s;
    probs[r * k + j] = static_cast<float>(p);
    if (dlogits)
      dlogits[r * k + j] =
          static_cast<float>((p - (j == label ? 1.0 : 0.0)) / static_cast<double>(n));
  }
  if (row_loss)
    row_loss[r] = valid ? static_cast<float>(log(s) - (static_cast<double>(z[label]) - zmax)) : NAN;
}

// The epoch totals on the GPU: one thread (launch <<<1, 1>>>) adds the rows in row order, the
// order of xent_accumulate_cpu, so the totals are the same bits on every run and on both twins.
// A batch is tens of rows: a parallel reduction would save nothing measurable.
VGGTL_HD void xent_accumulate_thread(double* totals, const float* row_loss,
                                     const int32_t* predicted, const int32_t* labels, int64_t n,
                                     int64_t block, int thread) {
  if (block != 0 || thread != 0) return;
  double loss = totals[0], correct = totals[1];
  for (int64_t r = 0; r < n; ++r) {
    loss += static_cast<double>(row_loss[r]);
    correct += predicted[r] == labels[r] ? 1.0 : 0.0;
  }
  totals[0] = loss;
  totals[1] = correct;
  totals[2] += static_cast<double>(n);
}

}  // namespace vggtl
