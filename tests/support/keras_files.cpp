// Keras-layout test files through the raw HDF5 C API, mimicking what h5py writes for Keras:
// fixed-length NULLPAD byte-string arrays (or variable-length UTF-8), str attributes as
// variable-length UTF-8 scalars, weight datasets at <group>/<weight name> with intermediate
// groups for names containing '/'.
#include "support/keras_files.h"

#include <hdf5.h>

#include <algorithm>
#include <cmath>
#include <stdexcept>

namespace vggtl::test {

namespace {

hid_t ok(hid_t r, const char* what) {
  if (r < 0) throw std::runtime_error(std::string("test HDF5 writer: ") + what + " failed");
  return r;
}

hid_t string_type(KerasStrings kind, size_t size) {
  hid_t t = ok(H5Tcopy(H5T_C_S1), "H5Tcopy");
  if (kind == KerasStrings::Variable) {
    ok(H5Tset_size(t, H5T_VARIABLE), "H5Tset_size");
    ok(H5Tset_cset(t, H5T_CSET_UTF8), "H5Tset_cset");
  } else {
    ok(H5Tset_size(t, std::max<size_t>(size, 1)), "H5Tset_size");
    ok(H5Tset_strpad(t, H5T_STR_NULLPAD), "H5Tset_strpad");
  }
  return t;
}

void write_attr(hid_t obj, const std::string& name, hid_t type, hid_t space, const void* data) {
  hid_t a = ok(H5Acreate2(obj, name.c_str(), type, space, H5P_DEFAULT, H5P_DEFAULT), "H5Acreate2");
  ok(H5Awrite(a, type, data), "H5Awrite");
  ok(H5Aclose(a), "H5Aclose");
}

void write_str_attr(hid_t obj, const std::string& name, const std::string& value) {
  hid_t t = string_type(KerasStrings::Variable, 0);
  hid_t s = ok(H5Screate(H5S_SCALAR), "H5Screate");
  const char* p = value.c_str();
  write_attr(obj, name, t, s, &p);
  H5Sclose(s);
  H5Tclose(t);
}

void write_list_attr(hid_t obj, const std::string& name, const std::vector<std::string>& values,
                     const KerasFileOptions& opt) {
  hsize_t n = values.size();
  hid_t s = ok(H5Screate_simple(1, &n, nullptr), "H5Screate_simple");
  if (values.empty() && opt.empty_list_as_float) {
    // np.asarray([]) is float64: Keras stores an empty weight list that way.
    const double unused = 0;  // HDF5 wants a buffer even for no elements
    write_attr(obj, name, H5T_NATIVE_DOUBLE, s, &unused);
  } else if (opt.strings == KerasStrings::Variable) {
    hid_t t = string_type(KerasStrings::Variable, 0);
    std::vector<const char*> ptrs;
    for (const std::string& v : values) ptrs.push_back(v.c_str());
    write_attr(obj, name, t, s, ptrs.data());
    H5Tclose(t);
  } else {
    size_t size = 1;
    for (const std::string& v : values) size = std::max(size, v.size());
    std::vector<char> buf(size * std::max<size_t>(values.size(), 1), '\0');
    for (size_t i = 0; i < values.size(); ++i)
      std::copy(values[i].begin(), values[i].end(), buf.begin() + static_cast<long>(i * size));
    hid_t t = string_type(KerasStrings::Fixed, size);
    write_attr(obj, name, t, s, buf.data());
    H5Tclose(t);
  }
  H5Sclose(s);
}

void write_layer_names(hid_t obj, const std::vector<std::string>& names, const KerasFileOptions& opt) {
  if (opt.split_layer_names <= 0) return write_list_attr(obj, "layer_names", names, opt);
  size_t per = (names.size() + opt.split_layer_names - 1) / opt.split_layer_names;
  for (int c = 0; c < opt.split_layer_names; ++c) {
    size_t b = std::min(names.size(), c * per), e = std::min(names.size(), b + per);
    write_list_attr(obj, "layer_names" + std::to_string(c),
                    std::vector<std::string>(names.begin() + b, names.begin() + e), opt);
  }
}

void write_weight(hid_t group, const std::string& name, const Shape& shape,
                  const KerasFileOptions& opt) {
  std::vector<hsize_t> dims;
  for (int i = 0; i < shape.ndim(); ++i) dims.push_back(static_cast<hsize_t>(shape[i]));
  hid_t s = dims.empty() ? ok(H5Screate(H5S_SCALAR), "H5Screate")
                         : ok(H5Screate_simple(static_cast<int>(dims.size()), dims.data(), nullptr),
                              "H5Screate_simple");
  hid_t lcpl = ok(H5Pcreate(H5P_LINK_CREATE), "H5Pcreate");
  ok(H5Pset_create_intermediate_group(lcpl, 1), "H5Pset_create_intermediate_group");
  hid_t ftype = opt.int32_weights ? H5T_STD_I32LE : opt.float64 ? H5T_IEEE_F64LE : H5T_IEEE_F32LE;
  hid_t d = ok(H5Dcreate2(group, name.c_str(), ftype, s, lcpl, H5P_DEFAULT, H5P_DEFAULT),
               "H5Dcreate2");
  std::vector<float> v = keras_test_values(opt.seed, name, shape.numel());
  if (opt.he_scaled && shape.ndim() >= 1) {
    const int64_t fan_in = shape.ndim() >= 2 ? shape.numel() / shape[shape.ndim() - 1] : 0;
    const float scale = fan_in > 0 ? std::exp2(std::round(std::log2(std::sqrt(6.0 / static_cast<double>(fan_in)))))
                                   : 1.0f / 64;
    for (float& x : v) x *= scale;
  }
  if (opt.int32_weights) {
    std::vector<int32_t> iv(v.begin(), v.end());
    ok(H5Dwrite(d, H5T_NATIVE_INT32, H5S_ALL, H5S_ALL, H5P_DEFAULT, iv.data()), "H5Dwrite");
  } else if (opt.float64) {
    std::vector<double> dv(v.begin(), v.end());
    ok(H5Dwrite(d, H5T_NATIVE_DOUBLE, H5S_ALL, H5S_ALL, H5P_DEFAULT, dv.data()), "H5Dwrite");
  } else {
    ok(H5Dwrite(d, H5T_NATIVE_FLOAT, H5S_ALL, H5S_ALL, H5P_DEFAULT, v.data()), "H5Dwrite");
  }
  H5Dclose(d);
  H5Pclose(lcpl);
  H5Sclose(s);
}

std::string generated_model_config(const std::vector<KerasLayerSpec>& layers) {
  std::string s = R"({"class_name": "Functional", "config": {"name": "model", "layers": [)";
  for (size_t i = 0; i < layers.size(); ++i) {
    const KerasLayerSpec& l = layers[i];
    s += (i ? ", " : "") + std::string(R"({"class_name": ")") + l.class_name +
         R"(", "config": {"name": ")" + l.name + R"(", "trainable": true}, "name": ")" + l.name +
         R"(", "inbound_nodes": []})";
  }
  return s + R"(]}, "keras_version": "2.15.0", "backend": "tensorflow"})";
}

}  // namespace

