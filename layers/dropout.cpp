// Dropout over kernels/dropout.
#include "layers/dropout.h"

#include "kernels/dropout.h"

namespace vggtl {

Dropout::Dropout(std::string name, float rate) : Layer(std::move(name)), rate_(rate) {
  VGGTL_CHECK(rate >= 0.f && rate < 1.f, "Dropout '", name_, "': rate ", rate, " is not in [0, 1)");
}

DType Dropout::input_dtype(DType in) const { return in == DType::F64 ? DType::F64 : DType::F32; }

void Dropout::forward(const Tensor& x, Tensor& y, const Pass& pass) {
  VGGTL_CHECK(y.shape() == x.shape() && y.dtype() == x.dtype(), "Dropout '", name_, "': ", x.str(),
              " -> ", y.str());
  active_ = pass.mode == Mode::Train && rate_ > 0.f;
  pass_ = pass;
  const int64_t row = x.ndim() > 0 && x.dim(0) > 0 ? x.numel() / x.dim(0) : 0;
  offset_ = rng_offset() + static_cast<uint64_t>(pass.row_offset * row);
  if (active_) {
    dropout(y, x, rate_, pass.seed, pass.step, offset_);
  } else {
    copy(y, x);
  }
}

void Dropout::backward(const Tensor& dy, Tensor* dx) {
  if (!dx) return;
  if (active_) {
    dropout(*dx, dy, rate_, pass_.seed, pass_.step, offset_);
  } else {
    copy(*dx, dy);
  }
}

}  // namespace vggtl
