// Synthetic JPEGs for the decoder tests, encoded in memory with libjpeg (chosen sampling factors,
// quality, progressive, arithmetic, restart intervals, grayscale, CMYK, any size), and libjpeg's
// own decodes of them (default RGB scanlines, raw IDCT planes) as the references.
#pragma once

#include <cstdint>
#include <functional>
#include <string>
#include <vector>

namespace vggtl::test {

enum class ImageContent {
  Noise,     // independent uniform bytes: every coefficient busy, lots of clipping
  Gradient,  // smooth ramps: long runs of zero AC coefficients
  Mixed,     // ramps, saturated colours, hard black/white edges and a noisy patch
};

enum class JpegStorage { YCbCr, RGB, Gray, CMYK, YCCK };

struct JpegFixture {
  int width = 16, height = 16;
  JpegStorage storage = JpegStorage::YCbCr;
  int h_samp[4] = {2, 1, 1, 1};  // per component; 4:2:0 by default
  int v_samp[4] = {2, 1, 1, 1};
  int quality = 75;
  bool progressive = false;
  bool arithmetic = false;
  bool optimize = false;
  int restart_interval = 0;  // MCUs between restart markers, 0 = none
  ImageContent content = ImageContent::Mixed;
  uint64_t seed = 1;

  int components() const;
  JpegFixture& sampling(int h0, int v0, int h1 = 1, int v1 = 1, int h2 = 1, int v2 = 1);
  std::string str() const;  // for failure messages
};

// width * height * channels interleaved bytes.
std::vector<uint8_t> make_pixels(int width, int height, int channels, ImageContent content,
                                 uint64_t seed);

// Encodes make_pixels(...) as the fixture says. Empty when libjpeg refuses the settings.
std::vector<uint8_t> encode_jpeg(const JpegFixture& f);

struct DecodedImage {
  int width = 0, height = 0;
  std::vector<uint8_t> rgb;  // height * width * 3
};

// libjpeg's default decompression (ISLOW IDCT, fancy upsampling, YCbCr->RGB), grayscale
// replicated to R = G = B. False with libjpeg's message on an error or warning.
bool libjpeg_decode_rgb(const uint8_t* data, size_t size, DecodedImage* out, std::string* reason);
inline bool libjpeg_decode_rgb(const std::vector<uint8_t>& jpeg, DecodedImage* out,
                               std::string* reason) {
  return libjpeg_decode_rgb(jpeg.data(), jpeg.size(), out, reason);
}

// libjpeg's IDCT output alone (raw_data_out): per component, height_in_blocks*8 rows of
// width_in_blocks*8 samples.
struct RawPlane {
  int width_in_blocks = 0, height_in_blocks = 0;
  std::vector<uint8_t> samples;
};
bool libjpeg_decode_planes(const std::vector<uint8_t>& jpeg, std::vector<RawPlane>* planes,
                           std::string* reason);

// Re-encodes a JPEG after editing its quantised coefficients and tables, losslessly otherwise
// (jpeg_read_coefficients -> edit -> jpeg_write_coefficients with optimised Huffman tables).
struct CoefficientEdit {
  std::function<void(int table, uint16_t* quant)> quant;            // natural order
  std::function<void(int comp, int64_t block, int16_t* coef)> block;  // natural order, row-major
};
std::vector<uint8_t> transcode_jpeg(const std::vector<uint8_t>& jpeg, const CoefficientEdit& edit);

}  // namespace vggtl::test
