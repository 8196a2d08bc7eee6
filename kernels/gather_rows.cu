// CUDA twin of the row gather: one thread per 16-byte piece (128-bit loads) when aligned.
#include "engine/cuda_check.h"
#include "kernels/gather_rows.h"
#include "kernels/gather_rows_thread.h"

namespace vggtl {

__global__ void gather_rows_kernel(uint8_t* dst, const uint8_t* src, const int32_t* index, int64_t rows,
                                   int64_t row_bytes, int64_t piece_bytes, int64_t pieces_per_row) {
  gather_rows_piece(dst, src, index, rows, row_bytes, piece_bytes, pieces_per_row, blockIdx.x, blockIdx.y,
                    threadIdx.x, blockDim.x);
}

void gather_rows_cuda(void* dst, const void* src, const int32_t* index, int64_t rows, int64_t row_bytes,
                      Stream stream) {
  if (rows == 0 || row_bytes == 0) return;
  VGGTL_CHECK(rows <= 65535, "gather_rows: ", rows, " rows exceed one launch (65535)");
  const GatherGeometry g = gather_geometry(dst, src, row_bytes);
  const dim3 grid(static_cast<unsigned>(ceil_div<int64_t>(g.pieces_per_row, g.threads)), static_cast<unsigned>(rows));
  gather_rows_kernel<<<grid, g.threads, 0, stream>>>(static_cast<uint8_t*>(dst), static_cast<const uint8_t*>(src),
                                                    index, rows, row_bytes, g.piece_bytes, g.pieces_per_row);
  KERNEL_CHECK();
}

}  // namespace vggtl
