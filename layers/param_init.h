// Keras's default initialisers, drawn on the host from Philox so that CPU and GPU models (and
// f32 and f64 ones) start from the same numbers. Tested in tests/layers/test_layers.cpp.
#pragma once

#include <cstdint>

#include "engine/tensor.h"

namespace vggtl {

// U(-limit, limit): element i (row-major in Keras's layout) is -limit + 2*limit*u_i with
// u_i = philox_uniform(seed, kRngInit, layer_index, i), rounded once to w's dtype (f32 or f64).
void uniform_init(Tensor& w, uint64_t seed, uint32_t layer_index, double limit);
// Keras's glorot_uniform: limit sqrt(6 / (fan_in + fan_out)).
void glorot_uniform(Tensor& w, uint64_t seed, uint32_t layer_index, int64_t fan_in,
                    int64_t fan_out);
// Keras's he_uniform: limit sqrt(6 / fan_in) (keeps a deep ReLU stack's activations in range).
void he_uniform(Tensor& w, uint64_t seed, uint32_t layer_index, int64_t fan_in);
// Every element = value (zeros for biases and beta, ones for gamma and the moving variance).
void fill_constant(Tensor& t, double value);

}  // namespace vggtl
