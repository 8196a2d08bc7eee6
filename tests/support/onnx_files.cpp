// VGG16 base graphs as ONNX ModelProtos, written with protobuf's serializer.
#include "support/onnx_files.h"

#include <cmath>
#include <cstring>
#include <fstream>
#include <stdexcept>


namespace vggtl::test {

namespace {

// Uniform in [lo, hi) from splitmix64 (no test framework needed: the fuzz seed writer uses this file).
std::vector<float> uniform(size_t n, uint64_t seed, float lo, float hi) {
  std::vector<float> v(n);
  uint64_t s = seed * 0x9E3779B97F4A7C15ull + 1;
  for (float& x : v) {
    uint64_t z = (s += 0x9E3779B97F4A7C15ull);
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
    z ^= z >> 31;
    x = lo + (hi - lo) * static_cast<float>(z >> 40) / static_cast<float>(1 << 24);
  }
  return v;
}

onnx::TensorProto float_tensor(const std::string& name, const std::vector<int64_t>& dims,
                               const std::vector<float>& v) {
  onnx::TensorProto t;
  t.set_name(name);
  t.set_data_type(onnx::TensorProto_DataType_FLOAT);
  for (int64_t d : dims) t.add_dims(d);
  t.set_raw_data(std::string(reinterpret_cast<const char*>(v.data()), v.size() * sizeof(float)));
  return t;
}

onnx::NodeProto* add_node(onnx::GraphProto* g, const std::string& op, const std::vector<std::string>& in,
                          const std::string& out, const std::string& name) {
  onnx::NodeProto* n = g->add_node();
  n->set_op_type(op);
  n->set_name(name);
  for (const std::string& s : in) n->add_input(s);
  n->add_output(out);
  return n;
}

void add_ints(onnx::NodeProto* n, const std::string& name, const std::vector<int64_t>& v) {
  onnx::AttributeProto* a = n->add_attribute();
  a->set_name(name);
  a->set_type(onnx::AttributeProto_AttributeType_INTS);
  for (int64_t x : v) a->add_ints(x);
}

}  // namespace

OnnxVggModel make_vgg16_onnx(const OnnxVggOptions& o) {
  static const int64_t widths[13] = {64, 64, 128, 128, 256, 256, 256, 512, 512, 512, 512, 512, 512};
  static const bool pool_after[13] = {false, true, false, true, false, false, true,
                                      false, false, true, false, false, true};
  OnnxVggModel m;
  m.model.set_ir_version(7);
  m.model.set_producer_name("vggtl-tests");
  m.model.add_opset_import()->set_version(13);
  onnx::GraphProto* g = m.model.mutable_graph();
  g->set_name("vgg16_base");
  onnx::ValueInfoProto* input = g->add_input();
  input->set_name("input");
  std::string x = "input";
  if (o.keras_layout) {
    add_ints(add_node(g, "Transpose", {x}, "input_nchw", "to_nchw"), "perm", {0, 3, 1, 2});
    x = "input_nchw";
  }
  int64_t in = 3;
  for (int k = 0; k < 13; ++k) {
    const int64_t out = widths[k];
    const std::string id = std::to_string(k);
    // He-uniform's range, so that activations stay of one order of magnitude through the 13 convs.
    const float limit = std::sqrt(6.f / static_cast<float>(9 * in));
    std::vector<float> w = uniform(static_cast<size_t>(out * in * 9), o.seed * 100 + k, -limit, limit);
    std::vector<float> b = uniform(static_cast<size_t>(out), o.seed * 100 + 50 + k, -0.1f, 0.1f);
    std::string wname = "conv" + id + ".weight", bname = "conv" + id + ".bias";
    if (k < o.layers_with_weights) {
      if (o.keras_layout) {
        // HWIO as Keras holds it; a Transpose gives the Conv OIHW.
        std::vector<float> hwio(w.size());
        for (int64_t oc = 0; oc < out; ++oc)
          for (int64_t ic = 0; ic < in; ++ic)
            for (int64_t hw = 0; hw < 9; ++hw) hwio[(hw * in + ic) * out + oc] = w[(oc * in + ic) * 9 + hw];
        *g->add_initializer() = float_tensor(wname + "_hwio", {3, 3, in, out}, hwio);
        add_ints(add_node(g, "Transpose", {wname + "_hwio"}, wname, "kernel_t" + id), "perm", {3, 2, 0, 1});
        if (k == 2) {
          *g->add_initializer() = float_tensor(bname + "_stored", {out}, b);
          add_node(g, "Identity", {bname + "_stored"}, bname, "bias_id" + id);
        } else if (k == 3) {
          onnx::NodeProto* c = add_node(g, "Constant", {}, bname, "bias_const" + id);
          onnx::AttributeProto* a = c->add_attribute();
          a->set_name("value");
          a->set_type(onnx::AttributeProto_AttributeType_TENSOR);
          *a->mutable_t() = float_tensor("", {out}, b);
        } else {
          *g->add_initializer() = float_tensor(bname, {out}, b);
        }
      } else {
        *g->add_initializer() = float_tensor(wname, {out, in, 3, 3}, w);
        *g->add_initializer() = float_tensor(bname, {out}, b);
      }
    }
    onnx::NodeProto* conv = add_node(g, "Conv", {x, wname, bname}, "conv" + id + "_out", "Conv_" + id);
    add_ints(conv, "kernel_shape", {3, 3});
    add_ints(conv, "pads", {1, 1, 1, 1});
    add_ints(conv, "strides", {1, 1});
    add_node(g, "Relu", {"conv" + id + "_out"}, "relu" + id, "Relu_" + id);
    x = "relu" + id;
    if (pool_after[k]) {
      onnx::NodeProto* p = add_node(g, "MaxPool", {x}, "pool" + id, "MaxPool_" + id);
      add_ints(p, "kernel_shape", {2, 2});
      add_ints(p, "strides", {2, 2});
      x = "pool" + id;
    }
    m.kernels_oihw.push_back(std::move(w));
    m.biases.push_back(std::move(b));
    m.in_channels.push_back(in);
    m.out_channels.push_back(out);
    in = out;
  }
  g->add_output()->set_name(x);
  return m;
}

void write_onnx(const onnx::ModelProto& model, const std::string& path) {
  std::string bytes;
  if (!model.SerializeToString(&bytes)) throw std::runtime_error("cannot serialise the ONNX model for " + path);
  std::ofstream f(path, std::ios::binary | std::ios::trunc);
  f.write(bytes.data(), static_cast<std::streamsize>(bytes.size()));
  if (!f) throw std::runtime_error("cannot write " + path);
}

std::vector<onnx::NodeProto*> conv_nodes(onnx::ModelProto& model) {
  std::vector<onnx::NodeProto*> out;
  for (onnx::NodeProto& n : *model.mutable_graph()->mutable_node())
    if (n.op_type() == "Conv") out.push_back(&n);
  return out;
}

}  // namespace vggtl::test
