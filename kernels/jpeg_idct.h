// Dequantisation + libjpeg's accurate integer inverse DCT (jidctint.c jpeg_idct_islow) for every
// 8x8 block of a batch of JPEG component planes, range-limited as libjpeg-turbo's SIMD builds do.
// coefs: int16, 64 per block in natural order, blocks row-major; out: u8 plane per component,
// height_in_blocks*8 rows of width_in_blocks*8 samples. Tested by tests/kernels/test_jpeg_idct.cpp.
#pragma once

#include <cstdint>
#include <cstring>

#include "engine/device.h"
#include "engine/dtype.h"

namespace vggtl {

// One component plane of one image in a batch; every offset is relative to its own buffer.
struct JpegIdctPlane {
  int64_t coef_offset = 0;  // int16 elements to the first coefficient of block (0,0)
  int64_t out_offset = 0;   // bytes to sample (0,0), a multiple of 8; rows width_in_blocks * 8 apart
  int32_t width_in_blocks = 0;
  int32_t height_in_blocks = 0;
  int32_t quant_offset = 0;  // uint16 elements to this plane's 64-entry table (natural order)
  int32_t first_cta = 0;     // first thread block of the CUDA grid on this plane (jpeg_idct_plan)
};

// CUDA geometry: 8 threads per 8x8 block (one column in pass 1, one row in pass 2), 32 blocks per
// thread block, so each thread block reads 4 KiB of contiguous coefficients.
constexpr int kIdctBlocksPerCta = 32;
constexpr int kIdctThreads = kIdctBlocksPerCta * 8;
// Shared workspace per 8x8 block, in int32: rows of 9 so that pass-2 row reads by the 8 lanes of a
// block, and pass-1 column writes by 4 blocks of a warp, fall in different banks.
constexpr int kIdctWsRow = 9;
constexpr int kIdctWsStride = 8 * kIdctWsRow;

// Assigns each plane its first thread block (checking out_offset alignment); returns the grid size.
int64_t jpeg_idct_plan(JpegIdctPlane* planes, int num_planes);

// CPU twin: the specification, written in the order of jidctint.c.
void jpeg_idct_cpu(uint8_t* out, const int16_t* coefs, const uint16_t* quant,
                   const JpegIdctPlane* planes, int num_planes);
// planes must be device memory holding what jpeg_idct_plan produced; num_ctas is its result.
void jpeg_idct_cuda(uint8_t* out, const int16_t* coefs, const uint16_t* quant,
                    const JpegIdctPlane* planes, int num_planes, int64_t num_ctas, Stream stream);
// Dispatch: every pointer lives on `device`; num_ctas and stream matter for CUDA only.
void jpeg_idct(Device device, uint8_t* out, const int16_t* coefs, const uint16_t* quant,
               const JpegIdctPlane* planes, int num_planes, int64_t num_ctas, Stream stream);

}  // namespace vggtl
