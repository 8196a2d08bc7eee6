// Reading Keras HDF5 weight files: the Keras-1 VGG16 files (notop and include-top), Keras-2
// save_weights files and Keras-2 full-model files (model.save / ModelCheckpoint / our
// checkpoints), detected from their contents. Names come from each group's weight_names,
// values as f32 CPU tensors in Keras shapes. Tested by tests/io/test_keras_weights.cpp.
#pragma once

#include <string>
#include <vector>

#include "engine/tensor.h"

namespace vggtl {

// The MD5 hashes Keras publishes for the VGG16 downloads (keras/applications/vgg16.py); compare
// with md5_file() from io/sha256.h to tell the genuine file from a damaged or different one.
inline constexpr const char* kVgg16NotopMd5 = "6d6bbae143d832006294945121d1f1fc";
inline constexpr const char* kVgg16IncludeTopMd5 = "64373286793e3c8b2b4e3219cbf3544b";

// One weight of a layer as stored in the file.
struct WeightEntry {
  std::string name;     // from weight_names: "block1_conv1_W_1:0", "FC_2/kernel:0"
  std::string dataset;  // absolute HDF5 path: "/model_weights/FC_2/FC_2/kernel:0"
  Shape shape;
  std::string dtype;    // "float32", "float64", ...
  Tensor value;         // f32 CPU; undefined until read
};

// One weight-bearing layer, weights in the file's order (Keras: kernel then bias; gamma, beta,
// moving_mean, moving_variance).
struct LayerWeights {
  std::string layer;
  std::vector<WeightEntry> weights;
  // Keras 3 files only: the layer's class path ("dense_1", "functional/conv2d"), by which Keras
  // itself pairs a bare .weights.h5 with a model (io/keras3/keras3_files.h); "" otherwise.
  std::string keras3_path = {};
};

struct WeightsFile {
  std::string path;
  // "keras1-weights" (root layer_names, no keras_version: the VGG16 downloads),
  // "keras2-weights" (save_weights), "keras2-full-model" (model_weights group),
  // "keras3-weights" (a Keras 3 .weights.h5), "keras3-archive" (a .keras zip).
  std::string layout;
  std::string keras_version;              // "" when the file does not say (Keras 1)
  std::vector<std::string> layer_names;   // every layer, in model order
  std::vector<LayerWeights> layers;       // weight-bearing layers only, in model order
  // Every layer group as stored, in layer_names order: weightless layers included, nested
  // models not split (what a checkpoint reader needs). Shares tensors with `layers`.
  std::vector<LayerWeights> groups;
  bool head_only = false;                 // a vggtl checkpoint written without its base
  std::vector<std::string> notes;         // things the user may want to know, one line each
};

// Reads the structure and, when `with_values`, every weight (f32; float64/float16 datasets
// are converted, with a note; any other type is an InputError). A layer group whose weights
// have several name prefixes is a nested model (VGG16 inside a Sequential): it is split into
// its inner layers, with a note. InputError, one line naming the file, for: a missing file,
// not HDF5, truncated or damaged, not a Keras layout, a missing layer group or dataset.
WeightsFile read_keras_weights(const std::string& path, bool with_values = true);

// What the model expects of one layer: its name and its weights' shapes in Keras order.
// `weight_names` ("kernel", "bias") only makes messages read better; it may be empty.
struct ExpectedLayer {
  std::string layer;
  std::vector<Shape> shapes;
  std::vector<std::string> weight_names;
};

struct MatchedWeights {
  std::vector<LayerWeights> layers;  // one per expected layer, in the expected order, values read
  std::vector<std::string> notes;    // e.g. layers of the file left unused (include-top file)
};

// Picks the expected layers out of the file by name; when some names are missing but the
// file's weight-bearing layers have the same count and shapes, pairs them by position as
// Keras load_weights does (with a note). Checks every shape, then reads the values of the
// matched layers that `f` does not hold yet. InputError for a missing layer, a wrong weight
// count ("<file>: block1_conv1 has 1 weight, expected 2") or a wrong shape
// ("<file>: block3_conv2/kernel: expected (3, 3, 256, 256), found (3, 3, 128, 256)").
MatchedWeights match_weights(const WeightsFile& f, const std::vector<ExpectedLayer>& expected);

// read_keras_weights without values + match_weights: reads only the datasets it uses (an
// include-top file's 400 MB of dense weights are never read).
MatchedWeights load_keras_weights(const std::string& path,
                                  const std::vector<ExpectedLayer>& expected);

// Keras-2 weight names: ("FC_2", "kernel") -> "FC_2/kernel:0"; and back to "kernel" (also
// strips a Keras-1 layer prefix: "block1_conv1_W_1:0" with layer "block1_conv1" -> "W_1").
std::string keras_weight_name(const std::string& layer, const std::string& short_name);
std::string short_weight_name(const std::string& weight_name, const std::string& layer = "");

}  // namespace vggtl
