// The tools as a user meets them (issue 22): a misspelt option answered with the real one, option
// names printed as they are typed, vggtl_predict's CSV lined up with its input even for files
// that do not decode, and report.html looked at in a real browser (headless Chromium: a
// screenshot, and the layout measured by the browser). One tiny run at 32x32 px is shared.
#include <gtest/gtest.h>

#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <sstream>

#include <unistd.h>

#include "apps/pipeline/report.h"
#include "io/image/image_decode.h"
#include "support/app_runner.h"
#include "support/tool_suite.h"
#include "support/image_writer.h"
#include "test_util.h"

namespace vggtl {

namespace fs = std::filesystem;
using test::read_csv;
using test::run_tool;
using test::RunResult;

namespace {

// The lines of `text`.
std::vector<std::string> lines_of(const std::string& text) {
  std::vector<std::string> out;
  std::istringstream in(text);
  for (std::string l; std::getline(in, l);) out.push_back(l);
  return out;
}

// A headless Chromium: $VGGTL_CHROMIUM, else the first of the usual names on PATH; "" if none.
std::string find_chromium() {
  if (const char* env = std::getenv("VGGTL_CHROMIUM"); env && *env) return env;
  for (const char* name : {"chromium", "chromium-browser", "google-chrome"}) {
    std::string out;
    if (test::run_command(std::string("command -v ") + name, &out) == 0 && !out.empty())
      return out.substr(0, out.find('\n'));
  }
  return "";
}

// Runs Chromium headless on a local file with its own profile folder; returns its exit status.
int chromium(const std::string& browser, const std::string& profile, const std::string& what,
             const std::string& html, std::string* output) {
  // --no-sandbox: the sandbox cannot start as root (CI containers); the page is our own file.
  const std::string command = "'" + browser + "' --headless --no-sandbox --disable-gpu --hide-scrollbars "
                              "--no-first-run --user-data-dir='" + profile + "' --window-size=1000,1500 " +
                              what + " 'file://" + fs::absolute(html).string() + "' 2>/dev/null";
  return test::run_command(command, output);
}

// Whether some pixel of `img` is within `tolerance` of (r, g, b) in every channel.
bool has_colour(const RgbImage& img, int r, int g, int b, int tolerance = 24) {
  for (size_t i = 0; i + 2 < img.pixels.size(); i += 3)
    if (std::abs(img.pixels[i] - r) <= tolerance && std::abs(img.pixels[i + 1] - g) <= tolerance &&
        std::abs(img.pixels[i + 2] - b) <= tolerance)
      return true;
  return false;
}

// Appended to a copy of a report: the browser measures where it drew the legend, the plot area
// and the best-epoch line, and writes what is wrong (or "ok") into <body data-probe>.
const char* kLayoutProbe = R"js(<script>
const problems = [];
const charts = [...document.querySelectorAll('svg')].filter(svg => svg.getAttribute('aria-label') !== 'confusion matrix');
if (charts.length !== 2) problems.push(charts.length + ' charts, not 2');
charts.forEach((svg, i) => {
  const plot = svg.querySelector('rect.plot');
  if (!plot) return problems.push('chart ' + i + ': no plot area');
  const p = plot.getBoundingClientRect();
  const legend = [...svg.querySelectorAll('text.legend, text.scale')].map(t => [t.textContent, t.getBoundingClientRect()]);
  if (legend.length === 0) problems.push('chart ' + i + ': no legend');
  legend.forEach(([name, b], j) => {
    if (b.bottom > p.top + 0.5 && b.top < p.bottom && b.right > p.left && b.left < p.right)
      problems.push('chart ' + i + ': legend "' + name + '" on the plot area');
    legend.slice(j + 1).forEach(([other, c]) => {
      if (b.right > c.left && c.right > b.left && b.bottom > c.top && c.bottom > b.top)
        problems.push('chart ' + i + ': legend "' + name + '" over "' + other + '"');
    });
  });
  const best = svg.querySelector('line.best');
  if (!best) problems.push('chart ' + i + ': no best-epoch line');
  else {
    const b = best.getBoundingClientRect();
    if (!(b.left > p.left + 3 && b.right < p.right - 3)) problems.push('chart ' + i + ': best-epoch line on the plot edge');
  }
  svg.querySelectorAll('text.ytick').forEach(t => {
    const b = t.getBoundingClientRect();
    if (b.right > p.left) problems.push('chart ' + i + ': tick label ' + t.textContent + ' inside the plot');
  });
});
document.body.setAttribute('data-probe', problems.length ? problems.join('; ') : 'ok');
</script>)js";

}  // namespace

