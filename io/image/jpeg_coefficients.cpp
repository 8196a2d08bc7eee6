// Entropy decoding of JPEG files to quantised coefficients with libjpeg-turbo. libjpeg reports
// errors through a longjmp error manager (it never exits the process); its warnings (premature
// end of data, corrupt data) abort the read too, so a file that decodes here is decoded in full.
#include "io/image/jpeg_coefficients.h"

// jpeglib.h needs size_t and FILE declared first.
#include <cstddef>
#include <cstdio>
#include <jpeglib.h>

#include <csetjmp>
#include <cstdio>
#include <cstring>

namespace vggtl {

namespace {

struct ErrorManager {
  jpeg_error_mgr pub;
  std::jmp_buf jump;
  char message[JMSG_LENGTH_MAX];
};

[[noreturn]] void fail_with_message(j_common_ptr cinfo) {
  auto* err = reinterpret_cast<ErrorManager*>(cinfo->err);
  (*cinfo->err->format_message)(cinfo, err->message);
  std::longjmp(err->jump, 1);
}

void on_error(j_common_ptr cinfo) { fail_with_message(cinfo); }

// level -1 is a warning (libjpeg then goes on with made-up data); trace levels are ignored.
void on_message(j_common_ptr cinfo, int level) {
  if (level < 0) fail_with_message(cinfo);
}

void on_output(j_common_ptr) {}

JpegColorSpace color_space_of(J_COLOR_SPACE cs) {
  switch (cs) {
    case JCS_GRAYSCALE: return JpegColorSpace::Gray;
    case JCS_YCbCr: return JpegColorSpace::YCbCr;
    case JCS_RGB: return JpegColorSpace::RGB;
    case JCS_CMYK: return JpegColorSpace::CMYK;
    case JCS_YCCK: return JpegColorSpace::YCCK;
    default: return JpegColorSpace::Unknown;
  }
}

// Fills the layout from a header libjpeg has read; returns a reason when the file is out of scope.
const char* fill_layout(const jpeg_decompress_struct& cinfo, JpegLayout* layout, char* buf,
                        size_t buf_size) {
  const int64_t pixels = int64_t{cinfo.image_width} * cinfo.image_height;
  if (pixels > kMaxJpegPixels) {
    std::snprintf(buf, buf_size, "header claims %ux%u = %lld pixels, more than the limit %lld",
                  cinfo.image_width, cinfo.image_height, static_cast<long long>(pixels),
                  static_cast<long long>(kMaxJpegPixels));
    return buf;
  }
  if (cinfo.num_components < 1 || cinfo.num_components > kMaxJpegComponents) {
    std::snprintf(buf, buf_size, "%d colour components (at most %d are supported)",
                  cinfo.num_components, kMaxJpegComponents);
    return buf;
  }
  JpegLayout l;
  l.width = static_cast<int>(cinfo.image_width);
  l.height = static_cast<int>(cinfo.image_height);
  l.color_space = color_space_of(cinfo.jpeg_color_space);
  l.num_components = cinfo.num_components;
  l.max_h_samp = cinfo.max_h_samp_factor;
  l.max_v_samp = cinfo.max_v_samp_factor;
  l.precision = cinfo.data_precision;
  l.progressive = cinfo.progressive_mode != 0;
  l.arithmetic = cinfo.arith_code != 0;
  int64_t offset = 0;
  for (int c = 0; c < l.num_components; ++c) {
    const jpeg_component_info& ci = cinfo.comp_info[c];
    JpegComponentLayout& k = l.comp[c];
    k.h_samp = ci.h_samp_factor;
    k.v_samp = ci.v_samp_factor;
    k.width_in_blocks = static_cast<int>(ci.width_in_blocks);
    k.height_in_blocks = static_cast<int>(ci.height_in_blocks);
    k.downsampled_width = static_cast<int>(ci.downsampled_width);
    k.downsampled_height = static_cast<int>(ci.downsampled_height);
    k.coef_offset = offset;
    offset += k.num_blocks() * 64;
  }
  l.num_coefficients = offset;
  *layout = l;
  return nullptr;
}

// Reads the header, and with dst the coefficients too. Nothing in this frame that has a
// destructor may be alive while libjpeg runs: its errors longjmp back to the setjmp below.
bool read_impl(const uint8_t* data, size_t size, JpegLayout* layout, int16_t* dst,
               int64_t capacity, std::string* reason) {
  jpeg_decompress_struct cinfo;
  ErrorManager err;
  char why[JMSG_LENGTH_MAX + 64];
  cinfo.err = jpeg_std_error(&err.pub);
  err.pub.error_exit = on_error;
  err.pub.emit_message = on_message;
  err.pub.output_message = on_output;
  const char* volatile failure = nullptr;
  volatile bool created = false;
  if (setjmp(err.jump)) {
    failure = err.message;
  } else {
    jpeg_create_decompress(&cinfo);
    created = true;
    if (size == 0 || data == nullptr) {
      failure = "empty file";
    } else {
      jpeg_mem_src(&cinfo, data, static_cast<unsigned long>(size));
      jpeg_read_header(&cinfo, TRUE);
      failure = fill_layout(cinfo, layout, why, sizeof(why));
    }
    if (!failure && dst) {
      if (layout->num_coefficients > capacity) {
        std::snprintf(why, sizeof(why), "needs %lld coefficients, room for %lld",
                      static_cast<long long>(layout->num_coefficients),
                      static_cast<long long>(capacity));
        failure = why;
      } else {
        jvirt_barray_ptr* arrays = jpeg_read_coefficients(&cinfo);
        for (int c = 0; c < layout->num_components; ++c) {
          JpegComponentLayout& k = layout->comp[c];
          const jpeg_component_info& ci = cinfo.comp_info[c];
          // No table means no scan ever carried this component: libjpeg's IDCT multipliers
          // stay zero and it decodes to mid-grey, which zero quantisation reproduces.
          for (int i = 0; i < 64; ++i)
            k.quant[i] = ci.quant_table ? ci.quant_table->quantval[i] : 0;
          const size_t row_bytes = static_cast<size_t>(k.width_in_blocks) * sizeof(JBLOCK);
          for (int by = 0; by < k.height_in_blocks; ++by) {
            JBLOCKARRAY rows = (*cinfo.mem->access_virt_barray)(
                reinterpret_cast<j_common_ptr>(&cinfo), arrays[c], static_cast<JDIMENSION>(by), 1,
                FALSE);
            std::memcpy(dst + k.coef_offset + int64_t{by} * k.width_in_blocks * 64, rows[0],
                        row_bytes);
          }
        }
        static_assert(sizeof(JCOEF) == sizeof(int16_t), "JCOEF must be 16-bit");
      }
    }
  }
  if (created) jpeg_destroy_decompress(&cinfo);
  if (failure) {
    if (reason) *reason = failure;
    return false;
  }
  return true;
}

}  // namespace

const char* jpeg_color_space_name(JpegColorSpace cs) {
  switch (cs) {
    case JpegColorSpace::Gray: return "grayscale";
    case JpegColorSpace::YCbCr: return "YCbCr";
    case JpegColorSpace::RGB: return "RGB";
    case JpegColorSpace::CMYK: return "CMYK";
    case JpegColorSpace::YCCK: return "YCCK";
    case JpegColorSpace::Unknown: break;
  }
  return "unknown colour space";
}

bool read_jpeg_layout(const uint8_t* data, size_t size, JpegLayout* layout, std::string* reason) {
  return read_impl(data, size, layout, nullptr, 0, reason);
}

bool read_jpeg_coefficients(const uint8_t* data, size_t size, JpegLayout* layout, int16_t* dst,
                            int64_t capacity, std::string* reason) {
  if (!dst) {
    if (reason) *reason = "no destination for the coefficients";
    return false;
  }
  return read_impl(data, size, layout, dst, capacity, reason);
}

bool read_jpeg_coefficients(const uint8_t* data, size_t size, JpegCoefficients* out,
                            std::string* reason) {
  if (!read_jpeg_layout(data, size, &out->layout, reason)) return false;
  out->coefs.assign(static_cast<size_t>(out->layout.num_coefficients), 0);
  // An empty vector's data() may be null; every image has at least one block per component.
  return read_jpeg_coefficients(data, size, &out->layout, out->coefs.data(),
                                static_cast<int64_t>(out->coefs.size()), reason);
}

bool jpeg_upsample_method(const JpegLayout& layout, int c, JpegUpsample* method, int* h_expand,
                          int* v_expand) {
  if (c < 0 || c >= layout.num_components) return false;
  const JpegComponentLayout& k = layout.comp[c];
  const int h_in = k.h_samp, v_in = k.v_samp, h_out = layout.max_h_samp, v_out = layout.max_v_samp;
  if (h_in <= 0 || v_in <= 0) return false;
  *h_expand = 1;
  *v_expand = 1;
  // jinit_upsampler with do_fancy_upsampling = TRUE and unscaled DCTs (min_DCT_scaled_size 8).
  if (h_in == h_out && v_in == v_out) {
    *method = JpegUpsample::Full;
  } else if (h_in * 2 == h_out && v_in == v_out) {
    *method = k.downsampled_width > 2 ? JpegUpsample::FancyH2V1 : JpegUpsample::Box;
    *h_expand = 2;
  } else if (h_in == h_out && v_in * 2 == v_out) {
    *method = JpegUpsample::FancyH1V2;
    *v_expand = 2;
  } else if (h_in * 2 == h_out && v_in * 2 == v_out) {
    *method = k.downsampled_width > 2 ? JpegUpsample::FancyH2V2 : JpegUpsample::Box;
    *h_expand = 2;
    *v_expand = 2;
  } else if (h_out % h_in == 0 && v_out % v_in == 0) {
    *method = JpegUpsample::Box;  // int_upsample
    *h_expand = h_out / h_in;
    *v_expand = v_out / v_in;
  } else {
    return false;  // libjpeg: "Fractional sampling not implemented yet"
  }
  return true;
}

bool supported_on_gpu(const JpegLayout& layout, std::string* why) {
  auto no = [&](const std::string& s) {
    if (why) *why = s;
    return false;
  };
  if (layout.precision != 8) return no(std::to_string(layout.precision) + "-bit samples");
  const bool gray = layout.num_components == 1 && layout.color_space == JpegColorSpace::Gray;
  const bool color = layout.num_components == 3 && (layout.color_space == JpegColorSpace::YCbCr ||
                                                    layout.color_space == JpegColorSpace::RGB);
  if (!gray && !color)
    return no(std::string(jpeg_color_space_name(layout.color_space)) + " with " +
              std::to_string(layout.num_components) + " components");
  for (int c = 0; c < layout.num_components; ++c) {
    JpegUpsample m;
    int he, ve;
    if (!jpeg_upsample_method(layout, c, &m, &he, &ve))
      return no("non-integral sampling ratio in component " + std::to_string(c));
  }
  return true;
}

}  // namespace vggtl
