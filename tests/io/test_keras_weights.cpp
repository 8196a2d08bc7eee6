// Keras weight files in every layout (written by tests/support/keras_files with the raw HDF5
// C API) read back exactly; matching by name and by position; one test per failure mode, each
// checking the one-line message.
#include <gtest/gtest.h>

#include <hdf5.h>

#include <filesystem>
#include <fstream>
#include <functional>

#include "engine/error.h"
#include "io/hdf5/keras_weights.h"
#include "support/keras_files.h"
#include "test_util.h"

using namespace vggtl;
using namespace vggtl::test;

namespace {

const std::vector<int64_t> kWidths{2, 3, 4, 5, 5};

// What the model asks for: the 13 conv layers of a VGG16 with these widths.
std::vector<ExpectedLayer> expected_convs(const std::vector<int64_t>& widths = kWidths) {
  std::vector<ExpectedLayer> out;
  for (const KerasLayerSpec& l : vgg16_spec(KerasNaming::Keras2, widths))
    if (!l.shapes.empty()) out.push_back({l.name, l.shapes, {"kernel", "bias"}});
  return out;
}

using test::input_error_of;

bool contains(const std::vector<std::string>& notes, const std::string& piece) {
  for (const std::string& n : notes)
    if (n.find(piece) != std::string::npos) return true;
  return false;
}

// Every weight of every layer equals what the writer stored under the file's weight name.
void expect_values(const std::vector<LayerWeights>& layers, uint64_t seed = 1) {
  for (const LayerWeights& l : layers)
    for (const WeightEntry& w : l.weights) {
      ASSERT_TRUE(w.value.defined()) << l.layer << "/" << w.name;
      ASSERT_EQ(w.value.shape(), w.shape);
      ASSERT_EQ(w.value.dtype(), DType::F32);
      std::vector<float> want = keras_test_values(seed, w.name, w.shape.numel());
      Comparison c = compare(w.value.data<float>(), want.data(), w.shape.numel());
      EXPECT_TRUE(within(c, 0.0)) << l.layer << "/" << w.name;
    }
}

struct LayoutCase {
  KerasLayout layout;
  KerasStrings strings;
  KerasNaming naming;
  const char* layout_name;
};

std::string case_name(const testing::TestParamInfo<LayoutCase>& info) {
  std::string s = info.param.layout_name;
  for (char& c : s)
    if (c == '-') c = '_';
  return s + (info.param.strings == KerasStrings::Fixed ? "_fixed" : "_variable");
}

}  // namespace

class KerasWeightsLayouts : public testing::TestWithParam<LayoutCase> {};

TEST_P(KerasWeightsLayouts, NotopReadsExactlyInModelOrder) {
  const LayoutCase& p = GetParam();
  std::string path = temp_dir("kw") + "/vgg16.h5";
  std::vector<KerasLayerSpec> spec = vgg16_spec(p.naming, kWidths);
  KerasFileOptions opt;
  opt.layout = p.layout;
  opt.strings = p.strings;
  opt.sorted_groups = p.layout == KerasLayout::Keras2FullModel;
  write_keras_file(path, spec, opt);

  WeightsFile f = read_keras_weights(path);
  EXPECT_EQ(f.layout, p.layout_name);
  EXPECT_EQ(f.keras_version, p.layout == KerasLayout::Keras1Weights ? "" : "2.15.0");
  ASSERT_EQ(f.layer_names.size(), spec.size());  // input and pools included
  for (size_t i = 0; i < spec.size(); ++i) EXPECT_EQ(f.layer_names[i], spec[i].name);
  EXPECT_EQ(f.groups.size(), spec.size());
  ASSERT_EQ(f.layers.size(), 13u);
  size_t k = 0;
  for (const KerasLayerSpec& s : spec) {
    if (s.shapes.empty()) continue;
    const LayerWeights& l = f.layers[k++];
    EXPECT_EQ(l.layer, s.name);
    ASSERT_EQ(l.weights.size(), 2u);
    for (size_t w = 0; w < 2; ++w) {
      EXPECT_EQ(l.weights[w].name, s.weight_names[w]);
      EXPECT_EQ(l.weights[w].shape, s.shapes[w]);
      EXPECT_EQ(l.weights[w].dtype, "float32");
    }
  }
  expect_values(f.layers);
  EXPECT_TRUE(f.notes.empty());

  MatchedWeights m = match_weights(f, expected_convs());
  ASSERT_EQ(m.layers.size(), 13u);
  EXPECT_EQ(m.layers[12].layer, "block5_conv3");
  expect_values(m.layers);
  EXPECT_TRUE(m.notes.empty());
}

