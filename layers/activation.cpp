// ReLU layer over kernels/relu.
#include "layers/activation.h"

#include "kernels/relu.h"

namespace vggtl {

DType ReLU::input_dtype(DType in) const { return in == DType::F64 ? DType::F64 : DType::F32; }

void ReLU::forward(const Tensor& x, Tensor& y, const Pass&) {
  relu_forward(y, x);
  if (keep_for_backward()) y_ = y;
}

void ReLU::backward(const Tensor& dy, Tensor* dx) {
  VGGTL_CHECK(y_.defined(), "ReLU '", name_, "': backward without a kept forward");
  if (dx) relu_backward(*dx, dy, y_);
}

}  // namespace vggtl
