// Softmax cross-entropy from logits (tf.keras categorical cross-entropy on a softmax output: no
// clipping), mean over the batch; also the probabilities, the predicted classes (first max, as
// NumPy argmax) and the gradient dlogits = (softmax - onehot)/N. Epoch totals (per-sample loss
// sum, correct count, sample count) stay on the device and are read once per epoch.
// Tested in tests/layers/test_gradcheck.cpp, test_layers.cpp and test_layers_gpu.cpp.
#pragma once

#include <cstdint>

#include "engine/tensor.h"

namespace vggtl {

struct XentSums {
  double loss_sum = 0;  // sum of per-sample losses
  double correct = 0;   // samples whose predicted class is the label
  int64_t count = 0;    // samples
  double mean_loss() const { return count ? loss_sum / static_cast<double>(count) : 0.0; }
  double accuracy() const { return count ? correct / static_cast<double>(count) : 0.0; }
};

class SoftmaxCrossEntropy {
 public:
  explicit SoftmaxCrossEntropy(Device device) : device_(device) {}

  // logits (N, K) F32 (or F64 on the CPU) and labels I32 (N) on the loss's device. Without
  // labels only the probabilities and predictions are computed. With labels, the batch is added
  // to the epoch totals, and dlogits is computed when want_grad.
  void forward(const Tensor& logits, const Tensor* labels, bool want_grad);

  // Views valid until the next forward.
  const Tensor& probs() const { return probs_; }
  const Tensor& predicted() const { return predicted_; }
  const Tensor& dlogits() const;
  const Tensor& row_loss() const { return row_loss_; }

  // The last batch's sums, read to the host (synchronises).
  XentSums batch_sums() const;
  // The sums since the last reset_totals(), read to the host (synchronises).
  XentSums totals() const;
  void reset_totals();

 private:
  Device device_;
  Tensor probs_store_, dlogits_store_, row_loss_store_, predicted_store_, totals_;
  Tensor probs_, dlogits_, row_loss_, predicted_, labels_;
  bool has_grad_ = false;
};

}  // namespace vggtl
