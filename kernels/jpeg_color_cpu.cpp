// CPU twin of JPEG upsampling + colour conversion: the specification, row by row as libjpeg-turbo
// does it (jdsample.c's per-method loops with first/last-column cases, jdmainct.c's repeated edge
// rows as context, jdcolor.c's tables and range limit), and the device dispatch.
#include <algorithm>
#include <array>
#include <cstdint>
#include <vector>

#include "engine/error.h"
#include "kernels/jpeg_color.h"
#include "kernels/jpeg_color_thread.h"

namespace vggtl {

namespace {

// jdcolor.c build_ycc_rgb_table.
struct YccTables {
  std::array<int, 256> cr_r{}, cb_b{};
  std::array<int64_t, 256> cr_g{}, cb_g{};
  YccTables() {
    constexpr int kBits = jpeg_ycc::kScaleBits;
    const int64_t one_half = int64_t{1} << (kBits - 1);
    auto fix = [](double v) { return static_cast<int64_t>(v * (1 << kBits) + 0.5); };
    for (int i = 0, x = -128; i <= 255; ++i, ++x) {
      cr_r[i] = static_cast<int>((fix(1.40200) * x + one_half) >> kBits);
      cb_b[i] = static_cast<int>((fix(1.77200) * x + one_half) >> kBits);
      cr_g[i] = -fix(0.71414) * x;
      cb_g[i] = -fix(0.34414) * x + one_half;
    }
  }
};

// sample_range_limit: 0 below 0, identity on 0..255, 255 above (x in -256..639).
struct SampleLimit {
  std::array<uint8_t, 256 + 640> table{};
  SampleLimit() {
    for (int x = -256; x < 640; ++x) table[x + 256] = static_cast<uint8_t>(std::clamp(x, 0, 255));
  }
  uint8_t operator[](int x) const { return table.at(static_cast<size_t>(x + 256)); }
};

const YccTables& ycc_tables() {
  static const YccTables t;
  return t;
}

const SampleLimit& sample_limit() {
  static const SampleLimit t;
  return t;
}

// Row r of a component's downsampled data as the upsampler sees it: the main controller hands it
// the first row above the image and the last real row below it (jdmainct.c).
const uint8_t* context_row(const uint8_t* planes, const JpegColorPlane& p, int r) {
  r = std::clamp(r, 0, p.height - 1);
  return planes + p.offset + int64_t{r} * p.stride;
}

// Upsampled output row y of one component into out (at least width entries; the fancy methods
// write 2 * downsampled width, as libjpeg's color buffer allows).
void upsample_row(const uint8_t* planes, const JpegColorPlane& p, int y, int width, uint8_t* out) {
  switch (p.method) {
    case JpegUpsample::Full: {
      const uint8_t* in = context_row(planes, p, y);
      std::copy(in, in + width, out);
      return;
    }
    case JpegUpsample::FancyH2V1: {  // h2v1_fancy_upsample
      const uint8_t* in = context_row(planes, p, y);
      int v = in[0];
      *out++ = static_cast<uint8_t>(v);
      *out++ = static_cast<uint8_t>((v * 3 + in[1] + 2) >> 2);
      for (int c = 1; c < p.width - 1; ++c) {
        v = in[c] * 3;
        *out++ = static_cast<uint8_t>((v + in[c - 1] + 1) >> 2);
        *out++ = static_cast<uint8_t>((v + in[c + 1] + 2) >> 2);
      }
      v = in[p.width - 1];
      *out++ = static_cast<uint8_t>((v * 3 + in[p.width - 2] + 1) >> 2);
      *out++ = static_cast<uint8_t>(v);
      return;
    }
    case JpegUpsample::FancyH1V2: {  // h1v2_fancy_upsample
      const int r = y / 2;
      const bool below = y % 2 == 1;
      const uint8_t* in0 = context_row(planes, p, r);
      const uint8_t* in1 = context_row(planes, p, below ? r + 1 : r - 1);
      const int bias = below ? 2 : 1;
      for (int c = 0; c < p.width; ++c) out[c] = static_cast<uint8_t>((in0[c] * 3 + in1[c] + bias) >> 2);
      return;
    }
    case JpegUpsample::FancyH2V2: {  // h2v2_fancy_upsample
      const int r = y / 2;
      const uint8_t* in0 = context_row(planes, p, r);
      const uint8_t* in1 = context_row(planes, p, y % 2 == 1 ? r + 1 : r - 1);
      int this_sum = in0[0] * 3 + in1[0];
      int next_sum = in0[1] * 3 + in1[1];
      *out++ = static_cast<uint8_t>((this_sum * 4 + 8) >> 4);
      *out++ = static_cast<uint8_t>((this_sum * 3 + next_sum + 7) >> 4);
      int last_sum = this_sum;
      this_sum = next_sum;
      for (int c = 2; c < p.width; ++c) {
        next_sum = in0[c] * 3 + in1[c];
        *out++ = static_cast<uint8_t>((this_sum * 3 + last_sum + 8) >> 4);
        *out++ = static_cast<uint8_t>((this_sum * 3 + next_sum + 7) >> 4);
        last_sum = this_sum;
        this_sum = next_sum;
      }
      *out++ = static_cast<uint8_t>((this_sum * 3 + last_sum + 8) >> 4);
      *out++ = static_cast<uint8_t>((this_sum * 4 + 7) >> 4);
      return;
    }
    case JpegUpsample::Box: {  // h2v1_upsample, h2v2_upsample, int_upsample
      const uint8_t* in = context_row(planes, p, y / p.v_expand);
      for (int x = 0; x < width; ++x) out[x] = in[x / p.h_expand];
      return;
    }
  }
  VGGTL_FAIL("jpeg_color: unknown upsampling method ", static_cast<int>(p.method));
}

void check_image(const JpegColorImage& im) {
  const int want = im.model == JpegColorModel::Gray ? 1 : 3;
  VGGTL_CHECK(im.num_planes == want, "jpeg_color: ", im.num_planes, " planes for colour model ",
              static_cast<int>(im.model));
  for (int c = 0; c < im.num_planes; ++c) {
    const JpegColorPlane& p = im.plane[c];
    VGGTL_CHECK(p.width >= 1 && p.height >= 1 && p.stride >= p.width, "jpeg_color: bad plane ", c);
    const bool fancy_h = p.method == JpegUpsample::FancyH2V1 || p.method == JpegUpsample::FancyH2V2;
    VGGTL_CHECK(!fancy_h || p.width >= 2, "jpeg_color: fancy horizontal upsampling of width ", p.width);
    VGGTL_CHECK(p.method != JpegUpsample::Box || (p.h_expand >= 1 && p.v_expand >= 1),
                "jpeg_color: bad box factors");
  }
}

}  // namespace

int64_t jpeg_color_plan(JpegColorImage* images, int num_images) {
  int64_t cta = 0;
  for (int i = 0; i < num_images; ++i) {
    check_image(images[i]);
    images[i].first_cta = cta;
    const int64_t pixels = int64_t{images[i].width} * images[i].height;
    cta += (pixels + kColorThreads - 1) / kColorThreads;
  }
  return cta;
}

void jpeg_color_cpu(uint8_t* rgb, const uint8_t* planes, const JpegColorImage* images,
                    int num_images) {
  const YccTables& t = ycc_tables();
  const SampleLimit& limit = sample_limit();
  std::vector<uint8_t> rows[3];
  for (int i = 0; i < num_images; ++i) {
    const JpegColorImage& im = images[i];
    check_image(im);
    for (int c = 0; c < im.num_planes; ++c)
      rows[c].assign(std::max<size_t>(im.width, 2 * static_cast<size_t>(im.plane[c].width)), 0);
    for (int y = 0; y < im.height; ++y) {
      for (int c = 0; c < im.num_planes; ++c) upsample_row(planes, im.plane[c], y, im.width, rows[c].data());
      uint8_t* out = rgb + im.out_offset + int64_t{y} * im.width * 3;
      for (int x = 0; x < im.width; ++x, out += 3) {
        if (im.model == JpegColorModel::Gray) {  // gray_rgb_convert
          out[0] = out[1] = out[2] = rows[0][x];
        } else if (im.model == JpegColorModel::RGB) {  // rgb_rgb_convert
          out[0] = rows[0][x];
          out[1] = rows[1][x];
          out[2] = rows[2][x];
        } else {  // ycc_rgb_convert
          const int yy = rows[0][x], cb = rows[1][x], cr = rows[2][x];
          out[0] = limit[yy + t.cr_r[cr]];
          out[1] = limit[yy + static_cast<int>((t.cb_g[cb] + t.cr_g[cr]) >> jpeg_ycc::kScaleBits)];
          out[2] = limit[yy + t.cb_b[cb]];
        }
      }
    }
  }
}

void jpeg_color(Device device, uint8_t* rgb, const uint8_t* planes, const JpegColorImage* images,
                int num_images, int64_t num_ctas, Stream stream) {
  if (device.is_cuda()) {
    jpeg_color_cuda(rgb, planes, images, num_images, num_ctas, stream);
    return;
  }
  jpeg_color_cpu(rgb, planes, images, num_images);
}

}  // namespace vggtl
