// oneDNN fast path of the 3x3 'same' convolution: direct on the NHWC f32 activations in place, or
// Winograd through blocked copies of groups of images; weights reordered once into the layout the
// primitive asks for, bias and ReLU fused (bias argument + eltwise post-op). Checked against the
// double oracle in test_conv2d.cpp.
#include <dnnl.hpp>

#include <algorithm>
#include <map>
#include <mutex>
#include <optional>
#include <string>
#include <tuple>
#include <vector>

#include "engine/error.h"
#include "kernels/conv2d.h"
#include "kernels/onednn.h"

namespace vggtl {

namespace {

using dt = dnnl::memory::data_type;
using tag = dnnl::memory::format_tag;

[[noreturn]] void rethrow_dnnl(const dnnl::error& e, const char* what) {
  VGGTL_FAIL("oneDNN ", what, ": ", e.what(), " (status ", static_cast<int>(e.status), ")");
}

}  // namespace

// Auto's rule, fixed rather than timed so that a run's numbers never depend on machine load:
// Winograd from 16 input channels and 14x14 images up. Below, it measured slower: 5x on the
// 3-channel input layer, 2-3.5x on 2x2 to 8x8 images of 64 channels (docs/performance.md).
constexpr int64_t kMinWinogradChannels = 16;
constexpr int64_t kMinWinogradSide = 14;
// Winograd runs on groups of images, each through one blocked copy of its input and output: as
// many images as keep such a copy under 32 MB, at most 16. Image by image, a batch of 8 made
// 3 x 8 parallel regions per layer, and under a competing busy load every region's barrier waits
// for threads the scheduler has taken off their cores: 9.5-11x slower at batch 8 on a 16-core
// AVX-512 host with 16 busy competitors, where PyTorch slowed 3.3-3.6x (docs/performance.md).
// The group depends on the shape only, so a batch always splits the same way.
constexpr int64_t kDefaultWinogradGroupBytes = int64_t{32} << 20;
constexpr int64_t kMaxWinogradGroup = 16;

struct Conv2dOnednn::Impl {
  int64_t c, k;
  bool relu;
  int64_t group_bytes = kDefaultWinogradGroupBytes;
  CpuConvAlgo algo;
  struct Plan {
    dnnl::convolution_forward::primitive_desc pd;
    dnnl::convolution_forward prim;
    dnnl::memory weights;  // in pd.weights_desc(), shared with plans asking for the same layout
    uint64_t weights_generation = 0;
    // Winograd: a group of images, NHWC (image_src) -> the primitive's layouts -> NHWC (image_dst).
    bool blocked = false;
    dnnl::memory::desc image_src, image_dst;
    dnnl::memory src_copy, dst_copy;
    dnnl::reorder to_src, from_dst;
  };
  std::map<std::tuple<int64_t, int64_t, int64_t>, Plan> plans;  // direct, by (n, h, w)
  std::map<std::tuple<int64_t, int64_t, int64_t>, std::optional<Plan>> winograd;  // by (g, h, w); none offered
  // Reordered weights by layout, made from `source` in `generation` (bumped when the weights
  // change or arrive through another pointer; plans holding an older generation reorder again).
  std::vector<std::pair<dnnl::memory::desc, dnnl::memory>> reordered;
  const float* source = nullptr;
  uint64_t generation = 1;
  std::string last_impl;
  dnnl::stream stream{onednn_cpu_engine()};
  std::mutex mutex;

  dnnl::primitive_attr attr() const {
    dnnl::primitive_attr a;
    if (relu) {
      dnnl::post_ops ops;
      ops.append_eltwise(1.f, dnnl::algorithm::eltwise_relu, 0.f, 0.f);
      a.set_post_ops(ops);
    }
    return a;
  }

