// libjpeg's upsampling (jdsample.c: fancy h2v1/h1v2/h2v2 triangle filters, box for the rest) fused
// with its colour conversion (jdcolor.c: YCbCr->RGB fixed-point tables, grayscale->RGB, RGB copy).
// planes: u8 IDCT output per component (row stride given); rgb: interleaved u8, width*3 per row.
// Tested by tests/kernels/test_jpeg_color.cpp (and end to end against libjpeg).
#pragma once

#include <cstdint>

#include "engine/device.h"
#include "engine/dtype.h"

namespace vggtl {

// How one component reaches full resolution; chosen as libjpeg's jinit_upsampler does.
enum class JpegUpsample : int32_t {
  Full = 0,   // same size as the output
  FancyH2V1,  // 2:1 horizontal triangle filter (downsampled width > 2)
  FancyH1V2,  // 2:1 vertical triangle filter
  FancyH2V2,  // 2:1 both ways (downsampled width > 2)
  Box,        // replication by h_expand x v_expand (h2v1/h2v2 when width <= 2, other ratios)
};

enum class JpegColorModel : int32_t { Gray = 0, YCbCr, RGB };

struct JpegColorPlane {
  int64_t offset = 0;  // bytes to sample (0,0) of this component's plane
  int32_t stride = 0;  // bytes per plane row
  int32_t width = 0, height = 0;  // libjpeg's downsampled size: the samples that are image
  JpegUpsample method = JpegUpsample::Full;
  int32_t h_expand = 1, v_expand = 1;  // Box only
};

struct JpegColorImage {
  int64_t out_offset = 0;  // bytes to pixel (0,0) of this image's interleaved RGB
  int32_t width = 0, height = 0;
  JpegColorModel model = JpegColorModel::YCbCr;
  int32_t num_planes = 3;  // 1 for Gray, 3 otherwise
  JpegColorPlane plane[3];
  int64_t first_cta = 0;  // first thread block of the CUDA grid on this image (jpeg_color_plan)
};

// CUDA geometry: one thread per output pixel, consecutive pixels of one image per thread block.
constexpr int kColorThreads = 256;

// Assigns each image its first thread block; returns the grid size.
int64_t jpeg_color_plan(JpegColorImage* images, int num_images);

// CPU twin: the specification, row by row as jdsample.c and jdcolor.c do it.
void jpeg_color_cpu(uint8_t* rgb, const uint8_t* planes, const JpegColorImage* images,
                    int num_images);
// images must be device memory holding what jpeg_color_plan produced; num_ctas is its result.
void jpeg_color_cuda(uint8_t* rgb, const uint8_t* planes, const JpegColorImage* images,
                     int num_images, int64_t num_ctas, Stream stream);
// Dispatch: every pointer lives on `device`; num_ctas and stream matter for CUDA only.
void jpeg_color(Device device, uint8_t* rgb, const uint8_t* planes, const JpegColorImage* images,
                int num_images, int64_t num_ctas, Stream stream);

}  // namespace vggtl
