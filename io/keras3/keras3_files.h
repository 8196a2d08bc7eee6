// Keras 3 files: the `.keras` archive (a zip of config.json, metadata.json and model.weights.h5)
// and the `.weights.h5` layout (layers/<class-path>/vars/<i>), read into the same WeightsFile
// and Checkpoint structures as the Keras 2 files, and the `.keras` archive written from a
// model. The zip goes through libzip; the inner HDF5 file is opened and built in memory (HDF5's
// file-image API), never as a temporary file. Tested by tests/io/test_keras3_files.cpp, against
// the real Keras by tests/apps/test_keras_reference.cpp, fuzzed by fuzz/fuzz_keras3.cpp.
//
// Layer paths: Keras 3 names each layer's group after its class and its place among the
// layers of that class in its container ("conv2d", "conv2d_1", ..., "dense", "dense_1"); a model
// used as a layer nests ("functional/conv2d"). The layer's own name is in the vars group's
// `name` attribute (Keras 3.x writes it) and in config.json.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "io/hdf5/checkpoint.h"
#include "io/hdf5/keras_weights.h"

namespace vggtl::h5 {
class File;
class Group;
}  // namespace vggtl::h5

namespace vggtl {

// Bounds on what a .keras archive may make the reader allocate: a zip bomb (an entry that
// inflates far beyond its declared size, or declares an absurd one) is refused before or while
// it inflates.
struct KerasArchiveLimits {
  uint64_t max_json_bytes = 64ull << 20;       // config.json, metadata.json
  uint64_t max_weights_bytes = 4ull << 30;     // model.weights.h5 (VGG16 with its top: 528 MB)
  int64_t max_entries = 4096;
};

struct KerasArchive {
  std::string config_json;    // "" when the archive has none (a weights-only archive)
  std::string metadata_json;  // "" when absent
  std::string keras_version;  // from metadata.json, "" when it does not say
  std::vector<char> weights;  // the bytes of model.weights.h5
};

// True when `path` starts like a zip file (a .keras archive, whatever its name).
bool is_zip_file(const std::string& path);
// Reads the archive. InputError, one line naming the file, for: not a zip, a damaged or
// truncated zip (its central directory), an entry named with ".." or an absolute path, an entry
// over the limits or inflating to more or fewer bytes than declared, a bad CRC, a missing
// model.weights.h5, a config.json or metadata.json that is not a JSON object.
KerasArchive read_keras_archive(const std::string& path, const KerasArchiveLimits& limits = {});

// True when an open HDF5 file's root holds the Keras 3 layout (a "layers" group and no Keras 2
// layer_names).
bool is_keras3_layout(const h5::Group& root);

// Reads a Keras 3 weights file: the archive at `path` (layout "keras3-archive"; values always
// read, the weights are in memory anyway) or the .weights.h5 file already open as `file`
// (layout "keras3-weights"). Layers come in model order with their own names: from config.json
// for an archive; in a bare .weights.h5 from the vars groups' `name` attributes (else the class
// path), ordered by class path (conv2d, conv2d_1, ..., dense, dense_1): the file holds no order
// across classes, so models are matched to it by class path (LayerWeights::keras3_path), as
// Keras's load_weights does. InputError naming the file for anything missing or malformed.
WeightsFile read_keras3_archive_weights(const std::string& path);
WeightsFile read_keras3_weights_file(const std::string& path, const h5::File& file, bool with_values);

// A whole model from a Keras 3 file, for vggtl_eval/vggtl_predict and --init: the layers in
// model order with their classes (from config.json, else from the class paths), the config as
// model_config. No vggtl meta: class names, image size and preprocessing are not recorded.
Checkpoint read_keras3_checkpoint(const std::string& path, const WeightsFile& weights);

// "Conv2D" -> "conv2d", "MaxPooling2D" -> "max_pooling2d", "BatchNormalization" ->
// "batch_normalization": the stem of a Keras 3 layer path.
std::string keras3_snake_case(const std::string& class_name);
// The Keras 3 paths of a container's layers in order: the stem of each class, "_<n>" from the
// second of that stem on.
std::vector<std::string> keras3_layer_paths(const std::vector<std::string>& class_names);

// The Keras version written into metadata.json: the Keras 3 release the archives are checked
// against (tests/apps/test_keras_reference.cpp, scripts/keras_venv.sh).
inline constexpr const char* kKeras3Version = "3.15.1";

// Writes a .keras archive Keras 3's load_model opens without custom objects: `config_json` (a
// Keras 3 Functional config whose layers are `layers`, in that order, InputLayer included),
// metadata.json and model.weights.h5 with every layer's weights (f32, Keras shapes, Keras order).
// Atomic (io/atomic_file.h); stored entries, as Keras writes them. Error when it cannot be written.
void write_keras3_archive(const std::string& path, const std::string& config_json,
                          const std::vector<CheckpointLayer>& layers, const std::string& keras_version);

}  // namespace vggtl
