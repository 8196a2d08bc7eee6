// libFuzzer harness: the Keras 3 readers on an arbitrary .keras file (a zip holding config.json,
// metadata.json and model.weights.h5): read_keras_weights, then read_checkpoint, as the tools
// read --weights and --model. A damaged or hostile zip (a bomb, names leaving the archive, a
// truncated central directory) or inner HDF5 file must be an InputError naming the file;
// anything else is a finding, except a crash or hang inside libhdf5, contained in a child first
// (fuzz_common.h). Seeds: fuzz/corpus/keras3 (fuzz/make_seeds.cpp).
#include <cstdint>

#include "engine/error.h"
#include "fuzz_common.h"
#include "io/hdf5/checkpoint.h"
#include "io/hdf5/keras_weights.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const std::string path = vggtl::fuzz::write_scratch_file("model.keras", data, size);
  if (!vggtl::fuzz::read_survives_in_child([&] { vggtl::read_keras_weights(path, false); })) return 0;
  try {
    vggtl::fuzz::read_and_match_weights(path);
    vggtl::read_checkpoint(path);
  } catch (const vggtl::Error& e) {
    vggtl::fuzz::require_input_error_naming(e, path);
  }
  return 0;
}
