// Progress bar: redraws at most 10 times a second, with a rate and an estimate of time left.
#include "apps/pipeline/progress.h"

#include <unistd.h>

#include <cstdio>

#include "engine/log.h"

namespace vggtl {

bool ProgressBar::stdout_is_terminal() { return isatty(fileno(stdout)) == 1; }

ProgressBar::ProgressBar(std::string label, int64_t total)
    : ProgressBar(std::move(label), total, stdout_is_terminal()) {}

ProgressBar::ProgressBar(std::string label, int64_t total, bool enabled)
    : label_(std::move(label)), total_(total), enabled_(enabled) {}

ProgressBar::~ProgressBar() { clear(); }

void ProgressBar::update(int64_t done, const std::string& extra) {
  if (total_ <= 0) return;
  const double t = clock_.seconds();
  if (!enabled_) {
    if (t - last_line_ >= 30 && done < total_) {
      last_line_ = t;
      char line[160];
      std::snprintf(line, sizeof line, "%s: %lld/%lld after %.0f s", label_.c_str(), static_cast<long long>(done),
                    static_cast<long long>(total_), t);
      log_info(line);
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
  const double rate = t > 0 ? static_cast<double>(done) / t : 0;
  const double left = rate > 0 ? static_cast<double>(total_ - done) / rate : 0;
  std::printf("\r%s [%s] %lld/%lld  %.1f/s  eta %.0fs %s\033[K", label_.c_str(), bar.c_str(),
              static_cast<long long>(done), static_cast<long long>(total_), rate, left, extra.c_str());
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
