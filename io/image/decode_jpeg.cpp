// JPEG to RGB with libjpeg-turbo at Pillow's settings: ISLOW IDCT, fancy upsampling, no
// scaling, colour space as libjpeg guesses it. Four components are Adobe-inverted CMYK for
// Pillow whatever the markers say: libjpeg gives CMYK (converting YCCK), each byte is inverted,
// then PIL's CMYK->RGB formula. Tested in tests/io/test_image_decode.cpp and against Pillow by
// scripts/check_pixels_against_pil.py.
//
// Warnings: Pillow ignores libjpeg's warnings; we do not. A warning that means pixel data is
// missing or wrong (premature end of file or of a data segment, bad Huffman or arithmetic code,
// resync, inconsistent progression, garbage before a restart marker) makes the file bad, since
// libjpeg would fill the gap with grey. Metadata warnings (unknown JFIF revision or Adobe
// transform, bad ICC marker) and stray bytes before a non-restart marker (typically trailing
// garbage after the last scan) leave the pixels intact and are tolerated. The file must reach
// its EOI marker (jpeg_finish_decompress), as Pillow requires: without it, it is truncated.
#include <algorithm>
#include <csetjmp>
#include <cstddef>
#include <cstdio>
#include <cstring>
#include <string>
#include <type_traits>
#include <vector>

// jpeglib.h needs size_t and FILE declared first.
#include <jpeglib.h>
#include <jerror.h>

#include "io/image/image_decode.h"

