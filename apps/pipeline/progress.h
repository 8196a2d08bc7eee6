// Progress of long work: a one-line bar redrawn in place when stdout is a terminal; otherwise
// (logs, pipes) one plain line every 10 seconds (VGGTL_PROGRESS_SECONDS), without carriage
// returns, and nothing for work that ends sooner. Rates are shown from the second update on,
// measured from the first (the first item's own time is unknown). Under mpiexec only rank 0
// shows anything (the job's progress inside a JobProgress).
#pragma once

#include <cstdint>
#include <functional>
#include <string>

#include "engine/timer.h"

namespace vggtl {

// While one is alive, this process computes its part of work split over the ranks of an
// mpiexec job, and rank 0's ProgressBar shows the whole job: `total` items and the count summed
// over the ranks (each rank's bar publishes its own; cluster::SharedCount). Collective: every
// rank makes and ends one at the same point. Nothing without MPI.
class JobProgress {
 public:
  explicit JobProgress(int64_t total);
  ~JobProgress();
  // This rank's count when no ProgressBar runs for it (a part found done already).
  void publish(int64_t count);
  JobProgress(const JobProgress&) = delete;
  JobProgress& operator=(const JobProgress&) = delete;

 private:
  bool owner_ = false;
};

// Where progress goes instead of the bar and the plain lines, when set (the Python module hands
// it to tqdm): every update of every ProgressBar of this process, `done` of `total` items of the
// work named `label`, called on the thread that updates the bar; done == total ends that work.
using ProgressSink = std::function<void(const std::string& label, int64_t done, int64_t total)>;
void set_progress_sink(ProgressSink sink);  // an empty one restores the bar

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
  // Seconds between plain lines: VGGTL_PROGRESS_SECONDS when set (>= 0), else 10.
  static double plain_line_seconds();

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