INSTANTIATE_TEST_SUITE_P(
    AllLayouts, KerasWeightsLayouts,
    testing::Values(
        LayoutCase{KerasLayout::Keras1Weights, KerasStrings::Fixed, KerasNaming::Keras1, "keras1-weights"},
        LayoutCase{KerasLayout::Keras1Weights, KerasStrings::Variable, KerasNaming::Keras1, "keras1-weights"},
        LayoutCase{KerasLayout::Keras2Weights, KerasStrings::Fixed, KerasNaming::Keras2, "keras2-weights"},
        LayoutCase{KerasLayout::Keras2Weights, KerasStrings::Variable, KerasNaming::Keras2, "keras2-weights"},
        LayoutCase{KerasLayout::Keras2FullModel, KerasStrings::Fixed, KerasNaming::Keras2, "keras2-full-model"},
        LayoutCase{KerasLayout::Keras2FullModel, KerasStrings::Variable, KerasNaming::Keras2, "keras2-full-model"}),
    case_name);

TEST(KerasWeights, IncludeTopFileUsesTheConvLayersAndSaysSo) {
  std::string path = temp_dir("kw") + "/top.h5";
  std::vector<KerasLayerSpec> spec = vgg16_spec(KerasNaming::Keras1, kWidths);
  for (const KerasLayerSpec& l : vgg16_top_spec(KerasNaming::Keras1, 5, 7, 11)) spec.push_back(l);
  write_keras_file(path, spec);

  WeightsFile structure = read_keras_weights(path, false);
  EXPECT_EQ(structure.layers.size(), 16u);
  for (const LayerWeights& l : structure.layers)
    for (const WeightEntry& w : l.weights) EXPECT_FALSE(w.value.defined());

  MatchedWeights m = load_keras_weights(path, expected_convs());
  ASSERT_EQ(m.layers.size(), 13u);
  expect_values(m.layers);
  ASSERT_EQ(m.notes.size(), 1u);
  EXPECT_NE(m.notes[0].find("3 weight layer(s) of the file are not used by this model: fc1, fc2, "
                            "predictions"),
            std::string::npos)
      << m.notes[0];
}

TEST(KerasWeights, FullModelWithHeadAndSortedGroups) {
  std::string path = temp_dir("kw") + "/model.h5";
  std::vector<KerasLayerSpec> spec = vgg16_spec(KerasNaming::Keras2, kWidths);
  for (const KerasLayerSpec& l : tutorial_head_spec(5, 4, 2)) spec.push_back(l);
  KerasFileOptions opt;
  opt.layout = KerasLayout::Keras2FullModel;
  opt.sorted_groups = true;
  write_keras_file(path, spec, opt);

  WeightsFile f = read_keras_weights(path);
  ASSERT_EQ(f.layers.size(), 16u);
  EXPECT_EQ(f.layers[13].layer, "FC_2");
  EXPECT_EQ(f.layers[14].layer, "batch_normalization_1");
  EXPECT_EQ(f.layers[14].weights[3].name, "batch_normalization_1/moving_variance:0");
  EXPECT_EQ(f.layers[14].weights[3].dataset,
            "/model_weights/batch_normalization_1/batch_normalization_1/moving_variance:0");
  expect_values(f.layers);
  MatchedWeights m = match_weights(f, expected_convs());
  EXPECT_EQ(m.layers.size(), 13u);
  EXPECT_TRUE(contains(m.notes, "FC_2, batch_normalization_1, softmax"));
}

