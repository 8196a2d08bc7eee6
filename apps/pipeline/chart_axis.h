// Axes of report.html's learning curves: round ticks (1, 2 or 5 times a power of ten),
// accuracies kept within [0, 1], a log scale for losses when one value would flatten the rest,
// and an epoch axis with half an epoch of margin. Tested in tests/apps/test_chart_axis.cpp.
#pragma once

#include <string>
#include <vector>

namespace vggtl {

struct ChartAxis {
  double lo = 0, hi = 1;  // the ends of the axis (values, also on a log axis)
  bool log = false;
  std::vector<double> ticks;        // lo <= tick <= hi, increasing
  std::vector<std::string> labels;  // one per tick, e.g. "0.25"
  // Where v lies along the axis: 0 at lo, 1 at hi (outside [0, 1] for values beyond the ends).
  double fraction(double v) const;
};

// The round step (1, 2 or 5 times a power of ten) that covers `span` in at most max_ticks - 1
// steps.
double round_step(double span, int max_ticks);

// A linear axis from a multiple of a round step at or below lo to one at or above hi, within
// [min_value, max_value], with at most max_ticks ticks.
ChartAxis linear_axis(double lo, double hi, int max_ticks, double min_value, double max_value);

// A log axis over lo..hi (both > 0) with ticks at 1, 2 and 5 times powers of ten (only the
// powers of ten when that would make more than 8).
ChartAxis log_axis(double lo, double hi);

enum class ChartQuantity { Loss, Accuracy };

// How far above the median the largest loss may be before the axis turns logarithmic.
constexpr double kLogScaleRatio = 4;

// The value axis of a chart of `values` (non-finite ones ignored): accuracies on a linear axis
// within [0, 1]; losses on a linear axis from 0 or above, or on a log axis when the largest is
// over kLogScaleRatio times the median (an early spike such as an epoch-1 val_loss of 9.9 would
// otherwise flatten every other epoch into a line).
ChartAxis value_axis(const std::vector<double>& values, ChartQuantity quantity);

// The epoch axis from first - 0.5 to last + 0.5, so that the first and last epochs (and a
// best-epoch line drawn on them) lie inside the plot, with integer ticks a round step apart.
ChartAxis epoch_axis(int first, int last);

}  // namespace vggtl
