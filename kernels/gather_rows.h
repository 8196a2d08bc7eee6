// Row gather: dst row i = src row index[i], rows of `row_bytes` bytes (any dtype). Builds the
// training batches out of the feature cache in the epoch's shuffled order.
// The per-thread work (one 16-byte or 1-byte piece) is gather_rows_piece, swept on the CPU in
// tests/kernels/test_gather_rows.cpp; the GPU twin is compared there too.
#pragma once

#include <cstdint>

#include "engine/dtype.h"
#include "engine/tensor.h"

namespace vggtl {

// Launch geometry shared by the CUDA kernel and its CPU sweep: blockDim.x threads per block,
// grid (ceil(pieces_per_row / threads), rows).
struct GatherGeometry {
  int64_t piece_bytes;     // 16 when rows and pointers are 16-byte aligned, else 1
  int64_t pieces_per_row;
  int threads;
};
GatherGeometry gather_geometry(const void* dst, const void* src, int64_t row_bytes);

void gather_rows_cpu(void* dst, const void* src, const int32_t* index, int64_t rows, int64_t row_bytes);
// index must be in device memory.
void gather_rows_cuda(void* dst, const void* src, const int32_t* index, int64_t rows, int64_t row_bytes,
                      Stream stream);

// dst (n, ...) = src[index[i]] with index an I32 tensor on the same device; every index must
// be in [0, src.dim(0)) (checked on the host when the index lives on the host).
void gather_rows(Tensor& dst, const Tensor& src, const Tensor& index);

}  // namespace vggtl