class UserPath : public test::ToolSuite<UserPath> {
 public:
  static constexpr const char* kFolder = "user_path_suite";
  static void make_inputs() {
    test::StripesSpec spec;
    spec.per_class_train = 8;
    spec.per_class_valid = 4;
    spec.per_class_test = 0;
    test::make_stripes_dataset(data(), spec);
    fs::remove_all(data() + "/test");  // a run without a test split
  }

 protected:
  // Two epochs over 16 images at 32x32 px on a random base, trained once per test process.
  static const std::string& run() {
    static const std::string folder = [] {
      const std::string r = root() + "/run";
      RunResult res = run_tool({"vggtl_train", "--data", data(), "--weights", "none", "--image-size", "32",
                                "--epochs", "2", "--batch-size", "8", "--seed", "3", "--out", r, "--workers", "2",
                                "--device", "cpu", "--quiet"});
      EXPECT_EQ(res.status, 0) << res.err;
      return r;
    }();
    return folder;
  }
};


TEST(UserPathOptions, AMisspeltOptionIsAnsweredWithTheRealOne) {
  const struct {
    std::vector<std::string> argv;
    std::string line;
  } cases[] = {
      {{"vggtl_train", "--epoch", "5"}, "vggtl_train: unknown option --epoch; did you mean --epochs?"},
      {{"vggtl_train", "--image_size", "64"}, "vggtl_train: unknown option --image_size; did you mean --image-size?"},
      {{"vggtl_train", "--data", "d", "--lerning-rate=3"}, "vggtl_train: unknown option --lerning-rate (see vggtl_train --help)"},
      {{"vggtl_eval", "--modle", "m.h5"}, "vggtl_eval: unknown option --modle; did you mean --model?"},
      {{"vggtl_predict", "--topk", "2", "x.jpg"}, "vggtl_predict: unknown option --topk; did you mean --top-k?"},
      {{"vggtl_extract", "--batch", "4"}, "vggtl_extract: unknown option --batch; did you mean --batch-size?"},
  };
  for (const auto& c : cases) {
    const RunResult r = run_tool(c.argv);
    EXPECT_EQ(r.status, 2) << c.argv[1];
    EXPECT_EQ(lines_of(r.err), std::vector<std::string>{c.line}) << r.err;
  }
}

TEST(UserPathOptions, EveryToolPrintsItsVersion) {
  for (const char* tool : {"vggtl_train", "vggtl_eval", "vggtl_predict", "vggtl_extract", "vggtl_weights"}) {
    const RunResult r = run_tool({tool, "--version"});
    EXPECT_EQ(r.status, 0) << tool << ": " << r.err;
    EXPECT_NE(r.out.find("cpu backend: "), std::string::npos) << tool << ": " << r.out;
  }
}

TEST_F(UserPath, AResumedRunNamesAChangedOptionAsItIsTyped) {
  const RunResult r = run_tool({"vggtl_train", "--data", data(), "--weights", "none", "--out", run(), "--resume",
                                "--image-size", "64", "--device", "cpu"});
  EXPECT_EQ(r.status, 2) << r.err;
  EXPECT_NE(r.err.find("--image-size 64 differs from the run being resumed (32)"), std::string::npos) << r.err;
  EXPECT_EQ(r.err.find("image_size"), std::string::npos) << r.err;
}

