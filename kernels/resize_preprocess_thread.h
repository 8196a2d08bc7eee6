// Per-thread work of resize_preprocess's CUDA kernels (kernels/resize_preprocess.h), the same
// functions the CPU twins call per pixel and the CPU tests sweep over the launch grid.
// Tested by tests/kernels/test_resize_preprocess.cpp.
#pragma once

#include "kernels/block_owner.h"
#include "kernels/resize_preprocess.h"

namespace vggtl {

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

}  // namespace vggtl
