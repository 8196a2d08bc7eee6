// Reads a JPEG's quantised DCT coefficients (entropy decoding only, libjpeg-turbo's
// jpeg_read_coefficients) into a plain layout the GPU decode stages consume: per component the
// sampling factors, block counts, libjpeg's downsampled size, the quantisation table and an offset
// into one contiguous int16 buffer (64 coefficients per block, natural order, blocks row-major).
// Tested by tests/io/test_jpeg_coefficients.cpp against libjpeg's own decoder.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>
#include <vector>

#include "kernels/jpeg_color.h"

namespace vggtl {

// The spec's decompression-bomb limit (Pillow's MAX_IMAGE_PIXELS * 2), checked from the header.
constexpr int64_t kMaxJpegPixels = 178956970;
// libjpeg accepts up to 10 components; only 1, 3 and 4 occur in practice (Pillow rejects others).
constexpr int kMaxJpegComponents = 4;

enum class JpegColorSpace : uint8_t { Unknown, Gray, YCbCr, RGB, CMYK, YCCK };
const char* jpeg_color_space_name(JpegColorSpace cs);

struct JpegComponentLayout {
  int h_samp = 1, v_samp = 1;
  int width_in_blocks = 0, height_in_blocks = 0;
  int downsampled_width = 0, downsampled_height = 0;  // libjpeg's ceil(size * samp / max_samp)
  int64_t coef_offset = 0;  // int16 elements from the image's first coefficient
  uint16_t quant[64] = {};  // natural order; filled by read_jpeg_coefficients only
  int64_t num_blocks() const { return int64_t{width_in_blocks} * height_in_blocks; }
};

struct JpegLayout {
  int width = 0, height = 0;
  JpegColorSpace color_space = JpegColorSpace::Unknown;
  int num_components = 0;
  int max_h_samp = 1, max_v_samp = 1;
  int precision = 8;
  bool progressive = false;
  bool arithmetic = false;
  JpegComponentLayout comp[kMaxJpegComponents];
  int64_t num_coefficients = 0;  // int16 values of all components together
};

// Parses the header only (markers up to the first scan): everything but the quantisation tables,
// which a progressive file may still redefine. Cheap: no entropy decoding. On failure returns
// false with a one-line reason (corrupt header, too many pixels, 12-bit, > 4 components).
bool read_jpeg_layout(const uint8_t* data, size_t size, JpegLayout* layout, std::string* reason);

// Entropy-decodes the whole file into dst (room for `capacity` int16 values; the layout says how
// many are needed) and fills *layout including the quantisation tables. Any libjpeg warning
// (premature end of data, corrupt data) is a failure: the caller falls back to a full decode.
bool read_jpeg_coefficients(const uint8_t* data, size_t size, JpegLayout* layout, int16_t* dst,
                            int64_t capacity, std::string* reason);

// Owning convenience form.
struct JpegCoefficients {
  JpegLayout layout;
  std::vector<int16_t> coefs;
};
bool read_jpeg_coefficients(const uint8_t* data, size_t size, JpegCoefficients* out,
                            std::string* reason);

// How libjpeg (default settings: fancy upsampling, no DCT scaling) upsamples component c, mirroring
// jdsample.c's jinit_upsampler; false when it would refuse (non-integral ratio).
bool jpeg_upsample_method(const JpegLayout& layout, int c, JpegUpsample* method, int* h_expand,
                          int* v_expand);

// True when the GPU stages reproduce libjpeg's RGB output for this file: 8-bit, 1 component
// (grayscale) or 3 components (YCbCr or RGB), every component upsampled by an integral ratio.
// CMYK/YCCK, 2 or 4+ components and 12-bit data go to the CPU decoder; *why says which.
bool supported_on_gpu(const JpegLayout& layout, std::string* why = nullptr);

}  // namespace vggtl
