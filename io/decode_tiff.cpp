// Baseline TIFF to RGB without libtiff: the first image of the file, in strips, uncompressed,
// PackBits, LZW or Deflate, horizontal predictor; grey (1/2/4/8/16-bit, either polarity),
// palette (1/2/4/8-bit), RGB (8/16-bit, extra samples dropped, associated alpha divided out as
// Pillow's RGBa unpacker does), CMYK 8-bit. Tiles, JPEG/CCITT compression, YCbCr, float samples
// are reported unsupported. Pixel rules as in PIL (palette entries take the high byte), except
// 16-bit samples: scale16_to_8. Tests: tests/io/test_image_decode.cpp.
#include <zlib.h>

#include <algorithm>
#include <cstring>
#include <map>
#include <vector>

#include "io/image_decode.h"

namespace vggtl {

namespace {

DecodeResult tiff_fail(const std::string& why) { return DecodeResult::failure(ImageFormat::Tiff, why); }

class TiffReader {
 public:
  TiffReader(const uint8_t* data, size_t size) : d_(data), n_(size), big_endian_(data[0] == 'M') {}

  uint32_t u16(size_t at) const {
    return big_endian_ ? (d_[at] << 8) | d_[at + 1] : d_[at] | (d_[at + 1] << 8);
  }
  uint32_t u32(size_t at) const {
    return big_endian_ ? (static_cast<uint32_t>(d_[at]) << 24) | (d_[at + 1] << 16) | (d_[at + 2] << 8) | d_[at + 3]
                       : d_[at] | (d_[at + 1] << 8) | (d_[at + 2] << 16) | (static_cast<uint32_t>(d_[at + 3]) << 24);
  }
  bool big_endian() const { return big_endian_; }

  // Reads the first IFD into tag -> values (BYTE, SHORT and LONG values only; others skipped).
  std::string read_ifd(std::map<uint32_t, std::vector<uint32_t>>* tags) const {
    if (n_ < 8) return "truncated TIFF header";
    const size_t ifd = u32(4);
    if (ifd + 2 > n_) return "truncated TIFF directory";
    const uint32_t count = u16(ifd);
    if (ifd + 2 + 12ull * count > n_) return "truncated TIFF directory";
    for (uint32_t i = 0; i < count; ++i) {
      const size_t e = ifd + 2 + 12 * static_cast<size_t>(i);
      const uint32_t tag = u16(e), type = u16(e + 2), n = u32(e + 4);
      const size_t width = type == 1 ? 1 : type == 3 ? 2 : type == 4 ? 4 : 0;
      if (width == 0) continue;
      if (n > (1u << 24)) return "TIFF: implausible value count";
      const size_t bytes = width * n;
      const size_t at = bytes <= 4 ? e + 8 : u32(e + 8);
      if (at + bytes > n_) return "truncated TIFF directory";
      std::vector<uint32_t>& v = (*tags)[tag];
      v.resize(n);
      for (uint32_t k = 0; k < n; ++k)
        v[k] = width == 1 ? d_[at + k] : width == 2 ? u16(at + 2 * k) : u32(at + 4 * k);
    }
    return {};
  }

