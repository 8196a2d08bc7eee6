// The fixture of a test suite that drives the tools: a folder of its own in each test process
// (CTest runs every test in a process of its own, in parallel), holding a generated stripes
// dataset (or what the suite's own make_inputs() writes), removed at the end when every test
// of the suite passed; and the edits of argument lists and the history reading the suites share.
//
//   class TrainApp : public test::ToolSuite<TrainApp> {
//    public:
//     static constexpr const char* kFolder = "train_app_suite";
//     static void make_inputs();  // optional: the default is make_stripes_dataset(data())
//   };
#pragma once

#include <gtest/gtest.h>
#include <unistd.h>

#include <string>
#include <vector>

#include "support/app_runner.h"
#include "test_util.h"

namespace vggtl::test {

template <typename Suite>
class ToolSuite : public ::testing::Test {
 public:
  static void SetUpTestSuite() {
    root_ = new std::string(temp_dir(std::string(Suite::kFolder) + "." + std::to_string(getpid())));
    Suite::make_inputs();
  }
  static void TearDownTestSuite() {
    remove_if_suite_passed(*root_);
    delete root_;
    root_ = nullptr;
  }
  static void make_inputs() { make_stripes_dataset(data()); }

 protected:
  static const std::string& root() { return *root_; }
  static std::string data() { return *root_ + "/data"; }
  static std::string out(const std::string& name) { return *root_ + "/" + name; }

 private:
  static inline std::string* root_ = nullptr;
};

// `args` followed by `more`.
std::vector<std::string> with(std::vector<std::string> args, const std::vector<std::string>& more);
// `args` with option `name` set to `value`: replaced where it is, else added.
std::vector<std::string> with_option(std::vector<std::string> args, const std::string& name,
                                     const std::string& value);
// The rows of RUN/history.csv after its header, without the seconds column (which differs from
// run to run): what two runs that trained alike have equal.
std::vector<std::vector<std::string>> history_rows(const std::string& run);

}  // namespace vggtl::test
