// Running the command-line tools from tests: exit status and captured output, a child that
// can be killed mid-run, CSV reading, and a small two-class image set (horizontal vs vertical
// stripes, JPEG and PNG) that the head can learn even on a random base.
#pragma once

#include <string>
#include <sys/types.h>
#include <vector>

namespace vggtl::test {

struct RunResult {
  int status = -1;  // exit status; 128 + signal when killed
  std::string out, err;
};

// Path of a built tool ("vggtl_train") in the build tree.
std::string tool_path(const std::string& name);
// Runs argv (argv[0] a tool name or path) with extra environment entries "K=V".
RunResult run_tool(const std::vector<std::string>& argv, const std::vector<std::string>& env = {});

// A child running in the background.
class Child {
 public:
  explicit Child(const std::vector<std::string>& argv, const std::vector<std::string>& env = {});
  // stdout and stderr redirected into these files (as `tool > out.log 2> err.log`), with extra
  // environment entries "K=V".
  Child(const std::vector<std::string>& argv, const std::string& stdout_file, const std::string& stderr_file,
        const std::vector<std::string>& env = {});
  ~Child();  // kills and reaps a child still running
  Child(const Child&) = delete;
  Child& operator=(const Child&) = delete;
  void kill_now(int signal);
  bool running();
  int wait();  // exit status (128 + signal when killed)
  pid_t pid() const { return pid_; }

 private:
  pid_t pid_ = -1;
  int status_ = -1;
};

std::vector<std::vector<std::string>> read_csv(const std::string& path);
std::string read_text(const std::string& path);

struct StripesSpec {
  int per_class_train = 12, per_class_valid = 6, per_class_test = 6;
  int min_side = 36, max_side = 60;
  unsigned seed = 1;
};
// Writes root/{train,valid,test}/{horizontal,vertical}/*.{jpg,png}.
void make_stripes_dataset(const std::string& root, const StripesSpec& spec = {});

}  // namespace vggtl::test
