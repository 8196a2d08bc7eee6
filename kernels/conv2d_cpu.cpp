// oneDNN fast path of the 3x3 'same' convolution: NHWC f32 activations used in place (no
// reorder per call), weights reordered once into the layout the primitive asks for, bias and ReLU
// fused (bias argument + eltwise post-op). Checked against the double oracle in test_conv2d.cpp.
#include <dnnl.hpp>

#include <map>
#include <mutex>
#include <string>
#include <tuple>
#include <vector>

#include "engine/error.h"
#include "kernels/conv2d.h"

namespace vggtl {

namespace {

using dt = dnnl::memory::data_type;
using tag = dnnl::memory::format_tag;

dnnl::engine& cpu_engine() {
  static dnnl::engine engine(dnnl::engine::kind::cpu, 0);
  return engine;
}

[[noreturn]] void rethrow_dnnl(const dnnl::error& e, const char* what) {
  VGGTL_FAIL("oneDNN ", what, ": ", e.what(), " (status ", static_cast<int>(e.status), ")");
}

}  // namespace

struct Conv2dOnednn::Impl {
  int64_t c, k;
  bool relu;
  struct Plan {
    dnnl::convolution_forward::primitive_desc pd;
    dnnl::convolution_forward prim;
    dnnl::memory weights;  // in pd.weights_desc(), shared with plans asking for the same layout
    uint64_t weights_generation = 0;
  };
  std::map<std::tuple<int64_t, int64_t, int64_t>, Plan> plans;
  // Reordered weights by layout, made from `source` in `generation` (bumped when the weights
  // change or arrive through another pointer; plans holding an older generation reorder again).
  std::vector<std::pair<dnnl::memory::desc, dnnl::memory>> reordered;
  const float* source = nullptr;
  uint64_t generation = 1;
  std::string last_impl;
  dnnl::stream stream{cpu_engine()};
  std::mutex mutex;

  Plan make_plan(int64_t n, int64_t h, int64_t w) {
    const dnnl::memory::desc src({n, c, h, w}, dt::f32, tag::nhwc);
    const dnnl::memory::desc wei({k, c, 3, 3}, dt::f32, tag::any);
    const dnnl::memory::desc bias({k}, dt::f32, tag::x);
    const dnnl::memory::desc dst({n, k, h, w}, dt::f32, tag::nhwc);
    const dnnl::convolution_forward::desc desc(dnnl::prop_kind::forward_inference,
                                               dnnl::algorithm::convolution_direct, src, wei, bias, dst,
                                               {1, 1}, {1, 1}, {1, 1});
    dnnl::primitive_attr attr;
    if (relu) {
      dnnl::post_ops ops;
      ops.append_eltwise(1.f, dnnl::algorithm::eltwise_relu, 0.f, 0.f);
      attr.set_post_ops(ops);
    }
    Plan p{dnnl::convolution_forward::primitive_desc(desc, attr, cpu_engine()), {}, {}};
    p.prim = dnnl::convolution_forward(p.pd);
    return p;
  }

  // The weights in `layout`, reordered from the Keras (R,S,C,K) array once per layout.
  dnnl::memory weights_for(const dnnl::memory::desc& layout, const float* w) {
    for (auto& [desc, mem] : reordered)
      if (desc == layout) return mem;
    const dnnl::memory::desc keras({k, c, 3, 3}, dt::f32, tag::hwio);
    dnnl::memory user(keras, cpu_engine(), const_cast<float*>(w));
    dnnl::memory mem(layout, cpu_engine());
    dnnl::reorder(user, mem).execute(stream, user, mem);
    stream.wait();
    reordered.emplace_back(layout, mem);
    return mem;
  }
};

Conv2dOnednn::Conv2dOnednn(int64_t c, int64_t k, bool relu) : impl_(std::make_unique<Impl>()) {
  VGGTL_CHECK(c > 0 && k > 0, "Conv2dOnednn: ", c, " input and ", k, " output channels");
  impl_->c = c;
  impl_->k = k;
  impl_->relu = relu;
}

Conv2dOnednn::~Conv2dOnednn() = default;

void Conv2dOnednn::weights_changed() {
  std::lock_guard<std::mutex> lock(impl_->mutex);
  impl_->reordered.clear();
  ++impl_->generation;
}

void Conv2dOnednn::forward(float* y, const float* x, int64_t n, int64_t h, int64_t w, const float* weights,
                           const float* bias) {
  if (n == 0 || h == 0 || w == 0) return;
  Impl& m = *impl_;
  std::lock_guard<std::mutex> lock(m.mutex);
  try {
    auto key = std::make_tuple(n, h, w);
    auto it = m.plans.find(key);
    if (it == m.plans.end()) it = m.plans.emplace(key, m.make_plan(n, h, w)).first;
    Impl::Plan& p = it->second;
    if (weights != m.source) {
      m.reordered.clear();
      m.source = weights;
      ++m.generation;
    }
    if (p.weights_generation != m.generation) {
      p.weights = m.weights_for(p.pd.weights_desc(), weights);
      p.weights_generation = m.generation;
    }
    m.last_impl = p.pd.impl_info_str();
    dnnl::memory src(p.pd.src_desc(), cpu_engine(), const_cast<float*>(x));
    dnnl::memory dst(p.pd.dst_desc(), cpu_engine(), y);
    dnnl::memory b(p.pd.bias_desc(), cpu_engine(), const_cast<float*>(bias));
    p.prim.execute(m.stream, {{DNNL_ARG_SRC, src}, {DNNL_ARG_WEIGHTS, p.weights}, {DNNL_ARG_BIAS, b},
                            {DNNL_ARG_DST, dst}});
    m.stream.wait();
  } catch (const dnnl::error& e) {
    rethrow_dnnl(e, "convolution");
  }
}

std::string Conv2dOnednn::implementation() const {
  std::lock_guard<std::mutex> lock(impl_->mutex);
  return impl_->last_impl;
}

}  // namespace vggtl
