// Layer defaults, precision names and the Keras-style summary table.
#include "layers/layer.h"

#include <cstdio>
#include <sstream>

namespace vggtl {

const char* precision_name(Precision p) {
  switch (p) {
    case Precision::FP32: return "fp32";
    case Precision::TF32: return "tf32";
    case Precision::BF16: return "bf16";
  }
  return "?";
}

void Layer::backward(const Tensor&, Tensor*) {
  VGGTL_FAIL(type(), " layer '", name_, "' has no backward pass");
}

int64_t Layer::param_count() const {
  int64_t n = 0;
  for (const Param& p : params_) n += p.shape.numel();
  return n;
}

namespace {

std::string with_commas(int64_t v) {
  std::string s = std::to_string(v < 0 ? -v : v);
  for (int i = static_cast<int>(s.size()) - 3; i > 0; i -= 3) s.insert(static_cast<size_t>(i), ",");
  return v < 0 ? "-" + s : s;
}

std::string none_shape(const Shape& s) {
  std::ostringstream os;
  os << "(None";
  for (int i = 1; i < s.ndim(); ++i) os << ", " << s[i];
  os << ")";
  return os.str();
}

}  // namespace

std::string summary_table(const std::vector<const Layer*>& layers, const Shape& input_shape,
                          const std::string& input_name) {
  std::vector<int64_t> dims = input_shape.vec();
  dims.insert(dims.begin(), 1);
  Shape shape(dims);
  std::ostringstream os;
  char line[256];
  // The name column fits "batch_normalization_1 (BatchNormalization)"; longer names still get
  // a space before the shape.
  const std::string rule(78, '_'), thick(78, '=');
  os << rule << "\n";
  std::snprintf(line, sizeof line, "%-46s%-22s%s\n", " Layer (type)", "Output Shape", "Param #");
  os << line << thick << "\n";
  auto row = [&](const std::string& name, const std::string& out, int64_t params) {
    const std::string shown = name.size() < 45 ? name : name + " ";
    std::snprintf(line, sizeof line, " %-45s%-22s%s\n", shown.c_str(), out.c_str(), with_commas(params).c_str());
    os << line;
  };
  row(input_name + " (InputLayer)", none_shape(shape), 0);
  int64_t total = 0, trainable = 0;
  for (const Layer* l : layers) {
    shape = l->output_shape(shape);
    row(l->name() + " (" + l->type() + ")", none_shape(shape), l->param_count());
    for (const Param& p : l->params()) {
      total += p.shape.numel();
      if (p.learnable && !l->frozen()) trainable += p.shape.numel();
    }
  }
  os << thick << "\n";
  os << "Total params: " << with_commas(total) << "\n";
  os << "Trainable params: " << with_commas(trainable) << "\n";
  os << "Non-trainable params: " << with_commas(total - trainable) << "\n";
  os << rule << "\n";
  return os.str();
}

}  // namespace vggtl
