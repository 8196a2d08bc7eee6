// Per-process scratch folder for the harnesses that must hand the readers a path, and the
// child-process containment of the libhdf5 crashes and hangs.
#include "fuzz_common.h"

#include <fcntl.h>
#include <sanitizer/common_interface_defs.h>
#include <unistd.h>

#include <csignal>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <regex>
#include <sstream>
#include <string>
#include <vector>

#include "io/hdf5/hdf5_precheck.h"
#include "io/hdf5/keras_weights.h"

namespace vggtl::fuzz {

namespace {
constexpr int kHangExit = 75;
std::string g_dir;

void remove_dir() {
  std::error_code ec;
  if (!g_dir.empty()) std::filesystem::remove_all(g_dir, ec);
}
}  // namespace

const std::string& scratch_dir() {
  if (g_dir.empty()) {
    setenv("HDF5_USE_FILE_LOCKING", "FALSE", 1);
    const char* tmp = std::getenv("TMPDIR");
    std::string pattern = std::string(tmp && *tmp ? tmp : "/tmp") + "/vggtl-fuzz-XXXXXX";
    std::vector<char> buf(pattern.begin(), pattern.end());
    buf.push_back('\0');
    if (!mkdtemp(buf.data())) {
      std::perror("vggtl fuzz: mkdtemp");
      std::abort();
    }
    g_dir = buf.data();
    std::atexit(remove_dir);
  }
  return g_dir;
}

std::string write_scratch_file(const std::string& name, const uint8_t* data, size_t size) {
  std::string path = scratch_dir() + "/" + name;
  std::FILE* f = std::fopen(path.c_str(), "wb");
  if (!f || (size && std::fwrite(data, 1, size, f) != size) || std::fclose(f) != 0) {
    std::perror(("vggtl fuzz: writing " + path).c_str());
    std::abort();
  }
  return path;
}

namespace {

int g_skipped = 0;

void report_skipped() {
  if (g_skipped > 0)
    std::fprintf(stderr, "vggtl fuzz: %d inputs skipped: they crash or hang libhdf5 (known bugs)\n",
                 g_skipped);
}

// SIGALRM in the child: where it is stuck, for the parent to classify, then out.
extern "C" void print_stack_and_exit(int) {
  __sanitizer_print_stack_trace();
  ::_exit(kHangExit);
}

// The innermost frame that is either libhdf5's or ours decides whose bug the report shows
// (sanitizer, libc and harness frames are passed over).
bool report_is_libhdf5(const std::string& report) {
  static const std::regex frame(R"(#[0-9]+ 0x[0-9a-f]+ (?:in (\S+) )?\(?([^)\s]*))");
  std::istringstream in(report);
  std::string line;
  std::smatch m;
  while (std::getline(in, line)) {
    if (!std::regex_search(line, m, frame)) continue;
    const std::string name = m[1].str(), module = m[2].str();
    if (name.rfind("H5", 0) == 0 || module.find("libhdf5") != std::string::npos) return true;
    if (name.rfind("vggtl::", 0) == 0 && name.rfind("vggtl::fuzz::", 0) != 0) return false;
    if (name.rfind("LLVMFuzzerTestOneInput", 0) == 0) return false;
  }
  return false;
}

}  // namespace

bool read_survives_in_child(const std::function<void()>& read) {
  const std::string log = scratch_dir() + "/child_stderr.txt";
  const ChildOutcome o = run_in_child(
      [&] {
        const int fd = ::open(log.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
        if (fd >= 0) ::dup2(fd, STDERR_FILENO);
        // libFuzzer's death callback would write this input as a crash artifact of the parent.
        __sanitizer_set_death_callback(nullptr);
        std::signal(SIGALRM, print_stack_and_exit);
        ::alarm(5);
        read();
      },
      8);
  if (o.kind == ChildOutcome::Kind::Ok || o.kind == ChildOutcome::Kind::Error) return true;
  std::ifstream in(log);
  std::stringstream report;
  report << in.rdbuf();
  if (report_is_libhdf5(report.str())) {
    if (g_skipped++ == 0) std::atexit(report_skipped);
    return false;
  }
  std::fprintf(stderr, "vggtl fuzz: the reader %s in a child process, outside libhdf5:\n%s\n",
               o.kind == ChildOutcome::Kind::Timeout ? "hung" : "died", report.str().c_str());
  std::abort();
}

void require_input_error_naming(const Error& e, const std::string& path) {
  const bool input = e.kind() == ErrorKind::BadInput;
  const bool names = std::string(e.what()).find(path) != std::string::npos;
  if (input && names) return;
  std::fprintf(stderr, "vggtl fuzz: the reader threw %s%s:\n%s\n",
               input ? "an InputError" : "an internal error (not an InputError)",
               names ? "" : " that does not name the file", e.what());
  std::abort();
}

void read_and_match_weights(const std::string& path) {
  const WeightsFile f = read_keras_weights(path, /*with_values=*/true);
  std::vector<ExpectedLayer> expected;
  for (const LayerWeights& l : f.layers) {
    ExpectedLayer e{l.layer, {}, {}};
    for (const WeightEntry& w : l.weights) e.shapes.push_back(w.shape);
    expected.push_back(std::move(e));
  }
  match_weights(f, expected);
}

}  // namespace vggtl::fuzz
