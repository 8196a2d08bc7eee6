// Signature sniffing, dispatch to the format decoders, and whole-file reading.
#include "io/image/image_decode.h"

#include <cerrno>
#include <cstdio>
#include <cstring>

namespace vggtl {

const char* image_format_name(ImageFormat format) {
  switch (format) {
    case ImageFormat::Jpeg: return "JPEG";
    case ImageFormat::Png: return "PNG";
    case ImageFormat::Bmp: return "BMP";
    case ImageFormat::Pnm: return "PNM";
    case ImageFormat::Tiff: return "TIFF";
    case ImageFormat::Unknown: break;
  }
  return "unknown";
}

namespace {

bool starts_with(const uint8_t* data, size_t size, const char* magic, size_t n) {
  return size >= n && std::memcmp(data, magic, n) == 0;
}

bool is_space(uint8_t c) { return c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == '\v' || c == '\f'; }

// Formats we recognise but do not decode, so that the reason names them.
const char* known_unsupported(const uint8_t* data, size_t size) {
  if (starts_with(data, size, "GIF87a", 6) || starts_with(data, size, "GIF89a", 6)) return "GIF";
  if (size >= 12 && starts_with(data, size, "RIFF", 4) && std::memcmp(data + 8, "WEBP", 4) == 0)
    return "WebP";
  if (size >= 12 && std::memcmp(data + 4, "ftyp", 4) == 0) return "HEIF/AVIF/MP4";
  if (starts_with(data, size, "II+\0", 4) || starts_with(data, size, "MM\0+", 4)) return "BigTIFF";
  return nullptr;
}

}  // namespace

ImageFormat sniff_image_format(const uint8_t* data, size_t size) {
  if (starts_with(data, size, "\xFF\xD8\xFF", 3)) return ImageFormat::Jpeg;
  if (starts_with(data, size, "\x89PNG\r\n\x1a\n", 8)) return ImageFormat::Png;
  if (starts_with(data, size, "BM", 2)) return ImageFormat::Bmp;
  if (size >= 3 && data[0] == 'P' && data[1] >= '1' && data[1] <= '6' && is_space(data[2]))
    return ImageFormat::Pnm;
  if (starts_with(data, size, "II*\0", 4) || starts_with(data, size, "MM\0*", 4)) return ImageFormat::Tiff;
  return ImageFormat::Unknown;
}

void RgbImage::reset(int w, int h) {
  width = w;
  height = h;
  pixels.resize(static_cast<size_t>(w) * static_cast<size_t>(h) * 3);
}

std::string check_image_size(int64_t width, int64_t height) {
  if (width <= 0 || height <= 0)
    return "image has an empty size (" + std::to_string(width) + "x" + std::to_string(height) + ")";
  if (width > kMaxImagePixels || height > kMaxImagePixels || width * height > kMaxImagePixels)
    return "image of " + std::to_string(width) + "x" + std::to_string(height) + " exceeds the " +
           std::to_string(kMaxImagePixels) + "-pixel limit";
  return {};
}

DecodeResult decode_image(const uint8_t* data, size_t size, RgbImage* out) {
  if (size == 0) return DecodeResult::failure(ImageFormat::Unknown, "empty file");
  switch (sniff_image_format(data, size)) {
    case ImageFormat::Jpeg: return decode_jpeg(data, size, out);
    case ImageFormat::Png: return decode_png(data, size, out);
    case ImageFormat::Bmp: return decode_bmp(data, size, out);
    case ImageFormat::Pnm: return decode_pnm(data, size, out);
    case ImageFormat::Tiff: return decode_tiff(data, size, out);
    case ImageFormat::Unknown: break;
  }
  if (const char* name = known_unsupported(data, size))
    return DecodeResult::failure(ImageFormat::Unknown, std::string("unsupported image format (") + name + ")");
  return DecodeResult::failure(ImageFormat::Unknown, "not an image (unknown signature)");
}

DecodeResult read_file_bytes(const std::string& path, std::vector<uint8_t>* bytes) {
  bytes->clear();
  std::FILE* f = std::fopen(path.c_str(), "rb");
  if (!f) return DecodeResult::failure(ImageFormat::Unknown, std::string("cannot open: ") + std::strerror(errno));
  bool failed = false;
  std::string why;
  if (std::fseek(f, 0, SEEK_END) == 0) {
    const long size = std::ftell(f);
    if (size > 0) {
      bytes->resize(static_cast<size_t>(size));
      std::rewind(f);
      const size_t got = std::fread(bytes->data(), 1, bytes->size(), f);
      if (got != bytes->size()) {
        failed = true;
        why = std::ferror(f) ? std::string("read error: ") + std::strerror(errno) : "file shrank while reading";
      }
    } else if (size < 0) {
      failed = true;
      why = std::string("cannot size: ") + std::strerror(errno);
    }
  } else {
    failed = true;
    why = std::string("cannot seek: ") + std::strerror(errno);
  }
  std::fclose(f);
  if (failed) return DecodeResult::failure(ImageFormat::Unknown, why);
  return DecodeResult::success(ImageFormat::Unknown);
}

DecodeResult decode_image_file(const std::string& path, RgbImage* out, std::vector<uint8_t>* bytes) {
  std::vector<uint8_t> local;
  std::vector<uint8_t>* buf = bytes ? bytes : &local;
  DecodeResult r = read_file_bytes(path, buf);
  if (!r) return r;
  return decode_image(buf->data(), buf->size(), out);
}

}  // namespace vggtl