 private:
  const uint8_t* d_;
  size_t n_;
  bool big_endian_;
};

bool unpack_packbits(const uint8_t* in, size_t n, uint8_t* out, size_t want) {
  size_t i = 0, o = 0;
  while (i < n && o < want) {
    const int c = static_cast<int8_t>(in[i++]);
    if (c >= 0) {
      const size_t len = std::min<size_t>(static_cast<size_t>(c) + 1, want - o);
      if (i + len > n) return false;
      std::memcpy(out + o, in + i, len);
      i += static_cast<size_t>(c) + 1;
      o += len;
    } else if (c != -128) {
      if (i >= n) return false;
      const size_t len = std::min<size_t>(static_cast<size_t>(1 - c), want - o);
      std::memset(out + o, in[i++], len);
      o += len;
    }
  }
  return o == want;
}

// TIFF LZW: MSB-first codes of 9..12 bits, Clear 256, EOI 257, code width grows one code early.
bool unpack_lzw(const uint8_t* in, size_t n, uint8_t* out, size_t want) {
  if (n >= 2 && in[0] == 0 && (in[1] & 1)) return false;  // pre-6.0 LSB-first LZW
  std::vector<uint16_t> prefix(4096);
  std::vector<uint8_t> suffix(4096), first(4096);
  std::vector<uint16_t> length(4096);
  for (int i = 0; i < 256; ++i) {
    suffix[i] = first[i] = static_cast<uint8_t>(i);
    length[i] = 1;
  }
  size_t bitpos = 0, o = 0;
  int width = 9, next = 258, old = -1;
  while (o < want) {
    if ((bitpos + width + 7) / 8 > n) break;
    uint32_t code = 0;
    for (int b = 0; b < width; ++b, ++bitpos) code = (code << 1) | ((in[bitpos >> 3] >> (7 - (bitpos & 7))) & 1);
    if (code == 257) break;
    if (code == 256) {
      width = 9;
      next = 258;
      old = -1;
      continue;
    }
    int emit = static_cast<int>(code);
    if (old < 0) {
      if (code > 255) return false;
    } else if (static_cast<int>(code) <= next && next < 4096) {
      // New entry: string(old) + first byte of string(code); for code == next that byte is
      // first[old], which first[code] also holds once the entry is written.
      prefix[next] = static_cast<uint16_t>(old);
      first[next] = first[old];
      suffix[next] = static_cast<int>(code) < next ? first[code] : first[old];
      length[next] = static_cast<uint16_t>(length[old] + 1);
      ++next;
    } else if (static_cast<int>(code) >= next) {
      return false;
    }
    // Write the string of `emit` backwards from its end, clipped to the output size.
    const size_t len = length[emit];
    for (size_t k = len; k-- > 0;) {
      if (o + k < want) out[o + k] = suffix[emit];
      emit = prefix[emit];
    }
    o += len;
    old = static_cast<int>(code);
    if (next >= 511 && width == 9) width = 10;
    else if (next >= 1023 && width == 10) width = 11;
    else if (next >= 2047 && width == 11) width = 12;
  }
  return o >= want;
}

bool unpack_deflate(const uint8_t* in, size_t n, uint8_t* out, size_t want) {
  z_stream z;
  std::memset(&z, 0, sizeof z);
  if (inflateInit(&z) != Z_OK) return false;
  z.next_in = const_cast<Bytef*>(in);
  z.avail_in = static_cast<uInt>(n);
  z.next_out = out;
  z.avail_out = static_cast<uInt>(want);
  int rc = Z_OK;
  while (rc == Z_OK && z.avail_out > 0) rc = inflate(&z, Z_NO_FLUSH);
  const bool ok = z.avail_out == 0 && (rc == Z_OK || rc == Z_STREAM_END || rc == Z_BUF_ERROR);
  inflateEnd(&z);
  return ok;
}

uint32_t tag1(const std::map<uint32_t, std::vector<uint32_t>>& t, uint32_t tag, uint32_t fallback) {
  auto it = t.find(tag);
  return it == t.end() || it->second.empty() ? fallback : it->second[0];
}

}  // namespace

DecodeResult decode_tiff(const uint8_t* data, size_t size, RgbImage* out) {
  TiffReader r(data, size);
  std::map<uint32_t, std::vector<uint32_t>> tags;
  const std::string problem = r.read_ifd(&tags);
  if (!problem.empty()) return tiff_fail(problem);

  const int64_t width = tag1(tags, 256, 0), height = tag1(tags, 257, 0);
  const std::string size_problem = check_image_size(width, height);
  if (!size_problem.empty()) return tiff_fail(size_problem);
  const uint32_t compression = tag1(tags, 259, 1), photometric = tag1(tags, 262, 1u << 16);
  const uint32_t spp = tag1(tags, 277, 1), planar = tag1(tags, 284, 1), predictor = tag1(tags, 317, 1);
  const uint32_t bits = tag1(tags, 258, 1);
  if (tags.count(322)) return tiff_fail("TIFF: tiled images are not supported");
  if (compression != 1 && compression != 5 && compression != 8 && compression != 32946 && compression != 32773)
    return tiff_fail("TIFF: compression " + std::to_string(compression) + " is not supported");
  if (tag1(tags, 339, 1) != 1) return tiff_fail("TIFF: only unsigned integer samples are supported");
  if (tag1(tags, 266, 1) != 1) return tiff_fail("TIFF: fill order 2 is not supported");
  if (auto it = tags.find(258); it != tags.end())
    for (uint32_t b : it->second)
      if (b != bits) return tiff_fail("TIFF: mixed bits per sample");
  if (bits != 1 && bits != 2 && bits != 4 && bits != 8 && bits != 16)
    return tiff_fail("TIFF: " + std::to_string(bits) + "-bit samples are not supported");
  if (predictor != 1 && !(predictor == 2 && bits >= 8)) return tiff_fail("TIFF: unsupported predictor");
  if (spp == 0 || spp > 8 || (spp > 1 && bits < 8)) return tiff_fail("TIFF: unsupported sample layout");

  int colour_samples;
  switch (photometric) {
    case 0:
    case 1: colour_samples = 1; break;
    case 2: colour_samples = 3; break;
    case 3: colour_samples = 1; break;
    case 5: colour_samples = 4; break;
    default: return tiff_fail("TIFF: photometric interpretation " + std::to_string(photometric) + " is not supported");
  }
  if (static_cast<int>(spp) < colour_samples) return tiff_fail("TIFF: too few samples per pixel");
  if (photometric == 5 && bits != 8) return tiff_fail("TIFF: only 8-bit CMYK is supported");
  if (photometric == 3 && bits > 8) return tiff_fail("TIFF: palette images deeper than 8 bits");

  // Decompress every strip into one buffer: chunky (rows x row_bytes) or planar (spp planes).
  const size_t w = static_cast<size_t>(width), h = static_cast<size_t>(height);
  const int planes = planar == 2 ? static_cast<int>(spp) : 1;
  const size_t row_samples = planar == 2 ? w : w * spp;
  const size_t row_bytes = (row_samples * bits + 7) / 8;
  const uint32_t rows_per_strip = std::min<uint32_t>(tag1(tags, 278, 0xFFFFFFFFu), static_cast<uint32_t>(h));
  if (rows_per_strip == 0) return tiff_fail("TIFF: RowsPerStrip is 0");
  const size_t strips_per_plane = (h + rows_per_strip - 1) / rows_per_strip;
  const auto offsets = tags.find(273), counts = tags.find(279);
  if (offsets == tags.end() || offsets->second.size() < strips_per_plane * planes)
    return tiff_fail("TIFF: missing strip offsets");
  if (compression == 1) {  // uncompressed strips must hold their rows: check before allocating
    for (size_t s = 0; s < strips_per_plane * planes; ++s) {
      const size_t rows = std::min<size_t>(rows_per_strip, h - (s % strips_per_plane) * rows_per_strip);
      if (offsets->second[s] > size || size - offsets->second[s] < rows * row_bytes)
        return tiff_fail("truncated TIFF data");
    }
  }
  std::vector<uint8_t> raw(row_bytes * h * planes);
  for (size_t s = 0; s < strips_per_plane * planes; ++s) {
    const size_t plane = s / strips_per_plane, first_row = (s % strips_per_plane) * rows_per_strip;
    const size_t rows = std::min<size_t>(rows_per_strip, h - first_row);
    const size_t want = rows * row_bytes;
    uint8_t* dst = raw.data() + (plane * h + first_row) * row_bytes;
    const size_t at = offsets->second[s];
    size_t n = counts != tags.end() && s < counts->second.size() ? counts->second[s] : want;
    if (at > size) return tiff_fail("truncated TIFF data");
    n = std::min(n, size - at);
    bool ok;
    if (compression == 1) {
      ok = n >= want;
      if (ok) std::memcpy(dst, data + at, want);
    } else if (compression == 32773) {
      ok = unpack_packbits(data + at, n, dst, want);
    } else if (compression == 5) {
      ok = unpack_lzw(data + at, n, dst, want);
    } else {
      ok = unpack_deflate(data + at, n, dst, want);
    }
    if (!ok) return tiff_fail("truncated or corrupt TIFF strip " + std::to_string(s));
  }

  const bool be = r.big_endian();
  auto u16_at = [&](const uint8_t* p) -> uint32_t { return be ? (p[0] << 8) | p[1] : p[0] | (p[1] << 8); };
  if (predictor == 2) {
    const size_t stride = planar == 2 ? 1 : spp;
    for (size_t row = 0; row < h * planes; ++row) {
      uint8_t* p = raw.data() + row * row_bytes;
      for (size_t i = stride; i < row_samples; ++i) {
        if (bits == 8) {
          p[i] = static_cast<uint8_t>(p[i] + p[i - stride]);
        } else {
          const uint32_t v = (u16_at(p + 2 * i) + u16_at(p + 2 * (i - stride))) & 0xFFFF;
          p[2 * i] = static_cast<uint8_t>(be ? v >> 8 : v);
          p[2 * i + 1] = static_cast<uint8_t>(be ? v : v >> 8);
        }
      }
    }
  }

  // Sample c of pixel (x, y), as stored.
  auto sample = [&](size_t x, size_t y, size_t c) -> uint32_t {
    const size_t plane = planar == 2 ? c : 0;
    const size_t index = planar == 2 ? x : x * spp + c;
    const uint8_t* row = raw.data() + (plane * h + y) * row_bytes;
    if (bits == 16) return u16_at(row + 2 * index);
    if (bits == 8) return row[index];
    const size_t bit = index * bits;
    return (row[bit >> 3] >> (8 - bits - (bit & 7))) & ((1u << bits) - 1);
  };
  auto to8 = [&](uint32_t v) -> uint8_t {
    if (bits == 16) return scale16_to_8(v);
    return static_cast<uint8_t>(v * (255u / ((1u << bits) - 1)));
  };

  uint8_t palette[256 * 3];
  if (photometric == 3) {
    const auto map = tags.find(320);
    const size_t entries = size_t{1} << bits;
    if (map == tags.end() || map->second.size() < 3 * entries) return tiff_fail("TIFF: missing colour map");
    for (size_t i = 0; i < entries; ++i)
      for (int c = 0; c < 3; ++c) palette[3 * i + c] = static_cast<uint8_t>(map->second[c * entries + i] >> 8);
  }
  const bool associated_alpha = photometric == 2 && spp >= 4 && bits == 8 && tag1(tags, 338, 0) == 1;

  out->reset(static_cast<int>(w), static_cast<int>(h));
  for (size_t y = 0; y < h; ++y) {
    uint8_t* dst = out->row(static_cast<int>(y));
    for (size_t x = 0; x < w; ++x, dst += 3) {
      switch (photometric) {
        case 0:
        case 1: {
          const uint8_t v = to8(sample(x, y, 0));
          dst[0] = dst[1] = dst[2] = photometric == 0 ? static_cast<uint8_t>(255 - v) : v;
          break;
        }
        case 3:
          std::memcpy(dst, palette + 3 * sample(x, y, 0), 3);
          break;
        case 2:
          for (int c = 0; c < 3; ++c) dst[c] = to8(sample(x, y, c));
          if (associated_alpha) {
            const uint32_t a = sample(x, y, 3);
            for (int c = 0; c < 3; ++c)
              dst[c] = a == 0 ? 0 : static_cast<uint8_t>(std::min<uint32_t>(255, dst[c] * 255u / a));
          }
          break;
        case 5: {
          const int nk = 255 - static_cast<int>(sample(x, y, 3));
          for (int c = 0; c < 3; ++c) dst[c] = static_cast<uint8_t>(nk - muldiv255(static_cast<int>(sample(x, y, c)), nk));
          break;
        }
      }
    }
  }
  return DecodeResult::success(ImageFormat::Tiff);
}

}  // namespace vggtl
