// oneDNN backward of the 3x3 'same' convolution (fine-tuning): direct backward-data and
// backward-weights primitives on the NHWC f32 or bf16 tensors in place; the f32 weights reordered
// (and converted) from the Keras layout into the one the data primitive asks for, the f32 weight
// gradient from the weights primitive's layout back into it. Checked against the double oracle in
// test_conv2d_backward.cpp.
#include <dnnl.hpp>

#include <algorithm>
#include <map>
#include <mutex>
#include <string>
#include <tuple>

#include "engine/error.h"
#include "kernels/conv2d.h"
#include "kernels/cpu_backend.h"
#include "kernels/onednn.h"

namespace vggtl {

namespace {

using dt = dnnl::memory::data_type;
using tag = dnnl::memory::format_tag;

}  // namespace

struct Conv2dOnednnBackward::Impl {
  int64_t c, k;
  dt act = dt::f32;  // x, dy, dx and the weights as the primitives read them; dw is f32 always
  struct Plan {
    dnnl::convolution_backward_data::primitive_desc data_pd;
    dnnl::convolution_backward_data data;
    dnnl::convolution_backward_weights::primitive_desc weights_pd;
    dnnl::convolution_backward_weights weights;
    dnnl::memory weights_copy;       // w in data_pd.weights_desc()
    dnnl::memory diff_weights_copy;  // dw in weights_pd.diff_weights_desc()
    dnnl::reorder to_weights, from_diff_weights;
  };
  std::map<std::tuple<int64_t, int64_t, int64_t>, Plan> plans;  // by (n, h, w)
  std::string last_impl;
  dnnl::stream stream{onednn_cpu_engine()};
  std::mutex mutex;

  dnnl::memory::desc keras_weights() const { return dnnl::memory::desc({k, c, 3, 3}, dt::f32, tag::hwio); }

  Plan make_plan(int64_t n, int64_t h, int64_t w) {
    const dnnl::memory::desc src({n, c, h, w}, act, tag::nhwc);
    const dnnl::memory::desc wei({k, c, 3, 3}, act, tag::any);
    const dnnl::memory::desc dst({n, k, h, w}, act, tag::nhwc);
    // bf16: oneDNN accumulates in f32 and writes the f32 gradient directly (no bf16 rounding of dw).
    const dnnl::memory::desc diff_wei({k, c, 3, 3}, dt::f32, tag::any);
    const dnnl::memory::dims stride{1, 1}, pad{1, 1};
    // The backward primitives take the forward one as a hint of the layouts.
    const dnnl::convolution_forward::primitive_desc hint(
        dnnl::convolution_forward::desc(dnnl::prop_kind::forward_training, dnnl::algorithm::convolution_direct, src,
                                        wei, dst, stride, pad, pad),
        onednn_cpu_engine());
    Plan p;
    p.data_pd = dnnl::convolution_backward_data::primitive_desc(
        dnnl::convolution_backward_data::desc(dnnl::algorithm::convolution_direct, src, wei, dst, stride, pad, pad),
        onednn_cpu_engine(), hint);
    p.data = dnnl::convolution_backward_data(p.data_pd);
    p.weights_pd = dnnl::convolution_backward_weights::primitive_desc(
        dnnl::convolution_backward_weights::desc(dnnl::algorithm::convolution_direct, src, diff_wei, dst, stride,
                                                 pad, pad),
        onednn_cpu_engine(), hint);
    p.weights = dnnl::convolution_backward_weights(p.weights_pd);
    p.weights_copy = dnnl::memory(p.data_pd.weights_desc(), onednn_cpu_engine());
    p.diff_weights_copy = dnnl::memory(p.weights_pd.diff_weights_desc(), onednn_cpu_engine());
    p.to_weights = dnnl::reorder(
        dnnl::reorder::primitive_desc(onednn_cpu_engine(), keras_weights(), onednn_cpu_engine(), p.data_pd.weights_desc()));
    p.from_diff_weights = dnnl::reorder(
        dnnl::reorder::primitive_desc(onednn_cpu_engine(), p.weights_pd.diff_weights_desc(), onednn_cpu_engine(), keras_weights()));
    return p;
  }

