// Keras 3 archives and weights files: libzip for the zip (bounded, names checked), HDF5 file
// images for the inner model.weights.h5, config.json for the layers' order, names and classes.
#include "io/keras3/keras3_files.h"

#include <fcntl.h>
#include <unistd.h>
#include <zip.h>

#include <nlohmann/json.hpp>

#include <algorithm>
#include <cctype>
#include <cerrno>
#include <cstdio>
#include <cstring>
#include <ctime>
#include <filesystem>
#include <fstream>
#include <map>
#include <memory>
#include <set>

#include "engine/error.h"
#include "io/atomic_file.h"
#include "io/hdf5/hdf5.h"

namespace vggtl {

namespace {

using json = nlohmann::json;

constexpr const char* kWeightsEntry = "model.weights.h5";

std::string zip_message(zip_error_t* e) {
  const char* s = zip_error_strerror(e);
  return s ? s : "unknown libzip error";
}

std::string zip_message(int code) {
  zip_error_t e;
  zip_error_init_with_code(&e, code);
  std::string s = zip_message(&e);
  zip_error_fini(&e);
  return s;
}

struct ZipCloser {
  void operator()(zip_t* z) const { zip_discard(z); }
};
struct ZipFileCloser {
  void operator()(zip_file_t* f) const { zip_fclose(f); }
};

// ".." components, absolute paths, backslashes and control characters: names an extracting tool
// would turn into a path outside its folder. Refused even though nothing here extracts.
bool hostile_name(const std::string& name) {
  if (name.empty() || name[0] == '/' || name.find('\\') != std::string::npos) return true;
  if (name.size() > 1 && name[1] == ':') return true;  // "C:..."
  for (unsigned char c : name)
    if (c < 0x20 || c == 0x7f) return true;
  size_t start = 0;
  while (start <= name.size()) {
    size_t end = name.find('/', start);
    if (end == std::string::npos) end = name.size();
    if (name.compare(start, end - start, "..") == 0 && end - start == 2) return true;
    start = end + 1;
  }
  return false;
}

// Inflates one entry, at most `declared` bytes; more or fewer is a damaged archive or a bomb.
std::vector<char> read_entry(const std::string& path, zip_t* z, zip_uint64_t index, const std::string& name,
                             uint64_t declared) {
  std::unique_ptr<zip_file_t, ZipFileCloser> f(zip_fopen_index(z, index, 0));
  if (!f) throw InputError(path + ": " + name + ": cannot be read (" + zip_message(zip_get_error(z)) + ")");
  std::vector<char> out(static_cast<size_t>(declared));
  uint64_t got = 0;
  while (got < declared) {
    zip_int64_t n = zip_fread(f.get(), out.data() + got, declared - got);
    if (n < 0) throw InputError(path + ": " + name + ": damaged (" + zip_message(zip_file_get_error(f.get())) + ")");
    if (n == 0) break;
    got += static_cast<uint64_t>(n);
  }
  if (got != declared)
    throw InputError(path + ": " + name + ": holds " + std::to_string(got) + " bytes, the archive declares " +
                     std::to_string(declared) + " (truncated or damaged)");
  char extra = 0;
  zip_int64_t n = zip_fread(f.get(), &extra, 1);
  if (n != 0)
    throw InputError(path + ": " + name + ": " +
                     (n > 0 ? "inflates beyond its declared " + std::to_string(declared) + " bytes (a zip bomb?)"
                            : "damaged (" + zip_message(zip_file_get_error(f.get())) + ")"));
  return out;
}

json parse_object(const std::string& path, const std::string& name, const std::string& text) {
  json j = json::parse(text, nullptr, false);
  if (j.is_discarded() || !j.is_object()) throw InputError(path + ": " + name + " is not a JSON object");
  return j;
}

// ---- the Keras 3 HDF5 layout ----

struct Entry {
  std::string path;  // "functional/conv2d" (under layers/)
  std::string name;  // the vars group's name attribute, "" when absent
  LayerWeights weights;
};

bool all_digits(const std::string& s) {
  return !s.empty() && s.size() < 10 && std::all_of(s.begin(), s.end(), [](unsigned char c) { return std::isdigit(c); });
}

// "conv2d_12" -> ("conv2d", 12); "conv2d" -> ("conv2d", 0).
std::pair<std::string, long> stem_and_index(const std::string& component) {
  size_t u = component.rfind('_');
  if (u != std::string::npos && all_digits(component.substr(u + 1)))
    return {component.substr(0, u), std::stol(component.substr(u + 1))};
  return {component, 0};
}

// Class path order: per component, stem then index ("conv2d_2" before "conv2d_10").
bool path_less(const std::string& a, const std::string& b) {
  size_t i = 0, j = 0;
  while (i < a.size() && j < b.size()) {
    size_t ei = a.find('/', i), ej = b.find('/', j);
    if (ei == std::string::npos) ei = a.size();
    if (ej == std::string::npos) ej = b.size();
    auto x = stem_and_index(a.substr(i, ei - i)), y = stem_and_index(b.substr(j, ej - j));
    if (x != y) return x < y;
    i = ei + 1;
    j = ej + 1;
  }
  return a.size() < b.size();
}

// Keras short names for the classes the tools know, by position; "var<i>" otherwise.
std::string short_name(const std::string& class_name, size_t i, size_t count) {
  static const std::map<std::string, std::vector<std::string>> known = {
      {"Conv2D", {"kernel", "bias"}},
      {"Dense", {"kernel", "bias"}},
      {"BatchNormalization", {"gamma", "beta", "moving_mean", "moving_variance"}}};
  auto it = known.find(class_name);
  if (it != known.end() && count == it->second.size()) return it->second[i];
  return "var" + std::to_string(i);
}

std::string class_of_stem(const std::string& stem) {
  static const std::map<std::string, std::string> known = {
      {"conv2d", "Conv2D"},         {"dense", "Dense"},     {"batch_normalization", "BatchNormalization"},
      {"max_pooling2d", "MaxPooling2D"}, {"flatten", "Flatten"}, {"dropout", "Dropout"},
      {"input_layer", "InputLayer"}, {"functional", "Functional"}, {"sequential", "Sequential"}};
  auto it = known.find(stem);
  return it != known.end() ? it->second : "";
}

void read_f32(const std::string& file, const h5::Dataset& d, WeightEntry& w, std::vector<std::string>& notes) {
  if (d.type_class() != H5T_FLOAT)
    throw InputError(file + ": " + w.dataset + " is " + w.dtype + ", expected float32");
  if (d.type_size() != 4) {
    std::string note = file + ": " + w.dtype + " weights converted to float32";
    if (std::find(notes.begin(), notes.end(), note) == notes.end()) notes.push_back(note);
  }
  w.value = Tensor::empty(w.shape, DType::F32);
  if (w.shape.numel() > 0) d.read(H5T_NATIVE_FLOAT, w.value.raw());
}

// Every layer group under layers/ (recursively), its vars in index order.
void walk(const std::string& file, const h5::Group& layers, const std::string& prefix, bool with_values, int depth,
          std::vector<Entry>& out, std::vector<std::string>& notes) {
  if (depth > 16) throw InputError(file + ": layers/ nests more than 16 models deep");
  for (const std::string& child : layers.children()) {
    if (!layers.is_group(child)) continue;
    h5::Group g = layers.open_group(child);
    const std::string path = prefix + child;
    if (g.is_group("layers")) walk(file, g.open_group("layers"), path + "/", with_values, depth + 1, out, notes);
    if (!g.is_group("vars")) continue;
    h5::Group vars = g.open_group("vars");
    Entry e;
    e.path = path;
    if (vars.has_attr("name")) e.name = vars.read_string_attr("name");
    std::vector<std::string> names = vars.children();
    for (const std::string& n : names)
      if (!all_digits(n) || !vars.is_dataset(n))
        throw InputError(file + ": layers/" + path + "/vars/" + n + " is not a Keras 3 variable (vars/0, vars/1, ...)");
    std::sort(names.begin(), names.end(), [](const std::string& a, const std::string& b) { return std::stol(a) < std::stol(b); });
    for (size_t i = 0; i < names.size(); ++i)
      if (std::stol(names[i]) != static_cast<long>(i))
        throw InputError(file + ": layers/" + path + "/vars holds variable " + names[i] + " but not " + std::to_string(i));
    if (!names.empty() && g.is_group("layers"))
      throw InputError(file + ": layers/" + path + " is a nested model with variables of its own, not supported");
    e.weights.keras3_path = path;
    for (const std::string& n : names) {
      h5::Dataset d = vars.open_dataset(n);
      std::vector<int64_t> dims = d.dims();
      d.checked_numel();
      if (dims.size() > static_cast<size_t>(Shape::kMaxDims))
        throw InputError(file + ": layers/" + path + "/vars/" + n + " has " + std::to_string(dims.size()) + " dimensions");
      WeightEntry w;
      w.dataset = d.path();
      w.shape = Shape(dims);
      w.dtype = d.type_name();
      if (with_values) read_f32(file, d, w, notes);
      e.weights.weights.push_back(std::move(w));
    }
    if (!names.empty() || !g.is_group("layers")) out.push_back(std::move(e));
  }
}

// One layer of config.json, flattened out of nested models, with its class path.
struct ConfigLayer {
  std::string name, class_name, path;
};

void config_layers(const std::string& file, const json& layers, bool sequential, const std::string& prefix, int depth,
                   std::vector<ConfigLayer>& out) {
  if (depth > 16) throw InputError(file + ": config.json nests more than 16 models deep");
  if (!layers.is_array()) throw InputError(file + ": config.json: a model's layers are not a list");
  std::vector<const json*> kept;
  std::vector<std::string> classes;
  for (size_t i = 0; i < layers.size(); ++i) {
    const json& l = layers[i];
    if (!l.is_object() || !l.contains("class_name") || !l["class_name"].is_string() || !l.contains("config") ||
        !l["config"].is_object())
      throw InputError(file + ": config.json: layer " + std::to_string(i) + " has no class_name or config");
    // A Sequential's own input is not one of its layers (Keras 3 Sequential.layers).
    if (sequential && i == 0 && l["class_name"] == "InputLayer") continue;
    kept.push_back(&l);
    classes.push_back(l["class_name"].get<std::string>());
  }
  const std::vector<std::string> paths = keras3_layer_paths(classes);
  for (size_t i = 0; i < kept.size(); ++i) {
    const json& l = *kept[i];
    const json& c = l["config"];
    std::string name = c.contains("name") && c["name"].is_string() ? c["name"].get<std::string>()
                       : l.contains("name") && l["name"].is_string() ? l["name"].get<std::string>()
                                                                   : paths[i];
    if (c.contains("layers")) {
      config_layers(file, c["layers"], classes[i] == "Sequential", prefix + paths[i] + "/", depth + 1, out);
      continue;
    }
    out.push_back(ConfigLayer{name, classes[i], prefix + paths[i]});
  }
}

WeightsFile from_entries(const std::string& file, std::vector<Entry> entries, const json* config,
                         std::vector<std::string> notes) {
  WeightsFile f;
  f.path = file;
  f.notes = std::move(notes);
  if (config) {
    std::vector<ConfigLayer> layers;
    const json& c = *config;
    if (!c.contains("config") || !c["config"].is_object() || !c["config"].contains("layers"))
      throw InputError(file + ": config.json holds no model with layers");
    config_layers(file, c["config"]["layers"], c.value("class_name", "") == "Sequential", "", 0, layers);
    std::map<std::string, Entry*> by_path;
    for (Entry& e : entries) by_path[e.path] = &e;
    std::set<std::string> used;
    for (const ConfigLayer& l : layers) {
      auto it = by_path.find(l.path);
      LayerWeights lw;
      if (it != by_path.end()) {
        if (!it->second->name.empty() && it->second->name != l.name)
          throw InputError(file + ": model.weights.h5 holds layer '" + it->second->name + "' at layers/" + l.path +
                           ", where config.json has '" + l.name + "'");
        lw = it->second->weights;
        used.insert(l.path);
      } else if (l.class_name == "Conv2D" || l.class_name == "Dense" || l.class_name == "BatchNormalization") {
        throw InputError(file + ": layer '" + l.name + "' (" + l.class_name + ") has no weights in model.weights.h5 "
                         "(no group layers/" + l.path + ")");
      }
      lw.layer = l.name;
      lw.keras3_path = l.path;
      for (size_t i = 0; i < lw.weights.size(); ++i)
        lw.weights[i].name = keras_weight_name(l.name, short_name(l.class_name, i, lw.weights.size()));
      f.layer_names.push_back(l.name);
      f.groups.push_back(lw);
      if (!lw.weights.empty()) f.layers.push_back(std::move(lw));
    }
    std::vector<std::string> unused;
    for (const Entry& e : entries)
      if (!e.weights.weights.empty() && !used.count(e.path)) unused.push_back(e.path);
    if (!unused.empty())
      throw InputError(file + ": model.weights.h5 holds weights config.json has no layer for (layers/" +
                       unused.front() + (unused.size() > 1 ? " and " + std::to_string(unused.size() - 1) + " more" : "") +
                       ")");
    return f;
  }
  std::sort(entries.begin(), entries.end(), [](const Entry& a, const Entry& b) { return path_less(a.path, b.path); });
  for (Entry& e : entries) {
    const std::string last = e.path.substr(e.path.rfind('/') == std::string::npos ? 0 : e.path.rfind('/') + 1);
    LayerWeights lw = std::move(e.weights);
    lw.layer = e.name.empty() ? last : e.name;
    const std::string cls = class_of_stem(stem_and_index(last).first);
    for (size_t i = 0; i < lw.weights.size(); ++i)
      lw.weights[i].name = keras_weight_name(lw.layer, short_name(cls, i, lw.weights.size()));
    f.layer_names.push_back(lw.layer);
    f.groups.push_back(lw);
    if (!lw.weights.empty()) f.layers.push_back(std::move(lw));
  }
  std::set<std::string> seen;
  for (const LayerWeights& l : f.layers)
    if (!seen.insert(l.layer).second)
      throw InputError(file + ": two layers are named '" + l.layer + "'");
  return f;
}

WeightsFile read_layout(const std::string& file, const h5::File& h5file, const json* config, bool with_values) {
  h5::Group root = h5file.root();
  if (!is_keras3_layout(root)) throw InputError(file + ": not a Keras 3 weights file (no layers group)");
  std::vector<Entry> entries;
  std::vector<std::string> notes;
  walk(file, root.open_group("layers"), "", with_values, 0, entries, notes);
  return from_entries(file, std::move(entries), config, std::move(notes));
}

// write(2) rather than stdio, as write_text_atomically: the errno of the failing call is reported.
void write_bytes(int fd, const std::string& path, const char* p, size_t left) {
  while (left > 0) {
    const ssize_t n = ::write(fd, p, left);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0)
      throw Error(path + ": cannot write (" + (n < 0 ? std::string(std::strerror(errno)) : "nothing written") + ")");
    p += n;
    left -= static_cast<size_t>(n);
  }
}

// The inner model.weights.h5, built in memory.
std::vector<char> weights_image(const std::string& name, const std::vector<CheckpointLayer>& layers,
                                const std::string& model_name) {
  std::vector<std::string> classes;
  for (const CheckpointLayer& l : layers) classes.push_back(l.class_name);
  const std::vector<std::string> paths = keras3_layer_paths(classes);
  auto guard = h5::lock();
  h5::File f = h5::File::create_in_memory(name);
  std::vector<char> bytes;
  {
    h5::Group root = f.root();
    {
      h5::Group top = root.create_group("layers");
      for (size_t i = 0; i < layers.size(); ++i) {
        h5::Group vars = top.create_group(paths[i] + "/vars");
        vars.write_string_attr("name", layers[i].name);
        for (size_t k = 0; k < layers[i].weights.size(); ++k) {
          const Tensor& t = layers[i].weights[k].value;
          VGGTL_CHECK(t.defined() && t.dtype() == DType::F32 && !t.is_cuda(), "keras3: ", layers[i].name, "/",
                      layers[i].weights[k].name, " must be a host f32 tensor");
          h5::Dataset d = vars.create_dataset(std::to_string(k), H5T_IEEE_F32LE, t.shape().vec());
          if (t.numel() > 0) d.write(H5T_NATIVE_FLOAT, t.raw());
        }
      }
    }
    h5::Group vars = root.create_group("vars");
    vars.write_string_attr("name", model_name);
  }
  // Every object closed first: an image taken with objects open has stale metadata checksums.
  bytes = f.image();
  f.close();
  return bytes;
}

}  // namespace

