// Resize + preprocess: the plan (Pillow's index and weight arithmetic), the CPU twin, and the
// tensor-level dispatch. Tests: tests/kernels/test_resize_preprocess.cpp; Pillow itself is the
// reference in scripts/check_pixels_against_pil.py.
#include <algorithm>
#include <cmath>

#include "engine/context.h"
#include "engine/error.h"
#include "kernels/resize_preprocess.h"
#include "kernels/resize_preprocess_thread.h"

namespace vggtl {

const char* resize_filter_name(ResizeFilter f) { return f == ResizeFilter::Nearest ? "nearest" : "bilinear"; }

namespace {

// Pillow Geometry.c ImagingScaleAffine: a running sum in double, never (x + 0.5) * scale,
// which lands on the other side of an integer for some sizes.
void nearest_axis(int in_size, int out_size, int32_t* map) {
  const double scale = static_cast<double>(static_cast<float>(in_size)) / out_size;
  double pos = 0.5 * scale;
  for (int o = 0; o < out_size; ++o) {
    int src = pos < 0.0 ? -1 : static_cast<int>(pos);
    // Pillow leaves a pixel unwritten if the sum ever left the image; it cannot for in/out
    // sizes below 2^24, so clamping only guards the table against misuse.
    map[o] = src < 0 ? 0 : src >= in_size ? in_size - 1 : src;
    pos += scale;
  }
}

double bilinear_filter(double x) {
  if (x < 0.0) x = -x;
  return x < 1.0 ? 1.0 - x : 0.0;
}

// Pillow Resample.c precompute_coeffs (support 1.0 for BILINEAR, box = whole image) followed by
// normalize_coeffs_8bpc. bounds: (first, count) per output; weights: ksize per output.
int bilinear_axis(int in_size, int out_size, std::vector<int32_t>* bounds, std::vector<int32_t>* weights) {
  const float in0 = 0.0f, in1 = static_cast<float>(in_size);
  const double scale = static_cast<double>(in1 - in0) / out_size;
  const double filterscale = scale < 1.0 ? 1.0 : scale;
  const double support = 1.0 * filterscale;
  const int ksize = static_cast<int>(std::ceil(support)) * 2 + 1;
  bounds->assign(2 * static_cast<size_t>(out_size), 0);
  weights->assign(static_cast<size_t>(out_size) * ksize, 0);
  std::vector<double> k(ksize);
  for (int xx = 0; xx < out_size; ++xx) {
    const double center = in0 + (xx + 0.5) * scale;
    const double ss = 1.0 / filterscale;
    int xmin = static_cast<int>(center - support + 0.5);
    if (xmin < 0) xmin = 0;
    int xmax = static_cast<int>(center + support + 0.5);
    if (xmax > in_size) xmax = in_size;
    xmax -= xmin;
    double ww = 0.0;
    for (int x = 0; x < xmax; ++x) {
      const double w = bilinear_filter((x + xmin - center + 0.5) * ss);
      k[x] = w;
      ww += w;
    }
    for (int x = 0; x < xmax; ++x)
      if (ww != 0.0) k[x] /= ww;
    for (int x = 0; x < xmax; ++x) {
      const double f = k[x] * (1 << kResamplePrecisionBits);
      (*weights)[static_cast<size_t>(xx) * ksize + x] = static_cast<int32_t>(k[x] < 0 ? -0.5 + f : 0.5 + f);
    }
    (*bounds)[2 * xx] = xmin;
    (*bounds)[2 * xx + 1] = xmax;
  }
  return ksize;
}

template <typename OutT>
void resize_preprocess_cpu_impl(OutT* out, const uint8_t* in, const int32_t* table, const ResizeGeometry& g,
                                PixelTransform t) {
  if (g.filter == ResizeFilter::Nearest) {
    for (int y = 0; y < g.out_h; ++y) {
      const uint8_t* row = in + static_cast<int64_t>(table[g.off_y + y]) * g.in_w * 3;
      OutT* o = out + static_cast<int64_t>(y) * g.out_w * 3;
      for (int x = 0; x < g.out_w; ++x, o += 3) {
        const uint8_t* s = row + table[g.off_x + x] * 3;
        store_pixel(o, s[0], s[1], s[2], t);
      }
    }
    return;
  }
  // Horizontal pass over the source rows the vertical pass reads, clipped to uint8 as Pillow
  // stores its intermediate image; then the vertical pass.
  thread_local std::vector<uint8_t> tmp;
  tmp.resize(static_cast<size_t>(g.tmp_rows) * g.out_w * 3);
  const int32_t half = 1 << (kResamplePrecisionBits - 1);
  for (int yy = 0; yy < g.tmp_rows; ++yy) {
    const uint8_t* row = in + (static_cast<int64_t>(yy) + g.ybox_first) * g.in_w * 3;
    uint8_t* o = tmp.data() + static_cast<size_t>(yy) * g.out_w * 3;
    for (int xx = 0; xx < g.out_w; ++xx, o += 3) {
      const int first = table[g.off_x + 2 * xx], count = table[g.off_x + 2 * xx + 1];
      const int32_t* k = table + g.off_kx + static_cast<int64_t>(xx) * g.ksize_x;
      int32_t s0 = half, s1 = half, s2 = half;
      for (int x = 0; x < count; ++x) {
        const uint8_t* p = row + (first + x) * 3;
        s0 += p[0] * k[x];
        s1 += p[1] * k[x];
        s2 += p[2] * k[x];
      }
      o[0] = static_cast<uint8_t>(clip8_fixed(s0));
      o[1] = static_cast<uint8_t>(clip8_fixed(s1));
      o[2] = static_cast<uint8_t>(clip8_fixed(s2));
    }
  }
  // Vertical pass, a whole output row at a time (the same integer sums, in an order that
  // reads tmp row by row).
  thread_local std::vector<int32_t> acc;
  acc.resize(static_cast<size_t>(g.out_w) * 3);
  for (int yy = 0; yy < g.out_h; ++yy) {
    const int first = table[g.off_y + 2 * yy], count = table[g.off_y + 2 * yy + 1];
    const int32_t* k = table + g.off_ky + static_cast<int64_t>(yy) * g.ksize_y;
    std::fill(acc.begin(), acc.end(), half);
    for (int y = 0; y < count; ++y) {
      const uint8_t* p = tmp.data() + static_cast<size_t>(first + y) * g.out_w * 3;
      const int32_t w = k[y];
      for (size_t i = 0; i < acc.size(); ++i) acc[i] += p[i] * w;
    }
    OutT* o = out + static_cast<int64_t>(yy) * g.out_w * 3;
    for (int xx = 0; xx < g.out_w; ++xx, o += 3)
      store_pixel(o, clip8_fixed(acc[3 * xx]), clip8_fixed(acc[3 * xx + 1]), clip8_fixed(acc[3 * xx + 2]), t);
  }
}

}  // namespace

ResizePlan make_resize_plan(int in_h, int in_w, int out_h, int out_w, ResizeFilter filter) {
  VGGTL_CHECK(in_h > 0 && in_w > 0 && out_h > 0 && out_w > 0, "resize: bad sizes ", in_h, "x", in_w, " -> ",
              out_h, "x", out_w);
  VGGTL_CHECK(in_h < (1 << 24) && in_w < (1 << 24), "resize: source side above 2^24");
  ResizePlan plan;
  ResizeGeometry& g = plan.g;
  g.in_h = in_h, g.in_w = in_w, g.out_h = out_h, g.out_w = out_w, g.filter = filter;
  std::vector<int32_t>& t = plan.table;
  if (filter == ResizeFilter::Nearest) {
    g.off_x = 0;
    g.off_y = out_w;
    t.resize(static_cast<size_t>(out_w) + out_h);
    nearest_axis(in_w, out_w, t.data() + g.off_x);
    nearest_axis(in_h, out_h, t.data() + g.off_y);
    return plan;
  }
  std::vector<int32_t> bx, kx, by, ky;
  g.ksize_x = bilinear_axis(in_w, out_w, &bx, &kx);
  g.ksize_y = bilinear_axis(in_h, out_h, &by, &ky);
  // The horizontal pass produces only the source rows the vertical pass reads.
  g.ybox_first = by[0];
  g.tmp_rows = by[2 * (out_h - 1)] + by[2 * (out_h - 1) + 1] - g.ybox_first;
  for (int y = 0; y < out_h; ++y) by[2 * y] -= g.ybox_first;
  g.off_x = 0;
  g.off_kx = static_cast<int>(bx.size());
  g.off_y = g.off_kx + static_cast<int>(kx.size());
  g.off_ky = g.off_y + static_cast<int>(by.size());
  t.reserve(bx.size() + kx.size() + by.size() + ky.size());
  for (const auto* part : {&bx, &kx, &by, &ky}) t.insert(t.end(), part->begin(), part->end());
  return plan;
}

size_t resize_tmp_bytes(const ResizeGeometry& g) {
  return g.filter == ResizeFilter::Nearest ? 0 : static_cast<size_t>(g.tmp_rows) * g.out_w * 3;
}

void resize_preprocess_cpu(float* out, const uint8_t* in, const int32_t* table, const ResizeGeometry& g,
                           PixelTransform t) {
  resize_preprocess_cpu_impl(out, in, table, g, t);
}

void resize_preprocess_cpu(bf16* out, const uint8_t* in, const int32_t* table, const ResizeGeometry& g,
                           PixelTransform t) {
  resize_preprocess_cpu_impl(out, in, table, g, t);
}

ResizeBatchGrid resize_batch_plan(ResizeBatchItem* items, int n) {
  VGGTL_CHECK(n >= 0 && (n == 0 || items), "resize_batch_plan: ", n, " items");
  ResizeBatchGrid grid;
  for (int i = 0; i < n; ++i) {
    ResizeBatchItem& it = items[i];
    const ResizeGeometry& g = it.g;
    VGGTL_CHECK(g.in_h > 0 && g.in_w > 0 && g.out_h > 0 && g.out_w > 0, "resize_batch_plan: item ", i,
                " has an empty size ", g.in_h, "x", g.in_w, " -> ", g.out_h, "x", g.out_w);
    it.first_cta = grid.out_ctas;
    grid.out_ctas += (int64_t{g.out_h} * g.out_w + kResizeBatchThreads - 1) / kResizeBatchThreads;
    it.first_tmp_cta = grid.tmp_ctas;
    it.tmp_offset = grid.tmp_bytes;
    if (g.filter == ResizeFilter::Bilinear) {
      grid.tmp_ctas += (int64_t{g.tmp_rows} * g.out_w + kResizeBatchThreads - 1) / kResizeBatchThreads;
      grid.tmp_bytes += static_cast<int64_t>(resize_tmp_bytes(g));
    }
  }
  return grid;
}

namespace {

template <typename OutT>
void resize_preprocess_batch_cpu_impl(OutT* out, const uint8_t* in, const int32_t* table,
                                      const ResizeBatchItem* items, int n, PixelTransform t) {
  for (int i = 0; i < n; ++i)
    resize_preprocess_cpu(out + items[i].out_offset, in + items[i].in_offset, table + items[i].table_offset,
                          items[i].g, t);
}

}  // namespace

void resize_preprocess_batch_cpu(float* out, const uint8_t* in, const int32_t* table,
                                 const ResizeBatchItem* items, int n, PixelTransform t) {
  resize_preprocess_batch_cpu_impl(out, in, table, items, n, t);
}

void resize_preprocess_batch_cpu(bf16* out, const uint8_t* in, const int32_t* table,
                                 const ResizeBatchItem* items, int n, PixelTransform t) {
  resize_preprocess_batch_cpu_impl(out, in, table, items, n, t);
}

void resize_preprocess_batch(Device device, DType out_dtype, void* out, uint8_t* tmp, const uint8_t* in,
                             const int32_t* table, const ResizeBatchItem* items, int n,
                             const ResizeBatchGrid& grid, PixelTransform t, Stream stream) {
  VGGTL_CHECK(out_dtype == DType::F32 || out_dtype == DType::BF16, "resize_preprocess_batch: output must be f32 or bf16");
  if (n == 0) return;
  if (device.is_cuda()) {
    if (out_dtype == DType::F32)
      resize_preprocess_batch_cuda(static_cast<float*>(out), tmp, in, table, items, n, grid, t, stream);
    else
      resize_preprocess_batch_cuda(static_cast<bf16*>(out), tmp, in, table, items, n, grid, t, stream);
    return;
  }
  if (out_dtype == DType::F32)
    resize_preprocess_batch_cpu(static_cast<float*>(out), in, table, items, n, t);
  else
    resize_preprocess_batch_cpu(static_cast<bf16*>(out), in, table, items, n, t);
}

void resize_preprocess(Tensor& out, const Tensor& in, const ResizePlan& plan, PixelTransform t) {
  const ResizeGeometry& g = plan.g;
  VGGTL_CHECK(in.dtype() == DType::U8 && in.numel() == static_cast<int64_t>(g.in_h) * g.in_w * 3,
              "resize_preprocess: input ", in.str(), " is not a ", g.in_h, "x", g.in_w, "x3 u8 image");
  VGGTL_CHECK(out.numel() == static_cast<int64_t>(g.out_h) * g.out_w * 3, "resize_preprocess: output ",
              out.str(), " is not ", g.out_h, "x", g.out_w, "x3");
  VGGTL_CHECK(out.dtype() == DType::F32 || out.dtype() == DType::BF16, "resize_preprocess: output must be f32 or bf16");
  VGGTL_CHECK(out.device() == in.device(), "resize_preprocess: input and output on different devices");
  if (out.is_cuda()) {
    Context& ctx = Context::get(out.device());
    // Stream-ordered: the table is freed onto the stream the kernels run on, and a copy from
    // pageable memory has left the host vector by the time cudaMemcpyAsync returns.
    Tensor table = to_device(Tensor::wrap(const_cast<int32_t*>(plan.table.data()),
                                          Shape{static_cast<int64_t>(plan.table.size())}, DType::I32),
                             out.device(), ctx.stream());
    uint8_t* tmp = static_cast<uint8_t*>(ctx.workspace(resize_tmp_bytes(g)));
    const int32_t* tp = table.data<int32_t>();
    if (out.dtype() == DType::F32)
      resize_preprocess_cuda(out.data<float>(), tmp, in.data<uint8_t>(), tp, g, t, ctx.stream());
    else
      resize_preprocess_cuda(out.data<bf16>(), tmp, in.data<uint8_t>(), tp, g, t, ctx.stream());
    return;
  }
  if (out.dtype() == DType::F32)
    resize_preprocess_cpu(out.data<float>(), in.data<uint8_t>(), plan.table.data(), g, t);
  else
    resize_preprocess_cpu(out.data<bf16>(), in.data<uint8_t>(), plan.table.data(), g, t);
}

}  // namespace vggtl
