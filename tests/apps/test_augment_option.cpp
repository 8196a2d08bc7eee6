// --augment parsing: every transform alone and together, the canonical text round trip, the
// ranges Keras gives each option, and one clear error for each kind of bad spec.
#include <gtest/gtest.h>

#include <CLI/CLI.hpp>

#include <string>

#include "apps/pipeline/train_options.h"
#include "test_util.h"

namespace vggtl {
namespace {

TEST(AugmentOption, ParsesTheFullSpec) {
  const AugmentSpec s = parse_augment_spec("hflip,shift=0.1,zoom=0.2,rotate=15,brightness=0.8:1.2");
  EXPECT_TRUE(s.hflip);
  EXPECT_EQ(s.shift, 0.1);
  EXPECT_EQ(s.zoom_lo, 1 - 0.2);  // Keras: zoom_range = [1 - z, 1 + z]
  EXPECT_EQ(s.zoom_hi, 1 + 0.2);
  EXPECT_EQ(s.rotate, 15.0);
  EXPECT_TRUE(s.brightness);
  EXPECT_EQ(s.brightness_lo, 0.8);
  EXPECT_EQ(s.brightness_hi, 1.2);
  EXPECT_TRUE(s.any());
}

TEST(AugmentOption, AnySubsetInAnyOrder) {
  const AugmentSpec a = parse_augment_spec("rotate=30,hflip");
  EXPECT_TRUE(a.hflip);
  EXPECT_EQ(a.rotate, 30.0);
  EXPECT_EQ(a.shift, 0.0);
  EXPECT_EQ(a.zoom_lo, 1.0);
  EXPECT_FALSE(a.brightness);
  const AugmentSpec z = parse_augment_spec("zoom=0.5:1.5");
  EXPECT_EQ(z.zoom_lo, 0.5);
  EXPECT_EQ(z.zoom_hi, 1.5);
  EXPECT_FALSE(z.hflip);
  EXPECT_FALSE(parse_augment_spec("").any());
  EXPECT_FALSE(parse_augment_spec("none").any());
}

TEST(AugmentOption, CanonicalTextParsesBackToTheSameSpec) {
  for (const char* text : {"hflip", "shift=0.1,zoom=0.2,rotate=15", "brightness=0.8:1.2,hflip", "zoom=0.9:1.1",
                           "hflip,shift=0.25,zoom=0.3,rotate=180,brightness=0:2"}) {
    const AugmentSpec a = parse_augment_spec(text);
    const AugmentSpec b = parse_augment_spec(a.str());
    EXPECT_EQ(a.str(), b.str()) << text;
    EXPECT_TRUE(a.hflip == b.hflip && a.shift == b.shift && a.zoom_lo == b.zoom_lo && a.zoom_hi == b.zoom_hi &&
                a.rotate == b.rotate && a.brightness == b.brightness && a.brightness_lo == b.brightness_lo &&
                a.brightness_hi == b.brightness_hi)
        << text << " -> " << a.str();
  }
  EXPECT_EQ(AugmentSpec{}.str(), "");
}

std::string error_for(const std::string& text) {
  return test::error_of([&] { parse_augment_spec(text); });
}

TEST(AugmentOption, BadSpecsSayWhatIsWrong) {
  EXPECT_EQ(error_for("foo"), "--augment: unknown transform 'foo' (known: hflip, shift, zoom, rotate, brightness)");
  EXPECT_EQ(error_for("hflip,foo=1"),
            "--augment: unknown transform 'foo' (known: hflip, shift, zoom, rotate, brightness)");
  EXPECT_EQ(error_for("shift=1"), "--augment: shift must be a fraction in [0, 1), got 1");
  EXPECT_EQ(error_for("shift=-0.1"), "--augment: shift must be a fraction in [0, 1), got -0.1");
  EXPECT_EQ(error_for("shift=abc"), "--augment: shift takes a number, got 'abc'");
  EXPECT_EQ(error_for("shift=0.1x"), "--augment: shift takes a number, got '0.1x'");
  EXPECT_EQ(error_for("shift=nan"), "--augment: shift takes a number, got 'nan'");
  EXPECT_EQ(error_for("shift"), "--augment: shift needs a value (shift=...)");
  EXPECT_EQ(error_for("shift="), "--augment: shift takes a number, got ''");
  EXPECT_EQ(error_for("zoom=1"), "--augment: zoom must be in [0, 1) (zoom range [1 - Z, 1 + Z]), got 1");
  EXPECT_EQ(error_for("zoom=0:1.2"), "--augment: zoom range must be above 0, got 0:1.2");
  EXPECT_EQ(error_for("zoom=1.2:0.8"), "--augment: zoom range 1.2:0.8 has LO above HI");
  EXPECT_EQ(error_for("rotate=200"), "--augment: rotate must be in [0, 180] degrees, got 200");
  EXPECT_EQ(error_for("brightness=1.2"), "--augment: brightness takes LO:HI (e.g. brightness=0.8:1.2), got '1.2'");
  EXPECT_EQ(error_for("brightness=-0.5:1"), "--augment: brightness range must not go below 0, got -0.5:1");
  EXPECT_EQ(error_for("brightness=0.8:"), "--augment: brightness takes a number, got ''");
  EXPECT_EQ(error_for("hflip=1"), "--augment: hflip takes no value, got 'hflip=1'");
  EXPECT_EQ(error_for("hflip,hflip"), "--augment: 'hflip' given twice");
  EXPECT_EQ(error_for("hflip,,rotate=5"), "--augment: empty transform in 'hflip,,rotate=5'");
  EXPECT_EQ(error_for("hflip,"), "--augment: empty transform in 'hflip,'");
}

TEST(AugmentOption, IsAnInputError) {
  try {
    parse_augment_spec("foo");
    FAIL() << "no error";
  } catch (const InputError&) {
  }
}

TEST(AugmentOption, CommandLineBindsTheText) {
  CLI::App app;
  std::string text;
  add_augment_option(app, &text);
  const char* argv[] = {"vggtl_train", "--augment", "hflip,rotate=10"};
  app.parse(3, argv);
  EXPECT_EQ(text, "hflip,rotate=10");
  EXPECT_EQ(parse_augment_spec(text).rotate, 10.0);
}

}  // namespace
}  // namespace vggtl
