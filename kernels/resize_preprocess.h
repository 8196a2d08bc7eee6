// Resize + preprocess: in (H, W, 3) uint8 RGB -> one batch row out (S_h, S_w, 3) NHWC f32 or
// bf16, by PIL NEAREST (running-sum source indices) or PIL BILINEAR (fixed-point separable
// resample, horizontal pass into uint8, then vertical), then caffe: BGR minus (103.939,
// 116.779, 123.68) in float32, or PixelTransform::None: RGB 0..255 as float (img_to_array).
// The host computes one table of indices and weights (ResizePlan) that both twins read; the
// batched variant resizes every image of a batch in one launch per pass.
#pragma once

#include <cstdint>
#include <vector>

#include "engine/dtype.h"
#include "engine/tensor.h"
#include "kernels/block_owner.h"

namespace vggtl {

enum class ResizeFilter : uint8_t { Nearest, Bilinear };
enum class PixelTransform : uint8_t { Caffe, None };

const char* resize_filter_name(ResizeFilter f);  // "nearest", "bilinear"

// Keras applications' caffe means, indexed by output channel (B, G, R).
constexpr float kCaffeMeanB = 103.939f;
constexpr float kCaffeMeanG = 116.779f;
constexpr float kCaffeMeanR = 123.68f;

// Pillow's fixed point for resampling weights (Resample.c PRECISION_BITS).
constexpr int kResamplePrecisionBits = 22;

// Sizes and table offsets (in int32 elements) of one resize; plain data for kernel arguments.
// Nearest: xmap[out_w] at off_x, ymap[out_h] at off_y. Bilinear: per output column (first
// source column, tap count) pairs at off_x and weights[out_w * ksize_x] at off_kx; per output
// row (first row of the horizontal pass output, count) at off_y, weights at off_ky. The
// horizontal pass covers source rows [ybox_first, ybox_first + tmp_rows).
struct ResizeGeometry {
  int in_h = 0, in_w = 0, out_h = 0, out_w = 0;
  ResizeFilter filter = ResizeFilter::Nearest;
  int ksize_x = 0, ksize_y = 0;
  int ybox_first = 0, tmp_rows = 0;
  int off_x = 0, off_y = 0, off_kx = 0, off_ky = 0;
};

struct ResizePlan {
  ResizeGeometry g;
  std::vector<int32_t> table;
};

// Pillow's own arithmetic in double (ImagingScaleAffine for NEAREST, precompute_coeffs and
// normalize_coeffs_8bpc for BILINEAR), so that both twins pick Pillow's pixels.
ResizePlan make_resize_plan(int in_h, int in_w, int out_h, int out_w, ResizeFilter filter);

// Bytes of the horizontal-pass scratch the CUDA twin needs (0 for nearest).
size_t resize_tmp_bytes(const ResizeGeometry& g);

// ---- per-pixel work shared by the twins (the CUDA kernels call these per thread) ----

template <typename T>
VGGTL_HD void store_value(T* p, float v);
template <>
VGGTL_HD void store_value<float>(float* p, float v) { *p = v; }
template <>
VGGTL_HD void store_value<bf16>(bf16* p, float v) { *p = float_to_bf16(v); }

// Writes one output pixel from its source R, G, B.
template <typename OutT>
VGGTL_HD void store_pixel(OutT* o, int r, int g, int b, PixelTransform t) {
  if (t == PixelTransform::Caffe) {
    store_value(o + 0, static_cast<float>(b) - kCaffeMeanB);
    store_value(o + 1, static_cast<float>(g) - kCaffeMeanG);
    store_value(o + 2, static_cast<float>(r) - kCaffeMeanR);
  } else {
    store_value(o + 0, static_cast<float>(r));
    store_value(o + 1, static_cast<float>(g));
    store_value(o + 2, static_cast<float>(b));
  }
}

// Pillow's clip8 of a fixed-point sum.
VGGTL_HD int clip8_fixed(int32_t ss) {
  const int v = ss >> kResamplePrecisionBits;
  return v < 0 ? 0 : v > 255 ? 255 : v;
}

// Thread i = block * block_dim + thread of a 1-D grid handles output pixel i (row-major).
template <typename OutT>
VGGTL_HD void resize_nearest_thread(int block, int thread, int block_dim, OutT* out, const uint8_t* in,
                                    const int32_t* table, const ResizeGeometry& g, PixelTransform t) {
  const int64_t i = static_cast<int64_t>(block) * block_dim + thread;
  if (i >= static_cast<int64_t>(g.out_h) * g.out_w) return;
  const int y = static_cast<int>(i / g.out_w), x = static_cast<int>(i % g.out_w);
  const uint8_t* s = in + (static_cast<int64_t>(table[g.off_y + y]) * g.in_w + table[g.off_x + x]) * 3;
  store_pixel(out + i * 3, s[0], s[1], s[2], t);
}

// Horizontal pass: thread i handles pixel i of tmp (tmp_rows, out_w, 3) uint8.
VGGTL_HD void resample_horizontal_thread(int block, int thread, int block_dim, uint8_t* tmp, const uint8_t* in,
                                         const int32_t* table, const ResizeGeometry& g) {
  const int64_t i = static_cast<int64_t>(block) * block_dim + thread;
  if (i >= static_cast<int64_t>(g.tmp_rows) * g.out_w) return;
  const int y = static_cast<int>(i / g.out_w), x = static_cast<int>(i % g.out_w);
  const int first = table[g.off_x + 2 * x], count = table[g.off_x + 2 * x + 1];
  const int32_t* k = table + g.off_kx + static_cast<int64_t>(x) * g.ksize_x;
  const uint8_t* row = in + (static_cast<int64_t>(y) + g.ybox_first) * g.in_w * 3;
  int32_t s0 = 1 << (kResamplePrecisionBits - 1), s1 = s0, s2 = s0;
  for (int j = 0; j < count; ++j) {
    const uint8_t* p = row + (first + j) * 3;
    s0 += p[0] * k[j];
    s1 += p[1] * k[j];
    s2 += p[2] * k[j];
  }
  uint8_t* o = tmp + i * 3;
  o[0] = static_cast<uint8_t>(clip8_fixed(s0));
  o[1] = static_cast<uint8_t>(clip8_fixed(s1));
  o[2] = static_cast<uint8_t>(clip8_fixed(s2));
}

// Vertical pass + preprocessing: thread i handles output pixel i.
template <typename OutT>
VGGTL_HD void resample_vertical_thread(int block, int thread, int block_dim, OutT* out, const uint8_t* tmp,
                                       const int32_t* table, const ResizeGeometry& g, PixelTransform t) {
  const int64_t i = static_cast<int64_t>(block) * block_dim + thread;
  if (i >= static_cast<int64_t>(g.out_h) * g.out_w) return;
  const int y = static_cast<int>(i / g.out_w), x = static_cast<int>(i % g.out_w);
  const int first = table[g.off_y + 2 * y], count = table[g.off_y + 2 * y + 1];
  const int32_t* k = table + g.off_ky + static_cast<int64_t>(y) * g.ksize_y;
  int32_t s0 = 1 << (kResamplePrecisionBits - 1), s1 = s0, s2 = s0;
  for (int j = 0; j < count; ++j) {
    const uint8_t* p = tmp + ((static_cast<int64_t>(first) + j) * g.out_w + x) * 3;
    s0 += p[0] * k[j];
    s1 += p[1] * k[j];
    s2 += p[2] * k[j];
  }
  store_pixel(out + i * 3, clip8_fixed(s0), clip8_fixed(s1), clip8_fixed(s2), t);
}

// ---- the twins: out (out_h, out_w, 3), in (in_h, in_w, 3), table = plan.table ----

// CPU specification: Pillow's loops, pass by pass.
void resize_preprocess_cpu(float* out, const uint8_t* in, const int32_t* table, const ResizeGeometry& g,
                           PixelTransform t);
void resize_preprocess_cpu(bf16* out, const uint8_t* in, const int32_t* table, const ResizeGeometry& g,
                           PixelTransform t);
// All pointers on the device; tmp holds resize_tmp_bytes(g) bytes (unused for nearest).
void resize_preprocess_cuda(float* out, uint8_t* tmp, const uint8_t* in, const int32_t* table,
                            const ResizeGeometry& g, PixelTransform t, Stream stream);
void resize_preprocess_cuda(bf16* out, uint8_t* tmp, const uint8_t* in, const int32_t* table,
                            const ResizeGeometry& g, PixelTransform t, Stream stream);

// ---- batched: every image of a batch in one launch per pass ----
// Images of any sizes (and filters) into rows of one output; each item says where its source,
// its table, its output row and its slice of the horizontal-pass scratch lie. The 1-D grid of a
// pass is the images' thread blocks one after the other (first_cta, like jpeg_color_plan), so
// a thread finds its image by binary search and runs the per-image per-thread function above.

constexpr int kResizeBatchThreads = 256;

struct ResizeBatchItem {
  ResizeGeometry g;           // its plan's geometry; table offsets relative to table_offset
  int64_t in_offset = 0;      // bytes into `in` to pixel (0,0) of its (in_h, in_w, 3) source
  int64_t out_offset = 0;     // elements into `out` to its (out_h, out_w, 3) row
  int64_t table_offset = 0;   // int32 elements into `table` where its plan's table starts
  int64_t tmp_offset = 0;     // bytes into `tmp` of its (tmp_rows, out_w, 3) intermediate
  int64_t first_cta = 0;      // first thread block of the output pass (resize_batch_plan)
  int64_t first_tmp_cta = 0;  // first thread block of the horizontal pass (bilinear only)
};

struct ResizeBatchGrid {
  int64_t out_ctas = 0;   // output pass: nearest, or bilinear's vertical pass
  int64_t tmp_ctas = 0;   // bilinear's horizontal pass (0 when every item is nearest)
  int64_t tmp_bytes = 0;  // scratch the CUDA twin needs
};

// Assigns every item its thread blocks and scratch slice (items in any order); the grid sizes.
ResizeBatchGrid resize_batch_plan(ResizeBatchItem* items, int n);

// Index of the last item whose first block (of the output pass, or of the horizontal pass when
// `tmp_pass`) is <= cta. Items without blocks in that pass share their successor's first block
// and are never the last such item, except at the end, where no block reaches them.
VGGTL_HD int resize_batch_find(const ResizeBatchItem* items, int n, int64_t cta, bool tmp_pass) {
  return find_block_owner(
      n, cta, [=](int i) { return tmp_pass ? items[i].first_tmp_cta : items[i].first_cta; });
}

// Output pass, thread `thread` of block `cta`: one pixel of one item (nearest, or bilinear's
// vertical pass reading the item's slice of tmp).
template <typename OutT>
VGGTL_HD void resize_batch_output_thread(int64_t cta, int thread, OutT* out, const uint8_t* tmp,
                                         const uint8_t* in, const int32_t* table,
                                         const ResizeBatchItem* items, int n, PixelTransform t) {
  const ResizeBatchItem& it = items[resize_batch_find(items, n, cta, false)];
  const int block = static_cast<int>(cta - it.first_cta);
  if (it.g.filter == ResizeFilter::Nearest)
    resize_nearest_thread(block, thread, kResizeBatchThreads, out + it.out_offset, in + it.in_offset,
                          table + it.table_offset, it.g, t);
  else
    resample_vertical_thread(block, thread, kResizeBatchThreads, out + it.out_offset, tmp + it.tmp_offset,
                             table + it.table_offset, it.g, t);
}

// Horizontal pass of the bilinear items: one pixel of one item's intermediate.
VGGTL_HD void resize_batch_horizontal_thread(int64_t cta, int thread, uint8_t* tmp, const uint8_t* in,
                                             const int32_t* table, const ResizeBatchItem* items, int n) {
  const ResizeBatchItem& it = items[resize_batch_find(items, n, cta, true)];
  if (it.g.filter != ResizeFilter::Bilinear) return;
  resample_horizontal_thread(static_cast<int>(cta - it.first_tmp_cta), thread, kResizeBatchThreads,
                             tmp + it.tmp_offset, in + it.in_offset, table + it.table_offset, it.g);
}

// CPU twin: resize_preprocess_cpu on each item in turn (items in host memory).
void resize_preprocess_batch_cpu(float* out, const uint8_t* in, const int32_t* table,
                                 const ResizeBatchItem* items, int n, PixelTransform t);
void resize_preprocess_batch_cpu(bf16* out, const uint8_t* in, const int32_t* table,
                                 const ResizeBatchItem* items, int n, PixelTransform t);
// items and table in device memory holding what resize_batch_plan produced; grid is its result;
// tmp holds grid.tmp_bytes bytes (may be null when that is 0).
void resize_preprocess_batch_cuda(float* out, uint8_t* tmp, const uint8_t* in, const int32_t* table,
                                  const ResizeBatchItem* items, int n, const ResizeBatchGrid& grid,
                                  PixelTransform t, Stream stream);
void resize_preprocess_batch_cuda(bf16* out, uint8_t* tmp, const uint8_t* in, const int32_t* table,
                                  const ResizeBatchItem* items, int n, const ResizeBatchGrid& grid,
                                  PixelTransform t, Stream stream);
// Dispatch: out is F32 or BF16 (out_dtype); every pointer lives on `device`; tmp, grid and
// stream matter for CUDA only.
void resize_preprocess_batch(Device device, DType out_dtype, void* out, uint8_t* tmp, const uint8_t* in,
                             const int32_t* table, const ResizeBatchItem* items, int n,
                             const ResizeBatchGrid& grid, PixelTransform t, Stream stream);

// Tensor level: out (out_h, out_w, 3) F32 or BF16 (e.g. batch.slice(r, r + 1)), in (in_h, in_w,
// 3) U8, both on the same device; the twin is chosen by that device. The CUDA path copies the
// table to the device and queues work on the device's main stream.
void resize_preprocess(Tensor& out, const Tensor& in, const ResizePlan& plan, PixelTransform t);

}  // namespace vggtl
