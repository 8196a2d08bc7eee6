// Test images written from code: JPEG (libjpeg: baseline, progressive, arithmetic, grey, RGB,
// CMYK, YCCK, chosen sampling factors, restart intervals), PNG (libpng: every colour type and
// bit depth, interlacing, palettes with tRNS), BMP, PBM/PGM/PPM, TIFF (uncompressed, PackBits,
// LZW, Deflate), plus deliberately broken files. Encoders return the file bytes; they throw
// std::runtime_error on misuse. Samples are interleaved, rows top to bottom.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

namespace vggtl::test {

// Smooth gradients with a few soft features: survives JPEG with small errors. channels 1..4.
std::vector<uint8_t> pattern_image(int width, int height, int channels, uint32_t seed = 0);
// Uniform random bytes (for lossless formats).
std::vector<uint8_t> random_bytes(size_t n, uint32_t seed);

void write_file(const std::string& path, const std::vector<uint8_t>& bytes);
std::vector<uint8_t> read_file(const std::string& path);

// ---- JPEG ----
enum class JpegColor {
  YCbCr,  // 3 samples RGB in, stored as YCbCr (JFIF)
  Rgb,    // 3 samples RGB in, stored as RGB (Adobe marker, transform 0)
  Gray,   // 1 sample
  Cmyk,   // 4 samples, stored as they are (Adobe marker)
  Ycck,   // 4 samples CMYK in, stored as YCCK (Adobe marker, transform 2)
};

struct JpegOptions {
  int quality = 95;
  JpegColor color = JpegColor::YCbCr;
  bool progressive = false;
  bool arithmetic = false;
  int h_samp = 1, v_samp = 1;  // first component's factors, others 1x1: 2x2 = 4:2:0, 2x1 = 4:2:2
  int restart_interval = 0;    // MCUs between restart markers, 0: none
};

std::vector<uint8_t> encode_jpeg(const uint8_t* samples, int width, int height, const JpegOptions& opt = {});

// The bytes of a valid small JPEG whose frame header is patched to claim width x height.
std::vector<uint8_t> jpeg_claiming_size(int width, int height);

// ---- PNG ----
enum class PngColor { Gray = 0, Rgb = 2, Palette = 3, GrayAlpha = 4, Rgba = 6 };

struct PngOptions {
  PngColor color = PngColor::Rgb;
  int bit_depth = 8;
  bool interlaced = false;
  std::vector<uint8_t> palette;  // RGB triples (Palette only)
  std::vector<uint8_t> trns;     // tRNS chunk payload as libpng takes it: alphas for palette
  std::vector<uint16_t> trns_color;  // or one grey / RGB colour for Gray / Rgb
};

// samples: one value per sample in 0 .. 2^bit_depth - 1 (palette indices for Palette).
std::vector<uint8_t> encode_png(const std::vector<uint16_t>& samples, int width, int height, const PngOptions& opt);

// A PNG signature and IHDR chunk claiming width x height (valid CRC), then a tiny IDAT.
std::vector<uint8_t> png_claiming_size(uint32_t width, uint32_t height);

// ---- BMP ----
enum class BmpLayout {
  Bgr24,      // samples: RGB
  Bgrx32,     // samples: RGB (BI_RGB, 4th byte 0)
  Rgb555,     // samples: 5-bit values R, G, B (BI_RGB 16-bit)
  Rgb565,     // samples: 5/6/5-bit values R, G, B (BI_BITFIELDS)
  Palette8,   // samples: indices
  Palette4,
  Palette1,
};

struct BmpOptions {
  BmpLayout layout = BmpLayout::Bgr24;
  bool top_down = false;
  std::vector<uint8_t> palette;  // RGB triples
  bool os2_header = false;       // 12-byte core header (Bgr24 and palettes only)
};

std::vector<uint8_t> encode_bmp(const std::vector<uint16_t>& samples, int width, int height, const BmpOptions& opt);

// ---- PBM / PGM / PPM ----
// kind 1..6 as in P1..P6; samples per pixel 1 (P1, P2, P4, P5) or 3 (P3, P6); bit maps take
// 0/1 with 1 black. maxval > 255 writes 16-bit big-endian samples (P5/P6).
std::vector<uint8_t> encode_pnm(int kind, const std::vector<uint16_t>& samples, int width, int height,
                                int maxval = 255, const std::string& comment = "");

// ---- TIFF ----
enum class TiffCompression { None = 1, Lzw = 5, Deflate = 8, PackBits = 32773 };

struct TiffOptions {
  int photometric = 2;  // 0 min-is-white, 1 min-is-black, 2 RGB, 3 palette, 5 CMYK
  int samples_per_pixel = 3;
  int bits = 8;
  int extra_samples = -1;  // ExtraSamples value for the sample after the colours, -1: none
  TiffCompression compression = TiffCompression::None;
  bool predictor = false;  // horizontal differencing
  bool planar = false;     // one plane per sample
  bool big_endian = false;
  int rows_per_strip = 3;
  std::vector<uint16_t> colormap;  // 3 * 2^bits entries (R..., G..., B...)
};

std::vector<uint8_t> encode_tiff(const std::vector<uint16_t>& samples, int width, int height, const TiffOptions& opt);

// 8-bit samples as the 16-bit ones the PNG/BMP writers take.
inline std::vector<uint16_t> widen(const std::vector<uint8_t>& v) { return std::vector<uint16_t>(v.begin(), v.end()); }

}  // namespace vggtl::test
