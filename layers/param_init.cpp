// Initialisers on the host, copied to the parameter's device.
#include "layers/param_init.h"

#include <cmath>
#include <vector>

#include "engine/context.h"
#include "engine/philox.h"
#include "layers/buffers.h"

namespace vggtl {

namespace {

template <typename T>
void draw_uniform(T* out, int64_t n, uint64_t seed, uint32_t layer_index, double limit) {
  // Word i is word i % 4 of Philox block i / 4 (philox_word): one block serves four elements.
  for (int64_t first = 0; first < n; first += 4) {
    const uint64_t block = static_cast<uint64_t>(first) >> 2;
    const Philox4 r = philox4x32_10(static_cast<uint32_t>(block), static_cast<uint32_t>(block >> 32),
                                    layer_index, kRngInit, static_cast<uint32_t>(seed),
                                    static_cast<uint32_t>(seed >> 32));
    for (int64_t j = 0; j < 4 && first + j < n; ++j)
      out[first + j] = static_cast<T>(-limit + 2.0 * limit * uint_to_unit_float(r.v[j]));
  }
}

}  // namespace

void uniform_init(Tensor& w, uint64_t seed, uint32_t layer_index, double limit) {
  VGGTL_CHECK(w.dtype() == DType::F32 || w.dtype() == DType::F64, "uniform_init: ", w.str(),
              " is neither f32 nor f64");
  Tensor h = w.is_cuda() ? Tensor::empty(w.shape(), w.dtype()) : w;
  if (h.dtype() == DType::F64)
    draw_uniform(h.data<double>(), h.numel(), seed, layer_index, limit);
  else
    draw_uniform(h.data<float>(), h.numel(), seed, layer_index, limit);
  if (w.is_cuda()) {
    copy(w, h);
    synchronize(w.device());
  }
}

void glorot_uniform(Tensor& w, uint64_t seed, uint32_t layer_index, int64_t fan_in,
                    int64_t fan_out) {
  VGGTL_CHECK(fan_in + fan_out > 0, "glorot_uniform: fan_in + fan_out is 0 for ", w.str());
  uniform_init(w, seed, layer_index, std::sqrt(6.0 / static_cast<double>(fan_in + fan_out)));
}

void he_uniform(Tensor& w, uint64_t seed, uint32_t layer_index, int64_t fan_in) {
  VGGTL_CHECK(fan_in > 0, "he_uniform: fan_in is 0 for ", w.str());
  uniform_init(w, seed, layer_index, std::sqrt(6.0 / static_cast<double>(fan_in)));
}

void fill_constant(Tensor& t, double value) {
  write_values(t, std::vector<double>(static_cast<size_t>(t.numel()), value));
}

}  // namespace vggtl
