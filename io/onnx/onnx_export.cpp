// The model as an ONNX graph, built with the ONNX project's protobuf classes. Activations run
// NCHW between the first and last convolution (ONNX's Conv), NHWC elsewhere, so that Flatten
// has Keras's element order: image NHWC -> [Gather BGR, Sub means] -> Transpose NCHW -> Conv/Relu/
// MaxPool ... -> Transpose NHWC -> Reshape (N, -1) -> Gemm/Relu, BatchNormalization, Softmax.
#include "io/onnx/onnx_export.h"

#include <onnx/onnx_pb.h>


#include "engine/error.h"
#include "io/atomic_file.h"
#include "kernels/resize_preprocess.h"

namespace vggtl {

namespace {

class GraphBuilder {
 public:
  explicit GraphBuilder(onnx::GraphProto* g) : g_(g) {}

  void initializer(const std::string& name, const std::vector<int64_t>& dims, const float* v) {
    onnx::TensorProto* t = g_->add_initializer();
    t->set_name(name);
    t->set_data_type(onnx::TensorProto_DataType_FLOAT);
    int64_t n = 1;
    for (int64_t d : dims) {
      t->add_dims(d);
      n *= d;
    }
    t->set_raw_data(std::string(reinterpret_cast<const char*>(v), static_cast<size_t>(n) * sizeof(float)));
  }
  void int_initializer(const std::string& name, const std::vector<int64_t>& v) {
    onnx::TensorProto* t = g_->add_initializer();
    t->set_name(name);
    t->set_data_type(onnx::TensorProto_DataType_INT64);
    t->add_dims(static_cast<int64_t>(v.size()));
    for (int64_t x : v) t->add_int64_data(x);
  }
  onnx::NodeProto* node(const std::string& op, const std::vector<std::string>& in, const std::string& out,
                        const std::string& name) {
    onnx::NodeProto* n = g_->add_node();
    n->set_op_type(op);
    n->set_name(name);
    for (const std::string& s : in) n->add_input(s);
    n->add_output(out);
    return n;
  }
  static void ints(onnx::NodeProto* n, const std::string& name, const std::vector<int64_t>& v) {
    onnx::AttributeProto* a = n->add_attribute();
    a->set_name(name);
    a->set_type(onnx::AttributeProto_AttributeType_INTS);
    for (int64_t x : v) a->add_ints(x);
  }
  static void integer(onnx::NodeProto* n, const std::string& name, int64_t v) {
    onnx::AttributeProto* a = n->add_attribute();
    a->set_name(name);
    a->set_type(onnx::AttributeProto_AttributeType_INT);
    a->set_i(v);
  }
  static void real(onnx::NodeProto* n, const std::string& name, float v) {
    onnx::AttributeProto* a = n->add_attribute();
    a->set_name(name);
    a->set_type(onnx::AttributeProto_AttributeType_FLOAT);
    a->set_f(v);
  }

