// CPU twin of the JPEG IDCT: the specification, following libjpeg-turbo's jidctint.c
// jpeg_idct_islow step by step (64-bit JLONG sums throughout, DC-only shortcuts, range limit),
// and the device dispatch. It shares the 1-D network (jpeg_islow::idct_1d) with the kernel, not
// the kernel's 32-bit fast path; tests/kernels/test_jpeg_idct.cpp holds it to libjpeg's output.
#include <algorithm>
#include <cstdint>

#include "engine/context.h"
#include "engine/error.h"
#include "kernels/jpeg_idct.h"
#include "kernels/jpeg_idct_thread.h"

namespace vggtl {

namespace {

using JLONG = int64_t;
constexpr int kConstBits = jpeg_islow::kConstBits;
constexpr int kPass1Bits = jpeg_islow::kPass1Bits;

JLONG descale(JLONG x, int n) { return (x + (JLONG{1} << (n - 1))) >> n; }

// The post-IDCT range limit: CENTERJSAMPLE added, clamped to 0..255. jdmaster.c's table, indexed
// with v & 1023, does the same for -512..511 and wraps beyond; libjpeg-turbo's SIMD IDCTs, which
// Pillow runs, saturate there, and so do we (see jpeg_islow::range_limit).
uint8_t range_limit(JLONG v) { return static_cast<uint8_t>(std::clamp<JLONG>(v + 128, 0, 255)); }

void idct_islow_block(const int16_t* coef, const uint16_t* quant, uint8_t* out, int64_t stride) {
  int ws[64];
  JLONG in[8], sums[8];

  // Pass 1: columns from the input, into the workspace (scaled up by 2^PASS1_BITS).
  for (int col = 0; col < 8; ++col) {
    for (int k = 0; k < 8; ++k) in[k] = JLONG{coef[k * 8 + col]} * JLONG{quant[k * 8 + col]};
    if (in[1] == 0 && in[2] == 0 && in[3] == 0 && in[4] == 0 && in[5] == 0 && in[6] == 0 &&
        in[7] == 0) {
      const int dc = static_cast<int>(in[0] * (1 << kPass1Bits));
      for (int k = 0; k < 8; ++k) ws[k * 8 + col] = dc;
      continue;
    }
    jpeg_islow::idct_1d<JLONG>(in, sums);
    for (int k = 0; k < 8; ++k)
      ws[k * 8 + col] = static_cast<int>(descale(sums[k], kConstBits - kPass1Bits));
  }

  // Pass 2: rows from the workspace to output samples.
  for (int r = 0; r < 8; ++r) {
    const int* w = ws + r * 8;
    uint8_t* o = out + r * stride;
    if (w[1] == 0 && w[2] == 0 && w[3] == 0 && w[4] == 0 && w[5] == 0 && w[6] == 0 && w[7] == 0) {
      const uint8_t dc = range_limit(descale(JLONG{w[0]}, kPass1Bits + 3));
      for (int k = 0; k < 8; ++k) o[k] = dc;
      continue;
    }
    for (int k = 0; k < 8; ++k) in[k] = w[k];
    jpeg_islow::idct_1d<JLONG>(in, sums);
    for (int k = 0; k < 8; ++k) o[k] = range_limit(descale(sums[k], kConstBits + kPass1Bits + 3));
  }
}

}  // namespace

int64_t jpeg_idct_plan(JpegIdctPlane* planes, int num_planes) {
  int64_t cta = 0;
  for (int i = 0; i < num_planes; ++i) {
    VGGTL_CHECK(planes[i].width_in_blocks >= 0 && planes[i].height_in_blocks >= 0,
                "jpeg_idct_plan: negative block count in plane ", i);
    VGGTL_CHECK(planes[i].out_offset % 8 == 0, "jpeg_idct_plan: plane ", i,
                " starts at byte ", planes[i].out_offset, ", not a multiple of 8 (8-byte stores)");
    VGGTL_CHECK(cta <= INT32_MAX, "jpeg_idct_plan: grid too large");
    planes[i].first_cta = static_cast<int32_t>(cta);
    const int64_t blocks = int64_t{planes[i].width_in_blocks} * planes[i].height_in_blocks;
    cta += (blocks + kIdctBlocksPerCta - 1) / kIdctBlocksPerCta;
  }
  return cta;
}

void jpeg_idct_cpu(uint8_t* out, const int16_t* coefs, const uint16_t* quant,
                   const JpegIdctPlane* planes, int num_planes) {
  for (int i = 0; i < num_planes; ++i) {
    const JpegIdctPlane& p = planes[i];
    const int64_t stride = int64_t{p.width_in_blocks} * 8;
    for (int64_t by = 0; by < p.height_in_blocks; ++by)
      for (int64_t bx = 0; bx < p.width_in_blocks; ++bx)
        idct_islow_block(coefs + p.coef_offset + (by * p.width_in_blocks + bx) * 64,
                         quant + p.quant_offset, out + p.out_offset + by * 8 * stride + bx * 8,
                         stride);
  }
}

void jpeg_idct(Device device, uint8_t* out, const int16_t* coefs, const uint16_t* quant,
               const JpegIdctPlane* planes, int num_planes, int64_t num_ctas, Stream stream) {
  if (device.is_cuda()) {
    jpeg_idct_cuda(out, coefs, quant, planes, num_planes, num_ctas, stream);
    return;
  }
  jpeg_idct_cpu(out, coefs, quant, planes, num_planes);
}

}  // namespace vggtl
