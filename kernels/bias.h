// Bias over the rows of a row-major (rows, cols) matrix: y = x + b broadcast over rows, then
// ReLU (y = max(v, 0), NaN kept) when asked; y may alias x. Gradient: db = column sums of dy,
// reduced in a fixed order on every device. Tested in tests/kernels/test_bias.cpp.
#pragma once

#include <cstdint>

#include "engine/dtype.h"
#include "engine/tensor.h"
#include "kernels/columns.h"

namespace vggtl {

template <typename T>
void bias_add_cpu(T* y, const T* x, const T* b, int64_t rows, int64_t cols, bool relu);
template <typename T>
void bias_grad_cpu(T* db, const T* dy, int64_t rows, int64_t cols);

void bias_add_cuda(float* y, const float* x, const float* b, int64_t rows, int64_t cols, bool relu,
                   Stream stream);
void bias_grad_cuda(float* db, const float* dy, int64_t rows, int64_t cols, Stream stream);

// Tensor level: x, y (rows, ...) and b (cols) or db (cols), F32 on any device or F64 on the CPU.
void bias_add(Tensor& y, const Tensor& x, const Tensor& b, bool relu);
void bias_grad(Tensor& db, const Tensor& dy);

// CUDA launch geometry and per-thread work, also swept over the whole grid by the CPU test.
// bias_add: block (kBiasThreads), grid row_strided_grid(rows, cols, kBiasThreads); each
// thread owns one column and strides over rows.
constexpr int kBiasThreads = 256;
VGGTL_HD void bias_add_thread(float* y, const float* x, const float* b, int64_t rows, int64_t cols,
                              bool relu, int64_t block_x, int64_t block_y, int64_t grid_y,
                              int thread) {
  const int64_t col = block_x * kBiasThreads + thread;
  if (col >= cols) return;
  const float bias = b[col];
  for (int64_t r = block_y; r < rows; r += grid_y) {
    const float v = x[r * cols + col] + bias;
    y[r * cols + col] = (relu && v < 0.f) ? 0.f : v;
  }
}

// bias_grad: the column reduction of kernels/columns.h as a block program (kernels/block_phases.h),
// grid column_tile_blocks(cols). Phase 0: thread (tx, ty) sums rows ty, ty + kColumnTileY, ... of
// its column into shared memory; phase 1: thread ty = 0 adds the column's partials in order.
struct BiasGradBlock {
  static constexpr int kThreadsX = kColumnTileX;
  static constexpr int kThreadsY = kColumnTileY;
  static constexpr int kPhases = 2;
  using Shared = ColumnPartials;

  float* db;
  const float* dy;
  int64_t rows;
  int64_t cols;

  VGGTL_HD void operator()(Shared& s, int phase, int64_t block, int tx, int ty) const {
    const int64_t col = block * kColumnTileX + tx;
    if (phase == 0)
      s.partial[ty][tx] = col < cols ? column_partial_sum(dy, rows, cols, col, ty) : 0.0;
    else if (ty == 0 && col < cols)
      db[col] = static_cast<float>(column_total(s, tx));
  }
};

}  // namespace vggtl
