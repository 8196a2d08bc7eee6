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
