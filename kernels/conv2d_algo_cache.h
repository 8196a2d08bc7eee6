// The persistent cache of measured cuDNN convolution choices: a small text file, one line per
// (GPU, cuDNN version, shape, precision, epilogue), "KEY ALGO MATH_TYPE WORKSPACE EPILOGUE BIAS_F32",
// appended as choices are measured so that later runs skip the search. Plain C++ (no CUDA), so
// its parsing is tested on every machine (tests/kernels/test_conv2d.cpp, ConvAlgoCache suite).
#pragma once

#include <cstddef>
#include <map>
#include <string>

namespace vggtl {

struct ConvAlgoRecord {
  int algo = -1;          // cudnnConvolutionFwdAlgo_t
  int math_type = 0;      // cudnnMathType_t
  size_t workspace = 0;   // bytes
  int epilogue = 0;       // ConvEpilogue as an integer
  bool bias_f32 = true;
};

class ConvAlgoCacheFile {
 public:
  // VGGTL_CUDNN_CACHE names the file ("off" or empty: none); else
  // $XDG_CACHE_HOME/vggtl/cudnn_conv2d.txt or ~/.cache/vggtl/cudnn_conv2d.txt.
  static std::string default_path();

  // Reads `path` ("" = no file). Lines that do not parse, or whose algorithm is not below
  // algo_count, whose workspace exceeds workspace_limit or whose epilogue is not one of
  // `epilogues_allowed` (a bit mask over the integer values) are ignored; later lines win.
  ConvAlgoCacheFile(std::string path, int algo_count, size_t workspace_limit, unsigned epilogues_allowed);

  const ConvAlgoRecord* find(const std::string& key) const;
  // Appends one line (one write, so that processes sharing the file do not interleave). A file
  // that cannot be written is reported once and not used again: choices are then measured anew.
  void append(const std::string& key, const ConvAlgoRecord& r);
  const std::string& path() const { return path_; }

 private:
  std::string path_;
  std::map<std::string, ConvAlgoRecord> records_;
};

}  // namespace vggtl
