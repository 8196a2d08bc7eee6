// libFuzzer harness: read_keras_weights (and match_weights on what it found) on an arbitrary
// file. A damaged file must be an InputError naming it; anything else (an internal vggtl::Error,
// another exception, a crash, a hang, a leak, UB) is a finding, except a crash or hang inside
// libhdf5, contained in a child first (fuzz_common.h). Seeds: fuzz/corpus/keras_weights.
#include <cstdint>

#include "engine/error.h"
#include "fuzz_common.h"
#include "io/hdf5/keras_weights.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const std::string path = vggtl::fuzz::write_scratch_file("weights.h5", data, size);
  // The structure first in a child: a known libhdf5 crash or hang there skips the input.
  if (!vggtl::fuzz::read_survives_in_child([&] { vggtl::read_keras_weights(path, false); })) return 0;
  try {
    vggtl::fuzz::read_and_match_weights(path);
  } catch (const vggtl::Error& e) {
    vggtl::fuzz::require_input_error_naming(e, path);
  }
  return 0;
}
