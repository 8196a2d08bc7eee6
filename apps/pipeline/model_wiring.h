// Wires the model (layers/) to files (io/): builds the VGG16 base + head, loads Keras base
// weights into it, and converts between the model and checkpoints (weights, optimizer state).
// Layers and io never see each other; this is where they meet. Tested in
// tests/apps/test_model_wiring.cpp.
#pragma once

#include <future>
#include <memory>
#include <string>
#include <vector>

#include "apps/pipeline/model_spec.h"
#include "io/hdf5/checkpoint.h"
#include "io/hdf5/keras_weights.h"
#include "layers/head.h"
#include "layers/model.h"
#include "layers/optimizer.h"

namespace vggtl {

// The Keras cache location of the VGG16 notop weights: $HOME/.keras/models/...
std::string default_weights_path();

// VGG16 base (block1_conv1 ... block5_pool) + the reference head, built for (S, S, 3) input.
std::unique_ptr<Model> build_model(const ModelSpec& spec, Device device);

// The precision the base runs in for --precision `requested` on `device`: as asked on a GPU; on
// the CPU bf16 where the CPU has native bf16 (AVX512-BF16 or AMX; an InputError naming the CPU's
// instruction set elsewhere, so the tools exit 2), fp32 otherwise (tf32 is a GPU format).
Precision base_precision(Precision requested, Device device);
// Index of the first head layer (flatten_1): the base is layers [0, head_start).
int head_start(const Model& model);

// What a VGG16 weights file must hold for this model.
std::vector<ExpectedLayer> vgg16_expected_layers();
// Reads the 13 conv layers from a Keras file (any layout) into the base; returns notes.
std::vector<std::string> load_base_weights(Model& model, const std::string& path);

// The model as a Keras full-model checkpoint: the weights of layers [from_layer, end) (-1: the
// head; fine-tuning: the first trained conv), and the rest of the base's only when include_base.
// Conv kernels are HWIO (3, 3, in, out) under "<layer>/kernel:0", as in Keras's files.
CheckpointModel checkpoint_model(Model& model, const ModelSpec& spec, bool include_base, int from_layer = -1);
// The whole model (base included) as a Keras 3 .keras archive (keras3_model_config and every
// weight), written atomically: keras.models.load_model opens it with no custom objects. The
// weights are copied to the host now; the file (59 MB, about a second with its fsync) is
// written on another thread, whose errors get() rethrows.
std::future<void> save_keras3_model(const std::string& path, Model& model, const ModelSpec& spec);
// Optimizer slots per trainable weight: "m/FC_2/kernel:0", "v/FC_2/kernel:0", ...
std::vector<NamedTensor> optimizer_state(Model& model, const Optimizer& opt);
void restore_optimizer_state(Model& model, Optimizer& opt, const std::vector<NamedTensor>& state,
                             int64_t iterations, const std::string& path);

// Architecture of a checkpoint (ours or a Keras file of the reference architecture):
// image size, hidden width, class count, dropout rate.
ModelSpec spec_from_checkpoint(const Checkpoint& ckpt);
// Copies a checkpoint's weights into the model: by layer name, or, for Keras files whose head
// layers are named otherwise, by class path for a Keras 3 file (as Keras 3 pairs them), else by
// position among the weight-bearing layers when every shape
// matches (as Keras load_weights). require_base: the 13 conv layers must be present.
// InputError naming the file for anything missing or mismatched.
void load_checkpoint_weights(Model& model, const Checkpoint& ckpt, bool require_base);

}  // namespace vggtl
