// libFuzzer harness: decode_image on arbitrary bytes (JPEG, PNG, BMP, PNM, TIFF by signature).
// A bad image must come back as a failure with a reason: never an exception, a crash, a hang, a
// leak or undefined behaviour. Seeds: fuzz/corpus/image_decode (fuzz_make_seeds).
#include <cstdint>
#include <cstdio>
#include <cstdlib>

#include "io/image/image_decode.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  vggtl::RgbImage image;
  vggtl::DecodeResult r = vggtl::decode_image(data, size, &image);
  if (r.ok) {
    // A success must describe its pixels exactly; touching every byte lets ASan check them.
    const size_t want = static_cast<size_t>(image.width) * static_cast<size_t>(image.height) * 3;
    if (image.width <= 0 || image.height <= 0 || image.pixels.size() != want) {
      std::fprintf(stderr, "decode_image: ok but %dx%d with %zu bytes\n", image.width,
                   image.height, image.pixels.size());
      std::abort();
    }
    unsigned sum = 0;
    for (uint8_t v : image.pixels) sum += v;
    volatile unsigned sink = sum;
    (void)sink;
  } else if (r.reason.empty()) {
    std::fprintf(stderr, "decode_image: failure without a reason (%s)\n",
                 vggtl::image_format_name(r.format));
    std::abort();
  }
  return 0;
}
