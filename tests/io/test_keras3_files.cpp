// Keras 3 files (io/keras3/keras3_files.h): a .keras archive written and read back, a bare
// .weights.h5 in Keras 3's layout (written here with the raw HDF5 C API, flat and nested, with
// and without the vars groups' name attributes), and damaged or hostile archives built with
// libzip: each refused with one InputError naming the file. The real Keras 3 reads and writes
// these files in tests/apps/test_keras_reference.cpp.
#include <gtest/gtest.h>
#include <hdf5.h>
#include <zip.h>

#include <cstring>
#include <filesystem>
#include <fstream>

#include "engine/error.h"
#include "io/hdf5/checkpoint.h"
#include "io/hdf5/keras_weights.h"
#include "io/keras3/keras3_files.h"
#include "test_util.h"

namespace vggtl {

namespace fs = std::filesystem;

namespace {

Tensor k3_ramp(const Shape& s, float start) {
  Tensor t = Tensor::empty(s, DType::F32);
  for (int64_t i = 0; i < s.numel(); ++i) t.data<float>()[i] = start + 0.25f * static_cast<float>(i);
  return t;
}

std::vector<CheckpointLayer> k3_small_model() {
  return {{"input_1", "InputLayer", {}},
          {"block1_conv1", "Conv2D", {{"kernel", k3_ramp({3, 3, 3, 2}, 1)}, {"bias", k3_ramp({2}, -1)}}},
          {"block1_pool", "MaxPooling2D", {}},
          {"flatten_1", "Flatten", {}},
          {"FC_2", "Dense", {{"kernel", k3_ramp({2, 3}, 2)}, {"bias", k3_ramp({3}, 0)}}},
          {"batch_normalization_1", "BatchNormalization",
           {{"gamma", k3_ramp({3}, 1)}, {"beta", k3_ramp({3}, 2)}, {"moving_mean", k3_ramp({3}, 3)},
            {"moving_variance", k3_ramp({3}, 4)}}},
          {"softmax", "Dense", {{"kernel", k3_ramp({3, 2}, 5)}, {"bias", k3_ramp({2}, 6)}}}};
}

std::string k3_config_of(const std::vector<CheckpointLayer>& layers) {
  std::string c = R"({"module": "keras.src.models.functional", "class_name": "Functional", "config": )"
                  R"({"name": "m", "layers": [)";
  for (size_t i = 0; i < layers.size(); ++i)
    c += std::string(i ? "," : "") + R"({"module": "keras.layers", "class_name": ")" + layers[i].class_name +
         R"(", "config": {"name": ")" + layers[i].name + R"("}})";
  return c + "]}}";
}

std::string k3_error_of(const std::function<void()>& f) { return test::input_error_of(f); }

// A zip with the given entries (name -> bytes), deflated or stored, written by libzip.
void k3_write_zip(const std::string& path, const std::vector<std::pair<std::string, std::string>>& entries,
               bool deflate = false) {
  int err = 0;
  zip_t* z = zip_open(path.c_str(), ZIP_CREATE | ZIP_TRUNCATE, &err);
  ASSERT_NE(z, nullptr) << err;
  for (const auto& [name, bytes] : entries) {
    zip_source_t* s = zip_source_buffer(z, bytes.data(), bytes.size(), 0);
    ASSERT_NE(s, nullptr);
    const zip_int64_t i = zip_file_add(z, name.c_str(), s, ZIP_FL_ENC_UTF_8);
    ASSERT_GE(i, 0) << zip_strerror(z);
    ASSERT_EQ(zip_set_file_compression(z, static_cast<zip_uint64_t>(i), deflate ? ZIP_CM_DEFLATE : ZIP_CM_STORE, 0), 0);
  }
  ASSERT_EQ(zip_close(z), 0);
}

std::string k3_read_bytes(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  return std::string(std::istreambuf_iterator<char>(in), {});
}

void k3_write_bytes(const std::string& path, const std::string& bytes) {
  std::ofstream(path, std::ios::binary).write(bytes.data(), static_cast<std::streamsize>(bytes.size()));
}

// Keras 3's .weights.h5 layout with the raw C API: layers/<path>/vars/<i> (+ name attribute).
struct K3RawLayer {
  std::string path, name;  // name "" : no attribute (older Keras 3)
  std::vector<Shape> shapes;
};

