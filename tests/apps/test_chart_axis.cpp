// report.html's learning-curve axes: round ticks, accuracy within [0, 1], a log loss axis for an
// early spike, the best-epoch line inside the plot even at epoch 1, the legend above the plot.
#include <gtest/gtest.h>

#include <cmath>
#include <regex>

#include "apps/pipeline/chart_axis.h"
#include "apps/pipeline/report.h"

namespace vggtl {

namespace {

// True when v is 1, 2 or 5 times a power of ten.
bool is_round_step(double v) {
  const double m = v / std::pow(10.0, std::floor(std::log10(v) + 1e-9));
  return std::fabs(m - 1) < 1e-6 || std::fabs(m - 2) < 1e-6 || std::fabs(m - 5) < 1e-6;
}

void expect_round_ticks(const ChartAxis& a) {
  ASSERT_GE(a.ticks.size(), 2u);
  ASSERT_EQ(a.ticks.size(), a.labels.size());
  const double step = a.ticks[1] - a.ticks[0];
  EXPECT_TRUE(is_round_step(step)) << "step " << step;
  for (size_t i = 0; i < a.ticks.size(); ++i) {
    EXPECT_NEAR(a.ticks[i] / step, std::round(a.ticks[i] / step), 1e-6) << a.labels[i] << " not a multiple of " << step;
    if (i > 0) {
      EXPECT_NEAR(a.ticks[i] - a.ticks[i - 1], step, 1e-9 * step);
    }
    EXPECT_LE(a.labels[i].size(), 5u) << a.labels[i];
    EXPECT_GE(a.ticks[i], a.lo - 1e-12);
    EXPECT_LE(a.ticks[i], a.hi + 1e-12);
  }
}

// The numeric attribute `name` of the first element of `tag` with class `cls` in `svg`.
double attribute(const std::string& svg, const std::string& tag, const std::string& cls, const std::string& name) {
  std::smatch m;
  if (!std::regex_search(svg, m, std::regex("<" + tag + " class='" + cls + "'[^>]*")))
    ADD_FAILURE() << "no <" << tag << " class='" << cls << "'>";
  std::smatch v;
  const std::string element = m.str();
  if (!std::regex_search(element, v, std::regex(" " + name + "='([-0-9.e]+)'"))) {
    ADD_FAILURE() << "no " << name << " in " << element;
    return NAN;
  }
  return std::stod(v[1].str());
}

std::vector<double> attributes(const std::string& svg, const std::string& tag, const std::string& cls,
                               const std::string& name) {
  std::vector<double> out;
  const std::regex element("<" + tag + " class='" + cls + "'[^>]*"), value(" " + name + "='([-0-9.e]+)'");
  for (auto it = std::sregex_iterator(svg.begin(), svg.end(), element); it != std::sregex_iterator(); ++it) {
    std::smatch v;
    const std::string e = it->str();
    if (std::regex_search(e, v, value)) out.push_back(std::stod(v[1].str()));
  }
  return out;
}

}  // namespace

TEST(ChartAxis, RoundStepIsOneTwoOrFiveTimesAPowerOfTen) {
  EXPECT_DOUBLE_EQ(round_step(10.4, 5), 5);  // the report's old ticks: 0, 2.61, 5.22, 7.82, 10.4
  EXPECT_DOUBLE_EQ(round_step(1, 6), 0.2);
  EXPECT_DOUBLE_EQ(round_step(0.3, 6), 0.1);
  EXPECT_DOUBLE_EQ(round_step(19, 10), 5);
  for (double span : {0.0013, 0.07, 0.9, 3.3, 10.4, 77.0, 12345.0})
    EXPECT_TRUE(is_round_step(round_step(span, 6))) << span;
}

TEST(ChartAxis, LinearTicksAreRoundAndCoverTheValues) {
  const ChartAxis a = linear_axis(0, 10.4, 8, 0, INFINITY);
  expect_round_ticks(a);
  EXPECT_EQ(a.labels.front(), "0");
  EXPECT_EQ(a.labels.back(), "12");
  EXPECT_LE(a.ticks.size(), 8u);
  const ChartAxis b = linear_axis(0.213, 0.694, 8, 0, INFINITY);
  expect_round_ticks(b);
  EXPECT_LE(b.lo, 0.213);
  EXPECT_GE(b.hi, 0.694);
  EXPECT_EQ(b.labels.front(), "0.2");
  EXPECT_EQ(b.labels.back(), "0.7");
  const ChartAxis one = linear_axis(0.5, 0.5, 8, 0, INFINITY);  // a single value
  expect_round_ticks(one);
  EXPECT_LT(one.lo, 0.5);
  EXPECT_GT(one.hi, 0.5);
}

TEST(ChartAxis, AccuracyStaysWithinZeroAndOne) {
  const ChartAxis a = value_axis({0.45, 0.8, 0.97, 1.0, 1.0}, ChartQuantity::Accuracy);
  expect_round_ticks(a);
  EXPECT_EQ(a.hi, 1);
  EXPECT_EQ(a.labels.back(), "1.0");
  EXPECT_GE(a.lo, 0);
  const ChartAxis all_one = value_axis({1, 1, 1}, ChartQuantity::Accuracy);
  EXPECT_EQ(all_one.hi, 1);
  EXPECT_LT(all_one.lo, 1);
  const ChartAxis low = value_axis({0, 0.02}, ChartQuantity::Accuracy);
  EXPECT_EQ(low.lo, 0);
  EXPECT_EQ(low.labels.front(), "0.000");
}

TEST(ChartAxis, AnEarlyLossSpikeTurnsTheAxisLogarithmic) {
  // Epoch 1's val_loss of 9.9 among losses of 0.2..0.7: linear, the other epochs would be a line.
  const ChartAxis a = value_axis({0.69, 9.9, 0.5, 0.62, 0.4, 0.55, 0.3, 0.5, 0.21, 0.48}, ChartQuantity::Loss);
  EXPECT_TRUE(a.log);
  EXPECT_LE(a.lo, 0.21);
  EXPECT_GE(a.hi, 9.9);
  for (double t : a.ticks) EXPECT_TRUE(is_round_step(t)) << t;
  // The spread of the ordinary epochs takes a good part of the height, not a sliver at the bottom.
  EXPECT_GT(a.fraction(0.69) - a.fraction(0.21), 0.25);
  // Without the spike the axis stays linear from round values.
  const ChartAxis b = value_axis({0.69, 0.5, 0.62, 0.4, 0.55, 0.3, 0.5, 0.21, 0.48}, ChartQuantity::Loss);
  EXPECT_FALSE(b.log);
  expect_round_ticks(b);
  EXPECT_GE(b.lo, 0);
}

TEST(ChartAxis, LogTicksAreRoundAndFew) {
  const ChartAxis a = log_axis(0.0013, 250);
  EXPECT_LE(a.ticks.size(), 8u);
  EXPECT_LE(a.lo, 0.0013);
  EXPECT_GE(a.hi, 250);
  for (double t : a.ticks) EXPECT_TRUE(is_round_step(t)) << t;
  EXPECT_EQ(log_axis(0.21, 9.9).labels, (std::vector<std::string>{"0.2", "0.5", "1", "2", "5", "10"}));
}

TEST(ChartAxis, EpochAxisKeepsTheFirstAndLastEpochsInside) {
  const ChartAxis a = epoch_axis(1, 20);
  EXPECT_GT(a.fraction(1), 0.01);
  EXPECT_LT(a.fraction(20), 0.99);
  EXPECT_EQ(a.labels, (std::vector<std::string>{"5", "10", "15", "20"}));
  EXPECT_EQ(epoch_axis(1, 4).labels, (std::vector<std::string>{"1", "2", "3", "4"}));
  const ChartAxis one = epoch_axis(1, 1);
  EXPECT_DOUBLE_EQ(one.fraction(1), 0.5);
}

TEST(ChartAxis, ReportDrawsTheBestEpochOneLineInsideAndTheLegendOutsideThePlot) {
  ReportInput in;
  in.title = "run";
  in.monitor = "val_loss";
  in.best_epoch = 1;
  in.history = {{1, 0.69, 0.55, 0.3, 0.9, 1}, {2, 0.5, 0.7, 9.9, 0.5, 1}, {3, 0.4, 0.8, 0.6, 0.6, 1}};
  const std::string html = report_html(in);
  size_t charts = 0;
  for (size_t at = html.find("<svg"); at != std::string::npos; at = html.find("<svg", at + 1), ++charts) {
    const std::string svg = html.substr(at, html.find("</svg>", at) - at);
    const double left = attribute(svg, "rect", "plot", "x"), top = attribute(svg, "rect", "plot", "y");
    const double right = left + attribute(svg, "rect", "plot", "width");
    const double x = attribute(svg, "line", "best", "x1");
    EXPECT_GT(x, left + 5) << "the best-epoch line is drawn on the plot's edge, where it cannot be seen";
    EXPECT_LT(x, right - 5);
    const std::vector<double> legend = attributes(svg, "text", "legend", "y");
    EXPECT_EQ(legend.size(), 3u);
    for (double y : legend) EXPECT_LT(y, top) << "legend text inside the plot area";
    for (double y : attributes(svg, "text", "ytick", "y")) EXPECT_GT(y, top - 1);
  }
  EXPECT_EQ(charts, 2u);
  EXPECT_NE(html.find("The loss axis is logarithmic: val_loss of epoch 2 (9.9)"), std::string::npos) << html;
  EXPECT_NE(html.find("No test split was found"), std::string::npos);
}

}  // namespace vggtl