float keras_test_value(uint64_t seed, const std::string& weight_name, int64_t i) {
  uint64_t h = 1469598103934665603ull ^ (seed * 0x9E3779B97F4A7C15ull);
  for (unsigned char c : weight_name) h = (h ^ c) * 1099511628211ull;
  h ^= static_cast<uint64_t>(i) * 0xBF58476D1CE4E5B9ull;
  h ^= h >> 31;
  h *= 0x94D049BB133111EBull;
  h ^= h >> 29;
  return static_cast<float>(static_cast<int64_t>(h % 2048) - 1024) / 1024.0f;
}

std::vector<float> keras_test_values(uint64_t seed, const std::string& weight_name, int64_t n) {
  std::vector<float> v(static_cast<size_t>(n));
  for (int64_t i = 0; i < n; ++i) v[static_cast<size_t>(i)] = keras_test_value(seed, weight_name, i);
  return v;
}

void write_keras_file(const std::string& path, const std::vector<KerasLayerSpec>& layers,
                      const KerasFileOptions& opt) {
  H5Eset_auto2(H5E_DEFAULT, nullptr, nullptr);
  hid_t f = ok(H5Fcreate(path.c_str(), H5F_ACC_TRUNC, H5P_DEFAULT, H5P_DEFAULT), "H5Fcreate");
  hid_t wg = f;
  std::vector<std::string> names;
  for (const KerasLayerSpec& l : layers) names.push_back(l.name);
  if (opt.layout == KerasLayout::Keras2FullModel) {
    write_str_attr(f, "keras_version", "2.15.0");
    write_str_attr(f, "backend", "tensorflow");
    write_str_attr(f, "model_config",
                   opt.model_config.empty() ? generated_model_config(layers) : opt.model_config);
    write_str_attr(f, "training_config", R"({"loss": "categorical_crossentropy"})");
    wg = ok(H5Gcreate2(f, "model_weights", H5P_DEFAULT, H5P_DEFAULT, H5P_DEFAULT), "H5Gcreate2");
    // Written by Keras since 2.9 and by the new optimizers; readers must ignore both.
    hid_t top = ok(H5Gcreate2(wg, "top_level_model_weights", H5P_DEFAULT, H5P_DEFAULT, H5P_DEFAULT),
                   "H5Gcreate2");
    write_list_attr(top, "weight_names", {}, opt);
    H5Gclose(top);
    hid_t ow = ok(H5Gcreate2(f, "optimizer_weights", H5P_DEFAULT, H5P_DEFAULT, H5P_DEFAULT),
                  "H5Gcreate2");
    write_list_attr(ow, "weight_names", {"iteration:0"}, opt);
    write_weight(ow, "iteration:0", Shape{}, opt);
    H5Gclose(ow);
  }
  write_layer_names(wg, names, opt);
  if (opt.layout != KerasLayout::Keras1Weights) {
    write_str_attr(wg, "backend", "tensorflow");
    write_str_attr(wg, "keras_version", "2.15.0");
  }
  std::vector<const KerasLayerSpec*> order;
  for (const KerasLayerSpec& l : layers) order.push_back(&l);
  if (opt.sorted_groups)
    std::sort(order.begin(), order.end(),
              [](const KerasLayerSpec* a, const KerasLayerSpec* b) { return a->name < b->name; });
  for (const KerasLayerSpec* l : order) {
    if (l->weight_names.size() != l->shapes.size())
      throw std::runtime_error("test HDF5 writer: names and shapes differ for " + l->name);
    hid_t g = ok(H5Gcreate2(wg, l->name.c_str(), H5P_DEFAULT, H5P_DEFAULT, H5P_DEFAULT),
                 "H5Gcreate2");
    write_list_attr(g, "weight_names", l->weight_names, opt);
    for (size_t i = 0; i < l->weight_names.size(); ++i)
      write_weight(g, l->weight_names[i], l->shapes[i], opt);
    H5Gclose(g);
  }
  if (wg != f) H5Gclose(wg);
  ok(H5Fclose(f), "H5Fclose");
}

