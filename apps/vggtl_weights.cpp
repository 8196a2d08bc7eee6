// vggtl_weights: writes the VGG16 base of any weights file vggtl reads (an ONNX model, a Keras
// file in any layout) as vggtl_weights_tf_dim_ordering_tf_kernels_notop.h5's layout (Keras 1:
// the 13 conv layers, kernels HWIO, biases; the input and pool layers listed without weights),
// so that Keras and every vggtl tool take it as the ImageNet download (README.md, "The tools";
// scripts/get_weights.sh uses it). Tested by tests/apps/test_onnx_app.cpp.
#include <CLI/CLI.hpp>

#include <cstdio>
#include <filesystem>

#include "apps/pipeline/app_main.h"
#include "apps/pipeline/model_wiring.h"
#include "engine/error.h"
#include "io/hdf5/keras_weights_writer.h"
#include "io/sha256.h"

int main(int argc, char** argv) {
  return vggtl::run_app("vggtl_weights", [&] {
    using namespace vggtl;
    CLI::App app{"vggtl_weights: write the VGG16 conv layers of a weights file (ONNX model or Keras file) in the\n"
                 "layout of Keras's vgg16_weights_tf_dim_ordering_tf_kernels_notop.h5.\n"
                 "Example: vggtl_weights --from model.onnx --out vgg16_notop.h5"};
    std::string from, out;
    app.add_option("--from", from, "Weights to read: an .onnx model (Keras or torchvision export) or a Keras file")
        ->required();
    app.add_option("--out", out, "HDF5 file to write; an existing file is never overwritten")->required();
    if (const int status = parse_command_line(app, argc, argv); status >= 0) return status;
    std::error_code ec;
    if (std::filesystem::exists(out, ec))
      throw InputError("--out " + out + " exists; vggtl_weights never overwrites a file (remove it first)");
    check_output_file(out, "--out");
    precheck_hdf5_inputs({{from, Hdf5Role::Weights}});

    MatchedWeights m = load_keras_weights(from, vgg16_expected_layers());
    // Keras 1's names and layer list, as in the download.
    std::vector<std::string> layer_names{"input_1"};
    std::vector<LayerWeights> layers;
    std::string block;
    for (LayerWeights& l : m.layers) {
      const std::string b = l.layer.substr(0, l.layer.find('_'));
      if (!block.empty() && b != block) layer_names.push_back(block + "_pool");
      block = b;
      layer_names.push_back(l.layer);
      l.weights[0].name = l.layer + "_W_1:0";
      l.weights[1].name = l.layer + "_b_1:0";
      layers.push_back(l);
    }
    layer_names.push_back(block + "_pool");
    write_keras1_weights(out, layer_names, layers);
    for (const std::string& n : m.notes) std::printf("%s\n", n.c_str());
    const float* k = static_cast<const float*>(layers.front().weights[0].value.raw());
    const float* b = static_cast<const float*>(layers.front().weights[1].value.raw());
    std::printf("Wrote %s: 13 conv layers of %s (block1_conv1 kernel[0] %.8g, bias[0] %.8g); MD5 %s\n", out.c_str(),
                from.c_str(), k[0], b[0], md5_file(out).c_str());
    return 0;
  });
}