bool is_zip_file(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  char magic[4] = {0, 0, 0, 0};
  if (!in.read(magic, 4)) return false;
  return magic[0] == 'P' && magic[1] == 'K' && ((magic[2] == 3 && magic[3] == 4) || (magic[2] == 5 && magic[3] == 6));
}

KerasArchive read_keras_archive(const std::string& path, const KerasArchiveLimits& limits) {
  std::error_code ec;
  if (!std::filesystem::exists(path, ec)) throw InputError(path + ": not found");
  if (std::filesystem::is_directory(path, ec)) throw InputError(path + ": is a folder, not a .keras file");
  int err = 0;
  // ZIP_CHECKCONS: the central directory must agree with the local headers (a truncated or
  // spliced archive is refused here, not half-read).
  std::unique_ptr<zip_t, ZipCloser> z(zip_open(path.c_str(), ZIP_RDONLY | ZIP_CHECKCONS, &err));
  if (!z) {
    if (err == ZIP_ER_NOZIP)
      throw InputError(path + ": not a zip archive (a .keras file is one), or its central directory is missing "
                              "(truncated?)");
    throw InputError(path + ": damaged zip archive (" + zip_message(err) + ")");
  }
  zip_int64_t count = zip_get_num_entries(z.get(), 0);
  if (count < 0) throw InputError(path + ": damaged zip archive (no entry count)");
  if (count > limits.max_entries)
    throw InputError(path + ": " + std::to_string(count) + " entries in the archive, more than a .keras file has (" +
                     std::to_string(limits.max_entries) + ")");
  KerasArchive a;
  bool have_weights = false;
  for (zip_int64_t i = 0; i < count; ++i) {
    zip_stat_t st;
    zip_stat_init(&st);
    if (zip_stat_index(z.get(), static_cast<zip_uint64_t>(i), 0, &st) != 0 || !(st.valid & ZIP_STAT_NAME) ||
        !(st.valid & ZIP_STAT_SIZE))
      throw InputError(path + ": damaged zip archive (entry " + std::to_string(i) + ": " +
                       zip_message(zip_get_error(z.get())) + ")");
    const std::string name = st.name;
    if (hostile_name(name))
      throw InputError(path + ": entry '" + name + "' names a path outside the archive (absolute, '..' or "
                       "control characters): refused");
    const bool is_json = name == "config.json" || name == "metadata.json";
    if (!is_json && name != kWeightsEntry) continue;  // assets/ and anything else: unused
    const uint64_t cap = is_json ? limits.max_json_bytes : limits.max_weights_bytes;
    if (st.size > cap)
      throw InputError(path + ": " + name + " declares " + std::to_string(st.size) + " bytes, over the limit of " +
                       std::to_string(cap) + " (a zip bomb?)");
    std::vector<char> bytes = read_entry(path, z.get(), static_cast<zip_uint64_t>(i), name, st.size);
    if (name == kWeightsEntry) {
      a.weights = std::move(bytes);
      have_weights = true;
    } else {
      std::string text(bytes.begin(), bytes.end());
      json j = parse_object(path, name, text);
      if (name == "config.json") a.config_json = std::move(text);
      else {
        a.metadata_json = std::move(text);
        if (j.contains("keras_version") && j["keras_version"].is_string()) a.keras_version = j["keras_version"];
      }
    }
  }
  if (!have_weights)
    throw InputError(path + ": the archive holds no " + kWeightsEntry + " (not a Keras 3 .keras file)");
  return a;
}

