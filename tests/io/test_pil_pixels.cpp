// The input pipeline against Pillow, bit for bit: generated images in every format and colour
// mode (8-bit samples; 16-bit ones differ from Pillow by design) go through
// scripts/check_pixels_against_pil.py, which compares bench_decode's rows with what Keras's
// load_img + img_to_array + preprocess_input give, for NEAREST and BILINEAR at odd sizes.
// Skips, saying why, where the benches are not built or Python lacks Pillow and numpy (under CI
// the missing Python modules fail instead).
#include <gtest/gtest.h>

#include <filesystem>
#include <string>
#include <vector>

#include "support/image_writer.h"
#include "test_util.h"

namespace vggtl {

namespace {


void write_images(const std::string& dir) {
  namespace fs = std::filesystem;
  fs::create_directories(dir);
  const int sizes[][2] = {{57, 43}, {224, 224}, {31, 90}, {300, 17}};
  int k = 0;
  for (const auto& wh : sizes) {
    const int w = wh[0], h = wh[1];
    const std::vector<uint8_t> rgb = test::pattern_image(w, h, 3, static_cast<uint32_t>(k));
    const std::vector<uint8_t> grey = test::pattern_image(w, h, 1, static_cast<uint32_t>(k + 7));
    const std::vector<uint8_t> cmyk = test::pattern_image(w, h, 4, static_cast<uint32_t>(k + 9));
    const std::string stem = dir + "/" + std::to_string(k++);
    test::JpegOptions j420;
    j420.h_samp = j420.v_samp = 2;
    test::write_file(stem + "_420.jpg", test::encode_jpeg(rgb.data(), w, h, j420));
    test::JpegOptions progressive;
    progressive.progressive = true;
    progressive.h_samp = 2;
    test::write_file(stem + "_422p.jpg", test::encode_jpeg(rgb.data(), w, h, progressive));
    test::JpegOptions g;
    g.color = test::JpegColor::Gray;
    test::write_file(stem + "_grey.jpg", test::encode_jpeg(grey.data(), w, h, g));
    test::JpegOptions c;
    c.color = test::JpegColor::Cmyk;
    test::write_file(stem + "_cmyk.jpg", test::encode_jpeg(cmyk.data(), w, h, c));
    test::write_file(stem + "_rgb.png", test::encode_png(test::widen(rgb), w, h, test::PngOptions{}));
    test::PngOptions ga;
    ga.color = test::PngColor::GrayAlpha;
    std::vector<uint8_t> grey_alpha;
    for (size_t i = 0; i < grey.size(); ++i) grey_alpha.insert(grey_alpha.end(), {grey[i], static_cast<uint8_t>(i)});
    test::write_file(stem + "_ga.png", test::encode_png(test::widen(grey_alpha), w, h, ga));
    test::write_file(stem + ".bmp", test::encode_bmp(test::widen(rgb), w, h, test::BmpOptions{}));
    test::write_file(stem + ".ppm", test::encode_pnm(6, test::widen(rgb), w, h, 255));
    test::write_file(stem + ".tif", test::encode_tiff(test::widen(rgb), w, h, test::TiffOptions{}));
  }
}

}  // namespace

TEST(PillowPixels, EveryFormatMatchesKerasInputBitForBit) {
  const std::string bench = std::string(VGGTL_TEST_BINARY_DIR) + "/bench/bench_decode";
  if (!std::filesystem::exists(bench)) GTEST_SKIP() << "bench_decode is not built (VGGTL_BUILD_BENCH=OFF)";
  std::string probe;
  if (test::run_command(test::python() + " -c 'import PIL, numpy'", &probe) != 0)
    SKIP_OR_FAIL_IN_CI(test::python() + " has no Pillow and numpy (set VGGTL_PYTHON): " + probe);
  const std::string dir = test::temp_dir("images");
  write_images(dir);
  for (const char* size : {"32", "96"}) {
    std::string out;
    const int rc = test::run_command(test::python() + " " + VGGTL_SOURCE_DIR + "/scripts/check_pixels_against_pil.py " +
                                         dir + " --bench " + bench + " --image-size " + size + " --interpolation both",
                                     &out);
    EXPECT_EQ(rc, 0) << "size " << size << "\n" << out;
  }
}

}  // namespace vggtl
