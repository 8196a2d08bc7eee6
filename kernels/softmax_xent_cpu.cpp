// Softmax cross-entropy on the CPU (everything in double) and the tensor-level dispatch.
#include <cmath>
#include <limits>
#include <vector>

#include "engine/context.h"
#include "kernels/softmax_xent.h"

namespace vggtl {

template <typename T>
void softmax_xent_cpu(T* probs, T* dlogits, T* row_loss, int32_t* predicted, const T* logits,
                      const int32_t* labels, int64_t n, int64_t k) {
  std::vector<double> e(static_cast<size_t>(k));
  for (int64_t r = 0; r < n; ++r) {
    const T* z = logits + r * k;
    int64_t best = 0;
    for (int64_t j = 1; j < k; ++j)
      if (z[j] > z[best]) best = j;  // strict: ties keep the first, as numpy.argmax
    predicted[r] = static_cast<int32_t>(best);
    const double zmax = static_cast<double>(z[best]);
    double s = 0;
    for (int64_t j = 0; j < k; ++j) s += (e[j] = std::exp(static_cast<double>(z[j]) - zmax));
    const int32_t label = labels ? labels[r] : -1;
    for (int64_t j = 0; j < k; ++j) {
      const double p = e[j] / s;
      probs[r * k + j] = static_cast<T>(p);
      if (dlogits)
        dlogits[r * k + j] =
            static_cast<T>((p - (j == label ? 1.0 : 0.0)) / static_cast<double>(n));
    }
    if (row_loss) {
      const bool valid = label >= 0 && label < k;
      row_loss[r] = valid ? static_cast<T>(std::log(s) - (static_cast<double>(z[label]) - zmax))
                          : std::numeric_limits<T>::quiet_NaN();
    }
  }
}

template <typename T>
void xent_accumulate_cpu(double* totals, const T* row_loss, const int32_t* predicted,
                         const int32_t* labels, int64_t n) {
  for (int64_t r = 0; r < n; ++r) {
    totals[0] += static_cast<double>(row_loss[r]);
    totals[1] += predicted[r] == labels[r] ? 1.0 : 0.0;
  }
  totals[2] += static_cast<double>(n);
}

template void softmax_xent_cpu<float>(float*, float*, float*, int32_t*, const float*,
                                      const int32_t*, int64_t, int64_t);
template void softmax_xent_cpu<double>(double*, double*, double*, int32_t*, const double*,
                                       const int32_t*, int64_t, int64_t);
template void xent_accumulate_cpu<float>(double*, const float*, const int32_t*, const int32_t*,
                                         int64_t);
template void xent_accumulate_cpu<double>(double*, const double*, const int32_t*, const int32_t*,
                                          int64_t);

namespace {
template <typename T>
T* ptr(Tensor* t) {
  return t ? t->data<T>() : nullptr;
}
}  // namespace

void softmax_xent(Tensor& probs, Tensor* dlogits, Tensor* row_loss, Tensor& predicted,
                  const Tensor& logits, const Tensor* labels) {
  VGGTL_CHECK(logits.ndim() == 2, "softmax_xent: logits ", logits.str(), " are not (n, k)");
  const int64_t n = logits.dim(0), k = logits.dim(1);
  const Device dev = logits.device();
  const DType dt = logits.dtype();
  VGGTL_CHECK(dt == DType::F32 || (dt == DType::F64 && !logits.is_cuda()),
              "softmax_xent: wants f32 (or f64 on the CPU), got ", logits.str());
  VGGTL_CHECK(probs.shape() == logits.shape() && probs.dtype() == dt && probs.device() == dev,
              "softmax_xent: probs ", probs.str(), " for ", logits.str());
  VGGTL_CHECK(
      predicted.numel() == n && predicted.dtype() == DType::I32 && predicted.device() == dev,
      "softmax_xent: predicted ", predicted.str(), " for ", logits.str());
  VGGTL_CHECK(labels || (!dlogits && !row_loss), "softmax_xent: loss and gradient need labels");
  if (labels)
    VGGTL_CHECK(labels->numel() == n && labels->dtype() == DType::I32 && labels->device() == dev,
                "softmax_xent: labels ", labels->str(), " for ", logits.str());
  if (dlogits)
    VGGTL_CHECK(
        dlogits->shape() == logits.shape() && dlogits->dtype() == dt && dlogits->device() == dev,
        "softmax_xent: dlogits ", dlogits->str(), " for ", logits.str());
  if (row_loss)
    VGGTL_CHECK(row_loss->numel() == n && row_loss->dtype() == dt && row_loss->device() == dev,
                "softmax_xent: row_loss ", row_loss->str(), " for ", logits.str());
  const int32_t* lab = labels ? labels->data<int32_t>() : nullptr;
  if (!logits.is_cuda() && lab) {
    for (int64_t r = 0; r < n; ++r)
      VGGTL_CHECK(lab[r] >= 0 && lab[r] < k, "softmax_xent: label ", lab[r], " of row ", r,
                  " is not a class in [0, ", k, ")");
  }
  if (dt == DType::F64) {
    softmax_xent_cpu(probs.data<double>(), ptr<double>(dlogits), ptr<double>(row_loss),
                     predicted.data<int32_t>(), logits.data<double>(), lab, n, k);
  } else if (logits.is_cuda()) {
    softmax_xent_cuda(probs.data<float>(), ptr<float>(dlogits), ptr<float>(row_loss),
                      predicted.data<int32_t>(), logits.data<float>(), lab, n, k, main_stream(dev));
  } else {
    softmax_xent_cpu(probs.data<float>(), ptr<float>(dlogits), ptr<float>(row_loss),
                     predicted.data<int32_t>(), logits.data<float>(), lab, n, k);
  }
}

void xent_accumulate(Tensor& totals, const Tensor& row_loss, const Tensor& predicted,
                     const Tensor& labels) {
  const int64_t n = row_loss.numel();
  const Device dev = totals.device();
  VGGTL_CHECK(totals.numel() == 3 && totals.dtype() == DType::F64, "xent_accumulate: totals ",
              totals.str(), " are not f64 (3)");
  VGGTL_CHECK(row_loss.device() == dev && predicted.device() == dev && labels.device() == dev,
              "xent_accumulate: operands on different devices");
  VGGTL_CHECK(predicted.numel() == n && labels.numel() == n && predicted.dtype() == DType::I32 &&
                  labels.dtype() == DType::I32,
              "xent_accumulate: ", row_loss.str(), ", ", predicted.str(), ", ", labels.str());
  if (row_loss.dtype() == DType::F64) {
    VGGTL_CHECK(!totals.is_cuda(), "xent_accumulate: f64 losses on the CPU only");
    xent_accumulate_cpu(totals.data<double>(), row_loss.data<double>(), predicted.data<int32_t>(),
                        labels.data<int32_t>(), n);
  } else if (totals.is_cuda()) {
    xent_accumulate_cuda(totals.data<double>(), row_loss.data<float>(), predicted.data<int32_t>(),
                         labels.data<int32_t>(), n, main_stream(dev));
  } else {
    xent_accumulate_cpu(totals.data<double>(), row_loss.data<float>(), predicted.data<int32_t>(),
                        labels.data<int32_t>(), n);
  }
}

}  // namespace vggtl