void k3_write_h5(const std::string& path, const std::vector<K3RawLayer>& layers) {
  hid_t f = H5Fcreate(path.c_str(), H5F_ACC_TRUNC, H5P_DEFAULT, H5P_DEFAULT);
  ASSERT_GE(f, 0);
  hid_t lcpl = H5Pcreate(H5P_LINK_CREATE);
  H5Pset_create_intermediate_group(lcpl, 1);
  for (const K3RawLayer& l : layers) {
    hid_t g = H5Gcreate2(f, ("layers/" + l.path + "/vars").c_str(), lcpl, H5P_DEFAULT, H5P_DEFAULT);
    ASSERT_GE(g, 0) << l.path;
    if (!l.name.empty()) {
      hid_t t = H5Tcopy(H5T_C_S1);
      H5Tset_size(t, l.name.size());
      hid_t s = H5Screate(H5S_SCALAR);
      hid_t a = H5Acreate2(g, "name", t, s, H5P_DEFAULT, H5P_DEFAULT);
      H5Awrite(a, t, l.name.data());
      H5Aclose(a);
      H5Sclose(s);
      H5Tclose(t);
    }
    for (size_t k = 0; k < l.shapes.size(); ++k) {
      const std::vector<int64_t> shape = l.shapes[k].vec();
      std::vector<hsize_t> dims(shape.begin(), shape.end());
      hid_t s = H5Screate_simple(static_cast<int>(dims.size()), dims.data(), nullptr);
      hid_t d = H5Dcreate2(g, std::to_string(k).c_str(), H5T_IEEE_F32LE, s, H5P_DEFAULT, H5P_DEFAULT, H5P_DEFAULT);
      Tensor v = k3_ramp(l.shapes[k], static_cast<float>(k) + 0.5f);
      H5Dwrite(d, H5T_NATIVE_FLOAT, H5S_ALL, H5S_ALL, H5P_DEFAULT, v.raw());
      H5Dclose(d);
      H5Sclose(s);
    }
    H5Gclose(g);
  }
  hid_t v = H5Gcreate2(f, "vars", H5P_DEFAULT, H5P_DEFAULT, H5P_DEFAULT);
  H5Gclose(v);
  H5Pclose(lcpl);
  ASSERT_GE(H5Fclose(f), 0);
}

std::vector<K3RawLayer> k3_seed_model(const std::string& prefix, bool names) {
  auto n = [&](const char* s) { return names ? std::string(s) : std::string(); };
  return {{prefix + "input_layer", n("input_layer"), {}},
          {prefix + "conv2d", n("block1_conv1"), {Shape{3, 3, 3, 2}, Shape{2}}},
          {prefix + "conv2d_1", n("block1_conv2"), {Shape{3, 3, 2, 2}, Shape{2}}},
          {prefix + "max_pooling2d", n("block1_pool"), {}},
          {"flatten", n("flatten"), {}},
          {"dense", n("FC_2"), {Shape{2, 3}, Shape{3}}},
          {"batch_normalization", n("batch_normalization"), {Shape{3}, Shape{3}, Shape{3}, Shape{3}}},
          {"dense_1", n("softmax"), {Shape{3, 2}, Shape{2}}}};
}

std::vector<ExpectedLayer> k3_two_convs() {
  return {{"block1_conv1", {Shape{3, 3, 3, 2}, Shape{2}}, {"kernel", "bias"}},
          {"block1_conv2", {Shape{3, 3, 2, 2}, Shape{2}}, {"kernel", "bias"}}};
}

std::vector<std::string> k3_names_of(const std::vector<LayerWeights>& layers) {
  std::vector<std::string> out;
  for (const LayerWeights& l : layers) out.push_back(l.layer);
  return out;
}

}  // namespace

TEST(Keras3Files, LayerPathsFollowKerasNaming) {
  EXPECT_EQ(keras3_snake_case("MaxPooling2D"), "max_pooling2d");
  EXPECT_EQ(keras3_snake_case("BatchNormalization"), "batch_normalization");
  EXPECT_EQ(keras3_snake_case("InputLayer"), "input_layer");
  EXPECT_EQ(keras3_layer_paths({"InputLayer", "Conv2D", "Conv2D", "MaxPooling2D", "Dense", "BatchNormalization",
                                "Dense"}),
            (std::vector<std::string>{"input_layer", "conv2d", "conv2d_1", "max_pooling2d", "dense",
                                      "batch_normalization", "dense_1"}));
}

