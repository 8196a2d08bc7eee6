#include "support/tool_suite.h"

#include <algorithm>

namespace vggtl::test {

std::vector<std::string> with(std::vector<std::string> args, const std::vector<std::string>& more) {
  args.insert(args.end(), more.begin(), more.end());
  return args;
}

std::vector<std::string> with_option(std::vector<std::string> args, const std::string& name,
                                     const std::string& value) {
  for (size_t i = 0; i + 1 < args.size(); ++i)
    if (args[i] == name) {
      args[i + 1] = value;
      return args;
    }
  args.insert(args.end(), {name, value});
  return args;
}

std::vector<std::vector<std::string>> history_rows(const std::string& run) {
  std::vector<std::vector<std::string>> rows = read_csv(run + "/history.csv");
  EXPECT_FALSE(rows.empty()) << run << "/history.csv: no header";
  if (rows.empty()) return rows;
  const auto seconds = std::find(rows[0].begin(), rows[0].end(), "seconds");
  EXPECT_NE(seconds, rows[0].end()) << run << "/history.csv: no seconds column";
  const size_t column = static_cast<size_t>(seconds - rows[0].begin());
  rows.erase(rows.begin());
  for (auto& r : rows)
    if (column < r.size()) r.erase(r.begin() + static_cast<std::ptrdiff_t>(column));
  return rows;
}

}  // namespace vggtl::test
