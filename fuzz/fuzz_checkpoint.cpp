// libFuzzer harness: read_checkpoint on an arbitrary file. A damaged file must be an
// InputError naming it; anything else (an internal vggtl::Error, another exception, a crash, a
// hang, a leak, UB) is a finding, except a crash or hang inside libhdf5, contained in a child
// first (fuzz_common.h). Seeds: fuzz/corpus/checkpoint.
#include <cstdint>

#include "engine/error.h"
#include "fuzz_common.h"
#include "io/hdf5/checkpoint.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const std::string path = vggtl::fuzz::write_scratch_file("checkpoint.h5", data, size);
  // A known libhdf5 crash or hang in the child skips the input.
  if (!vggtl::fuzz::read_survives_in_child([&] { vggtl::read_checkpoint(path); })) return 0;
  try {
    vggtl::read_checkpoint(path);
  } catch (const vggtl::Error& e) {
    vggtl::fuzz::require_input_error_naming(e, path);
  }
  return 0;
}
