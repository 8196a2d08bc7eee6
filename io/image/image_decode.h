// Image files to 8-bit RGB by PIL's convert('RGB') rules; the format is chosen by magic bytes,
// never by the file name. A bad image is a DecodeResult with a short reason, never an exception.
// Layout: RgbImage is (height, width, 3) rows top to bottom. Tests: tests/io/test_image_decode.cpp.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>
#include <vector>

namespace vggtl {

// PIL raises DecompressionBombError above 2 * Image.MAX_IMAGE_PIXELS (2 * 89,478,485); a header
// claiming more is a bad file for us, refused before any pixel memory is allocated.
constexpr int64_t kMaxImagePixels = 178956970;

enum class ImageFormat : uint8_t { Unknown, Jpeg, Png, Bmp, Pnm, Tiff };
const char* image_format_name(ImageFormat format);
ImageFormat sniff_image_format(const uint8_t* data, size_t size);

// Pixels R, G, B interleaved, rows top to bottom, no padding. The buffer keeps its capacity
// from one decode to the next, so a worker decoding many files allocates rarely.
struct RgbImage {
  int width = 0;
  int height = 0;
  std::vector<uint8_t> pixels;

  void reset(int w, int h);
  uint8_t* row(int y) { return pixels.data() + static_cast<size_t>(y) * width * 3; }
  const uint8_t* row(int y) const { return pixels.data() + static_cast<size_t>(y) * width * 3; }
};

struct DecodeResult {
  bool ok = false;
  ImageFormat format = ImageFormat::Unknown;
  std::string reason;  // empty when ok: "truncated JPEG data", "PNG: IDAT: CRC error", ...

  explicit operator bool() const { return ok; }
  static DecodeResult success(ImageFormat f) { return DecodeResult{true, f, {}}; }
  static DecodeResult failure(ImageFormat f, std::string why) {
    return DecodeResult{false, f, std::move(why)};
  }
};

// Decodes a whole file held in memory. On failure *out is left in an unspecified state.
DecodeResult decode_image(const uint8_t* data, size_t size, RgbImage* out);

// Reads the file into *bytes (its capacity reused) and decodes it; an unreadable file is a
// failure whose reason is the system's.
DecodeResult decode_image_file(const std::string& path, RgbImage* out, std::vector<uint8_t>* bytes);
DecodeResult read_file_bytes(const std::string& path, std::vector<uint8_t>* bytes);

// The format decoders, for data whose signature has been checked (decode_image dispatches).
DecodeResult decode_jpeg(const uint8_t* data, size_t size, RgbImage* out);
DecodeResult decode_png(const uint8_t* data, size_t size, RgbImage* out);
DecodeResult decode_bmp(const uint8_t* data, size_t size, RgbImage* out);
DecodeResult decode_pnm(const uint8_t* data, size_t size, RgbImage* out);
DecodeResult decode_tiff(const uint8_t* data, size_t size, RgbImage* out);

// Shared by the decoders: "" when w x h is a usable size, else the reason it is not.
std::string check_image_size(int64_t width, int64_t height);

// 16-bit sample to 8 bits: v / 257 rounded to nearest. PIL instead clips 16-bit grey to 255
// (whitening the image) and keeps the high byte of 16-bit colour; this is a deliberate change.
inline uint8_t scale16_to_8(uint32_t v) { return static_cast<uint8_t>((v * 255u + 32767u) / 65535u); }

// PIL's MULDIV255 (Convert.c): a * b / 255 rounded, in integers.
inline int muldiv255(int a, int b) {
  const int t = a * b + 128;
  return ((t >> 8) + t) >> 8;
}

}  // namespace vggtl