TEST(KerasWeights, NestedModelIsSplitIntoItsLayers) {
  std::string path = temp_dir("kw") + "/sequential.h5";
  std::vector<KerasLayerSpec> base = vgg16_spec(KerasNaming::Keras2, kWidths);
  std::vector<KerasLayerSpec> spec{nested_model_spec("vgg16", base)};
  for (const KerasLayerSpec& l : tutorial_head_spec(5, 4, 2)) spec.push_back(l);
  KerasFileOptions opt;
  opt.layout = KerasLayout::Keras2FullModel;
  write_keras_file(path, spec, opt);

  WeightsFile f = read_keras_weights(path);
  ASSERT_EQ(f.layers.size(), 16u);
  EXPECT_EQ(f.layers[0].layer, "block1_conv1");
  EXPECT_EQ(f.layers[0].weights[1].dataset, "/model_weights/vgg16/block1_conv1/bias:0");
  EXPECT_TRUE(contains(f.notes, "layer 'vgg16' is a nested model; its 13 inner layers"));
  MatchedWeights m = match_weights(f, expected_convs());
  ASSERT_EQ(m.layers.size(), 13u);
  expect_values(m.layers);
}

TEST(KerasWeights, LayerNamesSplitOverSeveralAttributes) {
  std::string path = temp_dir("kw") + "/split.h5";
  KerasFileOptions opt;
  opt.split_layer_names = 3;
  std::vector<KerasLayerSpec> spec = vgg16_spec(KerasNaming::Keras1, kWidths);
  write_keras_file(path, spec, opt);
  WeightsFile f = read_keras_weights(path);
  EXPECT_EQ(f.layer_names.size(), spec.size());
  EXPECT_EQ(f.layers.size(), 13u);
}

TEST(KerasWeights, RenamedLayersArePairedByPositionLikeKeras) {
  std::string path = temp_dir("kw") + "/renamed.h5";
  std::vector<KerasLayerSpec> spec = vgg16_spec(KerasNaming::Keras1, kWidths);
  int i = 0;
  for (KerasLayerSpec& l : spec)
    if (!l.shapes.empty()) {
      l.name = "conv_" + std::to_string(i++);
      l.weight_names = {l.name + "_W:0", l.name + "_b:0"};
    }
  write_keras_file(path, spec);
  MatchedWeights m = load_keras_weights(path, expected_convs());
  ASSERT_EQ(m.layers.size(), 13u);
  EXPECT_EQ(m.layers[4].layer, "block3_conv1");
  EXPECT_EQ(m.layers[4].weights[0].name, "conv_4_W:0");
  expect_values(m.layers);
  EXPECT_TRUE(contains(m.notes, "paired by position"));
}

TEST(KerasWeights, Float64IsConvertedWithANote) {
  std::string path = temp_dir("kw") + "/f64.h5";
  KerasFileOptions opt;
  opt.float64 = true;
  write_keras_file(path, vgg16_spec(KerasNaming::Keras1, kWidths), opt);
  MatchedWeights m = load_keras_weights(path, expected_convs());
  expect_values(m.layers);
  EXPECT_TRUE(contains(m.notes, "float64 weights converted to float32"));
}

// ---- failure modes: one line, naming the file and what is wrong ----

TEST(KerasWeightsErrors, MissingFile) {
  std::string path = temp_dir("kw") + "/vgg16_weights_tf_dim_ordering_tf_kernels_notop.h5";
  EXPECT_EQ(input_error_of([&] { read_keras_weights(path); }),
            path + " not found; Keras downloads it to ~/.keras/models/ (see README)");
}

TEST(KerasWeightsErrors, NotHdf5) {
  std::string path = temp_dir("kw") + "/weights.h5";
  std::ofstream(path) << "<html>404 Not Found</html>\n";
  EXPECT_EQ(input_error_of([&] { read_keras_weights(path); }), path + ": not an HDF5 file");
}