 private:
  onnx::GraphProto* g_;
};

const float* host_f32(const Tensor& t, const Shape& shape, const std::string& what) {
  VGGTL_CHECK(t.defined() && t.dtype() == DType::F32 && t.device().is_cpu() && t.shape() == shape,
              "ONNX export: ", what, " must be an f32 CPU tensor of shape ", shape.str(), ", got ",
              t.defined() ? t.str() : std::string("none"));
  return static_cast<const float*>(t.raw());
}

void set_shape(onnx::ValueInfoProto* v, const std::string& name, const std::vector<int64_t>& dims) {
  v->set_name(name);
  onnx::TypeProto_Tensor* t = v->mutable_type()->mutable_tensor_type();
  t->set_elem_type(onnx::TensorProto_DataType_FLOAT);
  onnx::TensorShapeProto* s = t->mutable_shape();
  s->add_dim()->set_dim_param("N");
  for (int64_t d : dims) s->add_dim()->set_dim_value(d);
}

}  // namespace

void write_onnx_model(const std::string& path, const OnnxModelDescription& d) {
  onnx::ModelProto model;
  model.set_ir_version(7);
  model.set_producer_name("vggtl");
  model.set_producer_version(d.producer_version);
  model.add_opset_import()->set_version(13);
  for (const auto& [key, value] : d.metadata) {
    onnx::StringStringEntryProto* e = model.add_metadata_props();
    e->set_key(key);
    e->set_value(value);
  }
  onnx::GraphProto* g = model.mutable_graph();
  g->set_name("vggtl");
  GraphBuilder b(g);
  set_shape(g->add_input(), "image", {d.image_size, d.image_size, 3});

  std::string x = "image";
  if (d.caffe_preprocessing) {
    b.int_initializer("bgr_order", {2, 1, 0});
    const float means[3] = {kCaffeMeanB, kCaffeMeanG, kCaffeMeanR};
    b.initializer("caffe_means", {3}, means);
    GraphBuilder::integer(b.node("Gather", {x, "bgr_order"}, "image_bgr", "caffe_bgr"), "axis", 3);
    b.node("Sub", {"image_bgr", "caffe_means"}, "image_caffe", "caffe_means");
    x = "image_caffe";
  }
  // Where the activations are: NHWC with (h, w, c), or NCHW once a Conv or pool runs.
  bool nchw = false;
  int64_t h = d.image_size, c = 3, flat = -1;
  auto to_nchw = [&] {
    if (nchw) return;
    GraphBuilder::ints(b.node("Transpose", {x}, "to_nchw_out", "to_nchw"), "perm", {0, 3, 1, 2});
    x = "to_nchw_out";
    nchw = true;
  };
  for (const OnnxLayer& l : d.layers) {
    const std::string out = l.name + "_out";
    switch (l.kind) {
      case OnnxLayerKind::Conv2D: {
        VGGTL_CHECK(flat < 0 && l.weights.size() == 2, "ONNX export: Conv2D ", l.name, " after Flatten or without 2 weights");
        const int64_t co = l.weights[1].numel();
        const float* k = host_f32(l.weights[0], Shape{3, 3, c, co}, l.name + "/kernel");
        std::vector<float> oihw(static_cast<size_t>(co * c * 9));
        for (int64_t o = 0; o < co; ++o)
          for (int64_t i = 0; i < c; ++i)
            for (int64_t hw = 0; hw < 9; ++hw) oihw[static_cast<size_t>((o * c + i) * 9 + hw)] = k[(hw * c + i) * co + o];
        b.initializer(l.name + "/kernel", {co, c, 3, 3}, oihw.data());
        b.initializer(l.name + "/bias", {co}, host_f32(l.weights[1], Shape{co}, l.name + "/bias"));
        to_nchw();
        onnx::NodeProto* n = b.node("Conv", {x, l.name + "/kernel", l.name + "/bias"}, l.relu ? out + "_linear" : out,
                                    l.name);
        GraphBuilder::ints(n, "kernel_shape", {3, 3});
        GraphBuilder::ints(n, "pads", {1, 1, 1, 1});
        GraphBuilder::ints(n, "strides", {1, 1});
        if (l.relu) b.node("Relu", {out + "_linear"}, out, l.name + "_relu");
        c = co;
        break;
      }
      case OnnxLayerKind::MaxPool2D: {
        VGGTL_CHECK(flat < 0 && h % 2 == 0, "ONNX export: MaxPool2D ", l.name, " on ", h, " px");
        to_nchw();
        onnx::NodeProto* n = b.node("MaxPool", {x}, out, l.name);
        GraphBuilder::ints(n, "kernel_shape", {2, 2});
        GraphBuilder::ints(n, "strides", {2, 2});
        h /= 2;
        break;
      }
      case OnnxLayerKind::Flatten: {
        if (nchw) {
          GraphBuilder::ints(b.node("Transpose", {x}, l.name + "_nhwc", l.name + "_to_nhwc"), "perm", {0, 2, 3, 1});
          x = l.name + "_nhwc";
          nchw = false;
        }
        b.int_initializer(l.name + "/shape", {0, -1});
        b.node("Reshape", {x, l.name + "/shape"}, out, l.name);
        flat = h * h * c;
        break;
      }
      case OnnxLayerKind::Dense: {
        VGGTL_CHECK(flat > 0 && l.weights.size() == 2, "ONNX export: Dense ", l.name, " before Flatten");
        const int64_t units = l.weights[1].numel();
        b.initializer(l.name + "/kernel", {flat, units}, host_f32(l.weights[0], Shape{flat, units}, l.name + "/kernel"));
        b.initializer(l.name + "/bias", {units}, host_f32(l.weights[1], Shape{units}, l.name + "/bias"));
        b.node("Gemm", {x, l.name + "/kernel", l.name + "/bias"}, l.relu ? out + "_linear" : out, l.name);
        if (l.relu) b.node("Relu", {out + "_linear"}, out, l.name + "_relu");
        flat = units;
        break;
      }
      case OnnxLayerKind::BatchNormalization: {
        VGGTL_CHECK(flat > 0 && l.weights.size() == 4, "ONNX export: BatchNormalization ", l.name);
        static const char* names[4] = {"gamma", "beta", "moving_mean", "moving_variance"};
        std::vector<std::string> in{x};
        for (int i = 0; i < 4; ++i) {
          const std::string w = l.name + "/" + names[i];
          b.initializer(w, {flat}, host_f32(l.weights[static_cast<size_t>(i)], Shape{flat}, w));
          in.push_back(w);
        }
        GraphBuilder::real(b.node("BatchNormalization", in, out, l.name), "epsilon", static_cast<float>(l.epsilon));
        break;
      }
      case OnnxLayerKind::Softmax:
        VGGTL_CHECK(flat > 0, "ONNX export: Softmax ", l.name, " before Flatten");
        GraphBuilder::integer(b.node("Softmax", {x}, out, l.name), "axis", -1);
        break;
    }
    x = out;
  }
  VGGTL_CHECK(flat > 0, "ONNX export: the model has no Flatten");
  b.node("Identity", {x}, "probabilities", "output");
  onnx::ValueInfoProto* o = g->add_output();
  o->set_name("probabilities");
  onnx::TensorShapeProto* s = o->mutable_type()->mutable_tensor_type()->mutable_shape();
  o->mutable_type()->mutable_tensor_type()->set_elem_type(onnx::TensorProto_DataType_FLOAT);
  s->add_dim()->set_dim_param("N");
  s->add_dim()->set_dim_value(flat);

  std::string bytes;
  if (!model.SerializeToString(&bytes)) throw Error(path + ": the ONNX model could not be serialised (over 2 GiB?)");
  // write(2) with the failing call's errno in the message, fsync, rename (io/atomic_file.h).
  write_text_atomically(path, bytes);
}

}  // namespace vggtl
