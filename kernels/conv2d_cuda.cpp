// Every cuDNN call of the project: the 3x3 'same' convolution on NHWC tensors with KRSC filters,
// through the legacy (v7-style) API. The algorithm is chosen by measuring
// (cudnnFindConvolutionForwardAlgorithmEx) once per shape, precision and epilogue among the
// deterministic ones (bit-identical features are what --resume and the feature cache rely on),
// kept in a process-wide table and appended to the cache file of conv2d_algo_cache.h so that
// later runs skip the search. The backward (fine-tuning) takes backward-data and backward-filter
// ALGO_1 (deterministic, FMA math) from cuDNN's own list. Host code only (the kernels it
// launches live in bias_relu.cu).
// Tested against the CPU oracle by the Gpu suites of test_conv2d.cpp, test_conv2d_backward.cpp
// and test_vgg16.cpp.
#include <cudnn.h>

#include <algorithm>
#include <cmath>
#include <cstring>
#include <cstdlib>
#include <map>
#include <memory>
#include <mutex>
#include <sstream>
#include <string>
#include <tuple>
#include <vector>

#include "engine/cuda_check.h"
#include "engine/tensor.h"
#include "engine/log.h"
#include "kernels/bias_relu.h"
#include "kernels/conv2d.h"
#include "kernels/conv2d_algo_cache.h"
#include "kernels/vec16.h"

namespace vggtl {

std::string CudnnConvChoice::str() const {
  std::ostringstream os;
  os << "algo " << algo << " math " << math_type << " ws " << (workspace >> 10) << " KiB, "
     << conv_epilogue_name(epilogue);
  if (epilogue == ConvEpilogue::CudnnFused) os << (bias_f32 ? " (f32 bias)" : " (bf16 bias)");
  if (ms > 0) os << ", measured " << ms << " ms";
  if (!source.empty()) os << ", from " << source;
  return os.str();
}

namespace {

// Largest workspace an algorithm may use. The search hands cuDNN this much; algorithms needing
// more (FFT variants at batch 256) are skipped: they are not the fast ones for 3x3 convolutions.
constexpr size_t kWorkspaceLimit = size_t{256} << 20;

cudnnDataType_t data_type(ConvMath m) { return m == ConvMath::BF16 ? CUDNN_DATA_BFLOAT16 : CUDNN_DATA_FLOAT; }

// FP32 must not use tensor cores (TF32 would round the inputs to 10 mantissa bits); TF32 uses
// the default math, which allows TF32 tensor cores on Ampere and later; BF16 needs tensor ops.
cudnnMathType_t search_math_type(ConvMath m) {
  switch (m) {
    case ConvMath::FP32: return CUDNN_FMA_MATH;
    case ConvMath::TF32: return CUDNN_DEFAULT_MATH;
    case ConvMath::BF16: return CUDNN_TENSOR_OP_MATH;
  }
  return CUDNN_DEFAULT_MATH;
}

// FP32 is the exact mode: FFT and Winograd transforms add rounding error of their own.
bool algo_allowed(ConvMath m, cudnnConvolutionFwdAlgo_t a) {
  if (m != ConvMath::FP32) return true;
  return a == CUDNN_CONVOLUTION_FWD_ALGO_IMPLICIT_GEMM || a == CUDNN_CONVOLUTION_FWD_ALGO_IMPLICIT_PRECOMP_GEMM ||
         a == CUDNN_CONVOLUTION_FWD_ALGO_GEMM || a == CUDNN_CONVOLUTION_FWD_ALGO_DIRECT;
}

// The descriptors of one (shape, precision); made once, read-only afterwards.
struct Descriptors {
  cudnnTensorDescriptor_t x = nullptr, y = nullptr, bias_f32 = nullptr, bias_bf16 = nullptr;
  cudnnFilterDescriptor_t w = nullptr;
  cudnnConvolutionDescriptor_t conv = nullptr;
  cudnnActivationDescriptor_t relu = nullptr;

