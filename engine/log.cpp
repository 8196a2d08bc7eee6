// Logging: one mutex, one line per message, prefixed with its level.
#include "engine/log.h"

#include <cstdio>
#include <map>
#include <mutex>

namespace vggtl {

namespace {
std::mutex g_mutex;
LogLevel g_level = LogLevel::Info;
std::map<std::string, std::pair<int, int>> g_counted;  // key -> (printed, suppressed)

void emit(LogLevel level, const char* prefix, const std::string& msg) {
  if (level < g_level) return;
  std::fprintf(stderr, "%s%s\n", prefix, msg.c_str());
  std::fflush(stderr);
}
}  // namespace

void set_log_level(LogLevel level) {
  std::lock_guard<std::mutex> lock(g_mutex);
  g_level = level;
}

LogLevel log_level() {
  std::lock_guard<std::mutex> lock(g_mutex);
  return g_level;
}

void log_debug(const std::string& msg) {
  std::lock_guard<std::mutex> lock(g_mutex);
  emit(LogLevel::Debug, "debug: ", msg);
}
void log_info(const std::string& msg) {
  std::lock_guard<std::mutex> lock(g_mutex);
  emit(LogLevel::Info, "", msg);
}
void log_warning(const std::string& msg) {
  std::lock_guard<std::mutex> lock(g_mutex);
  emit(LogLevel::Warning, "warning: ", msg);
}
void log_error(const std::string& msg) {
  std::lock_guard<std::mutex> lock(g_mutex);
  emit(LogLevel::Error, "error: ", msg);
}

void log_warning_counted(const std::string& key, const std::string& msg, int limit) {
  std::lock_guard<std::mutex> lock(g_mutex);
  auto& c = g_counted[key];
  if (c.first < limit) {
    ++c.first;
    emit(LogLevel::Warning, "warning: ", msg);
  } else {
    ++c.second;
  }
}

void log_flush_counted_warnings() {
  std::lock_guard<std::mutex> lock(g_mutex);
  for (auto& kv : g_counted) {
    if (kv.second.second > 0)
      emit(LogLevel::Warning, "warning: ",
           "... and " + std::to_string(kv.second.second) + " more '" + kv.first + "' warnings");
    kv.second = {0, 0};
  }
}

}  // namespace vggtl
