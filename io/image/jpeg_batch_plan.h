// How the GPU row stage lays a batch of entropy-decoded JPEGs out for its batch kernels: each
// file's IDCT planes, quantisation tables and colour image descriptor, at offsets into the
// batch's coefficient, plane and RGB buffers. Used by io/loader/gpu_row_stage.cpp; tested through it
// (tests/io/test_gpu_row_stage.cpp, rows equal to the CPU stage's bit for bit).
#pragma once

#include <cstdint>

#include "io/image/jpeg_coefficients.h"
#include "kernels/jpeg_color.h"
#include "kernels/jpeg_idct.h"

namespace vggtl {

// Offsets of the plan's buffers are multiples of this many bytes.
constexpr int64_t kJpegPlanAlign = 256;
inline int64_t jpeg_plan_align(int64_t bytes) { return (bytes + kJpegPlanAlign - 1) / kJpegPlanAlign * kJpegPlanAlign; }

// The colour model the colour kernels use for a file's colour space.
JpegColorModel jpeg_color_model(JpegColorSpace cs);

// Descriptors of one entropy-decoded JPEG: its IDCT planes go to planes[first_plane ..], their
// quantisation tables to quant[64 * plane ..], its colour image to *image. coef_base: int16
// elements from the batch's first coefficient to this file's; *plane_bytes and *rgb_bytes are the
// running sizes of the batch's IDCT and RGB outputs, advanced past this image (each part aligned).
void describe_jpeg(const JpegLayout& l, int64_t coef_base, int first_plane, JpegIdctPlane* planes,
                   uint16_t* quant, JpegColorImage* image, int64_t* plane_bytes, int64_t* rgb_bytes);

}  // namespace vggtl