  Descriptors(const Conv2dShape& s, ConvMath math) {
    const cudnnDataType_t t = data_type(math);
    const int n = static_cast<int>(s.n), h = static_cast<int>(s.h), w_ = static_cast<int>(s.w);
    const int c = static_cast<int>(s.c), k = static_cast<int>(s.k);
    CUDNN_CHECK(cudnnCreateTensorDescriptor(&x));
    CUDNN_CHECK(cudnnCreateTensorDescriptor(&y));
    CUDNN_CHECK(cudnnCreateTensorDescriptor(&bias_f32));
    CUDNN_CHECK(cudnnCreateTensorDescriptor(&bias_bf16));
    CUDNN_CHECK(cudnnCreateFilterDescriptor(&w));
    CUDNN_CHECK(cudnnCreateConvolutionDescriptor(&conv));
    CUDNN_CHECK(cudnnCreateActivationDescriptor(&relu));
    CUDNN_CHECK(cudnnSetTensor4dDescriptor(x, CUDNN_TENSOR_NHWC, t, n, c, h, w_));
    CUDNN_CHECK(cudnnSetTensor4dDescriptor(y, CUDNN_TENSOR_NHWC, t, n, k, h, w_));
    CUDNN_CHECK(cudnnSetTensor4dDescriptor(bias_f32, CUDNN_TENSOR_NHWC, CUDNN_DATA_FLOAT, 1, k, 1, 1));
    CUDNN_CHECK(cudnnSetTensor4dDescriptor(bias_bf16, CUDNN_TENSOR_NHWC, CUDNN_DATA_BFLOAT16, 1, k, 1, 1));
    CUDNN_CHECK(cudnnSetFilter4dDescriptor(w, t, CUDNN_TENSOR_NHWC, k, c, 3, 3));  // KRSC
    CUDNN_CHECK(cudnnSetConvolution2dDescriptor(conv, 1, 1, 1, 1, 1, 1, CUDNN_CROSS_CORRELATION, CUDNN_DATA_FLOAT));
    CUDNN_CHECK(cudnnSetConvolutionMathType(conv, search_math_type(math)));
    // NaN propagates, as in our bias_relu kernel: a broken input must not turn into zeros.
    CUDNN_CHECK(cudnnSetActivationDescriptor(relu, CUDNN_ACTIVATION_RELU, CUDNN_PROPAGATE_NAN, 0.0));
  }
  ~Descriptors() {
    // A destructor must not throw: a failure (only possible for an invalid descriptor) is logged.
    auto check = [](cudnnStatus_t st) {
      if (st != CUDNN_STATUS_SUCCESS) log_warning(std::string("cuDNN descriptor release: ") + cudnnGetErrorString(st));
    };
    check(cudnnDestroyActivationDescriptor(relu));
    check(cudnnDestroyConvolutionDescriptor(conv));
    check(cudnnDestroyFilterDescriptor(w));
    check(cudnnDestroyTensorDescriptor(bias_bf16));
    check(cudnnDestroyTensorDescriptor(bias_f32));
    check(cudnnDestroyTensorDescriptor(y));
    check(cudnnDestroyTensorDescriptor(x));
  }
  Descriptors(const Descriptors&) = delete;
  Descriptors& operator=(const Descriptors&) = delete;
};

struct Entry {
  explicit Entry(const Conv2dShape& s, ConvMath m) : desc(s, m) {}
  Descriptors desc;
  CudnnConvChoice choice;
  bool chosen = false;
  bool unverified = false;  // taken from the cache file or another batch size, not measured here
};

struct Call {
  void* y;
  const void* x;
  const void* w;
  const float* bias;
  const bf16* bias_bf16;
  const Conv2dShape& s;
  ConvMath math;
  void* ws;
  size_t ws_bytes;
  Stream stream;
  cudnnHandle_t handle;
  const void* zeros;  // z of the fused form: zeros of y's size and type (never y itself)
};

// After cuDNN refused a candidate: a launch it attempted may have left an error in the runtime's
// last-error slot, which the next KERNEL_CHECK would report at the wrong line. Clear it; an
// error that does not clear (the context is broken) is thrown here.
void clear_refusal(Stream stream) {
  (void)cudaGetLastError();
  const cudaError_t st = cudaStreamQuery(stream);
  if (st != cudaSuccess && st != cudaErrorNotReady) CUDA_CHECK(st);
}

cudnnStatus_t run_choice(const Entry& e, const CudnnConvChoice& ch, const Call& c) {
  const float one = 1.f, zero = 0.f;
  // The math type is a property of the descriptor; set per call so that the shared descriptor
  // always carries the one reported with the chosen algorithm. FP32 stays FMA-only.
  const cudnnMathType_t mt =
      c.math == ConvMath::FP32 ? CUDNN_FMA_MATH : static_cast<cudnnMathType_t>(ch.math_type);
  cudnnStatus_t st = cudnnSetConvolutionMathType(e.desc.conv, mt);
  if (st != CUDNN_STATUS_SUCCESS) return st;
  const auto algo = static_cast<cudnnConvolutionFwdAlgo_t>(ch.algo);
  if (ch.epilogue == ConvEpilogue::CudnnFused) {
    // alpha2 = 0, yet some fused kernels read z: z is a buffer of zeros, never y (which may hold
    // anything, NaN included, and 0 * NaN is NaN).
    VGGTL_CHECK(c.zeros, "conv2d (cuDNN): the fused form needs its zero z buffer");
    const bool f32 = ch.bias_f32 || c.math != ConvMath::BF16;
    return cudnnConvolutionBiasActivationForward(
        c.handle, &one, e.desc.x, c.x, e.desc.w, c.w, e.desc.conv, algo, c.ws, ch.workspace, &zero, e.desc.y,
        c.zeros, f32 ? e.desc.bias_f32 : e.desc.bias_bf16, f32 ? static_cast<const void*>(c.bias) : c.bias_bf16,
        e.desc.relu, e.desc.y, c.y);
  }
  st = cudnnConvolutionForward(c.handle, &one, e.desc.x, c.x, e.desc.w, c.w, e.desc.conv, algo, c.ws, ch.workspace,
                               &zero, e.desc.y, c.y);
  if (st != CUDNN_STATUS_SUCCESS) return st;
  const int64_t m = c.s.n * c.s.h * c.s.w;
  if (c.math == ConvMath::BF16)
    bias_relu_cuda(static_cast<bf16*>(c.y), static_cast<const bf16*>(c.y), c.bias, m, c.s.k, c.stream);
  else
    bias_relu_cuda(static_cast<float*>(c.y), static_cast<const float*>(c.y), c.bias, m, c.s.k, c.stream);
  return CUDNN_STATUS_SUCCESS;
}

// Best of three timed runs after one warm-up, in ms; negative when cuDNN refuses the choice.
float time_choice(const Entry& e, const CudnnConvChoice& ch, const Call& c) {
  if (run_choice(e, ch, c) != CUDNN_STATUS_SUCCESS) {
    clear_refusal(c.stream);
    return -1.f;
  }
  cudaEvent_t start, stop;
  CUDA_CHECK(cudaEventCreate(&start));
  CUDA_CHECK(cudaEventCreate(&stop));
  float best = -1.f;
  for (int rep = 0; rep < 3; ++rep) {
    CUDA_CHECK(cudaEventRecord(start, c.stream));
    const cudnnStatus_t st = run_choice(e, ch, c);
    CUDA_CHECK(cudaEventRecord(stop, c.stream));
    CUDA_CHECK(cudaEventSynchronize(stop));
    if (st != CUDNN_STATUS_SUCCESS) {
      clear_refusal(c.stream);
      best = -1.f;
      break;
    }
    float ms = 0;
    CUDA_CHECK(cudaEventElapsedTime(&ms, start, stop));
    if (best < 0 || ms < best) best = ms;
  }
  CUDA_CHECK(cudaEventDestroy(start));
  CUDA_CHECK(cudaEventDestroy(stop));
  return best;
}

// Images 0 and n-1 of the output, copied to the host as floats.
std::vector<float> sample_output(const Call& c) {
  const size_t per = static_cast<size_t>(c.s.h * c.s.w * c.s.k);
  const size_t esize = c.math == ConvMath::BF16 ? sizeof(bf16) : sizeof(float);
  std::vector<float> out;
  std::vector<unsigned char> raw(per * esize);
  for (int64_t img : {int64_t{0}, c.s.n - 1}) {
    if (img == 0 && !out.empty()) break;  // n == 1
    CUDA_CHECK(cudaMemcpyAsync(raw.data(), static_cast<const char*>(c.y) + static_cast<size_t>(img) * per * esize,
                               per * esize, cudaMemcpyDeviceToHost, c.stream));
    CUDA_CHECK(cudaStreamSynchronize(c.stream));
    for (size_t i = 0; i < per; ++i) {
      if (esize == sizeof(float)) {
        float f;
        std::memcpy(&f, raw.data() + i * esize, sizeof f);
        out.push_back(f);
      } else {
        bf16 h;
        std::memcpy(&h, raw.data() + i * esize, sizeof h);
        out.push_back(bf16_to_float(h));
      }
    }
  }
  return out;
}

// Whether the fused form computes what cudnnConvolutionForward followed by our bias_relu kernel
// computes, on the caller's data (images 0 and n-1; the output is poisoned with NaN before the
// fused run, so an element it does not write fails). A fused kernel that reads z, drops the bias
// or the ReLU is never chosen. The tolerance covers two algorithms' rounding: ~1e-6 of the largest
// magnitude in fp32, ~1e-3 in tf32, one bf16 step (2^-8) plus accumulation order in bf16.
bool fused_agrees(const Entry& e, const CudnnConvChoice& fused, const Call& c, std::string& why) {
  CudnnConvChoice own = fused;
  own.epilogue = ConvEpilogue::OwnKernel;
  CUDNN_CHECK(run_choice(e, own, c));
  const std::vector<float> ref = sample_output(c);
  const size_t esize = c.math == ConvMath::BF16 ? sizeof(bf16) : sizeof(float);
  CUDA_CHECK(cudaMemsetAsync(c.y, 0xFF, static_cast<size_t>(c.s.n * c.s.h * c.s.w * c.s.k) * esize, c.stream));
  if (run_choice(e, fused, c) != CUDNN_STATUS_SUCCESS) {
    clear_refusal(c.stream);
    why = "refused on the second run";
    return false;
  }
  const std::vector<float> got = sample_output(c);
  const double tol = c.math == ConvMath::FP32 ? 1e-4 : c.math == ConvMath::TF32 ? 5e-3 : 3e-2;
  double scale = 0, worst = 0;
  for (float r : ref)
    if (std::isfinite(r)) scale = std::max(scale, std::fabs(static_cast<double>(r)));
  for (size_t i = 0; i < ref.size(); ++i) {
    if (std::isnan(ref[i]) != std::isnan(got[i])) {
      why = "element " + std::to_string(i) + " is " + std::to_string(got[i]) + ", expected " + std::to_string(ref[i]);
      return false;
    }
    if (!std::isnan(ref[i])) worst = std::max(worst, std::fabs(static_cast<double>(got[i]) - ref[i]));
  }
  if (worst > tol * std::max(scale, 1e-30)) {
    why = "differs by " + std::to_string(worst) + " (largest output " + std::to_string(scale) + ")";
    return false;
  }
  return true;
}

// Measures every algorithm cuDNN offers, then the epilogues asked for; the fastest wins.
CudnnConvChoice choose(const Entry& e, ConvEpilogue wanted, const Call& c) {
  int max_count = 0;
  CUDNN_CHECK(cudnnGetConvolutionForwardAlgorithmMaxCount(c.handle, &max_count));
  std::vector<cudnnConvolutionFwdAlgoPerf_t> perf(static_cast<size_t>(std::max(max_count, 1)));
  int returned = 0;
  CUDNN_CHECK(cudnnSetConvolutionMathType(e.desc.conv, search_math_type(c.math)));
  CUDNN_CHECK(cudnnFindConvolutionForwardAlgorithmEx(c.handle, e.desc.x, c.x, e.desc.w, c.w, e.desc.conv, e.desc.y,
                                                     c.y, static_cast<int>(perf.size()), &returned, perf.data(),
                                                     c.ws, c.ws_bytes));
  clear_refusal(c.stream);  // algorithms the search tried and cuDNN refused
  std::vector<CudnnConvChoice> candidates;  // fastest first, as cuDNN sorts them
  for (int i = 0; i < returned; ++i) {
    const cudnnConvolutionFwdAlgoPerf_t& p = perf[static_cast<size_t>(i)];
    if (p.status != CUDNN_STATUS_SUCCESS || p.memory > c.ws_bytes || !algo_allowed(c.math, p.algo)) continue;
    if (p.determinism != CUDNN_DETERMINISTIC) continue;  // features must be bit-identical run to run
    if (c.math == ConvMath::FP32 && (p.mathType == CUDNN_TENSOR_OP_MATH ||
                                     p.mathType == CUDNN_TENSOR_OP_MATH_ALLOW_CONVERSION))
      continue;
    CudnnConvChoice ch;
    ch.algo = static_cast<int>(p.algo);
    ch.math_type = static_cast<int>(p.mathType);
    ch.workspace = p.memory;
    candidates.push_back(ch);
  }
  VGGTL_CHECK(!candidates.empty(), "cuDNN offers no usable algorithm for a ", conv_math_name(c.math),
              " 3x3 convolution of (", c.s.n, ",", c.s.h, ",", c.s.w, ",", c.s.c, ") -> ", c.s.k, " channels");

  CudnnConvChoice best;
  float best_ms = -1.f;
  if (wanted != ConvEpilogue::CudnnFused) {
    best = candidates.front();
    best.epilogue = ConvEpilogue::OwnKernel;
    best_ms = wanted == ConvEpilogue::Auto ? time_choice(e, best, c) : 0.f;
    VGGTL_CHECK(best_ms >= 0, "cuDNN refused the algorithm its own search chose (", best.str(), ")");
  }
  if (wanted != ConvEpilogue::OwnKernel) {
    // The fused form may run each algorithm at another speed (or not at all): measure them all.
    CudnnConvChoice fused_best;
    float fused_ms = -1.f;
    for (const CudnnConvChoice& cand : candidates)
      for (bool bias_f32 : {c.math != ConvMath::BF16, true}) {
        CudnnConvChoice ch = cand;
        ch.epilogue = ConvEpilogue::CudnnFused;
        ch.bias_f32 = bias_f32;
        const float ms = time_choice(e, ch, c);
        if (ms >= 0 && (fused_ms < 0 || ms < fused_ms)) {
          fused_best = ch;
          fused_ms = ms;
        }
        if (ms >= 0 || bias_f32) break;  // the bf16 bias worked (or f32 was the only one to try)
      }
    std::string why;
    if (fused_ms >= 0 && (best_ms < 0 || fused_ms < best_ms)) {
      if (fused_agrees(e, fused_best, c, why)) {
        best = fused_best;
        best_ms = fused_ms;
      } else {
        log_warning("cuDNN's fused convolution + bias + ReLU (" + fused_best.str() + ") disagrees with "
                    "cudnnConvolutionForward + bias_relu for (" + std::to_string(c.s.n) + "," +
                    std::to_string(c.s.h) + "," + std::to_string(c.s.w) + "," + std::to_string(c.s.c) + ") -> " +
                    std::to_string(c.s.k) + " " + conv_math_name(c.math) + ": " + why + "; not used");
      }
    }
    if (best_ms < 0) {
      // Asked for the fused form, which cuDNN does not run for this shape: the other epilogue
      // computes the same, so say so and go on.
      log_warning_counted("cudnn-fused", std::string("cuDNN has no usable fused convolution + bias + ReLU for (") +
                                             std::to_string(c.s.n) + "," + std::to_string(c.s.h) + "," +
                                             std::to_string(c.s.w) + "," + std::to_string(c.s.c) + ") -> " +
                                             std::to_string(c.s.k) + " " + conv_math_name(c.math) +
                                             "; using cudnnConvolutionForward and our bias_relu kernel");
      best = candidates.front();
      best.epilogue = ConvEpilogue::OwnKernel;
      best_ms = time_choice(e, best, c);
      VGGTL_CHECK(best_ms >= 0, "cuDNN refused the algorithm its own search chose (", best.str(), ")");
    }
  }
  best.ms = best_ms;
  return best;
}

// ---- The process-wide table and its cache file ----

struct Key {
  int device;
  int64_t n, h, w, c, k;
  ConvMath math;
  ConvEpilogue epilogue;
  bool operator<(const Key& o) const {
    return std::tie(device, n, h, w, c, k, math, epilogue) <
           std::tie(o.device, o.n, o.h, o.w, o.c, o.k, o.math, o.epilogue);
  }
};

std::mutex g_mutex;
// Never destroyed, like the contexts: cuDNN may be gone by the time static objects are.
std::map<Key, std::unique_ptr<Entry>>& g_entries = *new std::map<Key, std::unique_ptr<Entry>>();

// What makes a measured choice valid elsewhere: the GPU model and the cuDNN library.
// (Called with g_mutex held.)
std::string device_tag(int device) {
  static std::map<int, std::string> tags;
  auto it = tags.find(device);
  if (it != tags.end()) return it->second;
  cudaDeviceProp prop;
  CUDA_CHECK(cudaGetDeviceProperties(&prop, device));
  std::string name = prop.name;
  std::replace(name.begin(), name.end(), ' ', '_');
  std::ostringstream os;
  os << name << "|sm" << prop.major << prop.minor << "|cudnn" << cudnnGetVersion();
  return tags[device] = os.str();
}

std::string file_key(const Key& k) {
  std::ostringstream os;
  os << device_tag(k.device) << "|" << k.n << "x" << k.h << "x" << k.w << "x" << k.c << "->" << k.k << "|"
     << conv_math_name(k.math) << "|" << conv_epilogue_name(k.epilogue);
  return os.str();
}

// The cache file, opened on first use (g_mutex held).
std::unique_ptr<ConvAlgoCacheFile>& g_file = *new std::unique_ptr<ConvAlgoCacheFile>();

ConvAlgoCacheFile& cache_file() {
  if (!g_file) {
    const unsigned epilogues = (1u << static_cast<int>(ConvEpilogue::CudnnFused)) |
                               (1u << static_cast<int>(ConvEpilogue::OwnKernel));
    g_file = std::make_unique<ConvAlgoCacheFile>(ConvAlgoCacheFile::default_path(), CUDNN_CONVOLUTION_FWD_ALGO_COUNT,
                                                 kWorkspaceLimit, epilogues);
  }
  return *g_file;
}

void append_cache_file(const Key& k, const CudnnConvChoice& ch) {
  ConvAlgoRecord r;
  r.algo = ch.algo;
  r.math_type = ch.math_type;
  r.workspace = ch.workspace;
  r.epilogue = static_cast<int>(ch.epilogue);
  r.bias_f32 = ch.bias_f32;
  cache_file().append(file_key(k), r);
}

// z of the fused form: zeros of at least `bytes`, one buffer per device, grown when needed
// (g_mutex held). It costs one output's memory, and only where the fused form is tried.
std::map<int, Tensor>& g_zeros = *new std::map<int, Tensor>();

const void* zeros_for(Device device, size_t bytes, Stream stream) {
  Tensor& z = g_zeros[device.index];
  if (!z.raw() || z.nbytes() < bytes) {
    z = Tensor();  // release the smaller one first
    z = Tensor::zeros(Shape{static_cast<int64_t>(bytes)}, DType::U8, device, stream);
    CUDA_CHECK(cudaStreamSynchronize(stream));  // other streams read it from now on
  }
  return z.raw();
}

void check_shape(const Conv2dShape& s) {
  VGGTL_CHECK(s.n > 0 && s.h > 0 && s.w > 0 && s.c > 0 && s.k > 0, "conv2d (cuDNN): empty shape");
  const int64_t limit = int64_t{1} << 31;  // the 4-d descriptors take int sizes and strides
  VGGTL_CHECK(s.n * s.h * s.w * std::max(s.c, s.k) < limit, "conv2d (cuDNN): (", s.n, ",", s.h, ",", s.w, ",",
              std::max(s.c, s.k), ") is too large for one call; split the batch");
}

// The same convolution measured at the smallest larger batch, adapted to this batch: same
// algorithm and epilogue, workspace asked of cuDNN for this shape. Saves a search for every
// partial batch (the last batch of a split, a single prediction); a larger batch is searched
// anew because the best algorithm for few images is rarely the best for many.
bool borrow_choice(Entry& e, const Key& key, cudnnHandle_t handle) {
  const Entry* from = nullptr;
  int64_t from_n = 0;
  for (const auto& [k, other] : g_entries) {
    if (!other->chosen || k.n <= key.n || (from && k.n >= from_n)) continue;
    if (k.device != key.device || k.h != key.h || k.w != key.w || k.c != key.c || k.k != key.k ||
        k.math != key.math || k.epilogue != key.epilogue)
      continue;
    from = other.get();
    from_n = k.n;
  }
  if (!from) return false;
  CudnnConvChoice ch = from->choice;
  const cudnnMathType_t mt = key.math == ConvMath::FP32 ? CUDNN_FMA_MATH : static_cast<cudnnMathType_t>(ch.math_type);
  size_t bytes = 0;
  if (cudnnSetConvolutionMathType(e.desc.conv, mt) != CUDNN_STATUS_SUCCESS ||
      cudnnGetConvolutionForwardWorkspaceSize(handle, e.desc.x, e.desc.w, e.desc.conv, e.desc.y,
                                              static_cast<cudnnConvolutionFwdAlgo_t>(ch.algo),
                                              &bytes) != CUDNN_STATUS_SUCCESS ||
      bytes > kWorkspaceLimit)
    return false;
  ch.workspace = bytes;
  ch.ms = 0;
  ch.source = "batch " + std::to_string(from_n);
  e.choice = ch;
  e.chosen = e.unverified = true;
  return true;
}

Entry& entry_for(const Key& key, const Conv2dShape& s, cudnnHandle_t handle) {
  auto it = g_entries.find(key);
  if (it == g_entries.end()) it = g_entries.emplace(key, std::make_unique<Entry>(s, key.math)).first;
  Entry& e = *it->second;
  if (!e.chosen) {
    if (const ConvAlgoRecord* r = cache_file().find(file_key(key))) {
      e.choice.algo = r->algo;
      e.choice.math_type = r->math_type;
      e.choice.workspace = r->workspace;
      e.choice.epilogue = static_cast<ConvEpilogue>(r->epilogue);
      e.choice.bias_f32 = r->bias_f32;
      e.choice.source = "cache file";
      e.chosen = e.unverified = true;
    }
  }
  if (!e.chosen) borrow_choice(e, key, handle);
  return e;
}

}  // namespace

size_t conv2d_cudnn_workspace_bytes(const Conv2dShape& s, ConvMath math, ConvEpilogue epilogue, Device device,
                                    cudnnContext* handle) {
  check_shape(s);
  std::lock_guard<std::mutex> lock(g_mutex);
  const Key key{device.index, s.n, s.h, s.w, s.c, s.k, math, epilogue};
  const Entry& e = entry_for(key, s, handle);
  return e.chosen ? e.choice.workspace : kWorkspaceLimit;
}

CudnnConvChoice conv2d_forward_cudnn(void* y, const void* x, const void* w, const float* bias,
                                     const bf16* bias_bf16, const Conv2dShape& s, ConvMath math,
                                     ConvEpilogue epilogue, void* workspace, size_t workspace_bytes,
                                     Device device, Stream stream, cudnnContext* handle) {
  check_shape(s);
  VGGTL_CHECK(device.is_cuda() && y && x && w && bias, "conv2d_forward_cudnn: missing tensor");
  VGGTL_CHECK(math != ConvMath::BF16 || bias_bf16, "conv2d_forward_cudnn: bf16 needs the bf16 bias");
  std::lock_guard<std::mutex> lock(g_mutex);
  const Key key{device.index, s.n, s.h, s.w, s.c, s.k, math, epilogue};
  Entry& e = entry_for(key, s, handle);
  // The fused form's z: only where it may run (chosen, or a search that may choose it).
  const size_t y_bytes = static_cast<size_t>(s.n * s.h * s.w * s.k) * (math == ConvMath::BF16 ? 2 : 4);
  const bool may_fuse = e.chosen ? e.choice.epilogue == ConvEpilogue::CudnnFused : epilogue != ConvEpilogue::OwnKernel;
  const void* zeros = may_fuse ? zeros_for(device, y_bytes, stream) : nullptr;
  const Call call{y, x, w, bias, bias_bf16, s, math, workspace, workspace_bytes, stream, handle, zeros};
  if (e.chosen) {
    VGGTL_CHECK(workspace_bytes >= e.choice.workspace, "conv2d_forward_cudnn: workspace of ", workspace_bytes,
                " bytes, the algorithm needs ", e.choice.workspace);
    const cudnnStatus_t st = run_choice(e, e.choice, call);
    if (st == CUDNN_STATUS_SUCCESS) return e.choice;
    // A choice from the cache file or another batch size may not suit this shape: measure.
    if (!e.unverified) CUDNN_CHECK(st);
    clear_refusal(stream);
    log_warning("cuDNN convolution choice from " + e.choice.source + " failed (" + cudnnGetErrorString(st) +
                "); measuring again");
    e.chosen = e.unverified = false;
  }
  // The caller sized the workspace for the chosen algorithm; the search needs the full limit.
  Tensor search_ws;
  Call search = call;
  if (!search.zeros && epilogue != ConvEpilogue::OwnKernel) search.zeros = zeros_for(device, y_bytes, stream);
  if (workspace_bytes < kWorkspaceLimit) {
    search_ws = Tensor::empty(Shape{static_cast<int64_t>(kWorkspaceLimit)}, DType::U8, device, stream);
    search.ws = search_ws.raw();
    search.ws_bytes = kWorkspaceLimit;
  }
  e.choice = choose(e, epilogue, search);
  e.chosen = true;
  log_debug("cuDNN conv (" + std::to_string(s.n) + "," + std::to_string(s.h) + "," + std::to_string(s.w) + "," +
            std::to_string(s.c) + ")->" + std::to_string(s.k) + " " + conv_math_name(math) + ": " + e.choice.str());
  append_cache_file(key, e.choice);
  // The search ran the convolution many times; run the chosen form once more for the result.
  CUDNN_CHECK(run_choice(e, e.choice, search));
  return e.choice;
}

// ---- Backward (fine-tuning) ----

namespace {

struct BackwardKey {
  int device;
  int64_t n, h, w, c, k;
  bool operator<(const BackwardKey& o) const {
    return std::tie(device, n, h, w, c, k) < std::tie(o.device, o.n, o.h, o.w, o.c, o.k);
  }
};

struct BackwardEntry {
  explicit BackwardEntry(const Conv2dShape& s) : desc(s, ConvMath::FP32) {}
  Descriptors desc;
  cudnnConvolutionBwdDataAlgo_t data_algo = CUDNN_CONVOLUTION_BWD_DATA_ALGO_1;
  cudnnConvolutionBwdFilterAlgo_t filter_algo = CUDNN_CONVOLUTION_BWD_FILTER_ALGO_1;
  size_t data_ws = 0, filter_ws = 0;
};

std::map<BackwardKey, std::unique_ptr<BackwardEntry>>& g_backward =
    *new std::map<BackwardKey, std::unique_ptr<BackwardEntry>>();

std::string shape_str(const Conv2dShape& s) {
  return "(" + std::to_string(s.n) + "," + std::to_string(s.h) + "," + std::to_string(s.w) + "," +
         std::to_string(s.c) + ") -> " + std::to_string(s.k);
}

// ALGO_1 of each direction, if cuDNN lists it as working and deterministic for this shape under
// FMA math: ALGO_0 and ALGO_3 of backward-filter and ALGO_0 of backward-data sum with atomics
// (results vary run to run), FFT and Winograd add rounding of their own. (g_mutex held.)
BackwardEntry& backward_entry(const Conv2dShape& s, Device device, cudnnHandle_t handle) {
  const BackwardKey key{device.index, s.n, s.h, s.w, s.c, s.k};
  auto it = g_backward.find(key);
  if (it != g_backward.end()) return *it->second;
  auto e = std::make_unique<BackwardEntry>(s);
  CUDNN_CHECK(cudnnSetConvolutionMathType(e->desc.conv, CUDNN_FMA_MATH));
  int count = 0;
  CUDNN_CHECK(cudnnGetConvolutionBackwardDataAlgorithmMaxCount(handle, &count));
  std::vector<cudnnConvolutionBwdDataAlgoPerf_t> data(static_cast<size_t>(std::max(count, 1)));
  int returned = 0;
  CUDNN_CHECK(cudnnGetConvolutionBackwardDataAlgorithm_v7(handle, e->desc.w, e->desc.y, e->desc.conv, e->desc.x,
                                                          static_cast<int>(data.size()), &returned, data.data()));
  bool found = false;
  for (int i = 0; i < returned && !found; ++i) {
    const auto& p = data[static_cast<size_t>(i)];
    if (p.algo != CUDNN_CONVOLUTION_BWD_DATA_ALGO_1 || p.status != CUDNN_STATUS_SUCCESS ||
        p.determinism != CUDNN_DETERMINISTIC)
      continue;
    found = true;
  }
  VGGTL_CHECK(found, "cuDNN offers no deterministic fp32 backward-data algorithm for ", shape_str(s));
  CUDNN_CHECK(cudnnGetConvolutionBackwardDataWorkspaceSize(handle, e->desc.w, e->desc.y, e->desc.conv, e->desc.x,
                                                           e->data_algo, &e->data_ws));
  CUDNN_CHECK(cudnnGetConvolutionBackwardFilterAlgorithmMaxCount(handle, &count));
  std::vector<cudnnConvolutionBwdFilterAlgoPerf_t> filter(static_cast<size_t>(std::max(count, 1)));
  CUDNN_CHECK(cudnnGetConvolutionBackwardFilterAlgorithm_v7(handle, e->desc.x, e->desc.y, e->desc.conv, e->desc.w,
                                                            static_cast<int>(filter.size()), &returned,
                                                            filter.data()));
  found = false;
  for (int i = 0; i < returned && !found; ++i) {
    const auto& p = filter[static_cast<size_t>(i)];
    if (p.algo != CUDNN_CONVOLUTION_BWD_FILTER_ALGO_1 || p.status != CUDNN_STATUS_SUCCESS ||
        p.determinism != CUDNN_DETERMINISTIC)
      continue;
    found = true;
  }
  VGGTL_CHECK(found, "cuDNN offers no deterministic fp32 backward-filter algorithm for ", shape_str(s));
  CUDNN_CHECK(cudnnGetConvolutionBackwardFilterWorkspaceSize(handle, e->desc.x, e->desc.y, e->desc.conv, e->desc.w,
                                                             e->filter_algo, &e->filter_ws));
  VGGTL_CHECK(e->data_ws <= kWorkspaceLimit && e->filter_ws <= kWorkspaceLimit, "cuDNN backward of ", shape_str(s),
              " asks for ", std::max(e->data_ws, e->filter_ws), " bytes of workspace; split the batch");
  return *g_backward.emplace(key, std::move(e)).first->second;
}

}  // namespace

size_t conv2d_backward_cudnn_workspace_bytes(const Conv2dShape& s, Device device, cudnnContext* handle) {
  check_shape(s);
  std::lock_guard<std::mutex> lock(g_mutex);
  const BackwardEntry& e = backward_entry(s, device, handle);
  return std::max(e.data_ws, e.filter_ws);
}

void conv2d_backward_cudnn(float* dx, float* dw, const float* dy, const float* x, const float* w,
                           const Conv2dShape& s, void* workspace, size_t workspace_bytes, Device device,
                           cudnnContext* handle) {
  check_shape(s);
  VGGTL_CHECK(device.is_cuda() && dy && (!dx || w) && (!dw || x), "conv2d_backward_cudnn: missing tensor");
  std::lock_guard<std::mutex> lock(g_mutex);
  BackwardEntry& e = backward_entry(s, device, handle);
  VGGTL_CHECK(workspace_bytes >= std::max(e.data_ws, e.filter_ws), "conv2d_backward_cudnn: workspace of ",
              workspace_bytes, " bytes, the algorithms need ", std::max(e.data_ws, e.filter_ws));
  // The descriptor is shared with nothing else, but set the math type per call as the forward does.
  CUDNN_CHECK(cudnnSetConvolutionMathType(e.desc.conv, CUDNN_FMA_MATH));
  const float one = 1.f, zero = 0.f;
  if (dx)
    CUDNN_CHECK(cudnnConvolutionBackwardData(handle, &one, e.desc.w, w, e.desc.y, dy, e.desc.conv, e.data_algo,
                                             workspace, e.data_ws, &zero, e.desc.x, dx));
  if (dw)
    CUDNN_CHECK(cudnnConvolutionBackwardFilter(handle, &one, e.desc.x, x, e.desc.y, dy, e.desc.conv, e.filter_algo,
                                               workspace, e.filter_ws, &zero, e.desc.w, dw));
}

void conv2d_cudnn_clear_choices() {
  std::lock_guard<std::mutex> lock(g_mutex);
  g_entries.clear();
  g_backward.clear();
  // Keep the file, but do not read it again in this process.
  const unsigned none = 0;
  g_file = std::make_unique<ConvAlgoCacheFile>("", CUDNN_CONVOLUTION_FWD_ALGO_COUNT, kWorkspaceLimit, none);
}

}  // namespace vggtl
