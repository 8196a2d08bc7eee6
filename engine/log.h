// Levelled logging to stderr. Warnings can be counted by key so that a repeated warning is
// printed a few times and then summarised, never repeated hundreds of times.
#pragma once

#include <string>

namespace vggtl {

enum class LogLevel { Debug = 0, Info = 1, Warning = 2, Error = 3, Quiet = 4 };

void set_log_level(LogLevel level);
LogLevel log_level();

void log_debug(const std::string& msg);
void log_info(const std::string& msg);
void log_warning(const std::string& msg);
void log_error(const std::string& msg);

// Prints the first `limit` warnings with this key, then counts the rest silently.
void log_warning_counted(const std::string& key, const std::string& msg, int limit = 3);
// One line per key whose warnings were suppressed: "... and 41 more 'bad image' warnings".
void log_flush_counted_warnings();

}  // namespace vggtl
