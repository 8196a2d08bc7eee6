// Test image encoders (see image_writer.h). libjpeg and libpng errors longjmp back here and
// become std::runtime_error; the other formats are assembled byte by byte.
#include "support/image_writer.h"

#include <cmath>
#include <csetjmp>
#include <cstddef>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <iterator>
#include <map>
#include <random>
#include <stdexcept>

#include <jpeglib.h>
#include <png.h>
#include <zlib.h>

namespace vggtl::test {

std::vector<uint8_t> pattern_image(int width, int height, int channels, uint32_t seed) {
  std::vector<uint8_t> out(static_cast<size_t>(width) * height * channels);
  const double phase = seed * 0.7;
  for (int y = 0; y < height; ++y) {
    for (int x = 0; x < width; ++x) {
      const double u = (x + 0.5) / width, v = (y + 0.5) / height;
      const double blob = std::exp(-((u - 0.6) * (u - 0.6) + (v - 0.4) * (v - 0.4)) * 18.0);
      const double values[4] = {
          40 + 170 * u + 40 * blob,
          30 + 150 * v + 60 * std::sin(6.0 * u + phase) * 0.5,
          200 - 120 * u * v + 50 * blob,
          60 + 100 * (1 - v) + 30 * std::cos(5.0 * v + phase),
      };
      for (int c = 0; c < channels; ++c) {
        const double s = channels == 1 ? (values[0] + values[1] + values[2]) / 3 : values[c];
        out[(static_cast<size_t>(y) * width + x) * channels + c] =
            static_cast<uint8_t>(std::lround(std::min(255.0, std::max(0.0, s))));
      }
    }
  }
  return out;
}

std::vector<uint8_t> random_bytes(size_t n, uint32_t seed) {
  std::mt19937 rng(seed);
  std::vector<uint8_t> out(n);
  for (uint8_t& b : out) b = static_cast<uint8_t>(rng() >> 24);
  return out;
}

void write_file(const std::string& path, const std::vector<uint8_t>& bytes) {
  std::ofstream f(path, std::ios::binary);
  f.write(reinterpret_cast<const char*>(bytes.data()), static_cast<std::streamsize>(bytes.size()));
  if (!f) throw std::runtime_error("write_file: cannot write " + path);
}

std::vector<uint8_t> read_file(const std::string& path) {
  std::ifstream f(path, std::ios::binary);
  if (!f) throw std::runtime_error("read_file: cannot open " + path);
  return std::vector<uint8_t>(std::istreambuf_iterator<char>(f), std::istreambuf_iterator<char>());
}

// ---------------------------------------------------------------- JPEG

namespace {

struct JpegWriteError {
  jpeg_error_mgr mgr;
  std::jmp_buf jump;
  char message[JMSG_LENGTH_MAX];
};

void jpeg_write_error_exit(j_common_ptr cinfo) {
  auto* e = reinterpret_cast<JpegWriteError*>(cinfo->err);
  e->mgr.format_message(cinfo, e->message);
  std::longjmp(e->jump, 1);
}

}  // namespace

std::vector<uint8_t> encode_jpeg(const uint8_t* samples, int width, int height, const JpegOptions& opt) {
  jpeg_compress_struct c;
  JpegWriteError err;
  unsigned char* buffer = nullptr;
  unsigned long size = 0;
  std::memset(&c, 0, sizeof c);
  c.err = jpeg_std_error(&err.mgr);
  err.mgr.error_exit = jpeg_write_error_exit;
  if (setjmp(err.jump)) {
    jpeg_destroy_compress(&c);
    std::free(buffer);
    throw std::runtime_error(std::string("encode_jpeg: ") + err.message);
  }
  jpeg_create_compress(&c);
  jpeg_mem_dest(&c, &buffer, &size);
  c.image_width = static_cast<JDIMENSION>(width);
  c.image_height = static_cast<JDIMENSION>(height);
  switch (opt.color) {
    case JpegColor::YCbCr:
    case JpegColor::Rgb: c.input_components = 3, c.in_color_space = JCS_RGB; break;
    case JpegColor::Gray: c.input_components = 1, c.in_color_space = JCS_GRAYSCALE; break;
    case JpegColor::Cmyk:
    case JpegColor::Ycck: c.input_components = 4, c.in_color_space = JCS_CMYK; break;
  }
  jpeg_set_defaults(&c);
  if (opt.color == JpegColor::Rgb) jpeg_set_colorspace(&c, JCS_RGB);
  if (opt.color == JpegColor::Cmyk) jpeg_set_colorspace(&c, JCS_CMYK);
  if (opt.color == JpegColor::Ycck) jpeg_set_colorspace(&c, JCS_YCCK);
  jpeg_set_quality(&c, opt.quality, TRUE);
  for (int i = 0; i < c.num_components; ++i) {
    const bool full = i == 0 || i == 3;  // luma (or C) and K carry the chosen factors
    c.comp_info[i].h_samp_factor = full ? opt.h_samp : 1;
    c.comp_info[i].v_samp_factor = full ? opt.v_samp : 1;
  }
  c.restart_interval = static_cast<unsigned int>(opt.restart_interval);
  c.arith_code = opt.arithmetic ? TRUE : FALSE;
  if (opt.progressive) jpeg_simple_progression(&c);
  jpeg_start_compress(&c, TRUE);
  const size_t stride = static_cast<size_t>(width) * c.input_components;
  while (c.next_scanline < c.image_height) {
    JSAMPROW row = const_cast<JSAMPROW>(samples + stride * c.next_scanline);
    jpeg_write_scanlines(&c, &row, 1);
  }
  jpeg_finish_compress(&c);
  jpeg_destroy_compress(&c);
  std::vector<uint8_t> out(buffer, buffer + size);
  std::free(buffer);
  return out;
}

std::vector<uint8_t> jpeg_claiming_size(int width, int height) {
  const std::vector<uint8_t> pixels = pattern_image(16, 16, 1);
  JpegOptions opt;
  opt.color = JpegColor::Gray;
  std::vector<uint8_t> jpeg = encode_jpeg(pixels.data(), 16, 16, opt);
  // Walk the marker segments after SOI to the frame header (SOF0..SOF2).
  size_t pos = 2;
  while (pos + 9 < jpeg.size()) {
    if (jpeg[pos] != 0xFF) throw std::runtime_error("jpeg_claiming_size: lost marker sync");
    const uint8_t marker = jpeg[pos + 1];
    const size_t length = (jpeg[pos + 2] << 8) | jpeg[pos + 3];
    if (marker >= 0xC0 && marker <= 0xC2) {
      jpeg[pos + 5] = static_cast<uint8_t>(height >> 8), jpeg[pos + 6] = static_cast<uint8_t>(height);
      jpeg[pos + 7] = static_cast<uint8_t>(width >> 8), jpeg[pos + 8] = static_cast<uint8_t>(width);
      return jpeg;
    }
    pos += 2 + length;
  }
  throw std::runtime_error("jpeg_claiming_size: no frame header");
}

// ---------------------------------------------------------------- PNG

namespace {

struct PngWriteState {
  std::vector<uint8_t> bytes;
  char message[200];
};

void png_write_error(png_structp png, png_const_charp msg) {
  auto* st = static_cast<PngWriteState*>(png_get_error_ptr(png));
  std::snprintf(st->message, sizeof st->message, "%s", msg);
  png_longjmp(png, 1);
}
void png_write_warning(png_structp, png_const_charp) {}
void png_write_bytes(png_structp png, png_bytep data, size_t n) {
  auto* st = static_cast<PngWriteState*>(png_get_io_ptr(png));
  st->bytes.insert(st->bytes.end(), data, data + n);
}
void png_flush_nothing(png_structp) {}

int png_channels(PngColor c) {
  switch (c) {
    case PngColor::Gray:
    case PngColor::Palette: return 1;
    case PngColor::GrayAlpha: return 2;
    case PngColor::Rgb: return 3;
    case PngColor::Rgba: return 4;
  }
  return 0;
}

// Packs samples of `bits` each into bytes, MSB first (16-bit: big-endian).
void pack_row(const uint16_t* samples, size_t n, int bits, uint8_t* out) {
  if (bits == 16) {
    for (size_t i = 0; i < n; ++i) out[2 * i] = static_cast<uint8_t>(samples[i] >> 8), out[2 * i + 1] = static_cast<uint8_t>(samples[i]);
    return;
  }
  if (bits == 8) {
    for (size_t i = 0; i < n; ++i) out[i] = static_cast<uint8_t>(samples[i]);
    return;
  }
  std::memset(out, 0, (n * bits + 7) / 8);
  for (size_t i = 0; i < n; ++i) {
    const size_t bit = i * bits;
    out[bit / 8] |= static_cast<uint8_t>((samples[i] & ((1 << bits) - 1)) << (8 - bits - bit % 8));
  }
}

// The libpng calls, in a frame whose locals are all trivially destructible, so that libpng's
// longjmp on an error skips no destructor. False (st->message says why) on an error.
bool write_png(int width, int height, const PngOptions& opt, const png_color* palette, int palette_size,
               png_bytep* rows, PngWriteState* st) {
  png_structp png = png_create_write_struct(PNG_LIBPNG_VER_STRING, st, png_write_error, png_write_warning);
  if (!png) {
    std::snprintf(st->message, sizeof st->message, "png_create_write_struct failed");
    return false;
  }
  png_infop info = png_create_info_struct(png);
  if (setjmp(png_jmpbuf(png))) {
    png_destroy_write_struct(&png, &info);
    return false;
  }
  if (!info) png_error(png, "png_create_info_struct failed");
  png_set_write_fn(png, st, png_write_bytes, png_flush_nothing);
  png_set_check_for_invalid_index(png, 0);  // tests write indices past the palette on purpose
  png_set_IHDR(png, info, static_cast<png_uint_32>(width), static_cast<png_uint_32>(height), opt.bit_depth,
               static_cast<int>(opt.color), opt.interlaced ? PNG_INTERLACE_ADAM7 : PNG_INTERLACE_NONE,
               PNG_COMPRESSION_TYPE_DEFAULT, PNG_FILTER_TYPE_DEFAULT);
  if (palette_size > 0) png_set_PLTE(png, info, palette, palette_size);
  if (!opt.trns.empty())
    png_set_tRNS(png, info, const_cast<png_bytep>(opt.trns.data()), static_cast<int>(opt.trns.size()), nullptr);
  if (!opt.trns_color.empty()) {
    png_color_16 colour{};
    colour.gray = opt.trns_color[0];
    if (opt.trns_color.size() >= 3) colour.red = opt.trns_color[0], colour.green = opt.trns_color[1], colour.blue = opt.trns_color[2];
    png_set_tRNS(png, info, nullptr, 0, &colour);
  }
  png_write_info(png, info);
  png_write_image(png, rows);
  png_write_end(png, nullptr);
  png_destroy_write_struct(&png, &info);
  return true;
}

}  // namespace

std::vector<uint8_t> encode_png(const std::vector<uint16_t>& samples, int width, int height, const PngOptions& opt) {
  const int channels = png_channels(opt.color);
  if (samples.size() != static_cast<size_t>(width) * height * channels)
    throw std::runtime_error("encode_png: wrong number of samples");
  const size_t row_samples = static_cast<size_t>(width) * channels;
  std::vector<std::vector<uint8_t>> rows(static_cast<size_t>(height));
  std::vector<png_bytep> pointers(static_cast<size_t>(height));
  for (int y = 0; y < height; ++y) {
    rows[y].resize((row_samples * opt.bit_depth + 7) / 8);
    pack_row(samples.data() + row_samples * y, row_samples, opt.bit_depth, rows[y].data());
    pointers[y] = rows[y].data();
  }
  std::vector<png_color> palette;
  for (size_t i = 0; i + 2 < opt.palette.size(); i += 3)
    palette.push_back(png_color{opt.palette[i], opt.palette[i + 1], opt.palette[i + 2]});
  PngWriteState st;
  st.message[0] = '\0';
  if (!write_png(width, height, opt, palette.data(), static_cast<int>(palette.size()), pointers.data(), &st))
    throw std::runtime_error(std::string("encode_png: ") + st.message);
  return st.bytes;
}

namespace {

void put_be32(std::vector<uint8_t>* v, uint32_t x) {
  for (int s = 24; s >= 0; s -= 8) v->push_back(static_cast<uint8_t>(x >> s));
}

void put_chunk(std::vector<uint8_t>* v, const char* type, const std::vector<uint8_t>& payload) {
  put_be32(v, static_cast<uint32_t>(payload.size()));
  std::vector<uint8_t> body(type, type + 4);
  body.insert(body.end(), payload.begin(), payload.end());
  v->insert(v->end(), body.begin(), body.end());
  put_be32(v, static_cast<uint32_t>(crc32(0, body.data(), static_cast<uInt>(body.size()))));
}

}  // namespace

std::vector<uint8_t> png_claiming_size(uint32_t width, uint32_t height) {
  std::vector<uint8_t> out = {0x89, 'P', 'N', 'G', '\r', '\n', 0x1a, '\n'};
  std::vector<uint8_t> ihdr;
  put_be32(&ihdr, width);
  put_be32(&ihdr, height);
  ihdr.insert(ihdr.end(), {8, 2, 0, 0, 0});
  put_chunk(&out, "IHDR", ihdr);
  std::vector<uint8_t> raw(64, 0), z(128);
  uLongf zlen = static_cast<uLongf>(z.size());
  compress(z.data(), &zlen, raw.data(), static_cast<uLong>(raw.size()));
  z.resize(zlen);
  put_chunk(&out, "IDAT", z);
  put_chunk(&out, "IEND", {});
  return out;
}

// ---------------------------------------------------------------- BMP

namespace {

void put_le(std::vector<uint8_t>* v, uint32_t x, int bytes) {
  for (int i = 0; i < bytes; ++i) v->push_back(static_cast<uint8_t>(x >> (8 * i)));
}

}  // namespace

std::vector<uint8_t> encode_bmp(const std::vector<uint16_t>& samples, int width, int height, const BmpOptions& opt) {
  int bits = 24, channels = 3;
  switch (opt.layout) {
    case BmpLayout::Bgr24: bits = 24; break;
    case BmpLayout::Bgrx32: bits = 32; break;
    case BmpLayout::Rgb555:
    case BmpLayout::Rgb565: bits = 16; break;
    case BmpLayout::Palette8: bits = 8, channels = 1; break;
    case BmpLayout::Palette4: bits = 4, channels = 1; break;
    case BmpLayout::Palette1: bits = 1, channels = 1; break;
  }
  if (samples.size() != static_cast<size_t>(width) * height * channels)
    throw std::runtime_error("encode_bmp: wrong number of samples");
  const bool bitfields = opt.layout == BmpLayout::Rgb565;
  const uint32_t header = opt.os2_header ? 12 : 40;
  const size_t colors = opt.palette.size() / 3;
  const size_t palette_bytes = colors * (opt.os2_header ? 3 : 4);
  const uint32_t offset = 14 + header + (bitfields ? 12 : 0) + static_cast<uint32_t>(palette_bytes);
  const size_t stride = ((static_cast<size_t>(width) * bits + 31) / 32) * 4;
  std::vector<uint8_t> out = {'B', 'M'};
  put_le(&out, offset + static_cast<uint32_t>(stride * height), 4);
  put_le(&out, 0, 4);
  put_le(&out, offset, 4);
  put_le(&out, header, 4);
  if (opt.os2_header) {
    put_le(&out, static_cast<uint32_t>(width), 2);
    put_le(&out, static_cast<uint32_t>(height), 2);
    put_le(&out, 1, 2);
    put_le(&out, static_cast<uint32_t>(bits), 2);
  } else {
    put_le(&out, static_cast<uint32_t>(width), 4);
    put_le(&out, static_cast<uint32_t>(opt.top_down ? -height : height), 4);
    put_le(&out, 1, 2);
    put_le(&out, static_cast<uint32_t>(bits), 2);
    put_le(&out, bitfields ? 3 : 0, 4);
    put_le(&out, static_cast<uint32_t>(stride * height), 4);
    put_le(&out, 2835, 4);
    put_le(&out, 2835, 4);
    put_le(&out, static_cast<uint32_t>(colors), 4);
    put_le(&out, 0, 4);
  }
  if (bitfields) {
    put_le(&out, 0xF800, 4);
    put_le(&out, 0x07E0, 4);
    put_le(&out, 0x001F, 4);
  }
  for (size_t i = 0; i < colors; ++i) {
    out.push_back(opt.palette[3 * i + 2]);
    out.push_back(opt.palette[3 * i + 1]);
    out.push_back(opt.palette[3 * i]);
    if (!opt.os2_header) out.push_back(0);
  }
  std::vector<uint8_t> row(stride);
  for (int r = 0; r < height; ++r) {
    const int y = opt.top_down && !opt.os2_header ? r : height - 1 - r;  // OS/2 rows are bottom-up
    const uint16_t* s = samples.data() + static_cast<size_t>(y) * width * channels;
    std::fill(row.begin(), row.end(), 0);
    for (int x = 0; x < width; ++x) {
      switch (opt.layout) {
        case BmpLayout::Bgr24:
        case BmpLayout::Bgrx32: {
          uint8_t* p = row.data() + static_cast<size_t>(x) * (bits / 8);
          p[0] = static_cast<uint8_t>(s[3 * x + 2]), p[1] = static_cast<uint8_t>(s[3 * x + 1]), p[2] = static_cast<uint8_t>(s[3 * x]);
          break;
        }
        case BmpLayout::Rgb555:
        case BmpLayout::Rgb565: {
          const bool six = opt.layout == BmpLayout::Rgb565;
          const uint32_t v = (static_cast<uint32_t>(s[3 * x]) << (six ? 11 : 10)) | (static_cast<uint32_t>(s[3 * x + 1]) << 5) | s[3 * x + 2];
          row[2 * x] = static_cast<uint8_t>(v), row[2 * x + 1] = static_cast<uint8_t>(v >> 8);
          break;
        }
        default: {
          const size_t bit = static_cast<size_t>(x) * bits;
          row[bit / 8] |= static_cast<uint8_t>(s[x] << (8 - bits - bit % 8));
        }
      }
    }
    out.insert(out.end(), row.begin(), row.end());
  }
  return out;
}

// ---------------------------------------------------------------- PNM

std::vector<uint8_t> encode_pnm(int kind, const std::vector<uint16_t>& samples, int width, int height, int maxval,
                                const std::string& comment) {
  const bool bitmap = kind == 1 || kind == 4;
  const int channels = (kind == 3 || kind == 6) ? 3 : 1;
  if (samples.size() != static_cast<size_t>(width) * height * channels)
    throw std::runtime_error("encode_pnm: wrong number of samples");
  std::string head = "P" + std::to_string(kind) + "\n";
  if (!comment.empty()) head += "# " + comment + "\n";
  head += std::to_string(width) + " " + std::to_string(height) + "\n";
  if (!bitmap) head += std::to_string(maxval) + "\n";
  std::vector<uint8_t> out(head.begin(), head.end());
  if (kind <= 3) {
    std::string body;
    for (int y = 0; y < height; ++y) {
      for (int i = 0; i < width * channels; ++i) body += std::to_string(samples[static_cast<size_t>(y) * width * channels + i]) + " ";
      body += "\n";
    }
    out.insert(out.end(), body.begin(), body.end());
  } else if (bitmap) {
    for (int y = 0; y < height; ++y) {
      std::vector<uint8_t> packed((static_cast<size_t>(width) + 7) / 8);
      pack_row(samples.data() + static_cast<size_t>(y) * width, static_cast<size_t>(width), 1, packed.data());
      out.insert(out.end(), packed.begin(), packed.end());
    }
  } else {
    for (uint16_t s : samples) {
      if (maxval > 255) out.push_back(static_cast<uint8_t>(s >> 8));
      out.push_back(static_cast<uint8_t>(s));
    }
  }
  return out;
}

// ---------------------------------------------------------------- TIFF

namespace {

std::vector<uint8_t> packbits(const std::vector<uint8_t>& in) {
  std::vector<uint8_t> out;
  size_t i = 0;
  while (i < in.size()) {
    size_t run = 1;
    while (i + run < in.size() && run < 128 && in[i + run] == in[i]) ++run;
    if (run >= 3) {
      out.push_back(static_cast<uint8_t>(257 - run));
      out.push_back(in[i]);
      i += run;
      continue;
    }
    size_t lit = 0;
    while (i + lit < in.size() && lit < 128) {
      if (i + lit + 2 < in.size() && in[i + lit] == in[i + lit + 1] && in[i + lit] == in[i + lit + 2]) break;
      ++lit;
    }
    out.push_back(static_cast<uint8_t>(lit - 1));
    out.insert(out.end(), in.begin() + static_cast<std::ptrdiff_t>(i), in.begin() + static_cast<std::ptrdiff_t>(i + lit));
    i += lit;
  }
  return out;
}

// TIFF LZW as libtiff writes it: MSB-first codes, width grows when the next free code passes
// the current maximum, a Clear before the table fills.
std::vector<uint8_t> lzw(const std::vector<uint8_t>& in) {
  std::vector<uint8_t> out;
  uint32_t acc = 0;
  int acc_bits = 0, width = 9, next = 258;
  auto emit = [&](int code) {
    acc = (acc << width) | static_cast<uint32_t>(code);
    acc_bits += width;
    while (acc_bits >= 8) {
      out.push_back(static_cast<uint8_t>(acc >> (acc_bits - 8)));
      acc_bits -= 8;
    }
  };
  auto grow = [&] {
    if (next > 511 && width == 9) width = 10;
    else if (next > 1023 && width == 10) width = 11;
    else if (next > 2047 && width == 11) width = 12;
  };
  std::map<uint32_t, int> dict;
  emit(256);
  int w = -1;
  for (uint8_t c : in) {
    if (w < 0) {
      w = c;
      continue;
    }
    const uint32_t key = (static_cast<uint32_t>(w) << 8) | c;
    auto it = dict.find(key);
    if (it != dict.end()) {
      w = it->second;
      continue;
    }
    emit(w);
    dict[key] = next++;
    if (next == 4094) {
      emit(256);
      dict.clear();
      next = 258;
      width = 9;
    } else {
      grow();
    }
    w = c;
  }
  if (w >= 0) {
    emit(w);
    ++next;
    grow();
  }
  emit(257);
  if (acc_bits > 0) out.push_back(static_cast<uint8_t>(acc << (8 - acc_bits)));
  return out;
}

std::vector<uint8_t> deflate(const std::vector<uint8_t>& in) {
  uLongf n = compressBound(static_cast<uLong>(in.size()));
  std::vector<uint8_t> out(n);
  if (compress2(out.data(), &n, in.data(), static_cast<uLong>(in.size()), 6) != Z_OK)
    throw std::runtime_error("encode_tiff: deflate failed");
  out.resize(n);
  return out;
}

}  // namespace

std::vector<uint8_t> encode_tiff(const std::vector<uint16_t>& samples, int width, int height, const TiffOptions& opt) {
  const int spp = opt.samples_per_pixel, bits = opt.bits;
  if (samples.size() != static_cast<size_t>(width) * height * spp) throw std::runtime_error("encode_tiff: wrong number of samples");
  const bool be = opt.big_endian;
  auto put = [&](std::vector<uint8_t>* v, uint32_t x, int bytes) {
    for (int i = 0; i < bytes; ++i) v->push_back(static_cast<uint8_t>(x >> (8 * (be ? bytes - 1 - i : i))));
  };
  const int planes = opt.planar ? spp : 1;
  const size_t row_samples = opt.planar ? width : static_cast<size_t>(width) * spp;
  const size_t row_bytes = (row_samples * bits + 7) / 8;
  const int rps = opt.rows_per_strip;
  const int strips_per_plane = (height + rps - 1) / rps;

  std::vector<uint8_t> out;
  out.push_back(be ? 'M' : 'I'), out.push_back(be ? 'M' : 'I');
  put(&out, 42, 2);
  put(&out, 0, 4);  // IFD offset, patched below
  std::vector<uint32_t> offsets, counts;
  for (int p = 0; p < planes; ++p) {
    for (int s = 0; s < strips_per_plane; ++s) {
      std::vector<uint8_t> raw;
      for (int y = s * rps; y < std::min(height, (s + 1) * rps); ++y) {
        std::vector<uint16_t> row(row_samples);
        for (size_t i = 0; i < row_samples; ++i) {
          const size_t x = opt.planar ? i : i / spp, c = opt.planar ? p : i % spp;
          row[i] = samples[(static_cast<size_t>(y) * width + x) * spp + c];
        }
        if (opt.predictor) {
          const size_t stride = opt.planar ? 1 : spp;
          const uint32_t mask = bits == 16 ? 0xFFFF : 0xFF;
          for (size_t i = row_samples; i-- > stride;) row[i] = static_cast<uint16_t>((row[i] - row[i - stride]) & mask);
        }
        std::vector<uint8_t> packed(row_bytes);
        if (bits == 16) {
          for (size_t i = 0; i < row_samples; ++i) {
            packed[2 * i + (be ? 0 : 1)] = static_cast<uint8_t>(row[i] >> 8);
            packed[2 * i + (be ? 1 : 0)] = static_cast<uint8_t>(row[i]);
          }
        } else {
          pack_row(row.data(), row_samples, bits, packed.data());
        }
        raw.insert(raw.end(), packed.begin(), packed.end());
      }
      std::vector<uint8_t> data = opt.compression == TiffCompression::PackBits ? packbits(raw)
                                  : opt.compression == TiffCompression::Lzw    ? lzw(raw)
                                  : opt.compression == TiffCompression::Deflate ? deflate(raw)
                                                                               : raw;
      offsets.push_back(static_cast<uint32_t>(out.size()));
      counts.push_back(static_cast<uint32_t>(data.size()));
      out.insert(out.end(), data.begin(), data.end());
    }
  }
  if (out.size() % 2) out.push_back(0);

  struct Entry {
    uint16_t tag, type;
    std::vector<uint32_t> values;
  };
  std::vector<Entry> entries = {
      {256, 4, {static_cast<uint32_t>(width)}},
      {257, 4, {static_cast<uint32_t>(height)}},
      {258, 3, std::vector<uint32_t>(static_cast<size_t>(spp), static_cast<uint32_t>(bits))},
      {259, 3, {static_cast<uint32_t>(opt.compression)}},
      {262, 3, {static_cast<uint32_t>(opt.photometric)}},
      {273, 4, offsets},
      {277, 3, {static_cast<uint32_t>(spp)}},
      {278, 4, {static_cast<uint32_t>(rps)}},
      {279, 4, counts},
      {284, 3, {opt.planar ? 2u : 1u}},
  };
  if (opt.predictor) entries.push_back({317, 3, {2}});
  if (!opt.colormap.empty()) entries.push_back({320, 3, std::vector<uint32_t>(opt.colormap.begin(), opt.colormap.end())});
  if (opt.extra_samples >= 0) entries.push_back({338, 3, {static_cast<uint32_t>(opt.extra_samples)}});
  // Arrays that do not fit in an entry go before the directory.
  std::vector<uint32_t> value_offsets(entries.size(), 0);
  for (size_t e = 0; e < entries.size(); ++e) {
    const int width_bytes = entries[e].type == 3 ? 2 : 4;
    if (entries[e].values.size() * width_bytes <= 4) continue;
    value_offsets[e] = static_cast<uint32_t>(out.size());
    for (uint32_t v : entries[e].values) put(&out, v, width_bytes);
    if (out.size() % 2) out.push_back(0);
  }
  const uint32_t ifd = static_cast<uint32_t>(out.size());
  put(&out, static_cast<uint32_t>(entries.size()), 2);
  for (size_t e = 0; e < entries.size(); ++e) {
    const Entry& en = entries[e];
    const int width_bytes = en.type == 3 ? 2 : 4;
    put(&out, en.tag, 2);
    put(&out, en.type, 2);
    put(&out, static_cast<uint32_t>(en.values.size()), 4);
    if (value_offsets[e]) {
      put(&out, value_offsets[e], 4);
    } else {
      size_t written = 0;
      for (uint32_t v : en.values) put(&out, v, width_bytes), written += width_bytes;
      for (; written < 4; ++written) out.push_back(0);
    }
  }
  put(&out, 0, 4);
  std::vector<uint8_t> ifd_bytes;
  put(&ifd_bytes, ifd, 4);
  std::copy(ifd_bytes.begin(), ifd_bytes.end(), out.begin() + 4);
  return out;
}

}  // namespace vggtl::test
