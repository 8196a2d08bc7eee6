// Writes the seed corpora of the harnesses (small valid files) into <dir>/image_decode,
// <dir>/keras_weights, <dir>/checkpoint and <dir>/keras3, with the test suite's writers (tests/support) and
// our own checkpoint writer. Usage: fuzz_make_seeds fuzz/corpus (the committed seeds come from it).
#include <cstdio>
#include <filesystem>
#include <string>
#include <vector>

#include "engine/error.h"
#include "io/hdf5/checkpoint.h"
#include "io/hdf5/keras_weights.h"
#include "io/keras3/keras3_files.h"
#include "support/image_writer.h"
#include "support/keras_files.h"
#include "support/onnx_files.h"

using namespace vggtl;
using namespace vggtl::test;

namespace {

constexpr int kW = 7, kH = 5;  // odd sizes: padding and partial blocks in every format

std::vector<uint16_t> samples(int channels, int max_value, uint32_t seed) {
  std::vector<uint8_t> p = pattern_image(kW, kH, channels, seed);
  std::vector<uint16_t> s(p.size());
  for (size_t i = 0; i < p.size(); ++i) s[i] = static_cast<uint16_t>(p[i] * max_value / 255);
  return s;
}

void image_seeds(const std::string& dir) {
  const std::vector<uint8_t> rgb = pattern_image(16, 16, 3, 1), grey = pattern_image(16, 16, 1, 2);
  JpegOptions j;
  write_file(dir + "/baseline.jpg", encode_jpeg(rgb.data(), 16, 16, j));
  j.progressive = true;
  j.h_samp = j.v_samp = 2;
  write_file(dir + "/progressive_420.jpg", encode_jpeg(rgb.data(), 16, 16, j));
  j = {};
  j.arithmetic = true;
  j.restart_interval = 1;
  write_file(dir + "/arithmetic_restart.jpg", encode_jpeg(rgb.data(), 16, 16, j));
  j = {};
  j.color = JpegColor::Gray;
  write_file(dir + "/grey.jpg", encode_jpeg(grey.data(), 16, 16, j));
  const std::vector<uint8_t> cmyk = pattern_image(8, 8, 4, 3);
  j.color = JpegColor::Ycck;
  write_file(dir + "/ycck.jpg", encode_jpeg(cmyk.data(), 8, 8, j));

  PngOptions p;
  write_file(dir + "/rgb.png", encode_png(samples(3, 255, 4), kW, kH, p));
  p.color = PngColor::Rgba;
  p.bit_depth = 16;
  p.interlaced = true;
  write_file(dir + "/rgba16_interlaced.png", encode_png(samples(4, 65535, 5), kW, kH, p));
  p = {};
  p.color = PngColor::Palette;
  p.bit_depth = 2;
  p.palette = {255, 0, 0, 0, 255, 0, 0, 0, 255, 9, 9, 9};
  p.trns = {128, 255};
  write_file(dir + "/palette2_trns.png", encode_png(samples(1, 3, 6), kW, kH, p));
  p = {};
  p.color = PngColor::Gray;
  p.bit_depth = 1;
  write_file(dir + "/grey1.png", encode_png(samples(1, 1, 7), kW, kH, p));

  BmpOptions b;
  write_file(dir + "/bgr24.bmp", encode_bmp(samples(3, 255, 8), kW, kH, b));
  b.layout = BmpLayout::Rgb565;
  b.top_down = true;
  write_file(dir + "/rgb565_topdown.bmp", encode_bmp(samples(3, 31, 9), kW, kH, b));
  b = {};
  b.layout = BmpLayout::Palette4;
  b.palette = {0, 0, 0, 255, 255, 255, 200, 10, 10};
  write_file(dir + "/palette4.bmp", encode_bmp(samples(1, 2, 10), kW, kH, b));
  b.layout = BmpLayout::Palette8;
  b.os2_header = true;
  write_file(dir + "/palette8_os2.bmp", encode_bmp(samples(1, 2, 11), kW, kH, b));

  write_file(dir + "/p1.pbm", encode_pnm(1, samples(1, 1, 12), kW, kH, 1, "a comment"));
  write_file(dir + "/p3.ppm", encode_pnm(3, samples(3, 255, 13), kW, kH));
  write_file(dir + "/p4.pbm", encode_pnm(4, samples(1, 1, 14), kW, kH, 1));
  write_file(dir + "/p5_16bit.pgm", encode_pnm(5, samples(1, 1000, 15), kW, kH, 1000));
  write_file(dir + "/p6.ppm", encode_pnm(6, samples(3, 255, 16), kW, kH));

  TiffOptions t;
  write_file(dir + "/rgb.tif", encode_tiff(samples(3, 255, 17), kW, kH, t));
  t.compression = TiffCompression::Lzw;
  t.predictor = true;
  write_file(dir + "/lzw_predictor.tif", encode_tiff(samples(3, 255, 18), kW, kH, t));
  t = {};
  t.compression = TiffCompression::Deflate;
  t.planar = true;
  t.big_endian = true;
  write_file(dir + "/deflate_planar_be.tif", encode_tiff(samples(3, 255, 19), kW, kH, t));
  t = {};
  t.compression = TiffCompression::PackBits;
  t.photometric = 1;
  t.samples_per_pixel = 1;
  t.bits = 16;
  write_file(dir + "/packbits_grey16.tif", encode_tiff(samples(1, 65535, 20), kW, kH, t));
  t = {};
  t.photometric = 3;
  t.samples_per_pixel = 1;
  t.bits = 4;
  for (int c = 0; c < 3; ++c)
    for (int i = 0; i < 16; ++i) t.colormap.push_back(static_cast<uint16_t>(i * 4096 + c * 100));
  write_file(dir + "/palette4.tif", encode_tiff(samples(1, 15, 21), kW, kH, t));
  t = {};
  t.photometric = 5;
  t.samples_per_pixel = 4;
  t.extra_samples = -1;
  write_file(dir + "/cmyk.tif", encode_tiff(samples(4, 255, 22), kW, kH, t));
}

// The first block of VGG16 (tiny widths): small files that still have every structure.
std::vector<KerasLayerSpec> small_base(KerasNaming naming) {
  std::vector<KerasLayerSpec> all = vgg16_spec(naming, {2, 2, 2, 2, 2});
  return {all.begin(), all.begin() + 4};  // input_1, block1_conv1, block1_conv2, block1_pool
}

void keras_seeds(const std::string& dir) {
  KerasFileOptions o;
  write_keras_file(dir + "/keras1_fixed.h5", small_base(KerasNaming::Keras1), o);
  o.layout = KerasLayout::Keras2Weights;
  o.strings = KerasStrings::Variable;
  o.float64 = true;
  write_keras_file(dir + "/keras2_variable_f64.h5", small_base(KerasNaming::Keras2), o);
  std::vector<KerasLayerSpec> nested{nested_model_spec("vgg16", small_base(KerasNaming::Keras2))};
  for (const KerasLayerSpec& l : tutorial_head_spec(2, 3, 2)) nested.push_back(l);
  o = {};
  o.layout = KerasLayout::Keras2FullModel;
  o.sorted_groups = true;
  write_keras_file(dir + "/keras2_full_nested.h5", nested, o);
}

Tensor filled(const Shape& s, float v) {
  Tensor t = Tensor::empty(s, DType::F32);
  for (int64_t i = 0; i < s.numel(); ++i) t.data<float>()[i] = v + 0.125f * static_cast<float>(i);
  return t;
}

void checkpoint_seeds(const std::string& dir) {
  CheckpointModel m;
  m.layers = {{"input_1", "InputLayer", {}},
              {"block1_conv1", "Conv2D",
               {{"block1_conv1/kernel:0", filled({3, 3, 3, 2}, 0.5f)},
                {"block1_conv1/bias:0", filled({2}, 0.25f)}}},
              {"flatten", "Flatten", {}},
              {"FC_2", "Dense",
               {{"FC_2/kernel:0", filled({2, 2}, -1)}, {"FC_2/bias:0", filled({2}, 1)}}}};
  m.model_config = R"({"class_name": "Functional", "config": {"name": "model", "layers": [)"
                   R"({"class_name": "InputLayer", "config": {"name": "input_1"}, "name": "input_1"},)"
                   R"({"class_name": "Conv2D", "config": {"name": "block1_conv1"}, "name": "block1_conv1"},)"
                   R"({"class_name": "Flatten", "config": {"name": "flatten"}, "name": "flatten"},)"
                   R"({"class_name": "Dense", "config": {"name": "FC_2"}, "name": "FC_2"}]}})";
  CheckpointMeta meta;
  meta.vggtl_version = "0.1.0";
  meta.class_names = {"cat", "dog"};
  meta.epoch = 2;
  meta.optimizer_step = 8;
  meta.optimizer_state = {{"m/FC_2/kernel:0", filled({2, 2}, 0)}, {"v/FC_2/bias:0", filled({2}, 0)}};
  meta.rng_seed = 42;
  meta.rng_counters = {{"shuffle_epoch", 2}};
  meta.best_value = 0.5;
  meta.best_epoch = 1;
  meta.history_json = R"([{"epoch": 1, "loss": 0.5}])";
  write_checkpoint(dir + "/vggtl_checkpoint.h5", m, meta);
  meta.base_included = false;
  m.layers[1].weights.clear();
  write_checkpoint(dir + "/vggtl_head_only.h5", m, meta);
  write_keras_model(dir + "/keras_model_only.h5", m);
}

// ONNX graphs of 13 Conv nodes, small: only the first conv's weights are stored (a full VGG16 is
// 59 MB), so the reader parses, checks the node and traces its tensors before it stops.
void onnx_seeds(const std::string& dir) {
  OnnxVggOptions o;
  o.layers_with_weights = 1;
  write_onnx(make_vgg16_onnx(o).model, dir + "/torchvision_layout.onnx");
  o.keras_layout = true;
  o.layers_with_weights = 4;  // block1_conv2 (147 KB) is the largest; Identity and Constant biases
  OnnxVggModel m = make_vgg16_onnx(o);
  // Keep the graph but shrink the tensors past the first: the reader reports their shapes.
  for (onnx::TensorProto& t : *m.model.mutable_graph()->mutable_initializer())
    if (t.raw_data().size() > 8192) t.set_raw_data(t.raw_data().substr(0, 64));
  write_onnx(m.model, dir + "/keras_layout.onnx");
}

// Keras 3 archives of the first block and a small head, written by our .keras writer.
void keras3_seeds(const std::string& dir) {
  std::vector<CheckpointLayer> layers = {
      {"input_1", "InputLayer", {}},
      {"block1_conv1", "Conv2D", {{"kernel", filled({3, 3, 3, 2}, 0.5f)}, {"bias", filled({2}, 0.25f)}}},
      {"block1_pool", "MaxPooling2D", {}},
      {"flatten_1", "Flatten", {}},
      {"FC_2", "Dense", {{"kernel", filled({2, 2}, -1)}, {"bias", filled({2}, 1)}}},
      {"batch_normalization_1", "BatchNormalization",
       {{"gamma", filled({2}, 1)}, {"beta", filled({2}, 0)}, {"moving_mean", filled({2}, 0)},
        {"moving_variance", filled({2}, 1)}}},
      {"softmax", "Dense", {{"kernel", filled({2, 2}, 0)}, {"bias", filled({2}, 0)}}}};
  std::string config = R"({"module": "keras.src.models.functional", "class_name": "Functional", "config": )"
                       R"({"name": "seed", "layers": [)";
  for (size_t i = 0; i < layers.size(); ++i)
    config += std::string(i ? "," : "") + R"({"module": "keras.layers", "class_name": ")" + layers[i].class_name +
              R"(", "config": {"name": ")" + layers[i].name + R"("}, "name": ")" + layers[i].name + R"("})";
  config += "]}}";
  write_keras3_archive(dir + "/functional.keras", config, layers, kKeras3Version);
  layers.resize(3);
  config = R"({"class_name": "Functional", "config": {"name": "base", "layers": [)"
           R"({"class_name": "InputLayer", "config": {"name": "input_1"}},)"
           R"({"class_name": "Conv2D", "config": {"name": "block1_conv1"}},)"
           R"({"class_name": "MaxPooling2D", "config": {"name": "block1_pool"}}]}})";
  write_keras3_archive(dir + "/base.keras", config, layers, kKeras3Version);
}

}  // namespace

int main(int argc, char** argv) {
  if (argc != 2) {
    std::fprintf(stderr, "usage: fuzz_make_seeds DIR\n");
    return 2;
  }
  try {
    namespace fs = std::filesystem;
    const std::string root = argv[1];
    for (const char* h : {"image_decode", "keras_weights", "checkpoint", "keras3", "onnx_weights"})
      fs::create_directories(root + "/" + h);
    image_seeds(root + "/image_decode");
    keras_seeds(root + "/keras_weights");
    checkpoint_seeds(root + "/checkpoint");
    keras3_seeds(root + "/keras3");
    onnx_seeds(root + "/onnx_weights");
  } catch (const std::exception& e) {
    std::fprintf(stderr, "fuzz_make_seeds: %s\n", e.what());
    return 1;
  }
  return 0;
}
