// Progress of long work: a one-line bar redrawn in place when stdout is a terminal; otherwise
// (logs, pipes) one plain line every 10 seconds, without carriage returns, and nothing for work
// that ends sooner. Rates are shown from the second update on, measured from the first (the
// first item's own time is unknown). Under mpiexec only rank 0 shows anything.
#pragma once

#include <cstdint>
#include <string>

#include "engine/timer.h"

namespace vggtl {

class ProgressBar {
 public:
  // `enabled` (the bar on a terminal) defaults to isatty(stdout) unless the log level is above Info
  // (--quiet), which also silences the plain lines.
  ProgressBar(std::string label, int64_t total);
  ProgressBar(std::string label, int64_t total, bool enabled);
  ~ProgressBar();
  void update(int64_t done, const std::string& extra = "");
  // "12.5/s": the items per second from the first update (first_done items at first_seconds,
  // first_seconds < 0 before it) to now; "" until both have moved on.
  static std::string rate_text(int64_t first_done, double first_seconds, int64_t done, double seconds);
  // Erases the bar so that the next line prints cleanly.
  void clear();
  static bool stdout_is_terminal();

 private:
  std::string label_;
  int64_t total_;
  bool enabled_;
  bool drawn_ = false;
  Stopwatch clock_;
  double last_draw_ = -1;
  double last_line_ = 0;
  double first_time_ = -1;  // seconds and items at the first update: rates count from there
  int64_t first_done_ = 0;
};

}  // namespace vggtl
