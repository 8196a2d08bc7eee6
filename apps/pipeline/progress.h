// Progress of long work: a one-line bar redrawn in place when stdout is a terminal; otherwise
// (logs, pipes) one plain line every 30 seconds, and nothing for work that ends sooner.
#pragma once

#include <cstdint>
#include <string>

#include "engine/timer.h"

namespace vggtl {

class ProgressBar {
 public:
  // `enabled` defaults to isatty(stdout).
  ProgressBar(std::string label, int64_t total);
  ProgressBar(std::string label, int64_t total, bool enabled);
  ~ProgressBar();
  void update(int64_t done, const std::string& extra = "");
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
};

}  // namespace vggtl
