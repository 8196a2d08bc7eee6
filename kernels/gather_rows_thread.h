// Per-thread work of gather_rows' CUDA kernel (kernels/gather_rows.h), swept over the launch grid
// by the CPU test. Tested in tests/kernels/test_gather_rows.cpp.
#pragma once

#include "kernels/gather_rows.h"
#include "kernels/vec16.h"

namespace vggtl {

// One thread's piece: block (bx, by), thread tx. Copies nothing when out of range.
VGGTL_HD void gather_rows_piece(uint8_t* dst, const uint8_t* src, const int32_t* index, int64_t rows,
                                int64_t row_bytes, int64_t piece_bytes, int64_t pieces_per_row,
                                int64_t bx, int64_t by, int64_t tx, int64_t threads) {
  const int64_t piece = bx * threads + tx;
  if (by >= rows || piece >= pieces_per_row) return;
  const uint8_t* from = src + static_cast<int64_t>(index[by]) * row_bytes + piece * piece_bytes;
  uint8_t* to = dst + by * row_bytes + piece * piece_bytes;
  if (piece_bytes == 16) {  // one 128-bit load and store (gather_geometry checked the alignment)
    store_vec16(to, load_vec16(from));
    return;
  }
  for (int64_t b = 0; b < piece_bytes; ++b) to[b] = from[b];
}

}  // namespace vggtl