TEST(Keras3Files, ArchiveWrittenAndReadBack) {
  const std::string dir = test::temp_dir("keras3_archive");
  const std::string path = dir + "/model.keras";
  const std::vector<CheckpointLayer> layers = k3_small_model();
  write_keras3_archive(path, k3_config_of(layers), layers, kKeras3Version);

  const WeightsFile f = read_keras_weights(path, false);
  EXPECT_EQ(f.layout, "keras3-archive");
  EXPECT_EQ(f.keras_version, kKeras3Version);
  EXPECT_EQ(f.layer_names.size(), layers.size());
  ASSERT_EQ(k3_names_of(f.layers), (std::vector<std::string>{"block1_conv1", "FC_2", "batch_normalization_1", "softmax"}));
  EXPECT_EQ(f.layers[2].keras3_path, "batch_normalization");
  EXPECT_EQ(f.layers[3].keras3_path, "dense_1");
  EXPECT_EQ(f.layers[2].weights[2].name, "batch_normalization_1/moving_mean:0");
  for (const LayerWeights& l : f.layers) {
    const CheckpointLayer* src = nullptr;
    for (const CheckpointLayer& c : layers)
      if (c.name == l.layer) src = &c;
    ASSERT_NE(src, nullptr);
    ASSERT_EQ(l.weights.size(), src->weights.size());
    for (size_t k = 0; k < l.weights.size(); ++k) {
      ASSERT_TRUE(l.weights[k].value.defined()) << l.layer;
      ASSERT_EQ(l.weights[k].shape, src->weights[k].value.shape());
      EXPECT_EQ(std::memcmp(l.weights[k].value.raw(), src->weights[k].value.raw(), src->weights[k].value.nbytes()), 0);
    }
  }
  const Checkpoint c = read_checkpoint(path);
  ASSERT_EQ(c.model.layers.size(), layers.size());
  EXPECT_EQ(c.model.layers[5].class_name, "BatchNormalization");
  EXPECT_EQ(c.model.layers[6].keras3_path, "dense_1");
  EXPECT_FALSE(c.meta.has_value());
  EXPECT_EQ(c.model.model_config, k3_config_of(layers));
  // Nothing but the archive is left in the folder (the zip and the HDF5 file were built in memory).
  EXPECT_EQ(std::distance(fs::directory_iterator(dir), fs::directory_iterator()), 1);
  fs::remove_all(dir);
}

TEST(Keras3Files, BareWeightsFileFlatAndNested) {
  const std::string dir = test::temp_dir("keras3_bare");
  for (const bool nested : {false, true}) {
    SCOPED_TRACE(nested ? "VGG16 nested in a Sequential" : "flat Functional");
    const std::string path = dir + (nested ? "/nested.weights.h5" : "/flat.weights.h5");
    k3_write_h5(path, k3_seed_model(nested ? "functional/layers/" : "", true));
    const WeightsFile f = read_keras_weights(path, false);
    EXPECT_EQ(f.layout, "keras3-weights");
    // Class path order: the file holds no order across classes.
    EXPECT_EQ(k3_names_of(f.layers),
              nested ? (std::vector<std::string>{"batch_normalization", "FC_2", "softmax", "block1_conv1", "block1_conv2"})
                     : (std::vector<std::string>{"batch_normalization", "block1_conv1", "block1_conv2", "FC_2", "softmax"}));
    const MatchedWeights m = load_keras_weights(path, k3_two_convs());
    ASSERT_EQ(m.layers.size(), 2u);
    EXPECT_EQ(m.layers[1].weights[0].value.data<float>()[1], 0.75f);
    EXPECT_EQ(m.layers[1].keras3_path, nested ? "functional/conv2d_1" : "conv2d_1");
    // As a model (vggtl_eval --model): every layer, classes from the class paths.
    const Checkpoint c = read_checkpoint(path);
    EXPECT_EQ(c.model.layers.size(), 8u);
    int dense = 0;
    for (const CheckpointLayer& l : c.model.layers) dense += l.class_name == "Dense";
    EXPECT_EQ(dense, 2);
  }
  // Without the name attributes (older Keras 3) a file of the convs alone pairs by position.
  const std::string old = dir + "/old.weights.h5";
  k3_write_h5(old, {{"conv2d", "", {Shape{3, 3, 3, 2}, Shape{2}}}, {"conv2d_1", "", {Shape{3, 3, 2, 2}, Shape{2}}}});
  const MatchedWeights m = load_keras_weights(old, k3_two_convs());
  ASSERT_EQ(m.layers.size(), 2u);
  EXPECT_EQ(m.layers[0].layer, "block1_conv1");
  EXPECT_FALSE(m.notes.empty());
  // A shape that differs: the layer and both shapes.
  const std::string flat = dir + "/flat.weights.h5";
  std::vector<ExpectedLayer> wider = k3_two_convs();
  wider[1].shapes[0] = Shape{3, 3, 2, 4};
  EXPECT_EQ(k3_error_of([&] { load_keras_weights(flat, wider); }),
            flat + ": block1_conv2/kernel: expected (3, 3, 2, 4), found (3, 3, 2, 2)");
  fs::remove_all(dir);
}