bool is_keras3_layout(const h5::Group& root) {
  return root.is_group("layers") && !root.has_attr("layer_names") && !root.has_attr("layer_names0");
}

WeightsFile read_keras3_archive_weights(const std::string& path) {
  KerasArchive a = read_keras_archive(path);
  json config;
  if (!a.config_json.empty()) config = parse_object(path, "config.json", a.config_json);
  auto guard = h5::lock();
  h5::File file = h5::File::open_image(path + ": " + kWeightsEntry, a.weights);
  WeightsFile f = read_layout(path + ": " + kWeightsEntry, file, a.config_json.empty() ? nullptr : &config, true);
  f.path = path;
  f.layout = "keras3-archive";
  f.keras_version = a.keras_version;
  return f;
}

WeightsFile read_keras3_weights_file(const std::string& path, const h5::File& file, bool with_values) {
  WeightsFile f = read_layout(path, file, nullptr, with_values);
  f.layout = "keras3-weights";
  return f;
}

Checkpoint read_keras3_checkpoint(const std::string& path, const WeightsFile& wf) {
  Checkpoint c;
  c.path = path;
  c.notes = wf.notes;
  std::map<std::string, std::string> classes;
  if (wf.layout == "keras3-archive") {
    KerasArchive a = read_keras_archive(path);
    c.model.model_config = a.config_json;
    if (!a.config_json.empty()) {
      std::vector<ConfigLayer> layers;
      json j = parse_object(path, "config.json", a.config_json);
      config_layers(path, j["config"]["layers"], j.value("class_name", "") == "Sequential", "", 0, layers);
      for (const ConfigLayer& l : layers) classes[l.name] = l.class_name;
    }
  }
  c.model.keras_version = wf.keras_version;
  for (const LayerWeights& g : wf.groups) {
    CheckpointLayer l;
    l.name = g.layer;
    l.keras3_path = g.keras3_path;
    const std::string last = g.keras3_path.substr(g.keras3_path.rfind('/') == std::string::npos ? 0 : g.keras3_path.rfind('/') + 1);
    auto it = classes.find(g.layer);
    l.class_name = it != classes.end() ? it->second : class_of_stem(stem_and_index(last).first);
    for (const WeightEntry& w : g.weights) l.weights.push_back({w.name, w.value});
    c.model.layers.push_back(std::move(l));
  }
  c.notes.push_back(path + ": written by Keras 3, not vggtl: class names, image size and preprocessing are not "
                           "recorded in it");
  return c;
}

