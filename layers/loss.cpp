// Softmax cross-entropy over kernels/softmax_xent, with buffers reused across batches.
#include "layers/loss.h"

#include "kernels/softmax_xent.h"
#include "layers/buffers.h"

namespace vggtl {

void SoftmaxCrossEntropy::forward(const Tensor& logits, const Tensor* labels, bool want_grad) {
  VGGTL_CHECK(logits.ndim() == 2 && logits.device() == device_, "SoftmaxCrossEntropy: logits ",
              logits.str(), " on ", device_.str());
  const int64_t n = logits.dim(0);
  probs_ = reuse_buffer(probs_store_, logits.shape(), logits.dtype(), device_);
  predicted_ = reuse_buffer(predicted_store_, Shape{n}, DType::I32, device_);
  has_grad_ = labels && want_grad;
  if (has_grad_) dlogits_ = reuse_buffer(dlogits_store_, logits.shape(), logits.dtype(), device_);
  if (!labels) {
    softmax_xent(probs_, nullptr, nullptr, predicted_, logits, nullptr);
    row_loss_ = Tensor();
    labels_ = Tensor();
    return;
  }
  row_loss_ = reuse_buffer(row_loss_store_, Shape{n}, logits.dtype(), device_);
  labels_ = *labels;
  softmax_xent(probs_, has_grad_ ? &dlogits_ : nullptr, &row_loss_, predicted_, logits, labels);
  if (!totals_.defined()) reset_totals();
  xent_accumulate(totals_, row_loss_, predicted_, *labels);
}

const Tensor& SoftmaxCrossEntropy::dlogits() const {
  VGGTL_CHECK(has_grad_, "SoftmaxCrossEntropy: the last forward computed no gradient");
  return dlogits_;
}

XentSums SoftmaxCrossEntropy::batch_sums() const {
  VGGTL_CHECK(row_loss_.defined(), "SoftmaxCrossEntropy: the last forward had no labels");
  const std::vector<double> loss = read_values(row_loss_);
  Tensor pred = Tensor::empty(predicted_.shape(), DType::I32);
  Tensor lab = Tensor::empty(labels_.shape(), DType::I32);
  copy(pred, predicted_);
  copy(lab, labels_);
  synchronize(device_);
  XentSums s;
  for (size_t i = 0; i < loss.size(); ++i) {
    s.loss_sum += loss[i];
    s.correct += pred.data<int32_t>()[i] == lab.data<int32_t>()[i] ? 1.0 : 0.0;
  }
  s.count = static_cast<int64_t>(loss.size());
  return s;
}

XentSums SoftmaxCrossEntropy::totals() const {
  XentSums s;
  if (!totals_.defined()) return s;
  Tensor h = Tensor::empty(Shape{3}, DType::F64);
  copy(h, totals_);
  synchronize(device_);
  s.loss_sum = h.data<double>()[0];
  s.correct = h.data<double>()[1];
  s.count = static_cast<int64_t>(h.data<double>()[2]);
  return s;
}

void SoftmaxCrossEntropy::reset_totals() {
  if (!totals_.defined()) totals_ = Tensor::empty(Shape{3}, DType::F64, device_);
  fill_zero(totals_);
}

}  // namespace vggtl
