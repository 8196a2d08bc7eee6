// Round ticks: a step of 1, 2 or 5 times a power of ten, ticks at its multiples, labels with
// as many decimals as the step needs (so 0, 2, 4 and 0.25, 0.5, never 2.61 or 5.22).
#include "apps/pipeline/chart_axis.h"

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <cstdio>
#include <limits>

namespace vggtl {

namespace {

// At most 8 ticks on a value axis: 0..12 by 2 rather than 0..15 by 5 for losses up to 10.4.
constexpr int kValueTicks = 8;

// The next round step after `step`: 1 -> 2 -> 5 -> 10.
double next_round_step(double step) {
  const double p = std::pow(10.0, std::floor(std::log10(step) + 1e-9));
  const double m = std::round(step / p);
  return m < 2 ? 2 * p : m < 5 ? 5 * p : 10 * p;
}

std::string fixed_label(double v, int decimals) {
  char buf[64];
  std::snprintf(buf, sizeof buf, "%.*f", decimals, v);
  return buf;
}

std::string general_label(double v) {
  char buf[64];
  std::snprintf(buf, sizeof buf, "%.3g", v);
  return buf;
}

}  // namespace

double ChartAxis::fraction(double v) const {
  if (log) {
    if (!(v > 0)) return -1;
    return (std::log(v) - std::log(lo)) / (std::log(hi) - std::log(lo));
  }
  return (v - lo) / (hi - lo);
}

double round_step(double span, int max_ticks) {
  const double raw = span / std::max(1, max_ticks - 1);
  if (!(raw > 0) || !std::isfinite(raw)) return 1;
  const double p = std::pow(10.0, std::floor(std::log10(raw)));
  for (double m : {1.0, 2.0, 5.0, 10.0})
    if (m * p >= raw * (1 - 1e-9)) return m * p;
  return 10 * p;
}

ChartAxis linear_axis(double lo, double hi, int max_ticks, double min_value, double max_value) {
  if (!(hi - lo > 1e-12 * std::max(1.0, std::fabs(hi)))) {  // one value: a small range around it
    const double d = std::max(1e-3, 0.05 * std::fabs(lo));
    lo -= d;
    hi += d;
  }
  lo = std::max(lo, min_value);
  hi = std::min(hi, max_value);
  ChartAxis a;
  for (double step = round_step(hi - lo, max_ticks);; step = next_round_step(step)) {
    const int64_t first = static_cast<int64_t>(std::floor(lo / step + 1e-9));
    const int64_t last = static_cast<int64_t>(std::ceil(hi / step - 1e-9));
    if (last - first + 1 > max_ticks) continue;
    a.lo = std::max(min_value, static_cast<double>(first) * step);
    a.hi = std::min(max_value, static_cast<double>(last) * step);
    const int decimals = std::max(0, static_cast<int>(-std::floor(std::log10(step) + 1e-9)));
    for (int64_t i = first; i <= last; ++i) {
      double v = static_cast<double>(i) * step;
      if (v < a.lo - 1e-9 * step || v > a.hi + 1e-9 * step) continue;
      if (i == 0) v = 0;  // never "-0"
      a.ticks.push_back(v);
      a.labels.push_back(fixed_label(v, decimals));
    }
    return a;
  }
}

ChartAxis log_axis(double lo, double hi) {
  ChartAxis a;
  a.log = true;
  std::vector<double> round;  // 1, 2, 5 times powers of ten around lo..hi
  const int k0 = static_cast<int>(std::floor(std::log10(lo))) - 1;
  const int k1 = static_cast<int>(std::ceil(std::log10(hi))) + 1;
  for (int k = k0; k <= k1; ++k)
    for (double m : {1.0, 2.0, 5.0}) round.push_back(m * std::pow(10.0, k));
  a.lo = round.front();
  a.hi = round.back();
  for (double t : round) {
    if (t <= lo * (1 + 1e-9)) a.lo = t;
    if (t >= hi * (1 - 1e-9)) {
      a.hi = t;
      break;
    }
  }
  std::vector<double> all;
  for (double t : round)
    if (t >= a.lo * (1 - 1e-9) && t <= a.hi * (1 + 1e-9)) all.push_back(t);
  if (all.size() > 8) {  // the powers of ten and the two ends
    std::vector<double> fewer;
    for (double t : all) {
      const double mantissa = t / std::pow(10.0, std::floor(std::log10(t) + 1e-9));
      if (t == all.front() || t == all.back() || std::fabs(mantissa - 1) < 1e-6) fewer.push_back(t);
    }
    all = fewer;
  }
  a.ticks = all;
  for (double t : all) a.labels.push_back(general_label(t));
  return a;
}

ChartAxis value_axis(const std::vector<double>& values, ChartQuantity quantity) {
  std::vector<double> v;
  for (double x : values)
    if (std::isfinite(x)) v.push_back(x);
  if (quantity == ChartQuantity::Accuracy) {
    if (v.empty()) return linear_axis(0, 1, kValueTicks, 0, 1);
    const auto [mn, mx] = std::minmax_element(v.begin(), v.end());
    return linear_axis(*mn, *mx, kValueTicks, 0, 1);
  }
  if (v.empty()) return linear_axis(0, 1, kValueTicks, 0, std::numeric_limits<double>::infinity());
  std::sort(v.begin(), v.end());
  const double median = v.size() % 2 ? v[v.size() / 2] : 0.5 * (v[v.size() / 2 - 1] + v[v.size() / 2]);
  if (v.front() > 0 && v.back() > kLogScaleRatio * median) return log_axis(v.front(), v.back());
  return linear_axis(v.front(), v.back(), kValueTicks, 0, std::numeric_limits<double>::infinity());
}

ChartAxis epoch_axis(int first, int last) {
  ChartAxis a;
  a.lo = first - 0.5;
  a.hi = last + 0.5;
  const int64_t step = std::max<int64_t>(1, std::llround(round_step(last - first, 10)));
  for (int64_t e = (first + step - 1) / step * step; e <= last; e += step) {
    a.ticks.push_back(static_cast<double>(e));
    a.labels.push_back(std::to_string(e));
  }
  return a;
}

}  // namespace vggtl
