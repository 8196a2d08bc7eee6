// The shape shared by the per-column kernels of a row-major (rows, cols) matrix (bias add and
// gradient, batch norm): how a launch strides rows over grid.y, and the fixed-order column
// reduction. The CUDA launches and the CPU sweeps that check them both take it from here; the
// block programs built on it (kernels/block_phases.h) are in bias.h and batchnorm.h.
#pragma once

#include <algorithm>
#include <cstdint>

#include "engine/dtype.h"
#include "engine/error.h"

namespace vggtl {

// Row-strided launch: one thread per column in blocks of `threads`; grid.y row blocks, enough to
// fill the GPU (about 4096 blocks in all) but at least one (per-column work such as saved
// statistics is done even for zero rows) and at most 65535 (the grid.y limit); each thread
// strides over the rows by grid.y.
struct RowStridedGrid {
  int64_t x;
  int64_t y;
};
inline RowStridedGrid row_strided_grid(int64_t rows, int64_t cols, int threads, const char* who) {
  const int64_t x = (cols + threads - 1) / threads;
  VGGTL_CHECK(x < (int64_t{1} << 31), who, ": ", cols, " columns is too many");
  const int64_t fill = std::max<int64_t>(1, 4096 / std::max<int64_t>(x, 1));
  const int64_t y = std::max<int64_t>(1, std::min<int64_t>({rows, fill, 65535}));
  return {x, y};
}

// Column reduction: block (kColumnTileX, kColumnTileY), one block per kColumnTileX columns;
// thread (tx, ty) sums rows ty, ty + kColumnTileY, ... of its column, and the kColumnTileY
// partials are then added in order 0, 1, ...: no atomics, the same bits on every run.
constexpr int kColumnTileX = 32;
constexpr int kColumnTileY = 8;

inline int64_t column_tile_blocks(int64_t cols, const char* who) {
  const int64_t blocks = (cols + kColumnTileX - 1) / kColumnTileX;
  VGGTL_CHECK(blocks < (int64_t{1} << 31), who, ": ", cols, " columns is too many");
  return blocks;
}

VGGTL_HD double column_partial_sum(const float* m, int64_t rows, int64_t cols, int64_t col,
                                   int ty) {
  double s = 0;
  for (int64_t r = ty; r < rows; r += kColumnTileY) s += static_cast<double>(m[r * cols + col]);
  return s;
}

// A block's shared memory for one reduction: partial[ty][tx] is thread (tx, ty)'s sum.
struct ColumnPartials {
  double partial[kColumnTileY][kColumnTileX];
};

// Column tx's kColumnTileY partial sums, added in order 0, 1, ...
VGGTL_HD double column_total(const ColumnPartials& p, int tx) {
  double s = 0;
  for (int j = 0; j < kColumnTileY; ++j) s += p.partial[j][tx];
  return s;
}

}  // namespace vggtl
