// The cuDNN choice cache file (see conv2d_algo_cache.h).
#include "kernels/conv2d_algo_cache.h"

#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <sstream>

#include "engine/log.h"

namespace vggtl {

std::string ConvAlgoCacheFile::default_path() {
  if (const char* p = std::getenv("VGGTL_CUDNN_CACHE")) {
    const std::string s = p;
    return s == "off" ? std::string() : s;
  }
  if (const char* x = std::getenv("XDG_CACHE_HOME"); x && *x) return std::string(x) + "/vggtl/cudnn_conv2d.txt";
  if (const char* h = std::getenv("HOME"); h && *h) return std::string(h) + "/.cache/vggtl/cudnn_conv2d.txt";
  return std::string();
}

ConvAlgoCacheFile::ConvAlgoCacheFile(std::string path, int algo_count, size_t workspace_limit,
                                     unsigned epilogues_allowed)
    : path_(std::move(path)) {
  if (path_.empty()) return;
  std::ifstream in(path_);
  std::string line;
  while (std::getline(in, line)) {
    std::istringstream is(line);
    std::string key, extra;
    ConvAlgoRecord r;
    int bias_f32 = 1;
    if (!(is >> key >> r.algo >> r.math_type >> r.workspace >> r.epilogue >> bias_f32) || (is >> extra))
      continue;  // a foreign or truncated line
    if (r.algo < 0 || r.algo >= algo_count || r.workspace > workspace_limit || r.epilogue < 0 ||
        r.epilogue > 31 || !(epilogues_allowed & (1u << r.epilogue)) || (bias_f32 != 0 && bias_f32 != 1))
      continue;
    r.bias_f32 = bias_f32 != 0;
    records_[key] = r;
  }
}

const ConvAlgoRecord* ConvAlgoCacheFile::find(const std::string& key) const {
  auto it = records_.find(key);
  return it == records_.end() ? nullptr : &it->second;
}

void ConvAlgoCacheFile::append(const std::string& key, const ConvAlgoRecord& r) {
  records_[key] = r;
  if (path_.empty()) return;
  std::error_code ec;
  std::filesystem::create_directories(std::filesystem::path(path_).parent_path(), ec);
  std::ostringstream line;
  line << key << " " << r.algo << " " << r.math_type << " " << r.workspace << " " << r.epilogue << " "
       << (r.bias_f32 ? 1 : 0) << "\n";
  const std::string s = line.str();
  bool ok = false;
  if (std::FILE* f = std::fopen(path_.c_str(), "a")) {  // O_APPEND: one write lands whole
    ok = std::fwrite(s.data(), 1, s.size(), f) == s.size();
    ok = std::fclose(f) == 0 && ok;
  }
  if (!ok) {
    log_warning("cannot write the cuDNN algorithm cache " + path_ + "; choices will be measured again");
    path_.clear();
  }
}

}  // namespace vggtl