namespace {

KerasLayerSpec conv(KerasNaming naming, const std::string& name, int64_t cin, int64_t cout) {
  KerasLayerSpec l{name, "Conv2D", {}, {Shape{3, 3, cin, cout}, Shape{cout}}};
  if (naming == KerasNaming::Keras1)
    l.weight_names = {name + "_W_1:0", name + "_b_1:0"};
  else
    l.weight_names = {name + "/kernel:0", name + "/bias:0"};
  return l;
}

KerasLayerSpec dense(KerasNaming naming, const std::string& name, int64_t in, int64_t out) {
  KerasLayerSpec l{name, "Dense", {}, {Shape{in, out}, Shape{out}}};
  if (naming == KerasNaming::Keras1)
    l.weight_names = {name + "_W_1:0", name + "_b_1:0"};
  else
    l.weight_names = {name + "/kernel:0", name + "/bias:0"};
  return l;
}

KerasLayerSpec plain(const std::string& name, const std::string& class_name) {
  return KerasLayerSpec{name, class_name, {}, {}};
}

}  // namespace

std::vector<KerasLayerSpec> vgg16_spec(KerasNaming naming, const std::vector<int64_t>& widths) {
  if (widths.size() != 5) throw std::runtime_error("vgg16_spec: five block widths expected");
  const int convs[5] = {2, 2, 3, 3, 3};
  std::vector<KerasLayerSpec> layers{plain("input_1", "InputLayer")};
  int64_t cin = 3;
  for (int b = 0; b < 5; ++b) {
    for (int c = 0; c < convs[b]; ++c) {
      std::string name = "block" + std::to_string(b + 1) + "_conv" + std::to_string(c + 1);
      layers.push_back(conv(naming, name, cin, widths[b]));
      cin = widths[b];
    }
    layers.push_back(plain("block" + std::to_string(b + 1) + "_pool", "MaxPooling2D"));
  }
  return layers;
}

std::vector<KerasLayerSpec> vgg16_top_spec(KerasNaming naming, int64_t flat, int64_t fc_units,
                                           int64_t classes) {
  return {plain("flatten", "Flatten"), dense(naming, "fc1", flat, fc_units),
          dense(naming, "fc2", fc_units, fc_units), dense(naming, "predictions", fc_units, classes)};
}

std::vector<KerasLayerSpec> tutorial_head_spec(int64_t flat, int64_t hidden, int64_t classes) {
  const std::string bn = "batch_normalization_1";
  KerasLayerSpec norm{bn,
                      "BatchNormalization",
                      {bn + "/gamma:0", bn + "/beta:0", bn + "/moving_mean:0",
                       bn + "/moving_variance:0"},
                      {Shape{hidden}, Shape{hidden}, Shape{hidden}, Shape{hidden}}};
  return {plain("flatten", "Flatten"), dense(KerasNaming::Keras2, "FC_2", flat, hidden), norm,
          plain("dropout_1", "Dropout"), dense(KerasNaming::Keras2, "softmax", hidden, classes)};
}

KerasLayerSpec nested_model_spec(const std::string& name, const std::vector<KerasLayerSpec>& inner) {
  KerasLayerSpec nested{name, "Functional", {}, {}};
  for (const KerasLayerSpec& l : inner) {
    nested.weight_names.insert(nested.weight_names.end(), l.weight_names.begin(),
                               l.weight_names.end());
    nested.shapes.insert(nested.shapes.end(), l.shapes.begin(), l.shapes.end());
  }
  return nested;
}

}  // namespace vggtl::test
