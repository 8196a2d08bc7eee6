// Progress bar: redraws at most 10 times a second, with a rate and an estimate of time left.
#include "apps/pipeline/progress.h"

#include <unistd.h>

#include <cstdio>
#include <cstdlib>
#include <utility>

#include "apps/pipeline/cluster.h"
#include "engine/log.h"

namespace vggtl {

// Under mpiexec a rank's stdout is a pseudo-terminal of the launcher whatever the job's own
// output is (a log file, a pipe): such jobs get the plain lines.
bool ProgressBar::stdout_is_terminal() { return isatty(fileno(stdout)) == 1 && !cluster::launched_by_mpi(); }

double ProgressBar::plain_line_seconds() {
  static const double seconds = [] {
    const char* v = std::getenv("VGGTL_PROGRESS_SECONDS");
    char* end = nullptr;
    const double s = v && *v ? std::strtod(v, &end) : -1;
    return end && *end == '\0' && s >= 0 ? s : 10.0;
  }();
  return seconds;
}

ProgressBar::ProgressBar(std::string label, int64_t total)
    : ProgressBar(std::move(label), total, stdout_is_terminal() && log_level() <= LogLevel::Info) {}

namespace {
// The job whose part this process is working on (JobProgress), or null.
struct Job {
  int64_t total;
  cluster::SharedCount count;
};
Job* g_job = nullptr;
ProgressSink g_sink;
}  // namespace

void set_progress_sink(ProgressSink sink) { g_sink = std::move(sink); }

JobProgress::JobProgress(int64_t total) {
  if (!cluster::active() || g_job) return;
  g_job = new Job{total, {}};
  owner_ = true;
}

void JobProgress::publish(int64_t count) {
  if (owner_) g_job->count.publish(count);
}

JobProgress::~JobProgress() {
  if (!owner_) return;
  delete g_job;
  g_job = nullptr;
}

ProgressBar::ProgressBar(std::string label, int64_t total, bool enabled)
    : label_(std::move(label)), total_(total), enabled_(enabled) {}

ProgressBar::~ProgressBar() { clear(); }

std::string ProgressBar::rate_text(int64_t first_done, double first_seconds, int64_t done, double seconds) {
  if (first_seconds < 0 || done <= first_done || seconds <= first_seconds) return "";
  char text[32];
  std::snprintf(text, sizeof text, "%.1f/s", static_cast<double>(done - first_done) / (seconds - first_seconds));
  return text;
}

void ProgressBar::update(int64_t done, const std::string& extra) {
  if (g_job) {  // this process's part of a job: every rank adds its count, rank 0 shows the sum
    g_job->count.publish(done);
    if (!cluster::is_root()) return;
    done = g_job->count.total();
    total_ = g_job->total;
  }
  if (total_ <= 0 || !cluster::is_root()) return;
  if (g_sink) {
    g_sink(label_, done, total_);
    return;
  }
  const double t = clock_.seconds();
  if (first_time_ < 0) {
    first_time_ = t;
    first_done_ = done;
  }
  if (!enabled_) {
    if (t - last_line_ >= plain_line_seconds() && done < total_) {
      last_line_ = t;
      const std::string rate = rate_text(first_done_, first_time_, done, t);
      char line[200];
      std::snprintf(line, sizeof line, "%s: %lld/%lld after %.0f s%s%s", label_.c_str(), static_cast<long long>(done),
                    static_cast<long long>(total_), t, rate.empty() ? "" : ", ", rate.c_str());
      if (log_level() <= LogLevel::Info) std::printf("%s\n", line);  // --quiet: nothing
    }
    return;
  }
  if (done < total_ && last_draw_ >= 0 && t - last_draw_ < 0.1) return;
  last_draw_ = t;
  const int width = 30;
  const int filled = static_cast<int>(width * done / total_);
  std::string bar(static_cast<size_t>(filled), '=');
  if (filled < width) bar += '>';
  bar.resize(width, ' ');
  std::string rate = rate_text(first_done_, first_time_, done, t);
  if (!rate.empty()) {
    const double per_second = static_cast<double>(done - first_done_) / (t - first_time_);
    char eta[48];
    std::snprintf(eta, sizeof eta, "  eta %.0fs", static_cast<double>(total_ - done) / per_second);
    rate = "  " + rate + eta;
  }
  std::printf("\r%s [%s] %lld/%lld%s %s\033[K", label_.c_str(), bar.c_str(), static_cast<long long>(done),
              static_cast<long long>(total_), rate.c_str(), extra.c_str());
  std::fflush(stdout);
  drawn_ = true;
}

void ProgressBar::clear() {
  if (!drawn_) return;
  std::printf("\r\033[K");
  std::fflush(stdout);
  drawn_ = false;
}

}  // namespace vggtl
