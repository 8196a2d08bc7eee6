// oneDNN fast path of the 3x3 'same' convolution: direct on the NHWC f32 or bf16 activations in
// place, or (f32) Winograd image by image through blocked copies, one image per thread; weights
// reordered (and converted to bf16) once into the layout the primitive asks for, bias (f32) and
// ReLU fused (bias argument + eltwise post-op). Checked against the double oracle, and bf16 against
// f32, in test_conv2d.cpp.
#include <dnnl.hpp>

#include <algorithm>
#include <cstdlib>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <tuple>
#include <unordered_map>
#include <vector>

#include "engine/error.h"
#include "kernels/conv2d.h"
#include "kernels/cpu_backend.h"
#include "kernels/onednn.h"

namespace vggtl {

namespace {

using dt = dnnl::memory::data_type;
using tag = dnnl::memory::format_tag;

[[noreturn]] void rethrow_dnnl(const dnnl::error& e, const char* what) {
  VGGTL_FAIL("oneDNN ", what, ": ", e.what(), " (status ", static_cast<int>(e.status), ")");
}

// 64-byte aligned bytes that only grow: a thread's blocked copies and scratchpad.
class AlignedBuffer {
 public:
  void* reserve(size_t bytes) {
    if (bytes > size_) {
      const size_t rounded = (bytes + 63) / 64 * 64;
      void* p = std::aligned_alloc(64, rounded);
      if (!p) throw std::bad_alloc();
      data_.reset(static_cast<char*>(p));
      size_ = rounded;
    }
    return data_.get();
  }

 private:
  struct Free {
    void operator()(char* p) const { std::free(p); }
  };
  std::unique_ptr<char, Free> data_;
  size_t size_ = 0;
};

// What one thread needs to run a plan: its own blocked copies (Winograd), scratchpad and stream.
// Shared by every layer the thread runs (a thread runs one plan at a time); a plan run on all
// threads gets the calling thread's.
struct OnednnThreadState {
  AlignedBuffer src, dst, scratchpad;
  std::optional<dnnl::stream> stream;
};
thread_local OnednnThreadState t_onednn;

}  // namespace

// Auto's rule, fixed rather than timed so that a run's numbers never depend on machine load:
// Winograd from 16 input channels and 14x14 images up. Below, it measured slower: 5x on the
// 3-channel input layer, 2-3.5x on 2x2 to 8x8 images of 64 channels (docs/performance.md).
constexpr int64_t kMinWinogradChannels = 16;
constexpr int64_t kMinWinogradSide = 14;
// Winograd convolves every image alone (oneDNN's Winograd rounding depends on the images per call,
// docs/performance.md; alone, an image's result is the same bits whatever the batch, the shard or
// the threads). A batch runs one image per thread in one parallel region per layer, oneDNN
// single-threaded inside it: oneDNN's multi-threaded Winograd kernels synchronise their threads
// inside a primitive with spinning barriers that OMP_WAIT_POLICY does not reach, and a thread
// spinning there holds a core that a preempted team mate needs (docs/performance.md, "The CPU
// engine under load"). A last round that would leave half the threads or more idle runs its
// images one after another on all threads instead. Every plan runs on the calling thread's
// stream and scratchpad (user scratchpad mode), outside the layer's lock: a chain of layers may
// run several images through the same layer at once, one per thread (layers/sequential.h:
// run_image_by_image).

struct Conv2dOnednn::Impl {
  int64_t c, k;
  bool relu;
  CpuConvAlgo algo;
  dt act = dt::f32;  // activations and weights as the primitive reads them: f32 or bf16
  struct Plan {
    dnnl::convolution_forward::primitive_desc pd;
    dnnl::convolution_forward prim;
    dnnl::memory weights;  // in pd.weights_desc(), shared with plans asking for the same layout
    uint64_t weights_generation = 0;
    // Winograd: one image, NHWC (image_src) -> the primitive's layouts -> NHWC (image_dst), through
    // the running thread's copies. Direct runs on the NHWC activations in place.
    bool through_copies = false;
    dnnl::memory::desc image_src, image_dst;
    dnnl::reorder to_src, from_dst;
    size_t scratchpad_bytes = 0;
  };
  std::map<std::tuple<int64_t, int64_t, int64_t>, Plan> plans;  // direct, by (n, h, w)
  std::map<std::tuple<int64_t, int64_t>, std::optional<Plan>> winograd;  // by (h, w); none where not offered
  // Reordered weights by layout, made from `source` in `generation` (bumped when the weights
  // change or arrive through another pointer; plans holding an older generation reorder again).
  std::vector<std::pair<dnnl::memory::desc, dnnl::memory>> reordered;
  const float* source = nullptr;
  uint64_t generation = 1;
  std::string last_impl;
  dnnl::stream stream{onednn_cpu_engine()};
  std::mutex mutex;