TEST(KerasWeightsErrors, TruncatedAnywhere) {
  std::string dir = temp_dir("kw");
  std::string good = dir + "/good.h5";
  write_keras_file(good, vgg16_spec(KerasNaming::Keras1, kWidths));
  const auto size = std::filesystem::file_size(good);
  for (double frac : {0.5, 0.1, 0.9, 0.999}) {
    std::string cut = dir + "/cut.h5";
    std::filesystem::copy_file(good, cut, std::filesystem::copy_options::overwrite_existing);
    std::filesystem::resize_file(cut, static_cast<uintmax_t>(static_cast<double>(size) * frac));
    std::string msg = input_error_of([&] { load_keras_weights(cut, expected_convs()); });
    EXPECT_EQ(msg.rfind(cut + ": ", 0), 0u) << msg;
    EXPECT_NE(msg.find("truncated"), std::string::npos) << frac << ": " << msg;
  }
}

TEST(KerasWeightsErrors, Hdf5ButNotKeras) {
  std::string path = temp_dir("kw") + "/other.h5";
  hid_t f = H5Fcreate(path.c_str(), H5F_ACC_TRUNC, H5P_DEFAULT, H5P_DEFAULT);
  H5Gclose(H5Gcreate2(f, "data", H5P_DEFAULT, H5P_DEFAULT, H5P_DEFAULT));
  H5Fclose(f);
  EXPECT_EQ(input_error_of([&] { read_keras_weights(path); }),
            path + ": not a Keras weights file (no layer_names attribute and no model_weights "
                   "group)");
}

TEST(KerasWeightsErrors, MissingLayer) {
  std::string path = temp_dir("kw") + "/short.h5";
  std::vector<KerasLayerSpec> spec = vgg16_spec(KerasNaming::Keras1, kWidths);
  spec.erase(spec.begin() + 8);  // block3_conv2
  ASSERT_EQ(spec[7].name, "block3_conv1");
  write_keras_file(path, spec);
  std::string msg = input_error_of([&] { load_keras_weights(path, expected_convs()); });
  EXPECT_EQ(msg.rfind(path + ": layer 'block3_conv2' not found (the file's weight layers: "
                             "block1_conv1, block1_conv2,",
                      0),
            0u)
      << msg;
}

TEST(KerasWeightsErrors, MissingDataset) {
  std::string path = temp_dir("kw") + "/nodata.h5";
  write_keras_file(path, vgg16_spec(KerasNaming::Keras1, kWidths));
  hid_t f = H5Fopen(path.c_str(), H5F_ACC_RDWR, H5P_DEFAULT);
  ASSERT_GE(H5Ldelete(f, "block2_conv1/block2_conv1_b_1:0", H5P_DEFAULT), 0);
  H5Fclose(f);
  EXPECT_EQ(input_error_of([&] { read_keras_weights(path); }),
            path + ": layer 'block2_conv1': dataset 'block2_conv1_b_1:0' listed in weight_names "
                   "not found");
}

TEST(KerasWeightsErrors, DatasetNeverWritten) {
  std::string path = temp_dir("kw") + "/unwritten.h5";
  write_keras_file(path, vgg16_spec(KerasNaming::Keras1, kWidths));
  hid_t f = H5Fopen(path.c_str(), H5F_ACC_RDWR, H5P_DEFAULT);
  ASSERT_GE(H5Ldelete(f, "block1_conv1/block1_conv1_b_1:0", H5P_DEFAULT), 0);
  hsize_t n = 2;
  hid_t space = H5Screate_simple(1, &n, nullptr);
  hid_t dcpl = H5Pcreate(H5P_DATASET_CREATE);
  H5Pset_alloc_time(dcpl, H5D_ALLOC_TIME_LATE);  // h5py create_dataset(shape) without data
  H5Dclose(H5Dcreate2(f, "block1_conv1/block1_conv1_b_1:0", H5T_IEEE_F32LE, space, H5P_DEFAULT,
                      dcpl, H5P_DEFAULT));
  H5Pclose(dcpl);
  H5Sclose(space);
  H5Fclose(f);
  std::string msg = input_error_of([&] { read_keras_weights(path, false); });
  EXPECT_EQ(msg.rfind(path + ": /block1_conv1/block1_conv1_b_1:0: damaged: its shape needs 8 "
                             "bytes, the file holds 0",
                      0),
            0u)
      << msg;
}

