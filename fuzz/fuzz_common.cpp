// Per-process scratch folder for the harnesses that must hand the readers a path.
#include "fuzz_common.h"

#include <unistd.h>

#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <string>
#include <vector>

namespace vggtl::fuzz {

namespace {
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

}  // namespace vggtl::fuzz
