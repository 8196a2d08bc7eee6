// Keras HDF5 weight files: layout detection, layer groups read through weight_names (never
// hard-coded names), nested-model splitting, matching against the model's expected shapes.
#include "io/hdf5/keras_weights.h"

#include <algorithm>
#include <filesystem>
#include <map>
#include <set>

#include "engine/error.h"
#include "io/hdf5/hdf5.h"
#include "io/keras3/keras3_files.h"
#include "io/onnx/onnx_weights.h"

namespace vggtl {

namespace {

// Keras splits a list attribute over 64 KiB into name0, name1, ... (save_attributes_to_hdf5_group).
bool has_keras_list(const h5::Object& obj, const std::string& name) {
  return obj.has_attr(name) || obj.has_attr(name + "0");
}

std::vector<std::string> read_keras_list(const h5::Object& obj, const std::string& name) {
  if (obj.has_attr(name)) return obj.read_strings_attr(name);
  std::vector<std::string> all;
  for (int chunk = 0; obj.has_attr(name + std::to_string(chunk)); ++chunk) {
    std::vector<std::string> part = obj.read_strings_attr(name + std::to_string(chunk));
    all.insert(all.end(), part.begin(), part.end());
  }
  return all;
}

void add_note(std::vector<std::string>& notes, const std::string& note) {
  if (std::find(notes.begin(), notes.end(), note) == notes.end()) notes.push_back(note);
}

std::string join(const std::vector<std::string>& v, size_t limit = 8) {
  std::string s;
  for (size_t i = 0; i < v.size() && i < limit; ++i) s += (i ? ", " : "") + v[i];
  if (v.size() > limit) s += ", ... (" + std::to_string(v.size()) + " in all)";
  return s;
}

// Reads one weight as f32. Floats of other widths are converted by HDF5 (with a note); anything
// else is an error naming the weight.
void read_value(const std::string& path, const h5::Group& root, const std::string& layer,
                WeightEntry& w, std::vector<std::string>& notes) {
  h5::Dataset d = root.open_dataset(w.dataset.substr(1));
  if (d.type_class() != H5T_FLOAT)
    throw InputError(path + ": " + layer + "/" + w.name + " is " + w.dtype +
                     ", expected float32");
  if (d.type_size() != 4)
    add_note(notes, path + ": " + w.dtype + " weights converted to float32");
  w.value = Tensor::empty(w.shape, DType::F32);
  if (w.shape.numel() > 0) d.read(H5T_NATIVE_FLOAT, w.value.raw());
}

// One group per name in layer_names, weightless ones included, as stored.
std::vector<LayerWeights> read_groups(const std::string& path, const h5::Group& wg,
                                      const std::vector<std::string>& layer_names,
                                      bool with_values, const h5::Group& root,
                                      std::vector<std::string>& notes) {
  std::vector<LayerWeights> groups;
  for (const std::string& name : layer_names) {
    if (!wg.is_group(name))
      throw InputError(path + ": layer '" + name +
                       "' is listed in layer_names but its group is missing");
    h5::Group g = wg.open_group(name);
    if (!has_keras_list(g, "weight_names"))
      throw InputError(path + ": layer '" + name + "' has no weight_names attribute");
    LayerWeights lw{name, {}};
    for (const std::string& wn : read_keras_list(g, "weight_names")) {
      if (!g.is_dataset(wn))
        throw InputError(path + ": layer '" + name + "': dataset '" + wn +
                         "' listed in weight_names not found");
      h5::Dataset d = g.open_dataset(wn);
      std::vector<int64_t> dims = d.dims();
      d.checked_numel();
      if (dims.size() > static_cast<size_t>(Shape::kMaxDims))
        throw InputError(path + ": " + name + "/" + wn + " has " + std::to_string(dims.size()) +
                         " dimensions");
      WeightEntry w;
      w.name = wn;
      w.dataset = d.path();
      w.shape = Shape(dims);
      w.dtype = d.type_name();
      d.close();
      if (with_values) read_value(path, root, name, w, notes);
      lw.weights.push_back(std::move(w));
    }
    groups.push_back(std::move(lw));
  }
  return groups;
}

// "block1_conv1/kernel:0" -> "block1_conv1"; "" when the name has no '/'.
std::string inner_layer_of(const std::string& weight_name) {
  size_t slash = weight_name.rfind('/');
  if (slash == std::string::npos) return "";
  std::string prefix = weight_name.substr(0, slash);
  size_t outer = prefix.rfind('/');
  return outer == std::string::npos ? prefix : prefix.substr(outer + 1);
}

// Weight-bearing layers; a group whose weights name several layers is a nested model.
std::vector<LayerWeights> weight_layers(const std::string& path,
                                        const std::vector<LayerWeights>& groups,
                                        std::vector<std::string>& notes) {
  std::vector<LayerWeights> out;
  for (const LayerWeights& g : groups) {
    if (g.weights.empty()) continue;
    std::vector<std::string> inner;
    for (const WeightEntry& w : g.weights) {
      std::string p = inner_layer_of(w.name);
      if (!p.empty() && std::find(inner.begin(), inner.end(), p) == inner.end()) inner.push_back(p);
    }
    if (inner.size() < 2) {
      out.push_back(g);
      continue;
    }
    add_note(notes, path + ": layer '" + g.layer + "' is a nested model; its " +
                        std::to_string(inner.size()) + " inner layers are used by their own names");
    for (const std::string& p : inner) {
      LayerWeights lw{p, {}};
      for (const WeightEntry& w : g.weights)
        if (inner_layer_of(w.name) == p) lw.weights.push_back(w);
      out.push_back(std::move(lw));
    }
  }
  return out;
}

WeightsFile read_structure(const std::string& path, const h5::File& file, bool with_values) {
  WeightsFile f;
  f.path = path;
  h5::Group root = file.root();
  h5::Group wg;
  if (has_keras_list(root, "layer_names")) {
    wg = file.root();
    f.layout = root.has_attr("keras_version") ? "keras2-weights" : "keras1-weights";
    if (root.has_attr("keras_version")) f.keras_version = root.read_string_attr("keras_version");
  } else if (root.is_group("model_weights") &&
             has_keras_list(root.open_group("model_weights"), "layer_names")) {
    wg = root.open_group("model_weights");
    f.layout = "keras2-full-model";
    if (root.has_attr("keras_version")) f.keras_version = root.read_string_attr("keras_version");
  } else if (root.is_group("_layer_checkpoint_dependencies")) {
    throw InputError(path + ": a TensorFlow checkpoint layout, not a Keras weights file; save the model "
                            "with model.save('model.keras') or model.save_weights('model.weights.h5')");
  } else {
    throw InputError(path + ": not a Keras weights file (no layer_names attribute and no "
                            "model_weights group)");
  }
  f.layer_names = read_keras_list(wg, "layer_names");
  f.groups = read_groups(path, wg, f.layer_names, with_values, root, f.notes);
  f.layers = weight_layers(path, f.groups, f.notes);
  if (root.is_group("vggtl")) {
    h5::Group v = root.open_group("vggtl");
    if (v.has_attr("base_included") && v.read_int_attr("base_included") == 0) {
      f.head_only = true;
      add_note(f.notes, path + ": head-only checkpoint, the frozen base is not included");
    }
  }
  return f;
}

}  // namespace

WeightsFile read_keras_weights(const std::string& path, bool with_values) {
  if (is_onnx_path(path)) return read_onnx_weights(path);  // io/onnx: the conv layers of an ONNX model
  std::error_code ec;
  if (!std::filesystem::exists(path, ec))
    throw InputError(path + " not found; Keras downloads it to ~/.keras/models/ (see README)");
  // A .keras archive (by its contents; by its name too, so that a damaged one is called a zip).
  if (is_zip_file(path) || std::filesystem::path(path).extension() == ".keras") return read_keras3_archive_weights(path);
  auto guard = h5::lock();
  h5::File file = h5::File::open_read(path);
  if (is_keras3_layout(file.root())) return read_keras3_weights_file(path, file, with_values);
  return read_structure(path, file, with_values);
}

MatchedWeights match_weights(const WeightsFile& f, const std::vector<ExpectedLayer>& expected) {
  MatchedWeights m;
  const std::string& path = f.path;
  std::map<std::string, const LayerWeights*> by_name;
  for (const LayerWeights& l : f.layers) by_name.emplace(l.layer, &l);
  std::set<std::string> wanted;
  std::vector<std::string> missing;
  for (const ExpectedLayer& e : expected) {
    wanted.insert(e.layer);
    if (!by_name.count(e.layer)) missing.push_back(e.layer);
  }

  auto same_shapes = [](const LayerWeights& l, const ExpectedLayer& e) {
    if (l.weights.size() != e.shapes.size()) return false;
    for (size_t i = 0; i < e.shapes.size(); ++i)
      if (l.weights[i].shape != e.shapes[i]) return false;
    return true;
  };

  std::vector<const LayerWeights*> pairs;
  if (missing.empty()) {
    for (const ExpectedLayer& e : expected) pairs.push_back(by_name.at(e.layer));
    std::vector<std::string> unused;
    for (const LayerWeights& l : f.layers)
      if (!wanted.count(l.layer)) unused.push_back(l.layer);
    if (!unused.empty())
      m.notes.push_back(path + ": " + std::to_string(unused.size()) +
                        " weight layer(s) of the file are not used by this model: " + join(unused));
  } else {
    bool positional = f.layers.size() == expected.size();
    for (size_t i = 0; positional && i < expected.size(); ++i)
      positional = same_shapes(f.layers[i], expected[i]);
    if (!positional) {
      const std::string& name = missing.front();
      auto weightless = std::find_if(f.groups.begin(), f.groups.end(), [&](const LayerWeights& g) {
        return g.layer == name && g.weights.empty();
      });
      if (weightless != f.groups.end())
        throw InputError(path + ": layer '" + name + "' holds no weights in this file" +
                         (f.head_only ? " (a head-only checkpoint: the base comes from the "
                                        "weights file it records)"
                                      : ""));
      std::vector<std::string> have;
      for (const LayerWeights& l : f.layers) have.push_back(l.layer);
      throw InputError(path + ": layer '" + name + "' not found (the file's weight layers: " +
                       (have.empty() ? std::string("none") : join(have)) + ")");
    }
    for (const LayerWeights& l : f.layers) pairs.push_back(&l);
    for (size_t i = 0; i < expected.size(); ++i)
      if (f.layers[i].layer != expected[i].layer) {
        m.notes.push_back(path + ": layer names differ from the model's (file '" +
                          f.layers[i].layer + "' for '" + expected[i].layer +
                          "'); weights paired by position, as Keras load_weights does");
        break;
      }
  }

  for (size_t i = 0; i < expected.size(); ++i) {
    const ExpectedLayer& e = expected[i];
    const LayerWeights& l = *pairs[i];
    if (l.weights.size() != e.shapes.size()) {
      std::vector<std::string> names;
      for (const WeightEntry& w : l.weights) names.push_back(w.name);
      throw InputError(path + ": layer '" + l.layer + "' has " + std::to_string(names.size()) +
                       " weight(s) (" + join(names) + "), expected " +
                       std::to_string(e.shapes.size()) +
                       (e.weight_names.empty() ? "" : " (" + join(e.weight_names) + ")"));
    }
    for (size_t k = 0; k < e.shapes.size(); ++k) {
      const WeightEntry& w = l.weights[k];
      if (w.shape == e.shapes[k]) continue;
      std::string wname = k < e.weight_names.size() ? e.weight_names[k]
                                                     : short_weight_name(w.name, l.layer);
      throw InputError(path + ": " + e.layer + "/" + wname + ": expected " + e.shapes[k].str() +
                       ", found " + w.shape.str());
    }
    LayerWeights out = l;
    out.layer = e.layer;
    m.layers.push_back(std::move(out));
  }

  bool need_values = false;
  for (const LayerWeights& l : m.layers)
    for (const WeightEntry& w : l.weights) need_values |= !w.value.defined() && w.shape.numel() > 0;
  if (need_values) {
    auto guard = h5::lock();
    h5::File file = h5::File::open_read(path);
    h5::Group root = file.root();
    for (LayerWeights& l : m.layers)
      for (WeightEntry& w : l.weights)
        if (!w.value.defined()) read_value(path, root, l.layer, w, m.notes);
  }
  for (const std::string& n : f.notes) add_note(m.notes, n);
  return m;
}

MatchedWeights load_keras_weights(const std::string& path,
                                  const std::vector<ExpectedLayer>& expected) {
  return match_weights(read_keras_weights(path, false), expected);
}

std::string keras_weight_name(const std::string& layer, const std::string& short_name) {
  return layer + "/" + short_name + ":0";
}

std::string short_weight_name(const std::string& weight_name, const std::string& layer) {
  std::string s = weight_name;
  size_t colon = s.rfind(':');
  if (colon != std::string::npos && colon + 1 < s.size() &&
      s.find_first_not_of("0123456789", colon + 1) == std::string::npos)
    s.resize(colon);
  size_t slash = s.rfind('/');
  if (slash != std::string::npos) s = s.substr(slash + 1);
  if (!layer.empty() && s.size() > layer.size() + 1 && s.compare(0, layer.size(), layer) == 0 &&
      s[layer.size()] == '_')
    s = s.substr(layer.size() + 1);
  return s;
}

}  // namespace vggtl
