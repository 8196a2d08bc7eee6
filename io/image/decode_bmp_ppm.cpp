// BMP and PBM/PGM/PPM to RGB, following Pillow's BmpImagePlugin and PpmImagePlugin.
// BMP: OS/2 v1 and Windows v3-v5 headers; 1/4/8-bit palettes, 16-bit 5-5-5 and 5-6-5, 24-bit,
// 32-bit (BI_RGB and Pillow's bit-field layouts); bottom-up or top-down; RLE is unsupported.
// PNM: P1-P6, plain and binary; maxval != 255 scaled as round(v / maxval * 255) like Pillow,
// also for 16-bit grey (Pillow clips that to 255). Tests: tests/io/test_image_decode.cpp.
#include <cmath>
#include <cstring>

#include "io/image/image_decode.h"

namespace vggtl {

namespace {

uint32_t le16(const uint8_t* p) { return p[0] | (p[1] << 8); }
uint32_t le32(const uint8_t* p) {
  return static_cast<uint32_t>(p[0]) | (static_cast<uint32_t>(p[1]) << 8) |
         (static_cast<uint32_t>(p[2]) << 16) | (static_cast<uint32_t>(p[3]) << 24);
}

DecodeResult bmp_fail(const std::string& why) { return DecodeResult::failure(ImageFormat::Bmp, why); }

// Byte order of a 32-bit pixel named like Pillow's raw modes.
enum class Bmp32 { BGRX, XBGR, RGBA };

}  // namespace

DecodeResult decode_bmp(const uint8_t* data, size_t size, RgbImage* out) {
  if (size < 18) return bmp_fail("truncated BMP header");
  size_t offset = le32(data + 10);
  const uint32_t header_size = le32(data + 14);
  if (header_size != 12 && header_size != 40 && header_size != 64 && header_size != 108 && header_size != 124)
    return bmp_fail("BMP: unsupported header size " + std::to_string(header_size));
  if (size < 14 + static_cast<size_t>(header_size)) return bmp_fail("truncated BMP header");
  const uint8_t* h = data + 18;  // header after its size field
  int64_t width, height;
  uint32_t bits, compression = 0, colors = 0;
  bool top_down = false;
  size_t palette_entry = 4;
  size_t pos = 14 + header_size;  // where the masks (40-byte header) or the palette start
  if (header_size == 12) {
    width = le16(h);
    height = le16(h + 2);
    bits = le16(h + 6);
    palette_entry = 3;
  } else {
    width = static_cast<int32_t>(le32(h));
    top_down = h[7] == 0xFF;  // Pillow's test for a negative height
    height = top_down ? (int64_t{1} << 32) - le32(h + 4) : static_cast<int64_t>(le32(h + 4));
    bits = le16(h + 10);
    compression = le32(h + 12);
    colors = le32(h + 28);
  }
  const std::string size_problem = check_image_size(width, height);
  if (!size_problem.empty()) return bmp_fail(size_problem);
  if (colors == 0 && bits < 32) colors = 1u << bits;

  // Channel layout: palette (bits <= 8), 16-bit 5-5-5 / 5-6-5, 24-bit BGR, 32-bit.
  bool rgb565 = false;
  Bmp32 layout32 = Bmp32::BGRX;
  if (compression == 3) {  // BI_BITFIELDS
    uint32_t m[4] = {0, 0, 0, 0};
    if (header_size >= 56) {
      for (int i = 0; i < 4; ++i) m[i] = le32(h + 36 + 4 * i);
    } else {
      if (size < pos + 12) return bmp_fail("truncated BMP header");
      for (int i = 0; i < 3; ++i) m[i] = le32(data + pos + 4 * i);
      pos += 12;
    }
    auto is = [&](uint32_t r, uint32_t g, uint32_t b) { return m[0] == r && m[1] == g && m[2] == b; };
    if (bits == 32 && is(0xFF0000, 0xFF00, 0xFF) && (m[3] == 0 || m[3] == 0xFF000000u)) {
      layout32 = Bmp32::BGRX;
    } else if (bits == 32 && is(0xFF000000u, 0xFF0000, 0xFF00) && (m[3] == 0 || m[3] == 0xFF)) {
      layout32 = Bmp32::XBGR;
    } else if (bits == 32 && is(0xFF, 0xFF00, 0xFF0000) && m[3] == 0xFF000000u) {
      layout32 = Bmp32::RGBA;
    } else if (bits == 32 && is(0, 0, 0) && m[3] == 0) {
      layout32 = Bmp32::BGRX;  // Pillow reads all-zero masks as BGRA
    } else if (bits == 24 && is(0xFF0000, 0xFF00, 0xFF)) {
    } else if (bits == 16 && is(0xF800, 0x7E0, 0x1F)) {
      rgb565 = true;
    } else if (bits == 16 && is(0x7C00, 0x3E0, 0x1F)) {
    } else {
      return bmp_fail("BMP: unsupported bit-field layout");
    }
  } else if (compression == 1 || compression == 2) {
    return bmp_fail("BMP: RLE compression is not supported");
  } else if (compression != 0) {
    return bmp_fail("BMP: unsupported compression " + std::to_string(compression));
  }
  if (bits != 1 && bits != 4 && bits != 8 && bits != 16 && bits != 24 && bits != 32)
    return bmp_fail("BMP: unsupported pixel depth " + std::to_string(bits));

  uint8_t palette[256 * 3];
  if (bits <= 8) {
    if (colors == 0 || colors > 65536) return bmp_fail("BMP: bad palette size " + std::to_string(colors));
    // Pillow: a data offset pointing at the palette really means "after the palette".
    if (offset == 14 + header_size) offset += 4 * static_cast<size_t>(colors);
    for (int i = 0; i < 256; ++i) palette[3 * i] = palette[3 * i + 1] = palette[3 * i + 2] = static_cast<uint8_t>(i);
    const size_t entries = std::min<size_t>(colors, 256);
    if (size < pos + entries * palette_entry) return bmp_fail("truncated BMP palette");
    for (size_t i = 0; i < entries; ++i) {
      const uint8_t* e = data + pos + i * palette_entry;  // B, G, R (, reserved)
      palette[3 * i] = e[2];
      palette[3 * i + 1] = e[1];
      palette[3 * i + 2] = e[0];
    }
  }

  const size_t stride = ((static_cast<size_t>(width) * bits + 31) >> 3) & ~size_t{3};
  if (offset > size || (size - offset) / stride < static_cast<size_t>(height))
    return bmp_fail("truncated BMP data");
  const int w = static_cast<int>(width);
  const int hgt = static_cast<int>(height);
  out->reset(w, hgt);
  for (int y = 0; y < hgt; ++y) {
    const uint8_t* src = data + offset + stride * static_cast<size_t>(top_down ? y : hgt - 1 - y);
    uint8_t* dst = out->row(y);
    for (int x = 0; x < w; ++x, dst += 3) {
      switch (bits) {
        case 1:
        case 4:
        case 8: {
          const int per_byte = 8 / static_cast<int>(bits);
          const int shift = 8 - static_cast<int>(bits) * (x % per_byte + 1);
          const int index = (src[x / per_byte] >> shift) & ((1 << bits) - 1);
          std::memcpy(dst, palette + 3 * index, 3);
          break;
        }
        case 16: {
          const uint32_t p = le16(src + 2 * x);
          // Pillow's BGR;15 / BGR;16 unpackers: v * 255 / max, truncated.
          dst[2] = static_cast<uint8_t>((p & 31) * 255 / 31);
          if (rgb565) {
            dst[1] = static_cast<uint8_t>(((p >> 5) & 63) * 255 / 63);
            dst[0] = static_cast<uint8_t>(((p >> 11) & 31) * 255 / 31);
          } else {
            dst[1] = static_cast<uint8_t>(((p >> 5) & 31) * 255 / 31);
            dst[0] = static_cast<uint8_t>(((p >> 10) & 31) * 255 / 31);
          }
          break;
        }
        case 24:
          dst[0] = src[3 * x + 2];
          dst[1] = src[3 * x + 1];
          dst[2] = src[3 * x];
          break;
        case 32: {
          const uint8_t* p = src + 4 * x;
          if (layout32 == Bmp32::BGRX) {
            dst[0] = p[2], dst[1] = p[1], dst[2] = p[0];
          } else if (layout32 == Bmp32::XBGR) {
            dst[0] = p[3], dst[1] = p[2], dst[2] = p[1];
          } else {
            dst[0] = p[0], dst[1] = p[1], dst[2] = p[2];
          }
          break;
        }
      }
    }
  }
  return DecodeResult::success(ImageFormat::Bmp);
}

namespace {

DecodeResult pnm_fail(const std::string& why) { return DecodeResult::failure(ImageFormat::Pnm, why); }

bool pnm_space(uint8_t c) { return c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == '\v' || c == '\f'; }

// Pillow's header tokenizer: whitespace separates, '#' starts a comment to the end of the line
// (even inside a token), at most 10 characters. The byte ending the token is consumed.
bool pnm_token(const uint8_t* data, size_t size, size_t* pos, int64_t* value) {
  std::string token;
  while (*pos < size && token.size() <= 10) {
    const uint8_t c = data[(*pos)++];
    if (pnm_space(c)) {
      if (token.empty()) continue;
      break;
    }
    if (c == '#') {
      while (*pos < size && data[*pos] != '\r' && data[*pos] != '\n') ++*pos;
      if (*pos < size) ++*pos;
      continue;
    }
    token += static_cast<char>(c);
  }
  if (token.empty() || token.size() > 10) return false;
  int64_t v = 0;
  for (char c : token) {
    if (c < '0' || c > '9') return false;
    v = v * 10 + (c - '0');
  }
  *value = v;
  return true;
}

// Pillow: round(value / maxval * 255) in double, ties to even, capped at 255.
uint8_t pnm_scale(int64_t v, int64_t maxval) {
  if (maxval == 255) return static_cast<uint8_t>(v);
  const double s = std::nearbyint(static_cast<double>(v) / static_cast<double>(maxval) * 255.0);
  return static_cast<uint8_t>(s > 255.0 ? 255.0 : s);
}

// Plain-format data: whitespace-separated decimal samples, comments allowed. Bit maps (P1)
// need no separators: every '0' or '1' is a sample.
bool pnm_plain_sample(const uint8_t* data, size_t size, size_t* pos, bool bits, int64_t* v) {
  while (*pos < size) {
    const uint8_t c = data[*pos];
    if (pnm_space(c)) {
      ++*pos;
    } else if (c == '#') {
      while (*pos < size && data[*pos] != '\r' && data[*pos] != '\n') ++*pos;
    } else {
      break;
    }
  }
  if (*pos >= size) return false;
  if (bits) {
    const uint8_t c = data[(*pos)++];
    if (c != '0' && c != '1') return false;
    *v = c - '0';
    return true;
  }
  int64_t value = 0;
  int digits = 0;
  while (*pos < size && data[*pos] >= '0' && data[*pos] <= '9' && digits <= 10) {
    value = value * 10 + (data[(*pos)++] - '0');
    ++digits;
  }
  if (digits == 0 || digits > 10 || (*pos < size && !pnm_space(data[*pos]) && data[*pos] != '#')) return false;
  *v = value;
  return true;
}

}  // namespace

DecodeResult decode_pnm(const uint8_t* data, size_t size, RgbImage* out) {
  const int kind = data[1] - '0';  // 1..6, checked by the sniffer
  const bool bitmap = kind == 1 || kind == 4;
  const bool plain = kind <= 3;
  const int channels = (kind == 3 || kind == 6) ? 3 : 1;
  size_t pos = 3;
  int64_t width = 0, height = 0, maxval = 1;
  if (!pnm_token(data, size, &pos, &width) || !pnm_token(data, size, &pos, &height) ||
      (!bitmap && !pnm_token(data, size, &pos, &maxval)))
    return pnm_fail("PNM: bad header");
  if (!bitmap && (maxval <= 0 || maxval >= 65536)) return pnm_fail("PNM: maxval out of range");
  const std::string size_problem = check_image_size(width, height);
  if (!size_problem.empty()) return pnm_fail(size_problem);
  const int w = static_cast<int>(width);
  const int h = static_cast<int>(height);

  if (!plain) {
    const size_t bytes_per_sample = maxval < 256 ? 1 : 2;
    const size_t row_bytes = bitmap ? (static_cast<size_t>(w) + 7) / 8
                                    : static_cast<size_t>(w) * channels * bytes_per_sample;
    if ((size - pos) / row_bytes < static_cast<size_t>(h)) return pnm_fail("truncated PNM data");
    out->reset(w, h);
    for (int y = 0; y < h; ++y) {
      const uint8_t* src = data + pos + row_bytes * static_cast<size_t>(y);
      uint8_t* dst = out->row(y);
      for (int x = 0; x < w; ++x, dst += 3) {
        if (bitmap) {
          const uint8_t v = ((src[x >> 3] >> (7 - (x & 7))) & 1) ? 0 : 255;  // 1 is black
          dst[0] = dst[1] = dst[2] = v;
          continue;
        }
        for (int c = 0; c < channels; ++c) {
          const size_t i = static_cast<size_t>(x) * channels + c;
          const int64_t v = bytes_per_sample == 1 ? src[i] : (src[2 * i] << 8) | src[2 * i + 1];
          dst[c] = pnm_scale(v, maxval);
        }
        if (channels == 1) dst[1] = dst[2] = dst[0];
      }
    }
    return DecodeResult::success(ImageFormat::Pnm);
  }

  // Every plain sample takes at least one byte: a cheap bound before allocating.
  const size_t samples = static_cast<size_t>(w) * h * channels;
  if (size - pos < samples) return pnm_fail("truncated PNM data");
  out->reset(w, h);
  uint8_t* dst = out->pixels.data();
  for (size_t i = 0; i < samples; ++i) {
    int64_t v = 0;
    if (!pnm_plain_sample(data, size, &pos, bitmap, &v)) {
      return pnm_fail(pos >= size ? "truncated PNM data" : "PNM: bad sample in plain data");
    }
    if (bitmap) {
      const uint8_t g = v ? 0 : 255;
      dst[3 * i] = dst[3 * i + 1] = dst[3 * i + 2] = g;
    } else if (v > maxval) {
      return pnm_fail("PNM: sample above maxval");
    } else if (channels == 1) {
      dst[3 * i] = dst[3 * i + 1] = dst[3 * i + 2] = pnm_scale(v, maxval);
    } else {
      dst[i] = pnm_scale(v, maxval);
    }
  }
  return DecodeResult::success(ImageFormat::Pnm);
}

}  // namespace vggtl
