// Layer by layer, by the layer's type: every layer vggtl builds has its ONNX counterpart, and one
// it does not know is an internal error rather than a file that computes something else.
#include "apps/pipeline/onnx_model.h"

#include <nlohmann/json.hpp>

#include "engine/error.h"
#include "layers/batch_normalization.h"
#include "layers/dense.h"
#include "vggtl/build_info.h"

namespace vggtl {

OnnxModelDescription onnx_description(Model& model, const ModelSpec& spec, PixelTransform preprocessing,
                                      ResizeFilter interpolation, const std::vector<std::string>& class_names) {
  OnnxModelDescription d;
  d.image_size = spec.image_size;
  d.caffe_preprocessing = preprocessing == PixelTransform::Caffe;
  d.producer_version = VGGTL_VERSION;
  for (int i = 0; i < model.size(); ++i) {
    Layer& layer = model.layer(i);
    const std::string type = layer.type();
    OnnxLayer l;
    l.name = layer.name();
    if (type == "Dropout") continue;  // the identity at inference
    if (type == "Conv2D") {
      l.kind = OnnxLayerKind::Conv2D;
      l.relu = true;  // vggtl's Conv2D is Keras's Conv2D(activation='relu')
    } else if (type == "MaxPooling2D") {
      l.kind = OnnxLayerKind::MaxPool2D;
    } else if (type == "Flatten") {
      l.kind = OnnxLayerKind::Flatten;
    } else if (type == "Dense") {
      l.kind = OnnxLayerKind::Dense;
      l.relu = dynamic_cast<Dense&>(layer).activation() == Activation::ReLU;
    } else if (type == "BatchNormalization") {
      l.kind = OnnxLayerKind::BatchNormalization;
      l.epsilon = dynamic_cast<BatchNormalization&>(layer).epsilon();
    } else {
      VGGTL_CHECK(false, "ONNX export: no ONNX form for layer ", l.name, " of type ", type);
    }
    for (const Param& p : layer.params()) {
      VGGTL_CHECK(p.value.dtype() == DType::F32, "ONNX export: ", l.name, "/", p.name, " is not f32");
      Tensor host = Tensor::empty(p.shape, DType::F32);
      copy(host, p.value);
      l.weights.push_back(host);
    }
    d.layers.push_back(std::move(l));
  }
  synchronize(model.device());
  // The last Dense outputs logits (the softmax is in vggtl's loss); the file gives probabilities.
  d.layers.push_back(OnnxLayer{OnnxLayerKind::Softmax, "probabilities_softmax", {}, false, 0});
  d.metadata = {{"class_names", nlohmann::json(class_names).dump()},
                {"image_size", std::to_string(spec.image_size)},
                {"interpolation", resize_filter_name(interpolation)},
                {"preprocessing", d.caffe_preprocessing ? "caffe (inside the graph: give RGB 0..255)"
                                                        : "none (the graph takes the pixels as given)"},
                {"input", "image: (N, " + std::to_string(spec.image_size) + ", " + std::to_string(spec.image_size) +
                              ", 3) float32 RGB, resized as Pillow's " + resize_filter_name(interpolation) +
                              " filter does"},
                {"output", "probabilities: (N, classes) in class_names order"}};
  return d;
}

void write_model_onnx(const std::string& path, Model& model, const ModelSpec& spec, PixelTransform preprocessing,
                      ResizeFilter interpolation, const std::vector<std::string>& class_names) {
  write_onnx_model(path, onnx_description(model, spec, preprocessing, interpolation, class_names));
}

}  // namespace vggtl
