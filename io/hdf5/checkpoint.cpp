// Checkpoint writing (Keras-2 full-model layout + vggtl/ group, atomically) and reading, for
// our files and for Keras-written ones (layer classes recovered from model_config).
#include "io/hdf5/checkpoint.h"

#include <nlohmann/json.hpp>

#include <cstring>
#include <filesystem>
#include <set>

#include "engine/error.h"
#include "io/atomic_file.h"
#include "io/hdf5/hdf5.h"
#include "io/hdf5/keras_weights.h"
#include "io/keras3/keras3_files.h"

namespace vggtl {

namespace {

Tensor host_f32(const Tensor& t, const std::string& what) {
  VGGTL_CHECK(t.defined() && t.dtype() == DType::F32, "checkpoint: ", what,
              " must be a defined f32 tensor, got ", t.defined() ? t.str() : "undefined");
  if (!t.is_cuda()) return t;
  Tensor h = to_device(t, Device::cpu());
  synchronize(t.device());
  return h;
}

void write_tensor(h5::Group& g, const std::string& name, const Tensor& t, const std::string& what) {
  Tensor h = host_f32(t, what);
  h5::Dataset d = g.create_dataset(name, H5T_IEEE_F32LE, h.shape().vec());
  if (h.numel() > 0) d.write(H5T_NATIVE_FLOAT, h.raw());
}

void check_names(const std::vector<std::string>& names, const std::string& what, bool allow_slash) {
  std::set<std::string> seen;
  for (const std::string& n : names) {
    VGGTL_CHECK(!n.empty(), "checkpoint: empty ", what, " name");
    VGGTL_CHECK(allow_slash || n.find('/') == std::string::npos, "checkpoint: ", what, " name '",
                n, "' contains '/'");
    VGGTL_CHECK(seen.insert(n).second, "checkpoint: duplicate ", what, " name '", n, "'");
  }
}

void write_layer(h5::Group& mw, const CheckpointLayer& l) {
  std::vector<std::string> names;
  for (const NamedTensor& w : l.weights) names.push_back(w.name);
  check_names(names, "weight of layer " + l.name + ",", true);
  h5::Group g = mw.create_group(l.name);
  g.write_strings_attr("weight_names", names, h5::Strings::Fixed);
  for (const NamedTensor& w : l.weights) write_tensor(g, w.name, w.value, l.name + "/" + w.name);
}

// `staged`: layers already in the file (model_weights/ exists, without its attributes).
void write_model(h5::Group& root, const CheckpointModel& model, const std::set<std::string>& staged = {}) {
  std::vector<std::string> layer_names;
  for (const CheckpointLayer& l : model.layers) layer_names.push_back(l.name);
  check_names(layer_names, "layer", false);
  root.write_string_attr("keras_version", model.keras_version);
  root.write_string_attr("backend", model.backend);
  root.write_string_attr("model_config", model.model_config);
  if (!model.training_config.empty())
    root.write_string_attr("training_config", model.training_config);
  h5::Group mw = staged.empty() ? root.create_group("model_weights") : root.open_group("model_weights");
  // Fixed-length byte strings, as h5py stores the NumPy arrays Keras builds.
  mw.write_strings_attr("layer_names", layer_names, h5::Strings::Fixed);
  mw.write_string_attr("backend", model.backend);
  mw.write_string_attr("keras_version", model.keras_version);
  for (const CheckpointLayer& l : model.layers)
    if (!staged.count(l.name)) write_layer(mw, l);
}

void write_meta(h5::Group& root, const CheckpointMeta& m) {
  h5::Group v = root.create_group("vggtl");
  v.write_int_attr("format_version", m.format_version);
  v.write_string_attr("vggtl_version", m.vggtl_version);
  v.write_strings_attr("class_names", m.class_names, h5::Strings::Fixed);
  v.write_ints_attr("image_size", {m.image_height, m.image_width});
  v.write_string_attr("interpolation", m.interpolation);
  v.write_string_attr("preprocessing", m.preprocessing);
  v.write_int_attr("epoch", m.epoch);
  v.write_string_attr("optimizer", m.optimizer);
  v.write_int_attr("optimizer_step", m.optimizer_step);
  v.write_string_attr("monitor", m.monitor);
  v.write_string_attr("monitor_mode", m.monitor_mode);
  v.write_double_attr("best_value", m.best_value);
  v.write_int_attr("best_epoch", m.best_epoch);
  v.write_string_attr("base_weights_sha256", m.base_weights_sha256);
  v.write_string_attr("data_fingerprint", m.data_fingerprint);
  v.write_int_attr("base_included", m.base_included ? 1 : 0);
  v.write_string_attr("history_json", m.history_json);
  v.write_string_attr("run_config_json", m.run_config_json);

  std::vector<std::string> names;
  for (const NamedTensor& t : m.optimizer_state) names.push_back(t.name);
  check_names(names, "optimizer state", true);
  h5::Group opt = v.create_group("optimizer_weights");
  opt.write_strings_attr("weight_names", names, h5::Strings::Fixed);
  for (const NamedTensor& t : m.optimizer_state) write_tensor(opt, t.name, t.value, t.name);

  h5::Group rng = v.create_group("rng");
  rng.write_uint_attr("seed", m.rng_seed);
  for (const auto& [name, value] : m.rng_counters) {
    VGGTL_CHECK(name != "seed" && !name.empty(), "checkpoint: bad RNG counter name '", name, "'");
    rng.write_int_attr(name, value);
  }
}

void write_file(const std::string& path, const CheckpointModel& model, const CheckpointMeta* meta) {
  write_atomically(path, [&](const std::string& temp) {
    auto guard = h5::lock();
    h5::File f = h5::File::create(temp);
    {
      h5::Group root = f.root();
      write_model(root, model);
      if (meta) write_meta(root, *meta);
    }
    f.close();
  });
}

CheckpointMeta read_meta(const std::string& path, const h5::Group& v) {
  CheckpointMeta m;
  m.format_version = v.read_int_attr("format_version");
  if (m.format_version > kCheckpointFormatVersion || m.format_version < 1)
    throw InputError(path + ": checkpoint format " + std::to_string(m.format_version) +
                     " is not readable by this vggtl (it reads format " +
                     std::to_string(kCheckpointFormatVersion) + ")");
  m.vggtl_version = v.read_string_attr("vggtl_version");
  m.class_names = v.read_strings_attr("class_names");
  std::vector<int64_t> size = v.read_ints_attr("image_size");
  if (size.size() != 2)
    throw InputError(path + ": vggtl/image_size has " + std::to_string(size.size()) +
                     " values, expected 2 (height, width)");
  m.image_height = size[0];
  m.image_width = size[1];
  m.interpolation = v.read_string_attr("interpolation");
  m.preprocessing = v.read_string_attr("preprocessing");
  m.epoch = v.read_int_attr("epoch");
  m.optimizer = v.read_string_attr("optimizer");
  m.optimizer_step = v.read_int_attr("optimizer_step");
  m.monitor = v.read_string_attr("monitor");
  m.monitor_mode = v.read_string_attr("monitor_mode");
  m.best_value = v.read_double_attr("best_value");
  m.best_epoch = v.read_int_attr("best_epoch");
  m.base_weights_sha256 = v.read_string_attr("base_weights_sha256");
  m.data_fingerprint = v.read_string_attr("data_fingerprint");
  m.base_included = v.read_int_attr("base_included") != 0;
  m.history_json = v.read_string_attr("history_json");
  m.run_config_json = v.read_string_attr("run_config_json");

  h5::Group opt = v.open_group("optimizer_weights");
  for (const std::string& name : opt.read_strings_attr("weight_names")) {
    h5::Dataset d = opt.open_dataset(name);
    if (d.type_class() != H5T_FLOAT)
      throw InputError(path + ": vggtl optimizer state '" + name + "' is " + d.type_name() +
                       ", expected float32");
    std::vector<int64_t> dims = d.dims();
    d.checked_numel();
    if (dims.size() > static_cast<size_t>(Shape::kMaxDims))
      throw InputError(path + ": vggtl optimizer state '" + name + "' has " +
                       std::to_string(dims.size()) + " dimensions");
    Tensor t = Tensor::empty(Shape(dims), DType::F32);
    if (t.numel() > 0) d.read(H5T_NATIVE_FLOAT, t.raw());
    m.optimizer_state.push_back({name, t});
  }
  h5::Group rng = v.open_group("rng");
  m.rng_seed = rng.read_uint_attr("seed");
  for (const std::string& name : rng.attr_names())
    if (name != "seed") m.rng_counters[name] = rng.read_int_attr(name);
  return m;
}

// Layer name -> Keras class, from a model_config's layer list (Functional, Sequential, and the
// Keras 2.2 form where a Sequential's config is the list itself).
std::map<std::string, std::string> classes_from_config(const std::string& config_json) {
  std::map<std::string, std::string> out;
  nlohmann::json j = nlohmann::json::parse(config_json);
  const nlohmann::json& config = j.at("config");
  const nlohmann::json& layers = config.is_array() ? config : config.at("layers");
  for (const nlohmann::json& l : layers) {
    std::string name = l.contains("name") && l["name"].is_string()
                           ? l["name"].get<std::string>()
                           : l.at("config").at("name").get<std::string>();
    out[name] = l.at("class_name").get<std::string>();
  }
  return out;
}

// When model_config does not say: recognisable from the weights Keras gives each class.
std::string class_from_weights(const std::vector<NamedTensor>& w) {
  if (w.empty()) return "";
  std::string first = short_weight_name(w[0].name);
  if (first == "gamma" || (w.size() == 4 && short_weight_name(w[2].name) == "moving_mean"))
    return "BatchNormalization";
  if (w[0].value.ndim() == 4) return "Conv2D";
  if (w[0].value.ndim() == 2) return "Dense";
  return "";
}

}  // namespace

StagedCheckpoint::StagedCheckpoint(const std::string& path, std::vector<CheckpointLayer> layers)
    : file_(path), layers_(std::move(layers)) {
  std::vector<std::string> names;
  for (CheckpointLayer& l : layers_) {
    names.push_back(l.name);
    for (NamedTensor& w : l.weights) w.value = host_f32(w.value, l.name + "/" + w.name);
  }
  check_names(names, "staged layer", false);
  {
    auto guard = h5::lock();
    h5::File f = h5::File::create(file_.temp_path());
    {
      h5::Group mw = f.root().create_group("model_weights");
      for (const CheckpointLayer& l : layers_) write_layer(mw, l);
    }
    f.close();
  }
  fsync_path(file_.temp_path(), false);  // the expensive part, done now
}

bool StagedCheckpoint::matches(const CheckpointModel& model) const {
  for (const CheckpointLayer& s : layers_) {
    const CheckpointLayer* m = nullptr;
    for (const CheckpointLayer& l : model.layers)
      if (l.name == s.name) m = &l;
    if (!m || m->weights.size() != s.weights.size()) return false;
    for (size_t i = 0; i < s.weights.size(); ++i) {
      const Tensor& a = s.weights[i].value;
      const Tensor& b = m->weights[i].value;
      if (m->weights[i].name != s.weights[i].name || !b.defined() || b.is_cuda() || b.dtype() != DType::F32 ||
          b.shape() != a.shape() || std::memcmp(a.raw(), b.raw(), a.nbytes()) != 0)
        return false;
    }
  }
  return true;
}

void write_checkpoint(const std::string& path, const CheckpointModel& model, const CheckpointMeta& meta,
                      StagedCheckpoint* staged) {
  if (!staged) {
    write_file(path, model, &meta);
    return;
  }
  VGGTL_CHECK(staged->path() == path && !staged->file_.committed(), "checkpoint: the staged file is for ",
              staged->path(), ", not ", path, ", or already used");
  VGGTL_CHECK(staged->matches(model), "checkpoint: the staged layers of ", path, " differ from the model's");
  std::set<std::string> names;
  for (const CheckpointLayer& l : staged->layers_) names.insert(l.name);
  {
    auto guard = h5::lock();
    h5::File f = h5::File::open_write(staged->file_.temp_path());
    {
      h5::Group root = f.root();
      write_model(root, model, names);
      write_meta(root, meta);
    }
    f.close();
  }
  staged->file_.commit();  // syncs what was added, renames, syncs the folder
  staged->layers_.clear();
}

void write_keras_model(const std::string& path, const CheckpointModel& model) {
  write_file(path, model, nullptr);
}

Checkpoint read_checkpoint(const std::string& path) {
  std::error_code ec;
  if (!std::filesystem::exists(path, ec)) throw InputError(path + ": not found");
  WeightsFile wf = read_keras_weights(path, true);
  if (wf.layout == "keras3-archive" || wf.layout == "keras3-weights") return read_keras3_checkpoint(path, wf);
  if (wf.layout != "keras2-full-model")
    throw InputError(path + ": a weights-only file (" + wf.layout +
                     "), not a saved model: it has no model_config; use it as --weights");
  Checkpoint c;
  c.path = path;
  c.notes = wf.notes;
  auto guard = h5::lock();
  h5::File file = h5::File::open_read(path);
  h5::Group root = file.root();
  CheckpointModel& m = c.model;
  if (root.has_attr("model_config")) m.model_config = root.read_string_attr("model_config");
  if (root.has_attr("training_config"))
    m.training_config = root.read_string_attr("training_config");
  m.keras_version = wf.keras_version;
  m.backend = root.has_attr("backend") ? root.read_string_attr("backend") : "";

  std::map<std::string, std::string> classes;
  try {
    classes = classes_from_config(m.model_config);
  } catch (const std::exception&) {
    c.notes.push_back(path + (m.model_config.empty() ? ": no model_config" : ": model_config is "
                                                       "not a Keras model config") +
                      "; layer classes inferred from their weights");
  }
  for (const LayerWeights& g : wf.groups) {
    CheckpointLayer l;
    l.name = g.layer;
    for (const WeightEntry& w : g.weights) l.weights.push_back({w.name, w.value});
    auto it = classes.find(g.layer);
    l.class_name = it != classes.end() ? it->second : class_from_weights(l.weights);
    m.layers.push_back(std::move(l));
  }

  if (root.is_group("vggtl")) {
    c.meta = read_meta(path, root.open_group("vggtl"));
  } else {
    c.notes.push_back(path + ": written by Keras, not vggtl: class names, image size and "
                             "preprocessing are not recorded in it");
  }
  return c;
}

}  // namespace vggtl