  dnnl::convolution_forward::desc conv_desc(dnnl::algorithm a, int64_t n, int64_t h, int64_t w,
                                            tag activations) const {
    const dnnl::memory::desc src({n, c, h, w}, dt::f32, activations);
    const dnnl::memory::desc wei({k, c, 3, 3}, dt::f32, tag::any);
    const dnnl::memory::desc bias({k}, dt::f32, tag::x);
    const dnnl::memory::desc dst({n, k, h, w}, dt::f32, activations);
    return dnnl::convolution_forward::desc(dnnl::prop_kind::forward_inference, a, src, wei, bias, dst,
                                           {1, 1}, {1, 1}, {1, 1});
  }

  Plan make_plan(int64_t n, int64_t h, int64_t w) {
    Plan p;
    p.pd = dnnl::convolution_forward::primitive_desc(
        conv_desc(dnnl::algorithm::convolution_direct, n, h, w, tag::nhwc), attr(), onednn_cpu_engine());
    p.prim = dnnl::convolution_forward(p.pd);
    return p;
  }

  // The Winograd plan for a group of g (h, w) images, in the layouts oneDNN picks; none where oneDNN
  // has no Winograd implementation for it (no AVX-512, or a shape it does not take).
  std::optional<Plan> make_winograd_plan(int64_t g, int64_t h, int64_t w) {
    std::optional<Plan> p(std::in_place);
    try {
      p->pd = dnnl::convolution_forward::primitive_desc(
          conv_desc(dnnl::algorithm::convolution_winograd, g, h, w, tag::any), attr(), onednn_cpu_engine());
    } catch (const dnnl::error& e) {
      if (e.status != dnnl_unimplemented) throw;
      return std::nullopt;
    }
    p->prim = dnnl::convolution_forward(p->pd);
    p->blocked = true;
    p->src_copy = dnnl::memory(p->pd.src_desc(), onednn_cpu_engine());
    p->dst_copy = dnnl::memory(p->pd.dst_desc(), onednn_cpu_engine());
    p->image_src = dnnl::memory::desc({g, c, h, w}, dt::f32, tag::nhwc);
    p->image_dst = dnnl::memory::desc({g, k, h, w}, dt::f32, tag::nhwc);
    p->to_src = dnnl::reorder(dnnl::reorder::primitive_desc(onednn_cpu_engine(), p->image_src, onednn_cpu_engine(), p->pd.src_desc()));
    p->from_dst = dnnl::reorder(dnnl::reorder::primitive_desc(onednn_cpu_engine(), p->pd.dst_desc(), onednn_cpu_engine(), p->image_dst));
    return p;
  }

  // Images per Winograd call for (h, w) images (see kDefaultWinogradGroupBytes).
  int64_t winograd_group(int64_t h, int64_t w) const {
    const int64_t image_bytes = h * w * std::max(c, k) * static_cast<int64_t>(sizeof(float));
    return std::clamp<int64_t>(group_bytes / image_bytes, 1, kMaxWinogradGroup);
  }

  // The Winograd plan for g images, or null where Auto keeps direct or oneDNN offers none.
  Plan* winograd_plan(int64_t g, int64_t h, int64_t w) {
    const bool try_winograd =
        algo == CpuConvAlgo::Winograd || (algo == CpuConvAlgo::Auto && c >= kMinWinogradChannels &&
                                          h >= kMinWinogradSide && w >= kMinWinogradSide);
    if (!try_winograd) return nullptr;
    const auto key = std::make_tuple(g, h, w);
    auto it = winograd.find(key);
    if (it == winograd.end()) it = winograd.emplace(key, make_winograd_plan(g, h, w)).first;
    VGGTL_CHECK(it->second || algo != CpuConvAlgo::Winograd, "oneDNN has no Winograd convolution for ", h, "x", w,
                "x", c, " -> ", k, " on this CPU");
    return it->second ? &*it->second : nullptr;
  }

  Plan& direct_plan(int64_t n, int64_t h, int64_t w) {
    const auto key = std::make_tuple(n, h, w);
    auto it = plans.find(key);
    if (it == plans.end()) it = plans.emplace(key, make_plan(n, h, w)).first;
    return it->second;
  }

