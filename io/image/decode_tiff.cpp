// TIFF to RGB through libtiff (client I/O over the bytes in memory, per-file error handlers):
// the first image of the file, strips or tiles, uncompressed, PackBits, LZW or Deflate, with
// the horizontal predictor undone by libtiff's LZW and Deflate codecs (a Predictor tag on
// uncompressed or PackBits strips is ignored, as libtiff and the TIFF 6.0 spec do); grey (1/2/4/8/16-bit, either polarity), palette (1/2/4/8-bit), RGB
// (8/16-bit, extra samples dropped, associated alpha divided out as Pillow's RGBa unpacker
// does), CMYK 8-bit. JPEG/CCITT and other compressions, YCbCr, Lab, float or signed samples are
// reported unsupported. Pixel rules as in PIL (palette entries take the high byte), except
// 16-bit samples: scale16_to_8. Tests: tests/io/test_image_decode.cpp, test_pil_pixels.cpp.
#include <tiffio.h>

#include <algorithm>
#include <cstdarg>
#include <cstdio>
#include <cstring>
#include <limits>
#include <memory>
#include <vector>

#include "io/image/image_decode.h"

namespace vggtl {

namespace {

DecodeResult tiff_fail(const std::string& why) { return DecodeResult::failure(ImageFormat::Tiff, why); }

// The file in memory, as libtiff's client I/O (read-only; mapped, so strips are not copied).
struct MemoryFile {
  const uint8_t* data;
  size_t size;
  size_t pos = 0;
  std::string error;  // libtiff's first error message for this file
  std::string table_warning;  // libtiff's first warning that it replaced a strip or tile table
};

tmsize_t mem_read(thandle_t h, void* buf, tmsize_t n) {
  MemoryFile* f = static_cast<MemoryFile*>(h);
  if (n <= 0 || f->pos >= f->size) return 0;
  const size_t k = std::min(static_cast<size_t>(n), f->size - f->pos);
  std::memcpy(buf, f->data + f->pos, k);
  f->pos += k;
  return static_cast<tmsize_t>(k);
}
tmsize_t mem_write(thandle_t, void*, tmsize_t) { return -1; }
toff_t mem_seek(thandle_t h, toff_t off, int whence) {
  MemoryFile* f = static_cast<MemoryFile*>(h);
  const uint64_t base = whence == SEEK_CUR ? f->pos : whence == SEEK_END ? f->size : 0;
  const uint64_t to = base + off;  // offsets past the end are allowed, reads there return 0
  if (to < base && whence != SEEK_SET) return static_cast<toff_t>(-1);
  f->pos = static_cast<size_t>(std::min<uint64_t>(to, std::numeric_limits<size_t>::max()));
  return to;
}
int mem_close(thandle_t) { return 0; }
toff_t mem_size(thandle_t h) { return static_cast<MemoryFile*>(h)->size; }
int mem_map(thandle_t h, void** base, toff_t* size) {
  MemoryFile* f = static_cast<MemoryFile*>(h);
  *base = const_cast<uint8_t*>(f->data);
  *size = f->size;
  return 1;
}
void mem_unmap(thandle_t, void*, toff_t) {}

// Per-file handlers: the first error becomes the reason; warnings (unknown tags, ...) are
// dropped. Returning 1 keeps libtiff's global handlers (stderr) silent.
constexpr const char* kClientName = "tiff";

int on_error(TIFF*, void* user, const char* module, const char* fmt, va_list ap) {
  MemoryFile* f = static_cast<MemoryFile*>(user);
  if (f->error.empty()) {
    char buf[256];
    std::vsnprintf(buf, sizeof buf, fmt, ap);
    f->error = buf;
    // libtiff starts many messages with the name given to TIFFClientOpenExt: not news here.
    const std::string name = std::string(kClientName) + ": ";
    if (f->error.rfind(name, 0) == 0) f->error.erase(0, name.size());
  }
  return 1;
}
// Warnings are dropped (unknown tags, ...), except those saying that libtiff ignored a strip or
// tile table whose count is wrong and made one up (offset 0: the header read as pixels): such a
// file would "decode" to garbage, so it is bad.
int on_warning(TIFF*, void* user, const char*, const char* fmt, va_list ap) {
  MemoryFile* f = static_cast<MemoryFile*>(user);
  char buf[256];
  std::vsnprintf(buf, sizeof buf, fmt, ap);
  const std::string w = buf;
  const bool table = w.find("Offsets") != std::string::npos || w.find("ByteCounts") != std::string::npos;
  if (table && w.find("missing required") == std::string::npos && f->table_warning.empty()) f->table_warning = w;
  return 1;
}

struct TiffCloser {
  void operator()(TIFF* t) const { TIFFClose(t); }
};
struct OptionsFreer {
  void operator()(TIFFOpenOptions* o) const { TIFFOpenOptionsFree(o); }
};

// The image's samples as stored, decompressed (predictor undone, 16-bit in host order): chunky
// (h rows of row_bytes) or planar (spp planes of h rows). Strips or tiles.
std::string read_samples(TIFF* tif, size_t w, size_t h, int planes, size_t row_bytes, size_t pixel_bits,
                         std::vector<uint8_t>* raw, const MemoryFile& file) {
  raw->assign(row_bytes * h * static_cast<size_t>(planes), 0);
  auto fail = [&](const std::string& what) { return file.error.empty() ? what : "TIFF: " + file.error; };
  if (!TIFFIsTiled(tif)) {
    uint32_t rows_per_strip = 0;
    TIFFGetFieldDefaulted(tif, TIFFTAG_ROWSPERSTRIP, &rows_per_strip);
    if (rows_per_strip == 0) return "TIFF: RowsPerStrip is 0";
    const size_t rps = std::min<size_t>(rows_per_strip, h);
    const size_t strips_per_plane = (h + rps - 1) / rps;
    if (TIFFNumberOfStrips(tif) < strips_per_plane * static_cast<size_t>(planes)) return "TIFF: missing strip offsets";
    for (size_t s = 0; s < strips_per_plane * static_cast<size_t>(planes); ++s) {
      const size_t plane = s / strips_per_plane, first_row = (s % strips_per_plane) * rps;
      const size_t want = std::min(rps, h - first_row) * row_bytes;
      uint8_t* dst = raw->data() + (plane * h + first_row) * row_bytes;
      if (TIFFReadEncodedStrip(tif, static_cast<uint32_t>(s), dst, static_cast<tmsize_t>(want)) !=
          static_cast<tmsize_t>(want))
        return fail("truncated or corrupt TIFF strip " + std::to_string(s));
    }
    return {};
  }
  uint32_t tw = 0, th = 0;
  TIFFGetField(tif, TIFFTAG_TILEWIDTH, &tw);
  TIFFGetField(tif, TIFFTAG_TILELENGTH, &th);
  const tmsize_t tile_bytes = TIFFTileSize(tif), tile_row = TIFFTileRowSize(tif);
  if (tw == 0 || th == 0 || tile_bytes <= 0 || tile_row <= 0) return fail("TIFF: bad tile size");
  // A tile may overhang a small image, but a damaged header must not make us allocate gigabytes
  // for a few pixels: beyond the image's own size plus 16 MiB it is refused.
  if (static_cast<size_t>(tile_bytes) > 4 * raw->size() + (size_t{16} << 20))
    return "TIFF: tiles of " + std::to_string(tw) + "x" + std::to_string(th) + " for a " + std::to_string(w) + "x" +
           std::to_string(h) + " image";
  std::vector<uint8_t> tile(static_cast<size_t>(tile_bytes));
  for (int plane = 0; plane < planes; ++plane)
    for (size_t ty = 0; ty < h; ty += th)
      for (size_t tx = 0; tx < w; tx += tw) {
        const uint32_t t = TIFFComputeTile(tif, static_cast<uint32_t>(tx), static_cast<uint32_t>(ty), 0,
                                           static_cast<uint16_t>(plane));
        if (TIFFReadEncodedTile(tif, t, tile.data(), tile_bytes) != tile_bytes)
          return fail("truncated or corrupt TIFF tile " + std::to_string(t));
        // Tile widths are multiples of 16, so a tile starts on a byte at any bit depth.
        const size_t at = std::min(tx * pixel_bits / 8, row_bytes);
        const size_t n = std::min(static_cast<size_t>(tile_row), row_bytes - at);
        for (size_t y = ty; y < std::min<size_t>(ty + th, h); ++y)
          std::memcpy(raw->data() + (static_cast<size_t>(plane) * h + y) * row_bytes + at,
                      tile.data() + (y - ty) * static_cast<size_t>(tile_row), n);
      }
  return {};
}

}  // namespace

DecodeResult decode_tiff(const uint8_t* data, size_t size, RgbImage* out) {
  MemoryFile file{data, size, 0, {}, {}};
  std::unique_ptr<TIFFOpenOptions, OptionsFreer> options(TIFFOpenOptionsAlloc());
  if (!options) return tiff_fail("TIFF: out of memory");
  TIFFOpenOptionsSetErrorHandlerExtR(options.get(), on_error, &file);
  TIFFOpenOptionsSetWarningHandlerExtR(options.get(), on_warning, &file);
  // No single libtiff buffer beyond what the largest image we accept needs (16-bit RGBA).
  TIFFOpenOptionsSetMaxSingleMemAlloc(options.get(), static_cast<tmsize_t>(kMaxImagePixels) * 8);
  // "rm": read, memory-mapped through mem_map (no copy of strips that are stored plain).
  std::unique_ptr<TIFF, TiffCloser> tif(TIFFClientOpenExt(kClientName, "rm", &file, mem_read, mem_write, mem_seek,
                                                          mem_close, mem_size, mem_map, mem_unmap, options.get()));
  if (!tif) return tiff_fail(file.error.empty() ? "not a readable TIFF file" : "TIFF: " + file.error);
  if (!file.table_warning.empty()) return tiff_fail("TIFF: damaged strip or tile table (" + file.table_warning + ")");
  TIFF* t = tif.get();

  uint32_t w32 = 0, h32 = 0;
  TIFFGetField(t, TIFFTAG_IMAGEWIDTH, &w32);
  TIFFGetField(t, TIFFTAG_IMAGELENGTH, &h32);
  const int64_t width = w32, height = h32;
  const std::string size_problem = check_image_size(width, height);
  if (!size_problem.empty()) return tiff_fail(size_problem);
  uint16_t compression = 1, photometric_tag = 0, spp16 = 1, planar = 1, bits16 = 1, format = 1, extra_count = 0;
  uint16_t* extra = nullptr;
  TIFFGetFieldDefaulted(t, TIFFTAG_COMPRESSION, &compression);
  const bool has_photometric = TIFFGetField(t, TIFFTAG_PHOTOMETRIC, &photometric_tag) == 1;
  TIFFGetFieldDefaulted(t, TIFFTAG_SAMPLESPERPIXEL, &spp16);
  TIFFGetFieldDefaulted(t, TIFFTAG_PLANARCONFIG, &planar);
  TIFFGetFieldDefaulted(t, TIFFTAG_BITSPERSAMPLE, &bits16);
  TIFFGetFieldDefaulted(t, TIFFTAG_SAMPLEFORMAT, &format);
  TIFFGetFieldDefaulted(t, TIFFTAG_EXTRASAMPLES, &extra_count, &extra);
  const uint32_t photometric = has_photometric ? photometric_tag : 1u << 16, spp = spp16, bits = bits16;
  // The codecs Pillow's own TIFF plugin reads without libtiff's JPEG or fax support.
  if (compression != COMPRESSION_NONE && compression != COMPRESSION_LZW && compression != COMPRESSION_ADOBE_DEFLATE &&
      compression != COMPRESSION_DEFLATE && compression != COMPRESSION_PACKBITS)
    return tiff_fail("TIFF: compression " + std::to_string(compression) + " is not supported");
  if (!TIFFIsCODECConfigured(compression))
    return tiff_fail("TIFF: compression " + std::to_string(compression) + " is not built into libtiff");
  if (format != SAMPLEFORMAT_UINT) return tiff_fail("TIFF: only unsigned integer samples are supported");
  if (bits != 1 && bits != 2 && bits != 4 && bits != 8 && bits != 16)
    return tiff_fail("TIFF: " + std::to_string(bits) + "-bit samples are not supported");
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

  const size_t w = static_cast<size_t>(width), h = static_cast<size_t>(height);
  const int planes = planar == PLANARCONFIG_SEPARATE ? static_cast<int>(spp) : 1;
  const size_t row_samples = planes > 1 ? w : w * spp;
  const size_t row_bytes = (row_samples * bits + 7) / 8;
  std::vector<uint8_t> raw;
  const std::string problem =
      read_samples(t, w, h, planes, row_bytes, (planes > 1 ? 1 : spp) * bits, &raw, file);
  if (!problem.empty()) return tiff_fail(problem);

  // Sample c of pixel (x, y), as stored.
  auto sample = [&](size_t x, size_t y, size_t c) -> uint32_t {
    const size_t plane = planes > 1 ? c : 0;
    const size_t index = planes > 1 ? x : x * spp + c;
    const uint8_t* row = raw.data() + (plane * h + y) * row_bytes;
    if (bits == 16) {
      uint16_t v;
      std::memcpy(&v, row + 2 * index, 2);
      return v;
    }
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
    uint16_t *red = nullptr, *green = nullptr, *blue = nullptr;
    if (TIFFGetField(t, TIFFTAG_COLORMAP, &red, &green, &blue) != 1 || !red || !green || !blue)
      return tiff_fail("TIFF: missing colour map");
    const size_t entries = size_t{1} << bits;  // libtiff holds exactly this many
    for (size_t i = 0; i < entries; ++i) {
      palette[3 * i] = static_cast<uint8_t>(red[i] >> 8);
      palette[3 * i + 1] = static_cast<uint8_t>(green[i] >> 8);
      palette[3 * i + 2] = static_cast<uint8_t>(blue[i] >> 8);
    }
  }
  const bool associated_alpha =
      photometric == 2 && spp >= 4 && bits == 8 && extra_count >= 1 && extra[0] == EXTRASAMPLE_ASSOCALPHA;

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
