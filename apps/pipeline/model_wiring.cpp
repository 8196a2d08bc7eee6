// Model <-> files. Weight names: our layers' params use Keras short names ("kernel", "bias",
// "gamma", ...); files use "<layer>/<short>:0" (Keras 2) or other spellings that io resolves.
#include "apps/pipeline/model_wiring.h"

#include <nlohmann/json.hpp>

#include <algorithm>
#include <cmath>
#include <cstdlib>
#include <map>
#include <optional>

#include "apps/pipeline/keras_config.h"
#include "io/keras3/keras3_files.h"
#include "kernels/cpu_backend.h"
#include "layers/vgg16.h"

namespace vggtl {

std::string default_weights_path() {
  const char* home = std::getenv("HOME");
  return std::string(home && *home ? home : ".") + "/.keras/models/vgg16_weights_tf_dim_ordering_tf_kernels_notop.h5";
}

std::unique_ptr<Model> build_model(const ModelSpec& spec, Device device) {
  check_vgg16_image_size(spec.image_size);
  auto model = std::make_unique<Model>(device);
  Vgg16Options vo;
  vo.image_size = spec.image_size;
  vo.precision = spec.precision;
  vo.trainable = spec.trainable_base;
  for (auto& layer : make_vgg16_base(vo)) model->add(std::move(layer));
  add_head(*model, vgg16_feature_shape(spec.image_size), spec.head);
  model->build(Shape{spec.image_size, spec.image_size, 3});
  return model;
}

Precision base_precision(Precision requested, Device device) {
  if (device.is_cuda()) return requested;
  if (requested != Precision::BF16) return Precision::FP32;
  // No emulated fallback: oneDNN's bf16 without AVX512-BF16 runs slower than our fp32 Winograd, so
  // it would cost accuracy and time for nothing.
  if (!cpu_has_bf16())
    throw InputError("--precision bf16 on the CPU: " + cpu_bf16_unsupported_reason() + "; use --precision fp32");
  return Precision::BF16;
}

int head_start(const Model& model) {
  const int i = model.index_of("flatten_1");
  VGGTL_CHECK(i > 0, "the model has no flatten_1 layer");
  return i;
}

std::vector<ExpectedLayer> vgg16_expected_layers() {
  std::vector<ExpectedLayer> out;
  for (const LayerWeightShapes& l : vgg16_weight_shapes()) out.push_back(ExpectedLayer{l.layer, l.shapes, {"kernel", "bias"}});
  return out;
}

namespace {

// Copies host tensors into a layer's params in Keras order and tells the layer.
void assign_layer(Layer& layer, const std::vector<Tensor>& values, const std::string& path) {
  auto& params = layer.params();
  if (values.size() != params.size())
    throw InputError(path + ": " + layer.name() + " has " + std::to_string(values.size()) + " weights, expected " +
                     std::to_string(params.size()));
  for (size_t i = 0; i < params.size(); ++i) {
    if (values[i].shape() != params[i].shape)
      throw InputError(path + ": " + layer.name() + "/" + params[i].name + ": expected " + params[i].shape.str() +
                       ", found " + values[i].shape().str());
    copy(params[i].value, values[i]);
  }
  synchronize(layer.device());
  layer.params_changed();
}

bool has_weights(const CheckpointLayer& l) { return !l.weights.empty(); }

// A Keras 3 file's layers paired with the model's by class path ("conv2d_3", "dense_1"), as
// Keras's own load_weights pairs them; empty when a layer carries no path or has no match.
std::vector<std::pair<int, const CheckpointLayer*>> keras3_pairs(const Model& model,
                                                                 const std::vector<const CheckpointLayer*>& file_layers) {
  std::vector<std::string> classes;
  for (int i = 0; i < model.size(); ++i) classes.push_back(model.layer(i).type());
  const std::vector<std::string> paths = keras3_layer_paths(classes);
  std::vector<std::pair<int, const CheckpointLayer*>> pairs;
  std::vector<bool> taken(paths.size(), false);
  for (const CheckpointLayer* l : file_layers) {
    const std::string& p = l->keras3_path;
    const std::string last = p.substr(p.rfind('/') == std::string::npos ? 0 : p.rfind('/') + 1);
    auto it = std::find(paths.begin(), paths.end(), last);
    if (p.empty() || it == paths.end() || taken[it - paths.begin()]) return {};
    taken[it - paths.begin()] = true;
    pairs.emplace_back(static_cast<int>(it - paths.begin()), l);
  }
  return pairs;
}

}  // namespace

std::vector<std::string> load_base_weights(Model& model, const std::string& path) {
  MatchedWeights m = load_keras_weights(path, vgg16_expected_layers());
  for (const LayerWeights& lw : m.layers) {
    const int i = model.index_of(lw.layer);
    VGGTL_CHECK(i >= 0, "model has no layer ", lw.layer);
    std::vector<Tensor> values;
    for (const WeightEntry& w : lw.weights) values.push_back(w.value);
    assign_layer(model.layer(i), values, path);
  }
  return m.notes;
}

CheckpointModel checkpoint_model(Model& model, const ModelSpec& spec, bool include_base, int from_layer) {
  CheckpointModel cm;
  cm.model_config = keras_model_config(spec);
  cm.layers.push_back(CheckpointLayer{"input_1", "InputLayer", {}});
  const int first_head = from_layer >= 0 ? from_layer : head_start(model);
  for (int i = 0; i < model.size(); ++i) {
    Layer& l = model.layer(i);
    CheckpointLayer cl{l.name(), l.type(), {}};
    if (include_base || i >= first_head)
      for (Param& p : l.params()) cl.weights.push_back(NamedTensor{keras_weight_name(l.name(), p.name), p.value});
    cm.layers.push_back(std::move(cl));
  }
  return cm;
}

std::future<void> save_keras3_model(const std::string& path, Model& model, const ModelSpec& spec) {
  CheckpointModel cm = checkpoint_model(model, spec, true);
  Device device = Device::cpu();
  for (CheckpointLayer& l : cm.layers)
    for (NamedTensor& w : l.weights) {
      if (w.value.is_cuda()) device = w.value.device();
      w.value = to_device(w.value, Device::cpu());  // a copy even on the CPU: the model may change
    }
  synchronize(device);
  return std::async(std::launch::async, [path, layers = std::move(cm.layers), config = keras3_model_config(spec)] {
    write_keras3_archive(path, config, layers, kKeras3Version);
  });
}

std::vector<NamedTensor> optimizer_state(Model& model, const Optimizer& opt) {
  std::vector<NamedTensor> out;
  for (const auto& slot : opt.slots()) {
    for (const Model::NamedParam& np : model.params_by_layer()) {
      if (np.arena_offset < 0) continue;
      out.push_back(NamedTensor{slot.first + "/" + keras_weight_name(np.layer->name(), np.param->name),
                                slot.second.view(np.arena_offset, np.param->shape)});
    }
  }
  return out;
}

void restore_optimizer_state(Model& model, Optimizer& opt, const std::vector<NamedTensor>& state,
                             int64_t iterations, const std::string& path) {
  std::map<std::string, const Tensor*> by_name;
  for (const NamedTensor& t : state) by_name[t.name] = &t.value;
  for (const auto& slot : opt.slots()) {
    for (const Model::NamedParam& np : model.params_by_layer()) {
      if (np.arena_offset < 0) continue;
      const std::string name = slot.first + "/" + keras_weight_name(np.layer->name(), np.param->name);
      auto it = by_name.find(name);
      if (it == by_name.end()) throw InputError(path + ": optimizer state '" + name + "' is missing");
      if (it->second->shape() != np.param->shape)
        throw InputError(path + ": optimizer state '" + name + "': expected " + np.param->shape.str() + ", found " +
                         it->second->shape().str());
      Tensor dst = slot.second.view(np.arena_offset, np.param->shape);
      copy(dst, *it->second);
    }
  }
  synchronize(model.device());
  opt.set_iterations(iterations);
}

namespace {

// The Dropout rate a Keras model_config gives the head, if it gives one. A config that is not
// what Keras writes is an InputError naming the file, never a JSON type error or a Dropout
// layer's own check.
std::optional<float> dropout_from_config(const std::string& path, const std::string& config) {
  if (config.empty()) return std::nullopt;
  nlohmann::json j = nlohmann::json::parse(config, nullptr, false);
  if (j.is_discarded() || !j.is_object() || !j.contains("config") || !j["config"].is_object() ||
      !j["config"].contains("layers") || !j["config"]["layers"].is_array())
    return std::nullopt;
  std::optional<float> rate;
  for (const auto& l : j["config"]["layers"]) {
    if (!l.is_object() || !l.contains("class_name") || l["class_name"] != "Dropout" || !l.contains("config") ||
        !l["config"].is_object() || !l["config"].contains("rate"))
      continue;
    const nlohmann::json& r = l["config"]["rate"];
    if (!r.is_number() || !(r.get<double>() >= 0.0 && r.get<double>() < 1.0))
      throw InputError(path + ": model_config: Dropout rate " + r.dump() + " is not a number in [0, 1)");
    rate = r.get<float>();
  }
  return rate;
}

}  // namespace

ModelSpec spec_from_checkpoint(const Checkpoint& ckpt) {
  ModelSpec spec;
  // Weight-bearing dense layers, in model order: the hidden Dense then the output Dense.
  std::vector<const CheckpointLayer*> dense;
  for (const CheckpointLayer& l : ckpt.model.layers)
    if (has_weights(l) && l.weights[0].value.ndim() == 2) dense.push_back(&l);
  if (dense.size() != 2)
    throw InputError(ckpt.path + ": expected the reference head (two Dense layers), found " +
                     std::to_string(dense.size()) + " Dense layers");
  const Shape k1 = dense[0]->weights[0].value.shape(), k2 = dense[1]->weights[0].value.shape();
  spec.head.hidden = k1[1];
  spec.head.classes = k2[1];
  if (k2[0] != k1[1]) throw InputError(ckpt.path + ": the two Dense layers do not connect (" + k1.str() + ", " + k2.str() + ")");
  // The head's own checks (add_head) are for our code; a file's sizes are checked here.
  if (spec.head.hidden < 1 || spec.head.classes < 2)
    throw InputError(ckpt.path + ": the head has " + std::to_string(spec.head.hidden) + " hidden units and " +
                     std::to_string(spec.head.classes) + " classes (at least 1 and 2)");
  const double side = std::sqrt(static_cast<double>(k1[0]) / 512.0);
  spec.image_size = static_cast<int>(std::lround(side)) * 32;
  if (k1[0] < 1 || static_cast<int64_t>(std::lround(side) * std::lround(side)) * 512 != k1[0])
    throw InputError(ckpt.path + ": " + dense[0]->name + " takes " + std::to_string(k1[0]) +
                     " features, not a VGG16 feature map (s*s*512)");
  if (ckpt.meta && (ckpt.meta->image_height != spec.image_size || ckpt.meta->image_width != spec.image_size))
    throw InputError(ckpt.path + ": vggtl/image_size is (" + std::to_string(ckpt.meta->image_height) + ", " +
                     std::to_string(ckpt.meta->image_width) + "), but " + dense[0]->name + " takes the " +
                     std::to_string(k1[0]) + " features of " + std::to_string(spec.image_size) + " px images");
  if (const std::optional<float> rate = dropout_from_config(ckpt.path, ckpt.model.model_config)) spec.head.dropout = *rate;
  return spec;
}

void load_checkpoint_weights(Model& model, const Checkpoint& ckpt, bool require_base) {
  std::vector<const CheckpointLayer*> file_layers;
  for (const CheckpointLayer& l : ckpt.model.layers)
    if (has_weights(l)) file_layers.push_back(&l);
  std::vector<int> model_layers;
  for (int i = 0; i < model.size(); ++i)
    if (!model.layer(i).params().empty()) model_layers.push_back(i);

  // By name when every weight-bearing layer of the file is a layer of the model.
  bool by_name = true;
  for (const CheckpointLayer* l : file_layers) by_name = by_name && model.index_of(l->name) >= 0;
  const int first_head = head_start(model);
  std::vector<std::pair<int, const CheckpointLayer*>> pairs;
  if (by_name) {
    for (const CheckpointLayer* l : file_layers) pairs.emplace_back(model.index_of(l->name), l);
  } else {
    pairs = keras3_pairs(model, file_layers);
  }
  if (!by_name && pairs.empty()) {
    // Keras files whose head layers are named otherwise ("dense", "dense_1"): pair by position
    // from the end, so that a head-only file maps onto the head.
    if (file_layers.size() > model_layers.size())
      throw InputError(ckpt.path + ": " + std::to_string(file_layers.size()) +
                       " layers with weights, more than the model's " + std::to_string(model_layers.size()));
    const size_t skip = model_layers.size() - file_layers.size();
    for (size_t k = 0; k < file_layers.size(); ++k) pairs.emplace_back(model_layers[skip + k], file_layers[k]);
  }
  int head_layers = 0, base_layers = 0;
  for (const auto& [index, l] : pairs) {
    std::vector<Tensor> values;
    for (const NamedTensor& w : l->weights) values.push_back(w.value);
    assign_layer(model.layer(index), values, ckpt.path);
    (index < first_head ? base_layers : head_layers) += 1;
  }
  int expected_head = 0, expected_base = 0;
  for (int i : model_layers) (i < first_head ? expected_base : expected_head) += 1;
  if (head_layers != expected_head)
    throw InputError(ckpt.path + ": holds " + std::to_string(head_layers) + " of the head's " +
                     std::to_string(expected_head) + " layers with weights");
  if (require_base && base_layers != expected_base)
    throw InputError(ckpt.path + ": holds " + std::to_string(base_layers) + " of the " + std::to_string(expected_base) +
                     " VGG16 conv layers (a head-only checkpoint needs the base weights: --weights)");
}

}  // namespace vggtl
