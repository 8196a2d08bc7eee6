// PNG to RGB with libpng, by PIL's convert('RGB') rules: grey replicated (1/2/4-bit grey scaled
// to 0..255 by bit replication, as PIL's L;2 and L;4 unpackers do), alpha dropped without
// blending, tRNS ignored, palette looked up in a table that starts as PIL's grey ramp (an index
// past the PLTE entries gives grey i, as in Pillow). 16-bit samples: scale16_to_8 (see header).
// No gamma or colour management, as Pillow. Chunks after the image data are not read (Pillow
// tolerates a file cut after its last IDAT). Tests: tests/io/test_image_decode.cpp.
#include <png.h>

#include <csetjmp>
#include <cstdio>
#include <cstring>
#include <string>
#include <vector>

#include "io/image/image_decode.h"

namespace vggtl {

namespace {

struct PngSource {
  const uint8_t* data;
  size_t size;
  size_t pos;
  char message[160];
};

void png_on_error(png_structp png, png_const_charp msg) {
  auto* src = static_cast<PngSource*>(png_get_error_ptr(png));
  std::snprintf(src->message, sizeof src->message, "%s", msg ? msg : "unknown error");
  png_longjmp(png, 1);
}

void png_on_warning(png_structp, png_const_charp) {}  // benign by libpng's own judgement

void png_read_from_memory(png_structp png, png_bytep dst, size_t n) {
  auto* src = static_cast<PngSource*>(png_get_io_ptr(png));
  if (n > src->size - src->pos) png_error(png, "truncated PNG data");
  std::memcpy(dst, src->data + src->pos, n);
  src->pos += n;
}

// One row of libpng output (after png_set_packing: one byte per sample below 8 bits, 16-bit
// samples big-endian) to RGB.
void convert_row(const uint8_t* in, uint8_t* out, int width, int color_type, int depth,
                 const uint8_t* palette) {
  const bool wide = depth == 16;
  auto sample = [&](int i) -> uint8_t {
    return wide ? scale16_to_8((static_cast<uint32_t>(in[2 * i]) << 8) | in[2 * i + 1]) : in[i];
  };
  switch (color_type) {
    case PNG_COLOR_TYPE_GRAY: {
      const int mul = depth == 1 ? 255 : depth == 2 ? 85 : depth == 4 ? 17 : 1;
      for (int x = 0; x < width; ++x) {
        const uint8_t v = wide ? sample(x) : static_cast<uint8_t>(in[x] * mul);
        out[3 * x] = out[3 * x + 1] = out[3 * x + 2] = v;
      }
      break;
    }
    case PNG_COLOR_TYPE_GRAY_ALPHA:
      for (int x = 0; x < width; ++x) out[3 * x] = out[3 * x + 1] = out[3 * x + 2] = sample(2 * x);
      break;
    case PNG_COLOR_TYPE_PALETTE:
      for (int x = 0; x < width; ++x) std::memcpy(out + 3 * x, palette + 3 * in[x], 3);
      break;
    case PNG_COLOR_TYPE_RGB:
      if (!wide) {
        std::memcpy(out, in, static_cast<size_t>(width) * 3);
      } else {
        for (int i = 0; i < 3 * width; ++i) out[i] = sample(i);
      }
      break;
    case PNG_COLOR_TYPE_RGB_ALPHA:
      for (int x = 0; x < width; ++x)
        for (int c = 0; c < 3; ++c) out[3 * x + c] = sample(4 * x + c);
      break;
  }
}

// Builds the palette table: PIL's grey ramp, then the PLTE entries (no libpng error path).
void fill_palette(png_structp png, png_infop info, uint8_t* palette) {
  for (int i = 0; i < 256; ++i) palette[3 * i] = palette[3 * i + 1] = palette[3 * i + 2] = static_cast<uint8_t>(i);
  png_colorp entries = nullptr;
  int count = 0;
  if (png_get_PLTE(png, info, &entries, &count) & PNG_INFO_PLTE) {
    for (int i = 0; i < count && i < 256; ++i) {
      palette[3 * i] = entries[i].red;
      palette[3 * i + 1] = entries[i].green;
      palette[3 * i + 2] = entries[i].blue;
    }
  }
}

// The size check's message is a std::string: made outside the setjmp frame.
void check_size(png_uint_32 width, png_uint_32 height, std::string* problem) {
  *problem = check_image_size(width, height);
}

enum class PngStatus { Ok, LibpngError, Problem };

// Every libpng call after the reader exists, under setjmp. Only trivially destructible locals
// live in this frame (a longjmp out of libpng skips destructors, undefined behaviour for any that
// is not trivial); the row buffers and the problem text belong to the caller.
PngStatus decode_under_setjmp(png_structp png, png_infop info, PngSource* src, RgbImage* out,
                              std::vector<uint8_t>* raw, std::vector<png_bytep>* row_pointers,
                              std::string* problem) {
  uint8_t palette[256 * 3] = {};
  if (setjmp(png_jmpbuf(png))) return PngStatus::LibpngError;
  png_set_read_fn(png, src, png_read_from_memory);
  // Our own pixel limit decides, not libpng's default 1,000,000-pixel side limit.
  png_set_user_limits(png, PNG_UINT_31_MAX, PNG_UINT_31_MAX);
  png_read_info(png, info);

  const png_uint_32 width = png_get_image_width(png, info);
  const png_uint_32 height = png_get_image_height(png, info);
  const int color_type = png_get_color_type(png, info);
  const int depth = png_get_bit_depth(png, info);
  const bool interlaced = png_get_interlace_type(png, info) != PNG_INTERLACE_NONE;
  check_size(width, height, problem);
  if (!problem->empty()) return PngStatus::Problem;

  if (color_type == PNG_COLOR_TYPE_PALETTE) fill_palette(png, info, palette);
  if (depth < 8) png_set_packing(png);
  const int passes = png_set_interlace_handling(png);
  png_read_update_info(png, info);
  const size_t rowbytes = png_get_rowbytes(png, info);

  out->reset(static_cast<int>(width), static_cast<int>(height));
  const int w = static_cast<int>(width);
  if (!interlaced) {
    raw->resize(rowbytes);
    for (png_uint_32 y = 0; y < height; ++y) {
      png_read_row(png, raw->data(), nullptr);
      convert_row(raw->data(), out->row(static_cast<int>(y)), w, color_type, depth, palette);
    }
  } else {
    // Adam7 needs the whole image: libpng fills the rows pass by pass.
    raw->resize(rowbytes * height);
    row_pointers->resize(height);
    for (png_uint_32 y = 0; y < height; ++y) (*row_pointers)[y] = raw->data() + rowbytes * y;
    for (int pass = 0; pass < passes; ++pass) png_read_rows(png, row_pointers->data(), nullptr, height);
    for (png_uint_32 y = 0; y < height; ++y)
      convert_row((*row_pointers)[y], out->row(static_cast<int>(y)), w, color_type, depth, palette);
  }
  return PngStatus::Ok;
}

}  // namespace

DecodeResult decode_png(const uint8_t* data, size_t size, RgbImage* out) {
  PngSource src{data, size, 0, {0}};
  std::vector<uint8_t> raw;
  std::vector<png_bytep> row_pointers;
  std::string problem;

  png_structp png = png_create_read_struct(PNG_LIBPNG_VER_STRING, &src, png_on_error, png_on_warning);
  if (!png) return DecodeResult::failure(ImageFormat::Png, "PNG: cannot create the reader");
  png_infop info = png_create_info_struct(png);
  if (!info) {
    png_destroy_read_struct(&png, nullptr, nullptr);
    return DecodeResult::failure(ImageFormat::Png, "PNG: cannot create the reader");
  }
  const PngStatus status = decode_under_setjmp(png, info, &src, out, &raw, &row_pointers, &problem);
  png_destroy_read_struct(&png, &info, nullptr);
  switch (status) {
    case PngStatus::Ok: return DecodeResult::success(ImageFormat::Png);
    case PngStatus::Problem: return DecodeResult::failure(ImageFormat::Png, problem);
    case PngStatus::LibpngError: break;
  }
  const std::string msg = src.message;
  if (msg == "truncated PNG data") return DecodeResult::failure(ImageFormat::Png, msg);
  return DecodeResult::failure(ImageFormat::Png, "PNG: " + msg);
}

}  // namespace vggtl
