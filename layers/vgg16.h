// The VGG16 convolutional base of Keras applications (include_top=False): 13 Conv2D 3x3 'same'
// + ReLU and 5 MaxPooling2D 2x2, named block1_conv1 ... block5_pool, NHWC, for square inputs
// whose side is a multiple of 32 (224: output 7x7x512). Tested by tests/layers/test_vgg16.cpp.
#pragma once

#include <memory>
#include <string>
#include <vector>

#include "layers/layer.h"

namespace vggtl {

struct Vgg16Options {
  int64_t image_size = 224;
  Precision precision = Precision::TF32;  // of every Conv2D (GPU only; the CPU runs fp32)
  // Names of layers to leave trainable (fine-tuning, e.g. the block5 convs); all others are
  // frozen. An unknown name is an InputError. A Model built with some trainable keeps the
  // activations from the first of them on and runs backward down to it (its dx is not computed).
  std::vector<std::string> trainable;
};

// The 18 layers in order, unbound (Model::build binds them and their params).
std::vector<std::unique_ptr<Layer>> make_vgg16_base(const Vgg16Options& options = {});

// The weights a VGG16 file must hold, in Keras order: the 13 conv layers with [kernel (3,3,in,out),
// bias (out)]. The weights reader checks a file against this list.
struct LayerWeightShapes {
  std::string layer;
  std::vector<Shape> shapes;
};
const std::vector<LayerWeightShapes>& vgg16_weight_shapes();

// InputError unless the side is a positive multiple of 32.
void check_vgg16_image_size(int64_t image_size);
// (side/32, side/32, 512): the feature map per image.
Shape vgg16_feature_shape(int64_t image_size);

}  // namespace vggtl
