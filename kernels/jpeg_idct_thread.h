// Per-thread work of the JPEG inverse DCT's CUDA kernel (kernels/jpeg_idct.h): libjpeg's islow
// arithmetic and the block-to-thread mapping, also swept on the CPU by the tests.
// Tested by tests/kernels/test_jpeg_idct.cpp.
#pragma once

#include "kernels/block_owner.h"
#include "kernels/jpeg_idct.h"

namespace vggtl {

// ---- per-thread work of the CUDA kernel, also swept on the CPU by the tests ----

namespace jpeg_islow {
constexpr int kConstBits = 13;
constexpr int kPass1Bits = 2;
// FIX(x) = round(x * 2^13), as jidctint.c's precomputed constants.
constexpr int32_t k0_298631336 = 2446, k0_390180644 = 3196, k0_541196100 = 4433,
                  k0_765366865 = 6270, k0_899976223 = 7373, k1_175875602 = 9633,
                  k1_501321110 = 12299, k1_847759065 = 15137, k1_961570560 = 16069,
                  k2_053119869 = 16819, k2_562915447 = 20995, k3_072711026 = 25172;

template <typename T>
VGGTL_HD T descale(T x, int n) {
  return (x + (T(1) << (n - 1))) >> n;
}

// One 1-D pass on in[0..7]: the even part rotates in[2], in[6], the odd part is the
// 12-multiply Loeffler network. Returns the eight pre-descale sums in out[].
template <typename T>
VGGTL_HD void idct_1d(const T in[8], T out[8]) {
  T z2 = in[2], z3 = in[6];
  T z1 = (z2 + z3) * T(k0_541196100);
  T tmp2 = z1 + z3 * T(-k1_847759065);
  T tmp3 = z1 + z2 * T(k0_765366865);
  T tmp0 = (in[0] + in[4]) * T(1 << kConstBits);
  T tmp1 = (in[0] - in[4]) * T(1 << kConstBits);
  const T tmp10 = tmp0 + tmp3, tmp13 = tmp0 - tmp3, tmp11 = tmp1 + tmp2, tmp12 = tmp1 - tmp2;

  tmp0 = in[7];
  tmp1 = in[5];
  tmp2 = in[3];
  tmp3 = in[1];
  z1 = tmp0 + tmp3;
  z2 = tmp1 + tmp2;
  z3 = tmp0 + tmp2;
  T z4 = tmp1 + tmp3;
  const T z5 = (z3 + z4) * T(k1_175875602);
  tmp0 = tmp0 * T(k0_298631336);
  tmp1 = tmp1 * T(k2_053119869);
  tmp2 = tmp2 * T(k3_072711026);
  tmp3 = tmp3 * T(k1_501321110);
  z1 = z1 * T(-k0_899976223);
  z2 = z2 * T(-k2_562915447);
  z3 = z3 * T(-k1_961570560) + z5;
  z4 = z4 * T(-k0_390180644) + z5;
  tmp0 += z1 + z3;
  tmp1 += z2 + z4;
  tmp2 += z2 + z3;
  tmp3 += z1 + z4;

  out[0] = tmp10 + tmp3;
  out[7] = tmp10 - tmp3;
  out[1] = tmp11 + tmp2;
  out[6] = tmp11 - tmp2;
  out[2] = tmp12 + tmp1;
  out[5] = tmp12 - tmp1;
  out[3] = tmp13 + tmp0;
  out[4] = tmp13 - tmp0;
}

// The post-IDCT range limit: v + CENTERJSAMPLE clamped to 0..255. jidctint.c indexes
// jdmaster.c's table with v & 1023, which clamps the same for -512..511 and wraps beyond;
// libjpeg-turbo's SIMD IDCTs (what Pillow runs on x86 and ARM) saturate instead. Only coefficient
// data no encoder of 8-bit images produces gets past +-512; there we follow the SIMD builds.
VGGTL_HD uint8_t range_limit(int32_t v) {
  return static_cast<uint8_t>(v < -128 ? 0 : (v > 127 ? 255 : v + 128));
}

// Whether |x| <= 8191 for all eight: then every sum of a pass stays below 2^31 and 32-bit
// arithmetic gives jidctint.c's 64-bit (JLONG) results exactly.
template <typename T>
VGGTL_HD bool fits_int32_pass(const T v[8]) {
  bool ok = true;
  for (int k = 0; k < 8; ++k) ok = ok && v[k] >= -8191 && v[k] <= 8191;
  return ok;
}

// Pass 1 on one column: dequantised inputs -> workspace values (int, scaled by 2^PASS1_BITS).
VGGTL_HD void column(const int32_t in[8], int32_t ws[8]) {
  if (fits_int32_pass(in)) {
    int32_t o[8];
    idct_1d<int32_t>(in, o);
    for (int k = 0; k < 8; ++k) ws[k] = descale<int32_t>(o[k], kConstBits - kPass1Bits);
  } else {
    int64_t i64[8], o[8];
    for (int k = 0; k < 8; ++k) i64[k] = in[k];
    idct_1d<int64_t>(i64, o);
    for (int k = 0; k < 8; ++k)
      ws[k] = static_cast<int32_t>(descale<int64_t>(o[k], kConstBits - kPass1Bits));
  }
}

// Pass 2 on one row: workspace values -> eight range-limited samples.
VGGTL_HD void row(const int32_t ws[8], uint8_t out[8]) {
  constexpr int kShift = kConstBits + kPass1Bits + 3;
  if (fits_int32_pass(ws)) {
    int32_t o[8];
    idct_1d<int32_t>(ws, o);
    for (int k = 0; k < 8; ++k) out[k] = range_limit(descale<int32_t>(o[k], kShift));
  } else {
    int64_t i64[8], o[8];
    for (int k = 0; k < 8; ++k) i64[k] = ws[k];
    idct_1d<int64_t>(i64, o);
    for (int k = 0; k < 8; ++k)
      out[k] = range_limit(static_cast<int32_t>(descale<int64_t>(o[k], kShift)));
  }
}
}  // namespace jpeg_islow

// Index of the last plane whose first_cta <= cta (planes sorted by first_cta, as planned).
VGGTL_HD int jpeg_idct_find_plane(const JpegIdctPlane* planes, int num_planes, int64_t cta) {
  return find_block_owner(num_planes, cta, [=](int i) { return planes[i].first_cta; });
}

// What thread `thread` of thread block `cta` works on: plane, block within the plane, lane (the
// column in pass 1, the row in pass 2) and the slot of its block in the shared workspace.
struct JpegIdctWork {
  int plane = 0;
  int64_t block = 0;
  int lane = 0;
  int slot = 0;
  bool active = false;  // false for the tail threads past the plane's last block
};

VGGTL_HD JpegIdctWork jpeg_idct_work(const JpegIdctPlane* planes, int num_planes, int64_t cta,
                                     int thread) {
  JpegIdctWork w;
  w.plane = jpeg_idct_find_plane(planes, num_planes, cta);
  const JpegIdctPlane& p = planes[w.plane];
  w.slot = thread >> 3;
  w.lane = thread & 7;
  w.block = (cta - p.first_cta) * kIdctBlocksPerCta + w.slot;
  w.active = w.block < int64_t{p.width_in_blocks} * p.height_in_blocks;
  return w;
}

// Pass 1 of one thread: dequantise column `lane` of its block and write it to ws (the block's
// kIdctWsStride-int workspace) at ws[k * kIdctWsRow + lane].
VGGTL_HD void jpeg_idct_column_thread(const JpegIdctPlane& p, const JpegIdctWork& w,
                                      const int16_t* coefs, const uint16_t* quant, int32_t* ws) {
  const int16_t* c = coefs + p.coef_offset + w.block * 64 + w.lane;
  const uint16_t* q = quant + p.quant_offset + w.lane;
  int32_t in[8], out[8];
  for (int k = 0; k < 8; ++k) in[k] = int32_t{c[k * 8]} * int32_t{q[k * 8]};
  jpeg_islow::column(in, out);
  for (int k = 0; k < 8; ++k) ws[k * kIdctWsRow + w.lane] = out[k];
}

// Pass 2 of one thread: row `lane` of its block from ws to eight samples of the plane.
VGGTL_HD void jpeg_idct_row_thread(const JpegIdctPlane& p, const JpegIdctWork& w,
                                   const int32_t* ws, uint8_t* out) {
  int32_t in[8];
  for (int k = 0; k < 8; ++k) in[k] = ws[w.lane * kIdctWsRow + k];
  uint8_t s[8];
  jpeg_islow::row(in, s);
  const int64_t bx = w.block % p.width_in_blocks, by = w.block / p.width_in_blocks;
  uint8_t* dst = out + p.out_offset + (by * 8 + w.lane) * (int64_t{p.width_in_blocks} * 8) + bx * 8;
  uint64_t packed = 0;
  for (int k = 7; k >= 0; --k) packed = (packed << 8) | s[k];
#if defined(__CUDA_ARCH__)
  *reinterpret_cast<uint64_t*>(dst) = packed;  // 8-byte aligned: planes start on 8-byte offsets
#else
  std::memcpy(dst, &packed, 8);  // little-endian, as on the device
#endif
}

}  // namespace vggtl