  // n images through plan p (made for n images); the weights reordered first if they changed.
  void run(Plan& p, float* y, const float* x, const float* weights, const float* bias) {
    if (p.weights_generation != generation) {
      p.weights = weights_for(p.pd.weights_desc(), weights);
      p.weights_generation = generation;
    }
    last_impl = p.pd.impl_info_str();
    dnnl::memory b(p.pd.bias_desc(), onednn_cpu_engine(), const_cast<float*>(bias));
    if (!p.blocked) {
      dnnl::memory src(p.pd.src_desc(), onednn_cpu_engine(), const_cast<float*>(x));
      dnnl::memory dst(p.pd.dst_desc(), onednn_cpu_engine(), y);
      p.prim.execute(stream, {{DNNL_ARG_SRC, src}, {DNNL_ARG_WEIGHTS, p.weights}, {DNNL_ARG_BIAS, b},
                              {DNNL_ARG_DST, dst}});
      return;
    }
    dnnl::memory src(p.image_src, onednn_cpu_engine(), const_cast<float*>(x));
    dnnl::memory dst(p.image_dst, onednn_cpu_engine(), y);
    p.to_src.execute(stream, src, p.src_copy);
    p.prim.execute(stream, {{DNNL_ARG_SRC, p.src_copy}, {DNNL_ARG_WEIGHTS, p.weights}, {DNNL_ARG_BIAS, b},
                            {DNNL_ARG_DST, p.dst_copy}});
    p.from_dst.execute(stream, p.dst_copy, dst);
  }

  // The weights in `layout`, reordered from the Keras (R,S,C,K) array once per layout.
  dnnl::memory weights_for(const dnnl::memory::desc& layout, const float* w) {
    for (auto& [desc, mem] : reordered)
      if (desc == layout) return mem;
    const dnnl::memory::desc keras({k, c, 3, 3}, dt::f32, tag::hwio);
    dnnl::memory user(keras, onednn_cpu_engine(), const_cast<float*>(w));
    dnnl::memory mem(layout, onednn_cpu_engine());
    dnnl::reorder(user, mem).execute(stream, user, mem);
    stream.wait();
    reordered.emplace_back(layout, mem);
    return mem;
  }
};

Conv2dOnednn::Conv2dOnednn(int64_t c, int64_t k, bool relu, CpuConvAlgo algo)
    : impl_(std::make_unique<Impl>()) {
  VGGTL_CHECK(c > 0 && k > 0, "Conv2dOnednn: ", c, " input and ", k, " output channels");
  impl_->c = c;
  impl_->k = k;
  impl_->relu = relu;
  impl_->algo = algo;
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
    if (weights != m.source) {
      m.reordered.clear();
      m.source = weights;
      ++m.generation;
    }
    const int64_t group = m.winograd_group(h, w);
    if (m.winograd_plan(std::min(n, group), h, w)) {
      for (int64_t i = 0; i < n; i += group) {  // full groups, then the rest
        const int64_t g = std::min(group, n - i);
        m.run(*m.winograd_plan(g, h, w), y + i * h * w * m.k, x + i * h * w * m.c, weights, bias);
      }
    } else {
      m.run(m.direct_plan(n, h, w), y, x, weights, bias);
    }
    m.stream.wait();
  } catch (const dnnl::error& e) {
    rethrow_dnnl(e, "convolution");
  }
}

void Conv2dOnednn::set_winograd_group_bytes(int64_t bytes) {
  std::lock_guard<std::mutex> lock(impl_->mutex);
  impl_->group_bytes = std::max<int64_t>(bytes, 1);
}

std::string Conv2dOnednn::implementation() const {
  std::lock_guard<std::mutex> lock(impl_->mutex);
  return impl_->last_impl;
}

}  // namespace vggtl
