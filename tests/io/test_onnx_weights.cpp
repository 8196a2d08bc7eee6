// ONNX models in: a torchvision export made by torch.onnx.export (scripts/torchvision_vgg16_onnx.py)
// and graphs in the Keras exporter's layout (tests/support/onnx_files) read through
// read_keras_weights's dispatch, every value checked; then one test per way a file is not a VGG16
// base, each checking that the message names the file and the node.
#include <gtest/gtest.h>

#include <nlohmann/json.hpp>

#include <filesystem>
#include <fstream>
#include <functional>

#include "engine/error.h"
#include "io/hdf5/keras_weights.h"
#include "io/onnx/onnx_weights.h"
#include "support/onnx_files.h"
#include "test_util.h"

using namespace vggtl;
using namespace vggtl::test;

namespace onnx_weights_test {

using test::input_error_of;

// Every kernel and bias value of `f` against the OIHW values the model was built from.
void expect_same_weights(const WeightsFile& f, const OnnxVggModel& m) {
  ASSERT_EQ(f.layers.size(), 13u);
  for (size_t k = 0; k < 13; ++k) {
    const LayerWeights& l = f.layers[k];
    const int64_t in = m.in_channels[k], out = m.out_channels[k];
    ASSERT_EQ(l.weights.size(), 2u);
    ASSERT_EQ(l.weights[0].shape, (Shape{3, 3, in, out})) << l.layer;
    ASSERT_EQ(l.weights[1].shape, (Shape{out})) << l.layer;
    EXPECT_EQ(l.weights[0].name, l.layer + "/kernel:0");
    const float* kern = static_cast<const float*>(l.weights[0].value.raw());
    int64_t wrong = 0;
    for (int64_t o = 0; o < out; ++o)
      for (int64_t i = 0; i < in; ++i)
        for (int64_t hw = 0; hw < 9; ++hw)
          wrong += kern[(hw * in + i) * out + o] != m.kernels_oihw[k][static_cast<size_t>((o * in + i) * 9 + hw)];
    EXPECT_EQ(wrong, 0) << l.layer << ": kernel values differ";
    const float* bias = static_cast<const float*>(l.weights[1].value.raw());
    EXPECT_TRUE(std::equal(bias, bias + out, m.biases[k].begin())) << l.layer << ": bias differs";
  }
}

class OnnxWeights : public ::testing::Test {
 protected:
  std::string dir_ = temp_dir("onnx_weights");
  std::string write(const OnnxVggModel& m, const std::string& name = "vgg16.onnx") {
    const std::string path = dir_ + "/" + name;
    write_onnx(m.model, path);
    return path;
  }
  void TearDown() override {
    if (!HasFailure()) std::filesystem::remove_all(dir_);
  }
};

TEST_F(OnnxWeights, TorchvisionExportReadsAsKerasLayers) {
  std::string probe;
  if (run_command(python() + " -c 'import torch, torchvision, torch.onnx'", &probe) != 0)
    SKIP_OR_FAIL_IN_CI(python() + " lacks torch or torchvision (set VGGTL_PYTHON): " + probe);
  const std::string path = dir_ + "/torchvision_vgg16.onnx", samples = dir_ + "/samples.json";
  std::string log;
  ASSERT_EQ(run_command(python() + " " + VGGTL_SOURCE_DIR + "/scripts/torchvision_vgg16_onnx.py " + path + " " +
                            samples + " 2>&1",
                        &log),
            0)
      << log;
  const WeightsFile f = read_keras_weights(path, false);
  EXPECT_EQ(f.layout, "onnx");
  ASSERT_EQ(f.layers.size(), 13u);
  std::ifstream in(samples);
  const nlohmann::json s = nlohmann::json::parse(in);
  for (const LayerWeights& l : f.layers) {
    SCOPED_TRACE(l.layer);
    const nlohmann::json& js = s.at(l.layer);
    std::vector<int64_t> shape = js.at("kernel_shape").get<std::vector<int64_t>>();
    ASSERT_EQ(l.weights[0].shape, Shape(shape));
    const float* kern = static_cast<const float*>(l.weights[0].value.raw());
    for (const auto& e : js.at("kernel")) {
      const int64_t h = e[0], w = e[1], i = e[2], o = e[3];
      EXPECT_EQ(kern[((h * 3 + w) * shape[2] + i) * shape[3] + o], e[4].get<float>())
          << "at (" << h << ", " << w << ", " << i << ", " << o << ")";
    }
    const std::vector<float> bias = js.at("bias").get<std::vector<float>>();
    ASSERT_EQ(l.weights[1].shape, (Shape{static_cast<int64_t>(bias.size())}));
    EXPECT_TRUE(std::equal(bias.begin(), bias.end(), static_cast<const float*>(l.weights[1].value.raw())));
  }
  // And as the tools load it: matched against the model's shapes.
  std::vector<ExpectedLayer> expected;
  for (const LayerWeights& l : f.layers) expected.push_back({l.layer, {l.weights[0].shape, l.weights[1].shape}, {}});
  EXPECT_EQ(load_keras_weights(path, expected).layers.size(), 13u);
}

TEST_F(OnnxWeights, TorchvisionLayoutBuiltHereReadsExactly) {
  OnnxVggOptions o;
  const OnnxVggModel m = make_vgg16_onnx(o);
  expect_same_weights(read_keras_weights(write(m)), m);
}

TEST_F(OnnxWeights, KerasExporterLayoutThroughTransposeIdentityAndConstant) {
  OnnxVggOptions o;
  o.keras_layout = true;
  o.seed = 2;
  const OnnxVggModel m = make_vgg16_onnx(o);
  const WeightsFile f = read_keras_weights(write(m, "keras.ONNX"));  // the extension in any case
  expect_same_weights(f, m);
  ASSERT_FALSE(f.notes.empty());
  EXPECT_NE(f.notes.back().find("vggtl-tests"), std::string::npos) << f.notes.back();
}

TEST_F(OnnxWeights, TooFewConvNodes) {
  OnnxVggModel m = make_vgg16_onnx({});
  auto* nodes = m.model.mutable_graph()->mutable_node();
  for (auto it = nodes->begin(); it != nodes->end(); ++it)
    if (it->op_type() == "Conv" && it->name() == "Conv_12") {
      nodes->erase(it);
      break;
    }
  const std::string path = write(m);
  EXPECT_EQ(input_error_of([&] { read_keras_weights(path); }),
            path + ": 12 Conv node(s) in the graph, VGG16's base has 13 (not a VGG16 model)");
}

TEST_F(OnnxWeights, WrongKernelShapeNamesTheNode) {
  OnnxVggOptions o;
  o.layers_with_weights = 6;
  OnnxVggModel m = make_vgg16_onnx(o);
  // block3_conv2's kernel replaced by one of block3_conv1's shape.
  for (onnx::TensorProto& t : *m.model.mutable_graph()->mutable_initializer())
    if (t.name() == "conv5.weight") t.set_dims(1, 128);
  for (onnx::TensorProto& t : *m.model.mutable_graph()->mutable_initializer())
    if (t.name() == "conv5.weight") t.set_raw_data(t.raw_data().substr(0, t.raw_data().size() / 2));
  const std::string path = write(m);
  EXPECT_EQ(input_error_of([&] { read_keras_weights(path); }),
            path + ": Conv node 'Conv_5' (taken for block3_conv2): kernel of shape (256, 128, 3, 3), expected "
                   "(256, 256, 3, 3) (OIHW; not a VGG16 base)");
}

TEST_F(OnnxWeights, StridedOrUnpaddedConvIsRefused) {
  OnnxVggOptions o;
  o.layers_with_weights = 1;
  OnnxVggModel m = make_vgg16_onnx(o);
  onnx::NodeProto* conv = conv_nodes(m.model)[1];
  for (onnx::AttributeProto& a : *conv->mutable_attribute())
    if (a.name() == "strides") a.set_ints(0, 2);
  std::string path = write(m);
  EXPECT_EQ(input_error_of([&] { read_keras_weights(path); }),
            path + ": Conv node 'Conv_1' (taken for block1_conv2): strides (2, 1), expected (1, 1) (not a VGG16 base)");
  for (onnx::AttributeProto& a : *conv->mutable_attribute()) {
    if (a.name() == "strides") a.set_ints(0, 1);
    if (a.name() == "pads") a.clear_ints();
  }
  path = write(m, "unpadded.onnx");
  EXPECT_EQ(input_error_of([&] { read_keras_weights(path); }),
            path + ": Conv node 'Conv_1' (taken for block1_conv2): pads (), expected (1, 1, 1, 1) (not a VGG16 base)");
}

TEST_F(OnnxWeights, MissingWeightTensorNamesTheNodeAndTensor) {
  OnnxVggOptions o;
  o.layers_with_weights = 4;
  const std::string path = write(make_vgg16_onnx(o));
  EXPECT_EQ(input_error_of([&] { read_keras_weights(path); }),
            path + ": Conv node 'Conv_4' (taken for block3_conv1): its kernel 'conv4.weight' is neither an "
                   "initializer nor the output of a node (a graph input?)");
}

TEST_F(OnnxWeights, BadTensorContentsAreNamed) {
  OnnxVggOptions o;
  o.layers_with_weights = 1;
  OnnxVggModel m = make_vgg16_onnx(o);
  onnx::TensorProto* w = nullptr;
  for (onnx::TensorProto& t : *m.model.mutable_graph()->mutable_initializer())
    if (t.name() == "conv0.weight") w = &t;
  ASSERT_NE(w, nullptr);
  w->set_raw_data(w->raw_data().substr(4));
  std::string path = write(m, "short.onnx");
  EXPECT_EQ(input_error_of([&] { read_keras_weights(path); }),
            path + ": Conv node 'Conv_0' (taken for block1_conv1): its kernel 'conv0.weight' of shape "
                   "(64, 3, 3, 3) holds 6908 bytes, expected 1728 values");
  w->set_data_type(onnx::TensorProto_DataType_INT8);
  path = write(m, "int8.onnx");
  EXPECT_EQ(input_error_of([&] { read_keras_weights(path); }),
            path + ": Conv node 'Conv_0' (taken for block1_conv1): its kernel 'conv0.weight' is INT8, expected "
                   "FLOAT (or DOUBLE)");
  w->set_data_type(onnx::TensorProto_DataType_FLOAT);
  w->set_data_location(onnx::TensorProto_DataLocation_EXTERNAL);
  path = write(m, "external.onnx");
  EXPECT_NE(input_error_of([&] { read_keras_weights(path); })
                .find(path + ": Conv node 'Conv_0' (taken for block1_conv1): its kernel 'conv0.weight' is stored in "
                             "an external data file"),
            std::string::npos);
}

TEST_F(OnnxWeights, FilesThatAreNoOnnxModel) {
  const std::string empty = dir_ + "/empty.onnx", text = dir_ + "/text.onnx", nograph = dir_ + "/nograph.onnx";
  std::ofstream(empty).close();
  std::ofstream(text) << "\xff\xff\xff\xff not a protobuf";
  onnx::ModelProto m;
  m.set_ir_version(7);
  write_onnx(m, nograph);
  EXPECT_EQ(input_error_of([&] { read_keras_weights(empty); }), empty + ": empty file, not an ONNX model");
  EXPECT_EQ(input_error_of([&] { read_keras_weights(text); }),
            text + ": not an ONNX model (protobuf parse failed: damaged or another kind of file)");
  EXPECT_EQ(input_error_of([&] { read_keras_weights(nograph); }), nograph + ": not an ONNX model (no graph)");
  const std::string missing = dir_ + "/missing.onnx";
  EXPECT_NE(input_error_of([&] { read_keras_weights(missing); }).find(missing + " not found"), std::string::npos);
}

TEST(OnnxPath, ExtensionDecides) {
  EXPECT_TRUE(is_onnx_path("a/model.onnx"));
  EXPECT_TRUE(is_onnx_path("MODEL.Onnx"));
  EXPECT_FALSE(is_onnx_path("model.h5"));
  EXPECT_FALSE(is_onnx_path("onnx"));
  EXPECT_FALSE(is_onnx_path("model.onnx.h5"));
}

}  // namespace onnx_weights_test
