// MaxPool2D: shape rules and the call into kernels/maxpool2d.
#include "layers/maxpool2d.h"

#include "kernels/maxpool2d.h"

namespace vggtl {

Shape MaxPool2D::output_shape(const Shape& in) const {
  VGGTL_CHECK(in.ndim() == 4 && in[1] >= 2 && in[2] >= 2, "MaxPooling2D '", name_,
              "' expects (N,H,W,C) with H, W >= 2, got ", in.str());
  return Shape{in[0], in[1] / 2, in[2] / 2, in[3]};
}

void MaxPool2D::forward(const Tensor& x, Tensor& y, const Pass&) {
  VGGTL_CHECK(x.device() == device_ && y.device() == device_, "MaxPooling2D '", name_, "' runs on ",
              device_.str(), ", got ", x.str(), " -> ", y.str());
  VGGTL_CHECK(y.shape() == output_shape(x.shape()) && y.dtype() == x.dtype(), "MaxPooling2D '", name_,
              "': ", x.str(), " -> ", y.str());
  if (keep_for_backward()) x_ = x;
  maxpool2d_forward(y, x);
}

void MaxPool2D::backward(const Tensor& dy, Tensor* dx) {
  VGGTL_CHECK(x_.defined(), "MaxPooling2D '", name_, "': backward without a kept forward");
  if (!dx) return;  // no params: nothing else to compute
  VGGTL_CHECK(x_.dtype() != DType::BF16 || !device_.is_cuda(), "MaxPooling2D '", name_,
              "' cannot be trained through a bf16 forward on the GPU: run the convolutions in fp32 or tf32");
  maxpool2d_backward(*dx, dy, x_);
}

}  // namespace vggtl
