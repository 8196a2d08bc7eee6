// Small Keras-layout HDF5 weight files for tests: Keras-1 weights (the VGG16 downloads, notop
// or include-top), Keras-2 save_weights and Keras-2 full-model files, written with the raw
// HDF5 C API (not io/hdf5/hdf5.h, so that the readers are not checked against themselves).
// Values are deterministic functions of the weight's name: keras_test_value().
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "engine/tensor.h"

namespace vggtl::test {

struct KerasLayerSpec {
  std::string name;
  std::string class_name;                 // for model_config: "InputLayer", "Conv2D", ...
  std::vector<std::string> weight_names;  // as listed in the group's weight_names
  std::vector<Shape> shapes;
};

enum class KerasLayout {
  Keras1Weights,    // root attr layer_names only (vgg16_weights_tf_dim_ordering_..._notop.h5)
  Keras2Weights,    // save_weights: root layer_names, backend, keras_version
  Keras2FullModel,  // model.save: model_config at the root, layers under /model_weights
};

enum class KerasStrings { Fixed, Variable };

struct KerasFileOptions {
  KerasLayout layout = KerasLayout::Keras1Weights;
  KerasStrings strings = KerasStrings::Fixed;  // for layer_names and weight_names
  bool sorted_groups = false;   // create layer groups in name order (Keras >= 2.9)
  bool float64 = false;         // store every weight as float64
  bool int32_weights = false;   // store every weight as int32 (a foreign file)
  // Weightless layers: Keras stores an empty weight_names list as an empty float64 array.
  bool empty_list_as_float = true;
  int split_layer_names = 0;    // > 0: layer_names0..N-1, as Keras does past 64 KiB
  // Scale each kernel (rank >= 2) by the power of two nearest sqrt(6 / fan_in), as He's uniform
  // initialiser would, and each bias by 1/64: a base whose activations stay near 1 through the 13
  // convs, where training is well-conditioned (the plain values grow ~20x per layer). Values stay
  // exact in float32.
  bool he_scaled = false;
  std::string model_config;     // full model; empty: generated from the class names
  uint64_t seed = 1;
};

// Element i of the weight stored under `weight_name`: a multiple of 1/1024 in [-1, 1), so exact
// in float32 and float64.
float keras_test_value(uint64_t seed, const std::string& weight_name, int64_t i);
std::vector<float> keras_test_values(uint64_t seed, const std::string& weight_name, int64_t n);

void write_keras_file(const std::string& path, const std::vector<KerasLayerSpec>& layers,
                      const KerasFileOptions& options = {});

// "block1_conv1_W_1:0" (Keras 1, as in the downloads) or "block1_conv1/kernel:0" (Keras 2).
enum class KerasNaming { Keras1, Keras2 };

// VGG16's conv base: input_1, 13 conv layers (3x3) and 5 pools, with channel widths per
// block (Keras: 64, 128, 256, 512, 512; tests use tiny ones).
std::vector<KerasLayerSpec> vgg16_spec(KerasNaming naming,
                                       const std::vector<int64_t>& widths = {2, 3, 4, 5, 5});
// The include-top file's extra layers: flatten, fc1, fc2, predictions.
std::vector<KerasLayerSpec> vgg16_top_spec(KerasNaming naming, int64_t flat, int64_t fc_units,
                                           int64_t classes);
// The tutorial's head: flatten, FC_2 (Dense), batch_normalization_1, dropout_1, softmax.
std::vector<KerasLayerSpec> tutorial_head_spec(int64_t flat, int64_t hidden, int64_t classes);
// A model used as one layer (VGG16 inside a Sequential): one group listing all inner weights.
KerasLayerSpec nested_model_spec(const std::string& name, const std::vector<KerasLayerSpec>& inner);

}  // namespace vggtl::test
