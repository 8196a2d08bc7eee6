// fork/exec with pipes for the tools under test; stripes drawn with integer arithmetic.
#include "app_runner.h"

#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cmath>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <random>
#include <sstream>
#include <stdexcept>

#include "image_writer.h"

namespace vggtl::test {

namespace fs = std::filesystem;

std::string tool_path(const std::string& name) { return std::string(VGGTL_TEST_BINARY_DIR) + "/bin/" + name; }

namespace {

std::vector<char*> c_argv(std::vector<std::string>& args) {
  std::vector<char*> v;
  for (std::string& a : args) v.push_back(a.data());
  v.push_back(nullptr);
  return v;
}

std::vector<std::string> resolved(std::vector<std::string> argv) {
  if (!argv.empty() && argv[0].find('/') == std::string::npos) argv[0] = tool_path(argv[0]);
  return argv;
}

int decode_status(int status) {
  if (WIFEXITED(status)) return WEXITSTATUS(status);
  if (WIFSIGNALED(status)) return 128 + WTERMSIG(status);
  return -1;
}

}  // namespace

RunResult run_tool(const std::vector<std::string>& argv_in, const std::vector<std::string>& env) {
  std::vector<std::string> args = resolved(argv_in);
  int out_pipe[2], err_pipe[2];
  if (pipe(out_pipe) != 0 || pipe(err_pipe) != 0) throw std::runtime_error("pipe failed");
  const pid_t pid = fork();
  if (pid < 0) throw std::runtime_error("fork failed");
  if (pid == 0) {
    dup2(out_pipe[1], 1);
    dup2(err_pipe[1], 2);
    close(out_pipe[0]);
    close(err_pipe[0]);
    for (const std::string& e : env) putenv(strdup(e.c_str()));
    std::vector<char*> v = c_argv(args);
    execv(v[0], v.data());
    _exit(127);
  }
  close(out_pipe[1]);
  close(err_pipe[1]);
  RunResult r;
  pollfd fds[2] = {{out_pipe[0], POLLIN, 0}, {err_pipe[0], POLLIN, 0}};
  int open_fds = 2;
  char buf[4096];
  while (open_fds > 0) {
    if (poll(fds, 2, -1) < 0) break;
    for (int i = 0; i < 2; ++i) {
      if (fds[i].fd < 0 || !(fds[i].revents & (POLLIN | POLLHUP))) continue;
      const ssize_t n = read(fds[i].fd, buf, sizeof buf);
      if (n <= 0) {
        close(fds[i].fd);
        fds[i].fd = -1;
        --open_fds;
      } else {
        (i == 0 ? r.out : r.err).append(buf, static_cast<size_t>(n));
      }
    }
  }
  int status = 0;
  waitpid(pid, &status, 0);
  r.status = decode_status(status);
  return r;
}

Child::Child(const std::vector<std::string>& argv_in, const std::vector<std::string>& env) {
  std::vector<std::string> args = resolved(argv_in);
  pid_ = fork();
  if (pid_ < 0) throw std::runtime_error("fork failed");
  if (pid_ == 0) {
    const int devnull = open("/dev/null", O_WRONLY);
    dup2(devnull, 1);
    dup2(devnull, 2);
    for (const std::string& e : env) putenv(strdup(e.c_str()));
    std::vector<char*> v = c_argv(args);
    execv(v[0], v.data());
    _exit(127);
  }
}

Child::Child(const std::vector<std::string>& argv_in, const std::string& stdout_file, const std::string& stderr_file,
             const std::vector<std::string>& env) {
  std::vector<std::string> args = resolved(argv_in);
  pid_ = fork();
  if (pid_ < 0) throw std::runtime_error("fork failed");
  if (pid_ == 0) {
    const int out = open(stdout_file.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0644);
    const int err = open(stderr_file.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0644);
    if (out < 0 || err < 0) _exit(126);
    dup2(out, 1);
    dup2(err, 2);
    for (const std::string& e : env) putenv(strdup(e.c_str()));
    std::vector<char*> v = c_argv(args);
    execv(v[0], v.data());
    _exit(127);
  }
}

Child::~Child() {
  if (pid_ > 0 && status_ < 0) {
    ::kill(pid_, SIGKILL);
    wait();
  }
}

void Child::kill_now(int signal) {
  if (pid_ > 0 && status_ < 0) ::kill(pid_, signal);
}

bool Child::running() {
  if (status_ >= 0) return false;
  int status = 0;
  if (waitpid(pid_, &status, WNOHANG) == pid_) {
    status_ = decode_status(status);
    return false;
  }
  return true;
}

int Child::wait() {
  if (status_ >= 0) return status_;
  int status = 0;
  waitpid(pid_, &status, 0);
  status_ = decode_status(status);
  return status_;
}

std::vector<std::vector<std::string>> read_csv(const std::string& path) {
  // Enough for the tools' own output: quoted fields with doubled quotes, no embedded newlines.
  std::vector<std::vector<std::string>> rows;
  std::ifstream in(path);
  std::string line;
  while (std::getline(in, line)) {
    std::vector<std::string> row;
    std::string field;
    bool quoted = false;
    for (size_t i = 0; i < line.size(); ++i) {
      const char c = line[i];
      if (quoted) {
        if (c == '"' && i + 1 < line.size() && line[i + 1] == '"') field += '"', ++i;
        else if (c == '"') quoted = false;
        else field += c;
      } else if (c == '"') {
        quoted = true;
      } else if (c == ',') {
        row.push_back(field);
        field.clear();
      } else {
        field += c;
      }
    }
    row.push_back(field);
    rows.push_back(row);
  }
  return rows;
}

std::string read_text(const std::string& path) {
  std::ifstream in(path);
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

void make_stripes_dataset(const std::string& root, const StripesSpec& spec) {
  std::mt19937 rng(spec.seed);
  auto uniform = [&](int lo, int hi) { return std::uniform_int_distribution<int>(lo, hi)(rng); };
  const char* splits[3] = {"train", "valid", "test"};
  const int counts[3] = {spec.per_class_train, spec.per_class_valid, spec.per_class_test};
  for (int s = 0; s < 3; ++s) {
    for (int vertical = 0; vertical < 2; ++vertical) {
      const fs::path dir = fs::path(root) / splits[s] / (vertical ? "vertical" : "horizontal");
      fs::create_directories(dir);
      for (int i = 0; i < counts[s]; ++i) {
        const int w = uniform(spec.min_side, spec.max_side), h = uniform(spec.min_side, spec.max_side);
        const int period = uniform(6, 12), phase = uniform(0, period - 1);
        uint8_t bg[3], fg[3];
        for (int c = 0; c < 3; ++c) {
          bg[c] = static_cast<uint8_t>(uniform(0, 255));
          fg[c] = static_cast<uint8_t>((bg[c] + uniform(90, 165)) % 256);
        }
        std::vector<uint8_t> rgb(static_cast<size_t>(w * h * 3));
        for (int y = 0; y < h; ++y)
          for (int x = 0; x < w; ++x) {
            const int t = vertical ? x : y;
            const bool on = ((t + phase) % period) < period / 2;
            for (int c = 0; c < 3; ++c) rgb[static_cast<size_t>((y * w + x) * 3 + c)] = on ? fg[c] : bg[c];
          }
        const std::string stem = (dir / (std::to_string(i))).string();
        if (i % 2 == 0) {
          JpegOptions jo;
          jo.quality = 90;
          jo.h_samp = jo.v_samp = (i % 4 == 0) ? 2 : 1;
          write_file(stem + ".jpg", encode_jpeg(rgb.data(), w, h, jo));
        } else {
          write_file(stem + ".png", encode_png(std::vector<uint16_t>(rgb.begin(), rgb.end()), w, h, PngOptions{}));
        }
      }
    }
  }
}

}  // namespace vggtl::test
