// libFuzzer harness: read_keras_weights on an arbitrary file named .onnx, so the ONNX reader
// (io/onnx/onnx_weights.cpp: protobuf parse, graph walk, Transpose/Identity/Constant tracing,
// tensor sizes) sees it. A bad file must be an InputError naming it; anything else (an internal
// vggtl::Error, another exception, a crash, a hang, a leak, UB) is a finding. No libhdf5 is
// reached, so no child is needed. Seeds: fuzz/corpus/onnx_weights (small graphs of 13 Conv nodes
// whose first kernels are present, written by fuzz_make_seeds).
#include <cstdint>

#include "engine/error.h"
#include "fuzz_common.h"
#include "io/hdf5/keras_weights.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const std::string path = vggtl::fuzz::write_scratch_file("weights.onnx", data, size);
  try {
    vggtl::read_keras_weights(path, /*with_values=*/true);
  } catch (const vggtl::Error& e) {
    vggtl::fuzz::require_input_error_naming(e, path);
  }
  return 0;
}