namespace vggtl {

namespace {

struct JpegErrorState {
  jpeg_error_mgr mgr;  // first member: libjpeg hands us &mgr as cinfo->err
  std::jmp_buf jump;
  char message[JMSG_LENGTH_MAX];
  bool from_warning;
  int code;
};

bool warning_is_benign(const jpeg_error_mgr& mgr) {
  switch (mgr.msg_code) {
    case JWRN_ADOBE_XFORM:
    case JWRN_JFIF_MAJOR:
    case JWRN_BOGUS_ICC:
      return true;
    case JWRN_EXTRANEOUS_DATA: {
      const int marker = mgr.msg_parm.i[1];
      return !(marker >= 0xD0 && marker <= 0xD7);  // before RSTn the entropy data lost sync
    }
    default:
      return false;
  }
}

void on_error_exit(j_common_ptr cinfo) {
  auto* st = reinterpret_cast<JpegErrorState*>(cinfo->err);
  st->mgr.format_message(cinfo, st->message);
  st->from_warning = false;
  st->code = st->mgr.msg_code;
  std::longjmp(st->jump, 1);
}

void on_emit_message(j_common_ptr cinfo, int msg_level) {
  if (msg_level >= 0) return;  // trace output
  auto* st = reinterpret_cast<JpegErrorState*>(cinfo->err);
  st->mgr.num_warnings++;
  if (warning_is_benign(st->mgr)) return;
  st->mgr.format_message(cinfo, st->message);
  st->from_warning = true;
  st->code = st->mgr.msg_code;
  std::longjmp(st->jump, 1);  // libjpeg state is abandoned and destroyed, as after error_exit
}

std::string reason_from(const JpegErrorState& st) {
  if (st.from_warning && st.code == JWRN_JPEG_EOF) return "truncated JPEG data";
  std::string msg = st.message;
  const std::string corrupt = "Corrupt JPEG data: ";
  if (msg.compare(0, corrupt.size(), corrupt) == 0) return "corrupt JPEG data: " + msg.substr(corrupt.size());
  if (st.from_warning) return "corrupt JPEG data: " + msg;
  return "JPEG: " + msg;
}

void cmyk_inverted_row_to_rgb(const uint8_t* cmyk, uint8_t* rgb, int width) {
  for (int x = 0; x < width; ++x, cmyk += 4, rgb += 3) {
    // Stored bytes are inverted (Adobe); after inversion nk = 255 - K is the stored K byte.
    const int nk = cmyk[3];
    for (int c = 0; c < 3; ++c) {
      const int v = nk - muldiv255(255 - cmyk[c], nk);
      rgb[c] = static_cast<uint8_t>(v < 0 ? 0 : v > 255 ? 255 : v);
    }
  }
}

// Why the header is not decodable for us ("" when it is): checked outside the setjmp frame,
// since the message is a std::string.
void check_header(const jpeg_decompress_struct& cinfo, std::string* problem) {
  *problem = check_image_size(cinfo.image_width, cinfo.image_height);
  const int components = cinfo.num_components;
  if (problem->empty() && components != 1 && components != 3 && components != 4)
    *problem = "JPEG with " + std::to_string(components) + " colour components";
}

enum class JpegStatus { Ok, LibjpegError, Problem };

// Every libjpeg call, under setjmp. Only trivially destructible locals live in this frame (a
// longjmp out of libjpeg skips destructors, which is undefined behaviour for any that is not
// trivial); the C++ objects (the CMYK row, the problem text) belong to the caller.
JpegStatus decode_under_setjmp(const uint8_t* data, size_t size, RgbImage* out, JpegErrorState* err,
                               std::vector<uint8_t>* cmyk_row, std::string* problem) {
  static_assert(std::is_trivially_destructible_v<jpeg_decompress_struct> &&
                std::is_trivially_destructible_v<JpegErrorState>);
  jpeg_decompress_struct cinfo;
  std::memset(&cinfo, 0, sizeof cinfo);
  cinfo.err = jpeg_std_error(&err->mgr);
  err->mgr.error_exit = on_error_exit;
  err->mgr.emit_message = on_emit_message;

  if (setjmp(err->jump)) {
    jpeg_destroy_decompress(&cinfo);
    return JpegStatus::LibjpegError;
  }
  jpeg_create_decompress(&cinfo);
  jpeg_mem_src(&cinfo, data, static_cast<unsigned long>(size));
  jpeg_read_header(&cinfo, TRUE);
  check_header(cinfo, problem);
  if (!problem->empty()) {
    jpeg_destroy_decompress(&cinfo);
    return JpegStatus::Problem;
  }

  const bool cmyk = cinfo.num_components == 4;
  cinfo.out_color_space = cmyk ? JCS_CMYK : JCS_RGB;  // libjpeg-turbo replicates grey to RGB
  jpeg_start_decompress(&cinfo);
  const int w = static_cast<int>(cinfo.output_width);
  const int h = static_cast<int>(cinfo.output_height);
  out->reset(w, h);
  if (cmyk) {
    cmyk_row->resize(static_cast<size_t>(w) * 4);
    JSAMPROW row = cmyk_row->data();
    while (cinfo.output_scanline < cinfo.output_height) {
      const int y = static_cast<int>(cinfo.output_scanline);
      if (jpeg_read_scanlines(&cinfo, &row, 1) != 1) break;
      cmyk_inverted_row_to_rgb(cmyk_row->data(), out->row(y), w);
    }
  } else {
    JSAMPROW rows[8];
    while (cinfo.output_scanline < cinfo.output_height) {
      const int y = static_cast<int>(cinfo.output_scanline);
      const int n = std::min(8, h - y);
      for (int i = 0; i < n; ++i) rows[i] = out->row(y + i);
      if (jpeg_read_scanlines(&cinfo, rows, static_cast<JDIMENSION>(n)) == 0) break;
    }
  }
  if (cinfo.output_scanline != cinfo.output_height) {
    jpeg_destroy_decompress(&cinfo);
    return JpegStatus::Problem;  // *problem empty: truncated
  }
  jpeg_finish_decompress(&cinfo);  // reads up to EOI: a missing EOI warns, and is bad
  jpeg_destroy_decompress(&cinfo);
  return JpegStatus::Ok;
}

}  // namespace

DecodeResult decode_jpeg(const uint8_t* data, size_t size, RgbImage* out) {
  JpegErrorState err;
  err.message[0] = '\0';
  err.from_warning = false;
  err.code = 0;
  std::vector<uint8_t> cmyk_row;
  std::string problem;
  switch (decode_under_setjmp(data, size, out, &err, &cmyk_row, &problem)) {
    case JpegStatus::Ok: return DecodeResult::success(ImageFormat::Jpeg);
    case JpegStatus::LibjpegError: return DecodeResult::failure(ImageFormat::Jpeg, reason_from(err));
    case JpegStatus::Problem: break;
  }
  return DecodeResult::failure(ImageFormat::Jpeg, problem.empty() ? "truncated JPEG data" : problem);
}

}  // namespace vggtl
