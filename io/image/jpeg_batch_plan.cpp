// The batch layout of entropy-decoded JPEGs for the IDCT and colour kernels.
#include "io/image/jpeg_batch_plan.h"

#include <cstring>

#include "engine/error.h"

namespace vggtl {

JpegColorModel jpeg_color_model(JpegColorSpace cs) {
  switch (cs) {
    case JpegColorSpace::Gray: return JpegColorModel::Gray;
    case JpegColorSpace::RGB: return JpegColorModel::RGB;
    default: return JpegColorModel::YCbCr;
  }
}

void describe_jpeg(const JpegLayout& l, int64_t coef_base, int first_plane, JpegIdctPlane* planes,
                   uint16_t* quant, JpegColorImage* image, int64_t* plane_bytes, int64_t* rgb_bytes) {
  JpegColorImage im;
  im.width = l.width;
  im.height = l.height;
  im.model = jpeg_color_model(l.color_space);
  im.num_planes = l.num_components;
  for (int c = 0; c < l.num_components; ++c) {
    const JpegComponentLayout& k = l.comp[c];
    JpegIdctPlane p;
    p.coef_offset = coef_base + k.coef_offset;
    p.out_offset = *plane_bytes;
    p.width_in_blocks = k.width_in_blocks;
    p.height_in_blocks = k.height_in_blocks;
    p.quant_offset = (first_plane + c) * 64;
    std::memcpy(quant + p.quant_offset, k.quant, sizeof(k.quant));
    *plane_bytes += jpeg_plan_align(k.num_blocks() * 64);
    JpegColorPlane& cp = im.plane[c];
    cp.offset = p.out_offset;
    cp.stride = k.width_in_blocks * 8;
    cp.width = k.downsampled_width;
    cp.height = k.downsampled_height;
    VGGTL_CHECK(jpeg_upsample_method(l, c, &cp.method, &cp.h_expand, &cp.v_expand),
                "describe_jpeg: no upsampling method for a supported file");
    planes[first_plane + c] = p;
  }
  im.out_offset = *rgb_bytes;
  *rgb_bytes += jpeg_plan_align(int64_t{l.width} * l.height * 3);
  *image = im;
}

}  // namespace vggtl
