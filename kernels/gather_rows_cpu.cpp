// CPU twin of the row gather, and the device dispatch.
#include <cstring>

#include "engine/context.h"
#include "kernels/gather_rows.h"

namespace vggtl {

GatherGeometry gather_geometry(const void* dst, const void* src, int64_t row_bytes) {
  const bool aligned = row_bytes % 16 == 0 && reinterpret_cast<uintptr_t>(dst) % 16 == 0 &&
                       reinterpret_cast<uintptr_t>(src) % 16 == 0;
  GatherGeometry g;
  g.piece_bytes = aligned ? 16 : 1;
  g.pieces_per_row = row_bytes / g.piece_bytes;
  g.threads = 256;
  return g;
}

void gather_rows_cpu(void* dst, const void* src, const int32_t* index, int64_t rows, int64_t row_bytes) {
  for (int64_t i = 0; i < rows; ++i)
    std::memcpy(static_cast<uint8_t*>(dst) + i * row_bytes,
                static_cast<const uint8_t*>(src) + static_cast<int64_t>(index[i]) * row_bytes,
                static_cast<size_t>(row_bytes));
}

void gather_rows(Tensor& dst, const Tensor& src, const Tensor& index) {
  VGGTL_CHECK(dst.dtype() == src.dtype() && dst.device() == src.device() && index.device() == src.device(),
              "gather_rows: ", dst.str(), " <- ", src.str(), " by ", index.str());
  VGGTL_CHECK(index.dtype() == DType::I32 && index.ndim() == 1 && dst.ndim() >= 1 && src.ndim() >= 1 &&
                  dst.dim(0) == index.dim(0),
              "gather_rows: index ", index.str(), " for ", dst.str());
  const int64_t rows = dst.dim(0);
  const int64_t row_bytes = src.dim(0) ? static_cast<int64_t>(src.nbytes()) / src.dim(0) : 0;
  VGGTL_CHECK(rows == 0 || static_cast<int64_t>(dst.nbytes()) / rows == row_bytes,
              "gather_rows: rows of ", dst.str(), " and ", src.str(), " differ");
  if (src.is_cuda()) {
    gather_rows_cuda(dst.raw(), src.raw(), index.data<int32_t>(), rows, row_bytes, main_stream(src.device()));
    return;
  }
  const int32_t* idx = index.data<int32_t>();
  for (int64_t i = 0; i < rows; ++i)
    VGGTL_CHECK(idx[i] >= 0 && idx[i] < src.dim(0), "gather_rows: index ", idx[i], " outside ", src.dim(0), " rows");
  gather_rows_cpu(dst.raw(), src.raw(), idx, rows, row_bytes);
}

}  // namespace vggtl
