// oneDNN max-pooling of bf16 NHWC activations (the CPU's bf16 base): 2x2, stride 2, 'valid', the
// batch in one call on all threads; primitives made once per shape and kept. Checked bit for bit
// against maxpool2d_forward_cpu<bf16> (a max is exact) in tests/kernels/test_maxpool2d.cpp.
#include <dnnl.hpp>

#include <map>
#include <mutex>
#include <tuple>

#include "engine/error.h"
#include "kernels/maxpool2d.h"
#include "kernels/onednn.h"

namespace vggtl {

namespace {

struct PoolPlans {
  std::mutex mutex;
  std::map<std::tuple<int64_t, int64_t, int64_t, int64_t>, dnnl::pooling_forward> prims;
  std::string last_impl;
};

PoolPlans& pool_plans() {
  static PoolPlans p;
  return p;
}

}  // namespace

void maxpool2d_forward_onednn(bf16* y, const bf16* x, int64_t n, int64_t h, int64_t w, int64_t c) {
  VGGTL_CHECK(h >= 2 && w >= 2, "maxpool2d (oneDNN): ", h, "x", w, " images");
  if (n == 0 || c == 0) return;
  using mdt = dnnl::memory::data_type;
  using mtag = dnnl::memory::format_tag;
  const dnnl::engine& e = onednn_cpu_engine();
  // The odd last row and column: oneDNN's output size (h - 2) / 2 + 1 with no padding is h / 2.
  const dnnl::memory::desc src({n, c, h, w}, mdt::bf16, mtag::nhwc);
  const dnnl::memory::desc dst({n, c, h / 2, w / 2}, mdt::bf16, mtag::nhwc);
  dnnl::pooling_forward prim;
  {
    PoolPlans& plans = pool_plans();
    std::lock_guard<std::mutex> lock(plans.mutex);
    const auto key = std::make_tuple(n, h, w, c);
    auto it = plans.prims.find(key);
    try {
      if (it == plans.prims.end()) {
        const dnnl::pooling_forward::primitive_desc pd(
            dnnl::pooling_forward::desc(dnnl::prop_kind::forward_inference, dnnl::algorithm::pooling_max, src, dst,
                                        {2, 2}, {2, 2}, {0, 0}, {0, 0}),
            e);
        plans.last_impl = pd.impl_info_str();
        it = plans.prims.emplace(key, dnnl::pooling_forward(pd)).first;
      }
    } catch (const dnnl::error& err) {
      VGGTL_FAIL("oneDNN max-pooling: ", err.what(), " (status ", static_cast<int>(err.status), ")");
    }
    prim = it->second;
  }
  try {
    dnnl::stream s(e);
    dnnl::memory xm(src, e, const_cast<bf16*>(x));
    dnnl::memory ym(dst, e, y);
    prim.execute(s, {{DNNL_ARG_SRC, xm}, {DNNL_ARG_DST, ym}});
    s.wait();
  } catch (const dnnl::error& err) {
    VGGTL_FAIL("oneDNN max-pooling: ", err.what(), " (status ", static_cast<int>(err.status), ")");
  }
}

std::string maxpool2d_onednn_implementation() {
  PoolPlans& plans = pool_plans();
  std::lock_guard<std::mutex> lock(plans.mutex);
  return plans.last_impl;
}

}  // namespace vggtl