std::string keras3_snake_case(const std::string& class_name) {
  // Keras's to_snake_case: "_" before an upper-case letter followed by lower-case ones (not at
  // the start), then between a lower-case letter and an upper-case one; lower-cased.
  std::string a;
  for (size_t i = 0; i < class_name.size(); ++i) {
    const unsigned char c = class_name[i];
    if (i > 0 && std::isupper(c) && i + 1 < class_name.size() && std::islower(static_cast<unsigned char>(class_name[i + 1])))
      a += '_';
    a += static_cast<char>(c);
  }
  std::string b;
  for (size_t i = 0; i < a.size(); ++i) {
    const unsigned char c = a[i];
    if (i > 0 && std::isupper(c) && std::islower(static_cast<unsigned char>(a[i - 1]))) b += '_';
    b += static_cast<char>(std::tolower(c));
  }
  return b;
}

std::vector<std::string> keras3_layer_paths(const std::vector<std::string>& class_names) {
  std::map<std::string, int> used;
  std::vector<std::string> out;
  for (const std::string& c : class_names) {
    const std::string stem = keras3_snake_case(c);
    const int n = used[stem]++;
    out.push_back(n == 0 ? stem : stem + "_" + std::to_string(n));
  }
  return out;
}

void write_keras3_archive(const std::string& path, const std::string& config_json,
                          const std::vector<CheckpointLayer>& layers, const std::string& keras_version) {
  json config = json::parse(config_json);
  const std::string model_name = config.at("config").at("name").get<std::string>();
  std::vector<char> weights = weights_image(path + ": " + kWeightsEntry, layers, model_name);
  char date[32];
  const std::time_t now = std::time(nullptr);
  std::tm tm{};
  gmtime_r(&now, &tm);
  std::strftime(date, sizeof date, "%Y-%m-%d@%H:%M:%S", &tm);
  const std::string metadata = json{{"keras_version", keras_version}, {"date_saved", date}}.dump();

  // The zip is assembled in memory (a libzip buffer source), then written atomically.
  zip_error_t error;
  zip_error_init(&error);
  zip_source_t* buffer = zip_source_buffer_create(nullptr, 0, 0, &error);
  if (!buffer) throw Error(path + ": cannot make the archive (" + zip_message(&error) + ")");
  zip_source_keep(buffer);
  std::unique_ptr<zip_source_t, decltype(&zip_source_free)> keep(buffer, zip_source_free);
  zip_t* z = zip_open_from_source(buffer, ZIP_TRUNCATE, &error);
  if (!z) {
    zip_source_free(buffer);  // the reference zip_open_from_source did not take
    throw Error(path + ": cannot make the archive (" + zip_message(&error) + ")");
  }
  std::unique_ptr<zip_t, ZipCloser> zip_guard(z);
  auto add = [&](const char* name, const void* data, size_t size) {
    zip_source_t* s = zip_source_buffer(z, data, size, 0);
    if (!s) throw Error(path + ": " + name + ": " + zip_message(zip_get_error(z)));
    const zip_int64_t i = zip_file_add(z, name, s, ZIP_FL_ENC_UTF_8);
    if (i < 0) {
      zip_source_free(s);
      throw Error(path + ": " + name + ": " + zip_message(zip_get_error(z)));
    }
    if (zip_set_file_compression(z, static_cast<zip_uint64_t>(i), ZIP_CM_STORE, 0) != 0)
      throw Error(path + ": " + name + ": " + zip_message(zip_get_error(z)));
  };
  add("metadata.json", metadata.data(), metadata.size());
  add("config.json", config_json.data(), config_json.size());
  add(kWeightsEntry, weights.data(), weights.size());
  if (zip_close(z) != 0) throw Error(path + ": cannot make the archive (" + zip_message(zip_get_error(z)) + ")");
  zip_guard.release();

  std::vector<char>().swap(weights);  // in the archive now: at most two copies of the weights at once

  // Streamed from the archive's buffer into the temporary file.
  if (zip_source_open(buffer) != 0)
    throw Error(path + ": cannot read the archive back (" + zip_message(zip_source_error(buffer)) + ")");
  struct SourceCloser {
    zip_source_t* s;
    ~SourceCloser() { zip_source_close(s); }
  } close_source{buffer};
  write_atomically(path, [&](const std::string& temp) {
    const int fd = ::open(temp.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
    if (fd < 0) throw Error(path + ": cannot create (" + std::strerror(errno) + ")");
    try {
      std::vector<char> chunk(1 << 20);
      for (;;) {
        const zip_int64_t n = zip_source_read(buffer, chunk.data(), chunk.size());
        if (n < 0) throw Error(path + ": cannot read the archive back (" + zip_message(zip_source_error(buffer)) + ")");
        if (n == 0) break;
        write_bytes(fd, path, chunk.data(), static_cast<size_t>(n));
      }
    } catch (...) {
      ::close(fd);
      throw;
    }
    if (::close(fd) != 0) throw Error(path + ": cannot write (" + std::strerror(errno) + ")");
  });
}

}  // namespace vggtl