  Plan& plan(int64_t n, int64_t h, int64_t w) {
    const auto key = std::make_tuple(n, h, w);
    auto it = plans.find(key);
    if (it == plans.end()) it = plans.emplace(key, make_plan(n, h, w)).first;
    last_impl = std::string("data: ") + it->second.data_pd.impl_info_str() +
                ", weights: " + it->second.weights_pd.impl_info_str();
    return it->second;
  }
};

Conv2dOnednnBackward::Conv2dOnednnBackward(int64_t c, int64_t k, DType activations)
    : impl_(std::make_unique<Impl>()) {
  VGGTL_CHECK(c > 0 && k > 0, "Conv2dOnednnBackward: ", c, " input and ", k, " output channels");
  VGGTL_CHECK(activations == DType::F32 || activations == DType::BF16,
              "Conv2dOnednnBackward: activations f32 or bf16, not ", dtype_name(activations));
  VGGTL_CHECK(activations == DType::F32 || cpu_has_bf16(), "Conv2dOnednnBackward: bf16 needs AVX512-BF16 or AMX; ",
              cpu_bf16_unsupported_reason());
  impl_->act = activations == DType::BF16 ? dt::bf16 : dt::f32;
  impl_->c = c;
  impl_->k = k;
}

Conv2dOnednnBackward::~Conv2dOnednnBackward() = default;

void Conv2dOnednnBackward::backward_data(float* dx, const float* dy, int64_t n, int64_t h, int64_t w,
                                         const float* weights) {
  VGGTL_CHECK(impl_->act == dt::f32, "Conv2dOnednnBackward: f32 gradients given to a bf16 convolution");
  backward_data_any(dx, dy, n, h, w, weights);
}

void Conv2dOnednnBackward::backward_data(bf16* dx, const bf16* dy, int64_t n, int64_t h, int64_t w,
                                         const float* weights) {
  VGGTL_CHECK(impl_->act == dt::bf16, "Conv2dOnednnBackward: bf16 gradients given to an f32 convolution");
  backward_data_any(dx, dy, n, h, w, weights);
}

void Conv2dOnednnBackward::backward_weights(float* dw, const float* x, const float* dy, int64_t n, int64_t h,
                                            int64_t w) {
  VGGTL_CHECK(impl_->act == dt::f32, "Conv2dOnednnBackward: f32 activations given to a bf16 convolution");
  backward_weights_any(dw, x, dy, n, h, w);
}

void Conv2dOnednnBackward::backward_weights(float* dw, const bf16* x, const bf16* dy, int64_t n, int64_t h,
                                            int64_t w) {
  VGGTL_CHECK(impl_->act == dt::bf16, "Conv2dOnednnBackward: bf16 activations given to an f32 convolution");
  backward_weights_any(dw, x, dy, n, h, w);
}

void Conv2dOnednnBackward::backward_data_any(void* dx, const void* dy, int64_t n, int64_t h, int64_t w,
                                             const float* weights) {
  if (n == 0 || h == 0 || w == 0) return;
  Impl& m = *impl_;
  std::lock_guard<std::mutex> lock(m.mutex);
  try {
    Impl::Plan& p = m.plan(n, h, w);
    dnnl::memory user_w(m.keras_weights(), onednn_cpu_engine(), const_cast<float*>(weights));
    p.to_weights.execute(m.stream, user_w, p.weights_copy);
    dnnl::memory diff_src(p.data_pd.diff_src_desc(), onednn_cpu_engine(), dx);
    dnnl::memory diff_dst(p.data_pd.diff_dst_desc(), onednn_cpu_engine(), const_cast<void*>(dy));
    p.data.execute(m.stream, {{DNNL_ARG_DIFF_DST, diff_dst}, {DNNL_ARG_WEIGHTS, p.weights_copy},
                              {DNNL_ARG_DIFF_SRC, diff_src}});
    m.stream.wait();
  } catch (const dnnl::error& e) {
    VGGTL_FAIL("oneDNN convolution backward-data: ", e.what(), " (status ", static_cast<int>(e.status), ")");
  }
}

void Conv2dOnednnBackward::backward_weights_any(float* dw, const void* x, const void* dy, int64_t n, int64_t h,
                                                int64_t w) {
  Impl& m = *impl_;
  if (n == 0 || h == 0 || w == 0) {
    std::fill(dw, dw + 9 * m.c * m.k, 0.f);
    return;
  }
  std::lock_guard<std::mutex> lock(m.mutex);
  try {
    Impl::Plan& p = m.plan(n, h, w);
    dnnl::memory src(p.weights_pd.src_desc(), onednn_cpu_engine(), const_cast<void*>(x));
    dnnl::memory diff_dst(p.weights_pd.diff_dst_desc(), onednn_cpu_engine(), const_cast<void*>(dy));
    p.weights.execute(m.stream, {{DNNL_ARG_SRC, src}, {DNNL_ARG_DIFF_DST, diff_dst},
                                 {DNNL_ARG_DIFF_WEIGHTS, p.diff_weights_copy}});
    dnnl::memory user_dw(m.keras_weights(), onednn_cpu_engine(), dw);
    p.from_diff_weights.execute(m.stream, p.diff_weights_copy, user_dw);
    m.stream.wait();
  } catch (const dnnl::error& e) {
    VGGTL_FAIL("oneDNN convolution backward-weights: ", e.what(), " (status ", static_cast<int>(e.status), ")");
  }
}

std::string Conv2dOnednnBackward::implementation() const {
  std::lock_guard<std::mutex> lock(impl_->mutex);
  return impl_->last_impl;
}

}  // namespace vggtl