  dnnl::primitive_attr attr(bool user_scratchpad = false) const {
    dnnl::primitive_attr a;
    if (user_scratchpad) a.set_scratchpad_mode(dnnl::scratchpad_mode::user);
    if (relu) {
      dnnl::post_ops ops;
      ops.append_eltwise(1.f, dnnl::algorithm::eltwise_relu, 0.f, 0.f);
      a.set_post_ops(ops);
    }
    return a;
  }

  dnnl::convolution_forward::desc conv_desc(dnnl::algorithm a, int64_t n, int64_t h, int64_t w,
                                            tag activations) const {
    const dnnl::memory::desc src({n, c, h, w}, act, activations);
    const dnnl::memory::desc wei({k, c, 3, 3}, act, tag::any);
    const dnnl::memory::desc bias({k}, dt::f32, tag::x);
    const dnnl::memory::desc dst({n, k, h, w}, act, activations);
    return dnnl::convolution_forward::desc(dnnl::prop_kind::forward_inference, a, src, wei, bias, dst,
                                           {1, 1}, {1, 1}, {1, 1});
  }

  Plan make_plan(int64_t n, int64_t h, int64_t w) {
    Plan p;
    p.pd = dnnl::convolution_forward::primitive_desc(
        conv_desc(dnnl::algorithm::convolution_direct, n, h, w, tag::nhwc), attr(true), onednn_cpu_engine());
    p.prim = dnnl::convolution_forward(p.pd);
    p.scratchpad_bytes = p.pd.scratchpad_desc().get_size();
    return p;
  }

  // The Winograd plan for one (h, w) image, in the layouts oneDNN picks; none where oneDNN has no
  // Winograd implementation for it (no AVX-512, or a shape it does not take).
  std::optional<Plan> make_winograd_plan(int64_t h, int64_t w) {
    std::optional<Plan> p(std::in_place);
    try {
      p->pd = dnnl::convolution_forward::primitive_desc(
          conv_desc(dnnl::algorithm::convolution_winograd, 1, h, w, tag::any), attr(true), onednn_cpu_engine());
    } catch (const dnnl::error& e) {
      if (e.status != dnnl_unimplemented) throw;
      return std::nullopt;
    }
    p->prim = dnnl::convolution_forward(p->pd);
    p->through_copies = true;
    p->image_src = dnnl::memory::desc({1, c, h, w}, dt::f32, tag::nhwc);
    p->image_dst = dnnl::memory::desc({1, k, h, w}, dt::f32, tag::nhwc);
    dnnl::primitive_attr user;
    user.set_scratchpad_mode(dnnl::scratchpad_mode::user);
    const dnnl::engine& e = onednn_cpu_engine();
    const dnnl::reorder::primitive_desc in(e, p->image_src, e, p->pd.src_desc(), user);
    const dnnl::reorder::primitive_desc out(e, p->pd.dst_desc(), e, p->image_dst, user);
    p->to_src = dnnl::reorder(in);
    p->from_dst = dnnl::reorder(out);
    p->scratchpad_bytes = std::max({p->pd.scratchpad_desc().get_size(), in.scratchpad_desc().get_size(),
                                    out.scratchpad_desc().get_size()});
    return p;
  }