TEST(KerasWeightsErrors, MissingLayerGroup) {
  std::string path = temp_dir("kw") + "/nogroup.h5";
  write_keras_file(path, vgg16_spec(KerasNaming::Keras1, kWidths));
  hid_t f = H5Fopen(path.c_str(), H5F_ACC_RDWR, H5P_DEFAULT);
  ASSERT_GE(H5Ldelete(f, "block1_pool", H5P_DEFAULT), 0);
  H5Fclose(f);
  EXPECT_EQ(input_error_of([&] { read_keras_weights(path); }),
            path + ": layer 'block1_pool' is listed in layer_names but its group is missing");
}

TEST(KerasWeightsErrors, WrongShape) {
  std::string path = temp_dir("kw") + "/narrow.h5";
  write_keras_file(path, vgg16_spec(KerasNaming::Keras1, {2, 3, 4, 5, 5}));
  std::string msg = input_error_of([&] { load_keras_weights(path, expected_convs({2, 3, 6, 5, 5})); });
  EXPECT_EQ(msg, path + ": block3_conv1/kernel: expected (3, 3, 3, 6), found (3, 3, 3, 4)");
}

TEST(KerasWeightsErrors, WrongWeightCount) {
  std::string path = temp_dir("kw") + "/nobias.h5";
  std::vector<KerasLayerSpec> spec = vgg16_spec(KerasNaming::Keras1, kWidths);
  spec[1].weight_names.pop_back();
  spec[1].shapes.pop_back();
  write_keras_file(path, spec);
  EXPECT_EQ(input_error_of([&] { load_keras_weights(path, expected_convs()); }),
            path + ": layer 'block1_conv1' has 1 weight(s) (block1_conv1_W_1:0), expected 2 "
                   "(kernel, bias)");
}

TEST(KerasWeightsErrors, WrongDtype) {
  std::string path = temp_dir("kw") + "/int.h5";
  KerasFileOptions opt;
  opt.int32_weights = true;
  write_keras_file(path, vgg16_spec(KerasNaming::Keras1, kWidths), opt);
  EXPECT_EQ(input_error_of([&] { load_keras_weights(path, expected_convs()); }),
            path + ": block1_conv1/block1_conv1_W_1:0 is int32, expected float32");
  EXPECT_EQ(input_error_of([&] { read_keras_weights(path); }),
            path + ": block1_conv1/block1_conv1_W_1:0 is int32, expected float32");
}

TEST(KerasWeightsErrors, EmptyKeras3LayoutNamesTheMissingLayer) {
  std::string path = temp_dir("kw") + "/model.weights.h5";
  hid_t f = H5Fcreate(path.c_str(), H5F_ACC_TRUNC, H5P_DEFAULT, H5P_DEFAULT);
  H5Gclose(H5Gcreate2(f, "layers", H5P_DEFAULT, H5P_DEFAULT, H5P_DEFAULT));
  H5Fclose(f);
  // Read (io/keras3, tests/io/test_keras3_files.cpp); with no layers, the first one missing is named.
  EXPECT_EQ(read_keras_weights(path).layout, "keras3-weights");
  EXPECT_EQ(input_error_of([&] { load_keras_weights(path, expected_convs()); }),
            path + ": layer 'block1_conv1' not found (the file's weight layers: none)");
}

TEST(KerasWeightNames, ShortAndLong) {
  EXPECT_EQ(keras_weight_name("FC_2", "kernel"), "FC_2/kernel:0");
  EXPECT_EQ(short_weight_name("FC_2/kernel:0"), "kernel");
  EXPECT_EQ(short_weight_name("vgg16/block1_conv1/bias:0"), "bias");
  EXPECT_EQ(short_weight_name("block1_conv1_W_1:0", "block1_conv1"), "W_1");
  EXPECT_EQ(short_weight_name("block1_conv1_W_1:0"), "block1_conv1_W_1");
  EXPECT_EQ(short_weight_name("odd:name"), "odd:name");
}
