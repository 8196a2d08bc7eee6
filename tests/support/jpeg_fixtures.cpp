// JPEG fixtures: libjpeg encode/decode/transcode in memory. libjpeg errors and warnings longjmp
// back to the caller, which reports them; nothing here exits the test process.
#include "support/jpeg_fixtures.h"

// jpeglib.h needs size_t and FILE declared first.
#include <cstddef>
#include <cstdio>
#include <jpeglib.h>

#include <algorithm>
#include <csetjmp>
#include <cstdio>
#include <cstdlib>
#include <random>
#include <sstream>

namespace vggtl::test {

namespace {

struct Err {
  jpeg_error_mgr pub;
  std::jmp_buf jump;
  char message[JMSG_LENGTH_MAX];
};

[[noreturn]] void jump_out(j_common_ptr cinfo) {
  auto* e = reinterpret_cast<Err*>(cinfo->err);
  (*cinfo->err->format_message)(cinfo, e->message);
  std::longjmp(e->jump, 1);
}
void on_message(j_common_ptr cinfo, int level) {
  if (level < 0) jump_out(cinfo);
}
void silent(j_common_ptr) {}

void install(Err* e, jpeg_error_mgr** slot) {
  *slot = jpeg_std_error(&e->pub);
  e->pub.error_exit = jump_out;
  e->pub.emit_message = on_message;
  e->pub.output_message = silent;
  e->message[0] = 0;
}

uint8_t clamp_byte(int v) { return static_cast<uint8_t>(std::clamp(v, 0, 255)); }

// Runs body(cinfo) on a decompressor with `data` as its source and the header read; false, with
// libjpeg's message in *reason, when libjpeg gave up. A libjpeg error jumps out of the body and
// skips its destructors: bodies keep their buffers in the caller's outputs or accept the leak.
template <typename Body>
bool with_decompressor(const uint8_t* data, size_t size, std::string* reason, Body body) {
  jpeg_decompress_struct cinfo;
  Err err;
  install(&err, &cinfo.err);
  volatile bool created = false;
  volatile bool ok = false;
  if (!setjmp(err.jump)) {
    jpeg_create_decompress(&cinfo);
    created = true;
    jpeg_mem_src(&cinfo, data, static_cast<unsigned long>(size));
    jpeg_read_header(&cinfo, TRUE);
    body(cinfo);
    ok = true;
  }
  if (created) jpeg_destroy_decompress(&cinfo);
  if (!ok && reason) *reason = err.message;
  return ok;
}

}  // namespace

int JpegFixture::components() const {
  switch (storage) {
    case JpegStorage::Gray: return 1;
    case JpegStorage::CMYK:
    case JpegStorage::YCCK: return 4;
    default: return 3;
  }
}

JpegFixture& JpegFixture::sampling(int h0, int v0, int h1, int v1, int h2, int v2) {
  h_samp[0] = h0, v_samp[0] = v0, h_samp[1] = h1, v_samp[1] = v1, h_samp[2] = h2, v_samp[2] = v2;
  h_samp[3] = h1, v_samp[3] = v1;
  return *this;
}

std::string JpegFixture::str() const {
  static const char* names[] = {"YCbCr", "RGB", "Gray", "CMYK", "YCCK"};
  std::ostringstream os;
  os << width << "x" << height << " " << names[static_cast<int>(storage)] << " sampling";
  for (int c = 0; c < components(); ++c) os << " " << h_samp[c] << "x" << v_samp[c];
  os << " q" << quality << (progressive ? " progressive" : "") << (arithmetic ? " arithmetic" : "")
     << (optimize ? " optimized" : "");
  if (restart_interval) os << " restart " << restart_interval;
  static const char* contents[] = {"noise", "gradient", "mixed"};
  os << " " << contents[static_cast<int>(content)] << " seed " << seed;
  return os.str();
}

std::vector<uint8_t> make_pixels(int width, int height, int channels, ImageContent content,
                                 uint64_t seed) {
  std::mt19937_64 rng(seed);
  std::uniform_int_distribution<int> byte(0, 255);
  std::vector<uint8_t> px(static_cast<size_t>(width) * height * channels);
  for (int y = 0; y < height; ++y) {
    for (int x = 0; x < width; ++x) {
      uint8_t* p = px.data() + (static_cast<size_t>(y) * width + x) * channels;
      for (int c = 0; c < channels; ++c) {
        int v = 0;
        const int ramp = (x * 255) / std::max(1, width - 1);
        const int vramp = (y * 255) / std::max(1, height - 1);
        switch (content) {
          case ImageContent::Noise:
            v = byte(rng);
            break;
          case ImageContent::Gradient:
            v = c == 0 ? ramp : c == 1 ? vramp : (ramp + vramp) / 2 + 20 * c;
            break;
          case ImageContent::Mixed: {
            const int band = (x / 5 + y / 7) % 6;
            if (band == 0) {
              v = byte(rng);  // noisy patch
            } else if (band == 1) {
              v = c == 0 ? 255 : 0;  // saturated red: YCbCr->RGB clips
            } else if (band == 2) {
              v = ((x + y) & 1) ? 255 : 0;  // black/white checkerboard: IDCT overshoots
            } else if (band == 3) {
              v = c == 2 ? 255 : 10;  // saturated blue
            } else {
              v = (ramp * (c + 1) + vramp * (3 - c)) / 4;
            }
            break;
          }
        }
        p[c] = clamp_byte(v);
      }
    }
  }
  return px;
}

std::vector<uint8_t> encode_jpeg(const JpegFixture& f) {
  const int channels = f.components();
  const std::vector<uint8_t> px = make_pixels(f.width, f.height, channels, f.content, f.seed);
  jpeg_compress_struct cinfo;
  Err err;
  install(&err, &cinfo.err);
  unsigned char* volatile out = nullptr;
  unsigned long out_size = 0;
  volatile bool ok = false;
  volatile bool created = false;
  if (!setjmp(err.jump)) {
    jpeg_create_compress(&cinfo);
    created = true;
    unsigned char* buf = nullptr;
    jpeg_mem_dest(&cinfo, &buf, &out_size);
    out = buf;
    cinfo.image_width = static_cast<JDIMENSION>(f.width);
    cinfo.image_height = static_cast<JDIMENSION>(f.height);
    cinfo.input_components = channels;
    cinfo.in_color_space = f.storage == JpegStorage::Gray ? JCS_GRAYSCALE
                           : channels == 4                ? JCS_CMYK
                                                          : JCS_RGB;
    jpeg_set_defaults(&cinfo);
    if (f.storage == JpegStorage::RGB) jpeg_set_colorspace(&cinfo, JCS_RGB);
    if (f.storage == JpegStorage::YCCK) jpeg_set_colorspace(&cinfo, JCS_YCCK);
    jpeg_set_quality(&cinfo, f.quality, TRUE);
    for (int c = 0; c < cinfo.num_components; ++c) {
      cinfo.comp_info[c].h_samp_factor = f.h_samp[c];
      cinfo.comp_info[c].v_samp_factor = f.v_samp[c];
    }
    if (f.progressive) jpeg_simple_progression(&cinfo);
    cinfo.arith_code = f.arithmetic ? TRUE : FALSE;
    cinfo.optimize_coding = f.optimize ? TRUE : FALSE;
    cinfo.restart_interval = static_cast<unsigned int>(f.restart_interval);
    jpeg_start_compress(&cinfo, TRUE);
    while (cinfo.next_scanline < cinfo.image_height) {
      JSAMPROW row = const_cast<JSAMPROW>(px.data() + static_cast<size_t>(cinfo.next_scanline) *
                                                          f.width * channels);
      jpeg_write_scanlines(&cinfo, &row, 1);
    }
    jpeg_finish_compress(&cinfo);
    out = buf;  // jpeg_mem_dest may have grown the buffer
    ok = true;
  }
  if (created) jpeg_destroy_compress(&cinfo);
  std::vector<uint8_t> result;
  if (ok) result.assign(out, out + out_size);
  std::free(out);
  return result;
}

bool libjpeg_decode_rgb(const uint8_t* data, size_t size, DecodedImage* out, std::string* reason) {
  return with_decompressor(data, size, reason, [&](jpeg_decompress_struct& cinfo) {
    jpeg_start_decompress(&cinfo);
    const int w = static_cast<int>(cinfo.output_width), comps = cinfo.output_components;
    out->width = w;
    out->height = static_cast<int>(cinfo.output_height);
    out->rgb.assign(static_cast<size_t>(w) * out->height * 3, 0);
    std::vector<uint8_t> row(static_cast<size_t>(w) * comps);
    while (cinfo.output_scanline < cinfo.output_height) {
      const size_t y = cinfo.output_scanline;
      JSAMPROW r = row.data();
      jpeg_read_scanlines(&cinfo, &r, 1);
      for (int x = 0; x < w; ++x)
        for (int c = 0; c < 3; ++c)
          out->rgb[(y * w + x) * 3 + c] = row[static_cast<size_t>(x) * comps + (comps == 1 ? 0 : c)];
    }
    jpeg_finish_decompress(&cinfo);
  });
}

bool libjpeg_decode_planes(const std::vector<uint8_t>& jpeg, std::vector<RawPlane>* planes,
                           std::string* reason) {
  return with_decompressor(jpeg.data(), jpeg.size(), reason, [&](jpeg_decompress_struct& cinfo) {
    cinfo.raw_data_out = TRUE;
    jpeg_start_decompress(&cinfo);
    const int nc = cinfo.num_components;
    planes->assign(static_cast<size_t>(nc), RawPlane{});
    // Full-height buffers of whole MCU rows; libjpeg fills an iMCU row per call.
    std::vector<std::vector<uint8_t>> full(static_cast<size_t>(nc));
    std::vector<int> full_width(static_cast<size_t>(nc)), full_rows(static_cast<size_t>(nc));
    for (int c = 0; c < nc; ++c) {
      const jpeg_component_info& ci = cinfo.comp_info[c];
      full_width[c] = std::max<int>(static_cast<int>(cinfo.MCUs_per_row) * ci.h_samp_factor,
                                    static_cast<int>(ci.width_in_blocks)) * DCTSIZE;
      full_rows[c] = static_cast<int>(cinfo.total_iMCU_rows) * ci.v_samp_factor * DCTSIZE;
      full[c].assign(static_cast<size_t>(full_width[c] + DCTSIZE * 4) * full_rows[c], 0);
    }
    std::vector<std::vector<JSAMPROW>> rows(static_cast<size_t>(nc));
    std::vector<JSAMPARRAY> image(static_cast<size_t>(nc));
    const JDIMENSION lines = static_cast<JDIMENSION>(cinfo.max_v_samp_factor * DCTSIZE);
    for (JDIMENSION imcu = 0; cinfo.output_scanline < cinfo.output_height; ++imcu) {
      for (int c = 0; c < nc; ++c) {
        const int rows_per = cinfo.comp_info[c].v_samp_factor * DCTSIZE;
        const int stride = full_width[c] + DCTSIZE * 4;
        rows[c].resize(static_cast<size_t>(rows_per));
        for (int r = 0; r < rows_per; ++r)
          rows[c][r] = full[c].data() + (static_cast<size_t>(imcu) * rows_per + r) * stride;
        image[c] = rows[c].data();
      }
      jpeg_read_raw_data(&cinfo, image.data(), lines);
    }
    for (int c = 0; c < nc; ++c) {
      const jpeg_component_info& ci = cinfo.comp_info[c];
      RawPlane& p = (*planes)[c];
      p.width_in_blocks = static_cast<int>(ci.width_in_blocks);
      p.height_in_blocks = static_cast<int>(ci.height_in_blocks);
      const int w = p.width_in_blocks * DCTSIZE, h = p.height_in_blocks * DCTSIZE;
      const int stride = full_width[c] + DCTSIZE * 4;
      p.samples.resize(static_cast<size_t>(w) * h);
      for (int y = 0; y < h; ++y)
        std::copy_n(full[c].data() + static_cast<size_t>(y) * stride, w,
                    p.samples.data() + static_cast<size_t>(y) * w);
    }
    jpeg_finish_decompress(&cinfo);
  });
}

std::vector<uint8_t> transcode_jpeg(const std::vector<uint8_t>& jpeg, const CoefficientEdit& edit) {
  jpeg_decompress_struct src;
  jpeg_compress_struct dst;
  Err err;  // shared: an error in either object jumps to the one setjmp below
  install(&err, &src.err);
  dst.err = src.err;
  unsigned char* volatile out = nullptr;
  unsigned long out_size = 0;
  volatile bool ok = false;
  volatile int created = 0;
  if (!setjmp(err.jump)) {
    jpeg_create_decompress(&src);
    created = 1;
    jpeg_create_compress(&dst);
    created = 2;
    jpeg_mem_src(&src, jpeg.data(), static_cast<unsigned long>(jpeg.size()));
    jpeg_read_header(&src, TRUE);
    jvirt_barray_ptr* arrays = jpeg_read_coefficients(&src);
    jpeg_copy_critical_parameters(&src, &dst);
    dst.optimize_coding = TRUE;
    if (edit.quant)
      for (int t = 0; t < NUM_QUANT_TBLS; ++t)
        if (dst.quant_tbl_ptrs[t]) edit.quant(t, dst.quant_tbl_ptrs[t]->quantval);
    if (edit.block) {
      for (int c = 0; c < src.num_components; ++c) {
        const jpeg_component_info& ci = src.comp_info[c];
        for (JDIMENSION by = 0; by < ci.height_in_blocks; ++by) {
          JBLOCKARRAY row = (*src.mem->access_virt_barray)(reinterpret_cast<j_common_ptr>(&src),
                                                           arrays[c], by, 1, TRUE);
          for (JDIMENSION bx = 0; bx < ci.width_in_blocks; ++bx)
            edit.block(c, static_cast<int64_t>(by) * ci.width_in_blocks + bx, row[0][bx]);
        }
      }
    }
    unsigned char* buf = nullptr;
    jpeg_mem_dest(&dst, &buf, &out_size);
    out = buf;
    jpeg_write_coefficients(&dst, arrays);
    jpeg_finish_compress(&dst);
    out = buf;
    jpeg_finish_decompress(&src);
    ok = true;
  }
  if (created >= 2) jpeg_destroy_compress(&dst);
  if (created >= 1) jpeg_destroy_decompress(&src);
  std::vector<uint8_t> result;
  if (ok) result.assign(out, out + out_size);
  std::free(out);
  return result;
}

}  // namespace vggtl::test
