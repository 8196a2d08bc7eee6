// A one-line progress bar, drawn only when stdout is a terminal (never in logs or pipes).
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
};

}  // namespace vggtl
