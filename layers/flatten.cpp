// Flatten: a copy into the caller's buffer (the layer interface owns no output memory).
#include "layers/flatten.h"

namespace vggtl {

Shape Flatten::output_shape(const Shape& in) const {
  VGGTL_CHECK(in.ndim() >= 1, "Flatten '", name_, "': input ", in.str(), " has no batch dimension");
  int64_t features = 1;
  for (int i = 1; i < in.ndim(); ++i) features *= in[i];
  return Shape{in[0], features};
}

void Flatten::forward(const Tensor& x, Tensor& y, const Pass&) {
  VGGTL_CHECK(y.shape() == output_shape(x.shape()) && y.dtype() == x.dtype(), "Flatten '", name_,
              "': ", x.str(), " -> ", y.str());
  copy(y, x);
}

void Flatten::backward(const Tensor& dy, Tensor* dx) {
  if (!dx) return;
  VGGTL_CHECK(dx->numel() == dy.numel() && dx->dtype() == dy.dtype(), "Flatten '", name_,
              "': ", dy.str(), " -> ", dx->str());
  copy(*dx, dy);
}

}  // namespace vggtl
