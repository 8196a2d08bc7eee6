// CPU twin of the Philox fill, and the device dispatch.
#include "engine/context.h"
#include "engine/philox.h"
#include "kernels/random.h"

namespace vggtl {

void philox_fill_cpu(uint32_t* out, int64_t n, uint64_t seed, uint32_t stream_id, uint32_t offset) {
  // Same words as philox_word(seed, stream_id, offset, i), one block evaluation per four.
  for (int64_t first = 0; first < n; first += 4) {
    const uint64_t block = static_cast<uint64_t>(first) >> 2;
    const Philox4 r = philox4x32_10(static_cast<uint32_t>(block), static_cast<uint32_t>(block >> 32), offset,
                                    stream_id, static_cast<uint32_t>(seed), static_cast<uint32_t>(seed >> 32));
    for (int k = 0; k < 4 && first + k < n; ++k) out[first + k] = r.v[k];
  }
}

void philox_fill(Tensor& out, uint64_t seed, uint32_t stream_id, uint32_t offset) {
  uint32_t* p = reinterpret_cast<uint32_t*>(out.data<int32_t>());
  if (out.is_cuda()) {
    philox_fill_cuda(p, out.numel(), seed, stream_id, offset, main_stream(out.device()));
    return;
  }
  philox_fill_cpu(p, out.numel(), seed, stream_id, offset);
}

}  // namespace vggtl