  // The Winograd plan for (h, w) images, or null where Auto keeps direct or oneDNN offers none.
  // bf16 has no Winograd in oneDNN: always direct.
  Plan* winograd_plan(int64_t h, int64_t w) {
    if (act != dt::f32) return nullptr;
    const bool try_winograd =
        algo == CpuConvAlgo::Winograd || (algo == CpuConvAlgo::Auto && c >= kMinWinogradChannels &&
                                          h >= kMinWinogradSide && w >= kMinWinogradSide);
    if (!try_winograd) return nullptr;
    const auto key = std::make_tuple(h, w);
    auto it = winograd.find(key);
    if (it == winograd.end()) it = winograd.emplace(key, make_winograd_plan(h, w)).first;
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

  // Plan p's weights, reordered first if they changed; then its implementation is the last one.
  void prepare(Plan& p, const float* weights) {
    if (p.weights_generation != generation) {
      p.weights = weights_for(p.pd.weights_desc(), weights);
      p.weights_generation = generation;
    }
    last_impl = p.pd.impl_info_str();
  }

  // Plan p (prepared) on x -> y: the n images it was made for (direct), or one image (Winograd),
  // on the calling thread's stream, scratchpad and copies: on all threads outside a parallel
  // region, on this one alone inside it.
  static void run(const Plan& p, void* y, const void* x, const float* bias) {
    OnednnThreadState& t = t_onednn;
    const dnnl::engine& e = onednn_cpu_engine();
    if (!t.stream) t.stream.emplace(e);
    dnnl::stream& s = *t.stream;
    dnnl::memory b(p.pd.bias_desc(), e, const_cast<float*>(bias));
    std::optional<dnnl::memory> scratch;
    if (p.scratchpad_bytes > 0) {
      const dnnl::memory::desc bytes({static_cast<dnnl::memory::dim>(p.scratchpad_bytes)}, dt::u8, tag::x);
      scratch.emplace(bytes, e, t.scratchpad.reserve(p.scratchpad_bytes));
    }
    auto execute = [&](const dnnl::primitive& prim, std::unordered_map<int, dnnl::memory> args) {
      if (scratch) args.emplace(DNNL_ARG_SCRATCHPAD, *scratch);
      prim.execute(s, args);
    };
    if (!p.through_copies) {
      dnnl::memory src(p.pd.src_desc(), e, const_cast<void*>(x));
      dnnl::memory dst(p.pd.dst_desc(), e, y);
      execute(p.prim, {{DNNL_ARG_SRC, src}, {DNNL_ARG_WEIGHTS, p.weights}, {DNNL_ARG_BIAS, b}, {DNNL_ARG_DST, dst}});
    } else {
      dnnl::memory src_copy(p.pd.src_desc(), e, t.src.reserve(p.pd.src_desc().get_size()));
      dnnl::memory dst_copy(p.pd.dst_desc(), e, t.dst.reserve(p.pd.dst_desc().get_size()));
      dnnl::memory src(p.image_src, e, const_cast<void*>(x));
      dnnl::memory dst(p.image_dst, e, y);
      execute(p.to_src, {{DNNL_ARG_FROM, src}, {DNNL_ARG_TO, src_copy}});
      execute(p.prim, {{DNNL_ARG_SRC, src_copy}, {DNNL_ARG_WEIGHTS, p.weights}, {DNNL_ARG_BIAS, b},
                       {DNNL_ARG_DST, dst_copy}});
      execute(p.from_dst, {{DNNL_ARG_FROM, dst_copy}, {DNNL_ARG_TO, dst}});
    }
    s.wait();
  }

  // The weights in `layout` (f32 or bf16), reordered from the Keras (R,S,C,K) f32 array once per
  // layout.
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

Conv2dOnednn::Conv2dOnednn(int64_t c, int64_t k, bool relu, CpuConvAlgo algo, DType activations)
    : impl_(std::make_unique<Impl>()) {
  VGGTL_CHECK(c > 0 && k > 0, "Conv2dOnednn: ", c, " input and ", k, " output channels");
  VGGTL_CHECK(activations == DType::F32 || activations == DType::BF16, "Conv2dOnednn: activations f32 or bf16, not ",
              dtype_name(activations));
  VGGTL_CHECK(activations == DType::F32 || algo != CpuConvAlgo::Winograd, "Conv2dOnednn: no bf16 Winograd");
  VGGTL_CHECK(activations == DType::F32 || cpu_has_bf16(), "Conv2dOnednn: bf16 needs AVX512-BF16 or AMX; ",
              cpu_bf16_unsupported_reason());
  impl_->act = activations == DType::BF16 ? dt::bf16 : dt::f32;
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
  VGGTL_CHECK(impl_->act == dt::f32, "Conv2dOnednn: f32 activations given to a bf16 convolution");
  forward_any(y, x, n, h, w, weights, bias);
}

void Conv2dOnednn::forward(bf16* y, const bf16* x, int64_t n, int64_t h, int64_t w, const float* weights,
                           const float* bias) {
  VGGTL_CHECK(impl_->act == dt::bf16, "Conv2dOnednn: bf16 activations given to an f32 convolution");
  forward_any(y, x, n, h, w, weights, bias);
}

void Conv2dOnednn::forward_any(void* y, const void* x, int64_t n, int64_t h, int64_t w, const float* weights,
                               const float* bias) {
  if (n == 0 || h == 0 || w == 0) return;
  Impl& m = *impl_;
  try {
    // The plan (handles to shared primitives and weights) is chosen under the lock; it runs
    // outside it, so that several threads can run their images through this layer at once.
    Impl::Plan plan;
    {
      std::lock_guard<std::mutex> lock(m.mutex);
      if (weights != m.source) {
        m.reordered.clear();
        m.source = weights;
        ++m.generation;
      }
      Impl::Plan* p = m.winograd_plan(h, w);
      if (!p) p = &m.direct_plan(n, h, w);
      m.prepare(*p, weights);
      plan = *p;
    }
    if (!plan.through_copies) {
      Impl::run(plan, y, x, bias);
      return;
    }
    // Winograd is f32 only.
    float* yf = static_cast<float*>(y);
    const float* xf = static_cast<const float*>(x);
    const int64_t in_image = h * w * m.c, out_image = h * w * m.k;
    // The VGG16 base on one image, 2-core machine: 61-64 ms on both threads, 113 ms on one.
    const int threads = cpu_team_threads();
    const int64_t shared = images_one_per_thread(n, threads);
    for_each_image_on_threads(shared, threads,
                              [&](int64_t i) { Impl::run(plan, yf + i * out_image, xf + i * in_image, bias); });
    for (int64_t i = shared; i < n; ++i) Impl::run(plan, yf + i * out_image, xf + i * in_image, bias);
  } catch (const dnnl::error& e) {
    rethrow_dnnl(e, "convolution");
  }
}

std::string Conv2dOnednn::implementation() const {
  std::lock_guard<std::mutex> lock(impl_->mutex);
  return impl_->last_impl;
}

}  // namespace vggtl
