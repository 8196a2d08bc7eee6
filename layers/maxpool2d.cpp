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
  maxpool2d_forward(y, x);
}

}  // namespace vggtl
