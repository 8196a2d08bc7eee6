// Helpers shared by the layer tests: host tensors from values, one-layer models, and the
// central-difference gradient check (in double on the CPU) that every layer test uses.
#pragma once

#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <memory>
#include <vector>

#include "layers/buffers.h"
#include "layers/model.h"
#include "test_util.h"

namespace vggtl::test {

inline Tensor tensor_of(const Shape& shape, const std::vector<double>& v,
                        DType dtype = DType::F64) {
  Tensor t = Tensor::empty(shape, dtype);
  write_values(t, v);
  return t;
}

inline std::vector<double> values_of(const Tensor& t) { return read_values(t); }

// A CPU model around one layer, built for samples shaped `sample` and initialised from `seed`;
// the layer is bound to keep its activations, as it would be inside a trainable range.
inline std::unique_ptr<Model> one_layer_model(std::unique_ptr<Layer> layer, const Shape& sample,
                                              DType dtype = DType::F64, uint64_t seed = 5) {
  auto model = std::make_unique<Model>(Device::cpu(), dtype);
  model->add(std::move(layer));
  model->build(sample, dtype);
  model->initialize(seed);
  model->layer(0).bind(Device::cpu(), 0, true);
  return model;
}

// A training pass with fixed dropout draws, for the gradient checks.
inline const Pass kTrain{Mode::Train, 1234, 7};

// Checks dx (when wanted) and the gradient of every trainable weight of `layer` for the scalar
// L = sum_i r_i * layer(x)_i with fixed random r, against central differences in double.
inline void expect_layer_gradients(Layer& layer, Tensor x, const Pass& pass, bool check_dx = true,
                                   double tolerance = 1e-6) {
  const Shape ys = layer.output_shape(x.shape());
  const std::vector<double> r = random_doubles(static_cast<size_t>(ys.numel()), 99);
  Tensor y = Tensor::empty(ys, DType::F64);
  auto loss = [&] {
    layer.forward(x, y, pass);
    double s = 0;
    for (int64_t i = 0; i < ys.numel(); ++i) s += r[i] * y.data<double>()[i];
    return s;
  };
  loss();
  Tensor dy = tensor_of(ys, r);
  Tensor dx = Tensor::empty(x.shape(), DType::F64);
  layer.backward(dy, check_dx ? &dx : nullptr);
  if (check_dx) {
    const std::vector<double> analytic = values_of(dx);
    const std::vector<double> numeric = numeric_gradient(x.data<double>(), x.numel(), loss);
    EXPECT_LT(relative_error(numeric, analytic), tolerance) << layer.name() << ": dx";
  }
  for (Param& p : layer.params()) {
    if (!p.trainable()) continue;
    const std::vector<double> analytic = values_of(p.grad);
    const std::vector<double> numeric =
        numeric_gradient(p.value.data<double>(), p.value.numel(), loss);
    EXPECT_LT(relative_error(numeric, analytic), tolerance) << layer.name() << ": " << p.name;
  }
}

// Uniform values in [lo, hi) with a random sign: kept away from 0 (ReLU kinks).
inline std::vector<double> away_from_zero(size_t n, uint64_t seed, double lo = 0.1,
                                          double hi = 1.0) {
  std::vector<double> v = random_doubles(n, seed, lo, hi);
  const std::vector<double> s = random_doubles(n, seed + 1);
  for (size_t i = 0; i < n; ++i) v[i] = s[i] < 0 ? -v[i] : v[i];
  return v;
}

}  // namespace vggtl::test