TEST(Keras3Files, DamagedOrHostileArchivesAreOneInputError) {
  const std::string dir = test::temp_dir("keras3_damaged");
  const std::vector<CheckpointLayer> layers = k3_small_model();
  const std::string good = dir + "/good.keras";
  write_keras3_archive(good, k3_config_of(layers), layers, kKeras3Version);
  const std::string bytes = k3_read_bytes(good);
  auto error_of = [&](const std::string& p) { return k3_error_of([&] { read_keras_weights(p); }); };
  auto expect_error = [&](const std::string& p, const std::string& part) {
    const std::string msg = error_of(p);
    EXPECT_EQ(msg.rfind(p + ": ", 0), 0u) << msg;
    EXPECT_NE(msg.find(part), std::string::npos) << msg;
    EXPECT_EQ(msg.find('\n'), std::string::npos) << msg;
  };

  // Truncated: the central directory (at the end) is gone, or cut in the middle.
  for (size_t keep : {bytes.size() / 2, bytes.size() - 30}) {
    const std::string p = dir + "/cut" + std::to_string(keep) + ".keras";
    k3_write_bytes(p, bytes.substr(0, keep));
    expect_error(p, "zip");
  }
  const std::string text = dir + "/text.keras";
  k3_write_bytes(text, "not a zip at all");
  expect_error(text, "not a zip archive");

  // Names leaving the archive.
  for (const std::string name : {"../model.weights.h5", "/etc/model.weights.h5", "assets/../../x"}) {
    const std::string p = dir + "/traversal.keras";
    k3_write_zip(p, {{"config.json", "{}"}, {name, "x"}});
    expect_error(p, "names a path outside the archive");
  }

  // A bomb: 64 MiB of zeros deflate to 64 KiB; over the limit it is refused before inflating.
  const std::string bomb = dir + "/bomb.keras";
  k3_write_zip(bomb, {{"model.weights.h5", std::string(64 << 20, '\0')}}, true);
  EXPECT_LT(fs::file_size(bomb), 1u << 20);
  KerasArchiveLimits small;
  small.max_weights_bytes = 1 << 20;
  const std::string msg = k3_error_of([&] { read_keras_archive(bomb, small); });
  EXPECT_NE(msg.find("declares 67108864 bytes, over the limit"), std::string::npos) << msg;
  // ... and one that lies about its size (both headers say 1000 bytes): refused as it inflates.
  std::string lie = k3_read_bytes(bomb);
  for (const char* sig : {"PK\x03\x04", "PK\x01\x02"}) {
    const size_t at = lie.find(std::string(sig, 4));
    ASSERT_NE(at, std::string::npos);
    const size_t field = at + (sig[2] == 3 ? 22 : 24);  // uncompressed size
    const uint32_t small_size = 1000;
    std::memcpy(&lie[field], &small_size, 4);
  }
  const std::string liar = dir + "/liar.keras";
  k3_write_bytes(liar, lie);
  const std::string lie_msg = error_of(liar);
  EXPECT_EQ(lie_msg.rfind(liar + ": ", 0), 0u) << lie_msg;

  // Missing or malformed parts.
  const std::string no_weights = dir + "/no_weights.keras";
  k3_write_zip(no_weights, {{"config.json", "{}"}, {"metadata.json", "{}"}});
  expect_error(no_weights, "holds no model.weights.h5");
  const std::string bad_json = dir + "/bad_json.keras";
  k3_write_zip(bad_json, {{"config.json", "{not json"}, {"model.weights.h5", "x"}});
  expect_error(bad_json, "config.json is not a JSON object");
  const std::string not_h5 = dir + "/not_h5.keras";
  k3_write_zip(not_h5, {{"model.weights.h5", "definitely not HDF5"}});
  expect_error(not_h5, "not an HDF5 file");
  fs::remove_all(dir);
}

}  // namespace vggtl
