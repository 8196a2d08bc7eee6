// Initialisers on the host, copied to the parameter's device.
#include "layers/param_init.h"

#include <cmath>
#include <vector>

#include "engine/philox.h"
#include "layers/buffers.h"

namespace vggtl {

void glorot_uniform(Tensor& w, uint64_t seed, uint32_t layer_index, int64_t fan_in,
                    int64_t fan_out) {
  VGGTL_CHECK(fan_in + fan_out > 0, "glorot_uniform: fan_in + fan_out is 0 for ", w.str());
  const double limit = std::sqrt(6.0 / static_cast<double>(fan_in + fan_out));
  std::vector<double> v(static_cast<size_t>(w.numel()));
  for (size_t i = 0; i < v.size(); ++i) {
    const double u = philox_uniform(seed, kRngInit, layer_index, i);
    v[i] = -limit + 2.0 * limit * u;
  }
  write_values(w, v);
}

void fill_constant(Tensor& t, double value) {
  write_values(t, std::vector<double>(static_cast<size_t>(t.numel()), value));
}

}  // namespace vggtl
