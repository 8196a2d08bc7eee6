// Per-thread work of the bias CUDA kernels (kernels/bias.h): bias_add's threads and bias_grad's
// block program, swept over the whole grid by the CPU test. Tested in tests/kernels/test_bias.cpp.
#pragma once

#include "kernels/bias.h"
#include "kernels/columns.h"

namespace vggtl {

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
