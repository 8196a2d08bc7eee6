// VGG16 base builder: the Keras configuration D (64,64,M,128,128,M,256x3,M,512x3,M,512x3,M).
#include "layers/vgg16.h"

#include <algorithm>

#include "layers/conv2d.h"
#include "layers/maxpool2d.h"

namespace vggtl {

namespace {

struct Block {
  int convs;
  int64_t filters;
};
constexpr Block kBlocks[] = {{2, 64}, {2, 128}, {3, 256}, {3, 512}, {3, 512}};

}  // namespace

void check_vgg16_image_size(int64_t image_size) {
  if (image_size < 32 || image_size % 32 != 0)
    throw InputError("--image-size: the VGG16 base needs a multiple of 32 (224 as in Keras), got " +
                     std::to_string(image_size));
}

Shape vgg16_feature_shape(int64_t image_size) {
  check_vgg16_image_size(image_size);
  return Shape{image_size / 32, image_size / 32, 512};
}

std::vector<std::unique_ptr<Layer>> make_vgg16_base(const Vgg16Options& options) {
  check_vgg16_image_size(options.image_size);
  std::vector<std::unique_ptr<Layer>> layers;
  int64_t channels = 3;
  for (int b = 0; b < 5; ++b) {
    const std::string block = "block" + std::to_string(b + 1);
    for (int k = 0; k < kBlocks[b].convs; ++k) {
      layers.push_back(std::make_unique<Conv2D>(block + "_conv" + std::to_string(k + 1), channels,
                                                kBlocks[b].filters, options.precision));
      channels = kBlocks[b].filters;
    }
    layers.push_back(std::make_unique<MaxPool2D>(block + "_pool"));
  }
  for (auto& l : layers) l->set_frozen(true);
  for (const std::string& name : options.trainable) {
    auto it = std::find_if(layers.begin(), layers.end(), [&](const auto& l) { return l->name() == name; });
    if (it == layers.end()) throw InputError("no VGG16 layer is called '" + name + "'");
    (*it)->set_frozen(false);
  }
  return layers;
}

const std::vector<LayerWeightShapes>& vgg16_weight_shapes() {
  static const std::vector<LayerWeightShapes> shapes = [] {
    std::vector<LayerWeightShapes> v;
    int64_t in = 3;
    for (int b = 0; b < 5; ++b)
      for (int k = 0; k < kBlocks[b].convs; ++k) {
        const int64_t out = kBlocks[b].filters;
        v.push_back({"block" + std::to_string(b + 1) + "_conv" + std::to_string(k + 1),
                     {Shape{3, 3, in, out}, Shape{out}}});
        in = out;
      }
    return v;
  }();
  return shapes;
}

}  // namespace vggtl