TEST_F(UserPath, PredictGivesAFileThatDoesNotDecodeItsRow) {
  const std::string dir = test::temp_dir("predict");
  fs::copy_file(data() + "/valid/vertical/0.jpg", dir + "/a.jpg");
  test::write_file(dir + "/b.jpg", {0xFF, 0xD8, 0xFF, 0xE0, 0, 16, 'J', 'F'});  // a JPEG cut short
  fs::copy_file(data() + "/valid/horizontal/1.png", dir + "/c.png");
  const RunResult r =
      run_tool({"vggtl_predict", "--model", run() + "/best.h5", "--device", "cpu", "--top-k", "2", dir});
  ASSERT_EQ(r.status, 0) << r.err;
  const std::string csv = dir + "/out.csv";
  std::ofstream(csv) << r.out;
  const auto rows = read_csv(csv);
  ASSERT_EQ(rows.size(), 4u) << r.out;
  EXPECT_EQ(rows[0], (std::vector<std::string>{"path", "class_1", "probability_1", "class_2", "probability_2", "error"}));
  const char* names[3] = {"/a.jpg", "/b.jpg", "/c.png"};
  for (size_t i = 1; i < rows.size(); ++i) {
    ASSERT_EQ(rows[i].size(), 6u) << r.out;
    EXPECT_EQ(rows[i][0], dir + names[i - 1]);
  }
  EXPECT_EQ(rows[2][1], "");
  EXPECT_EQ(rows[2][2], "");
  EXPECT_FALSE(rows[2][5].empty()) << "no reason for b.jpg";
  for (size_t i : {1u, 3u}) {
    EXPECT_TRUE(rows[i][1] == "horizontal" || rows[i][1] == "vertical") << rows[i][1];
    EXPECT_EQ(rows[i][5], "");
  }
}

TEST_F(UserPath, ReportInABrowser) {
  const std::string html = run() + "/report.html";
  const std::string page = test::read_text(html);
  EXPECT_NE(page.find("No test split was found"), std::string::npos);
  EXPECT_NE(page.find("<th>time</th>"), std::string::npos);
  const std::string browser = find_chromium();
  if (browser.empty()) {
    // scripts/install_deps.sh installs Debian's chromium where apt knows the package (not on
    // Ubuntu, whose chromium is a snap): there, under CI, its absence is a failure.
    std::string apt;
    const bool installable = test::run_command("apt-cache show chromium >/dev/null 2>&1", &apt) == 0;
    const std::string why = "no Chromium on PATH to look at report.html";
    if (installable) SKIP_OR_FAIL_IN_CI(why + " (scripts/install_deps.sh installs it)");
    GTEST_SKIP() << why << " (and apt has no chromium package to install)";
  }
  const std::string dir = test::temp_dir("browser");

  // What the user sees: the page drawn, its curves and best-epoch line among the pixels.
  const std::string png = dir + "/report.png";
  std::string output;
  ASSERT_EQ(chromium(browser, dir + "/profile", "--screenshot='" + png + "'", html, &output), 0) << output;
  RgbImage shot;
  std::vector<uint8_t> bytes;
  ASSERT_TRUE(decode_image_file(png, &shot, &bytes).ok) << png;
  EXPECT_EQ(shot.width, 1000);
  EXPECT_TRUE(has_colour(shot, 0x1f, 0x77, 0xb4)) << "no loss/accuracy curve in " << png;
  EXPECT_TRUE(has_colour(shot, 0xd6, 0x27, 0x28)) << "no validation curve in " << png;
  EXPECT_TRUE(has_colour(shot, 0x22, 0xaa, 0x22)) << "no best-epoch line in " << png;
  std::printf("screenshot: %s\n", png.c_str());

  // The awkward history of issue 22, laid out by the browser: best epoch 1, an epoch-1 val_loss
  // of 9.9, accuracy reaching 1.
  ReportInput in;
  in.title = "probe";
  in.monitor = "val_loss";
  in.best_epoch = 1;
  for (int e = 1; e <= 10; ++e)
    in.history.push_back({e, 0.7 / e, 0.6 + 0.04 * e, e == 1 ? 9.9 : 0.3 + 0.01 * e, e > 5 ? 1.0 : 0.9, 0.01});
  const std::string probe = dir + "/probe.html";
  std::string probed = report_html(in);
  probed.insert(probed.rfind("</body>"), kLayoutProbe);
  std::ofstream(probe) << probed;
  ASSERT_EQ(chromium(browser, dir + "/profile", "--dump-dom", probe, &output), 0) << output;
  const size_t at = output.find("data-probe=");
  ASSERT_NE(at, std::string::npos) << "the layout probe did not run:\n" << output;
  const std::string ok = "data-probe=\"ok\"";
  EXPECT_EQ(output.compare(at, ok.size(), ok), 0) << output.substr(at, 600);
}

}  // namespace vggtl
