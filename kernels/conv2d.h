// 3x3 convolution, stride 1, 'same' zero padding, as Keras Conv2D (cross-correlation, no flip):
//   y[n][i][j][k] = act(b[k] + sum_{r,s,c} x[n][i+r-1][j+s-1][c] * w[r][s][c][k]), x = 0 outside,
// x (N,H,W,C) and y (N,H,W,K) NHWC; w in Keras layout (R=3, S=3, C, K); act = ReLU or identity.
// Backward from dy (N,H,W,K), the gradient of the loss with respect to the pre-activation (after
// the ReLU mask, kernels/relu.h's relu_backward against the saved y):
//   dx[n][i][j][c] = sum_{r,s,k} dy[n][i-r+1][j-s+1][k] * w[r][s][c][k]   (dy = 0 outside),
//   dw[r][s][c][k] = sum_{n,i,j} x[n][i+r-1][j+s-1][c] * dy[n][i][j][k]   (x = 0 outside),
//   db[k]          = sum_{n,i,j} dy[n][i][j][k]   (kernels/bias.h's bias_grad over N*H*W rows).
// Twins: the double oracle (conv2d_ref_cpu.cpp), oneDNN on the CPU (conv2d_cpu.cpp), cuDNN on the
// GPU (conv2d_cuda.cpp, the only file that calls cuDNN; its cache file in conv2d_algo_cache.h);
// Conv2dOp picks among them by the tensors' device (conv2d_dispatch.cpp).
// Tested by tests/kernels/test_conv2d.cpp (Conv2dOp by tests/layers/test_vgg16.cpp, test_finetune.cpp).
#pragma once

#include <cstddef>
#include <cstdint>
#include <memory>
#include <mutex>
#include <string>

#include "engine/device.h"
#include "engine/dtype.h"
#include "engine/tensor.h"

struct cudnnContext;

namespace vggtl {

struct Conv2dShape {
  int64_t n = 0, h = 0, w = 0, c = 0, k = 0;
  double flops() const { return 2.0 * 9.0 * static_cast<double>(n * h * w) * static_cast<double>(c * k); }
};

// The oracle: plain loops, products and sums in double. y is (N,H,W,K) double.
void conv2d_3x3_ref_cpu(double* y, const float* x, const float* w, const float* b, const Conv2dShape& s,
                        bool relu);

// The oracle's f64 twin (the f64 path of the Conv2D layer, for gradient checks).
void conv2d_3x3_ref_cpu(double* y, const double* x, const double* w, const double* b, const Conv2dShape& s,
                        bool relu);
// The backward oracle: dx (N,H,W,C), dw (3,3,C,K) and db (K) in double, each skipped when null
// (x is read only for dw, w only for dx).
void conv2d_3x3_backward_ref_cpu(double* dx, double* dw, double* db, const double* dy, const double* x,
                                 const double* w, const Conv2dShape& s);

// The oneDNN algorithm. Auto: Winograd for layers of 16 or more input channels on images of at
// least 14x14 where oneDNN offers it (an AVX-512 CPU; 1.2-2.6x faster than direct on VGG16's
// layers at 224x224, with the same error against the oracle, see docs/performance.md), else
// direct (the 3-channel first layer and small images, where Winograd measured slower). Its
// weights are transformed once per layer: 15-20 ms per million (about 0.25 s for the base).
// Direct and Winograd force one (Winograd throws where oneDNN has none); for tests and benches.
enum class CpuConvAlgo : uint8_t { Auto, Direct, Winograd };

// oneDNN fast path for one layer: f32 or bf16 NHWC in and out (f32 bias, f32 accumulation in bf16),
// bias and ReLU fused as a post-op. Direct
// convolution works on the NHWC tensors in place, the batch in one call on all threads; Winograd
// convolves each image alone through blocked copies of its input and output (its layouts; 5-20%
// of its time), one image per thread, so that an image's result is the same bits whatever the
// batch and the thread count (oneDNN's Winograd rounding depends on the images per call) and no
// barrier inside oneDNN's kernels stalls a loaded machine. Primitives are made once per shape and
// kept; the weights are reordered into the primitive's layout once and again only after
// weights_changed() or when given another pointer. bf16 (activations = BF16): direct convolution
// only (oneDNN has no bf16 Winograd), the batch in one call on all threads, the f32 weights
// converted to bf16 by that one reorder; needs cpu_has_bf16() (kernels/cpu_backend.h), else throws.
class Conv2dOnednn {
 public:
  Conv2dOnednn(int64_t c, int64_t k, bool relu, CpuConvAlgo algo = CpuConvAlgo::Auto,
               DType activations = DType::F32);
  ~Conv2dOnednn();
  Conv2dOnednn(const Conv2dOnednn&) = delete;
  Conv2dOnednn& operator=(const Conv2dOnednn&) = delete;

  void weights_changed();
  // y (n,h,w,K) from x (n,h,w,C), w (3,3,C,K), b (K).
  void forward(float* y, const float* x, int64_t n, int64_t h, int64_t w, const float* weights,
               const float* bias);
  // The same in bf16 (made with activations = BF16); weights and bias stay f32.
  void forward(bf16* y, const bf16* x, int64_t n, int64_t h, int64_t w, const float* weights,
               const float* bias);
  // The oneDNN implementation of the last shape run ("brgconv:avx512_core", "jit_wino_4x3:..."),
  // for benches and tests.
  std::string implementation() const;

 private:
  void forward_any(void* y, const void* x, int64_t n, int64_t h, int64_t w, const float* weights,
                   const float* bias);
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

// oneDNN backward for one layer (fine-tuning): direct convolution backward-data and
// backward-weights primitives on the NHWC tensors in place, made once per (n, h, w) and kept.
// The weights are reordered from the Keras layout on every backward_data call (they change with
// every optimizer step), the weight gradient reordered into it. Bias gradient: bias_grad.
// activations = BF16 (mixed precision, as on GPUs): x, dy and dx bf16, the f32 master weights
// converted to bf16 by that reorder, f32 accumulation, dw written in f32 straight from the bf16
// operands; needs cpu_has_bf16() (kernels/cpu_backend.h), else throws.
class Conv2dOnednnBackward {
 public:
  Conv2dOnednnBackward(int64_t c, int64_t k, DType activations = DType::F32);
  ~Conv2dOnednnBackward();
  Conv2dOnednnBackward(const Conv2dOnednnBackward&) = delete;
  Conv2dOnednnBackward& operator=(const Conv2dOnednnBackward&) = delete;

  // dx (n,h,w,C) from dy (n,h,w,K) and w (3,3,C,K).
  void backward_data(float* dx, const float* dy, int64_t n, int64_t h, int64_t w, const float* weights);
  // dw (3,3,C,K) from x (n,h,w,C) and dy (n,h,w,K); written, not accumulated.
  void backward_weights(float* dw, const float* x, const float* dy, int64_t n, int64_t h, int64_t w);
  // The same in bf16 (made with activations = BF16); weights and dw stay f32.
  void backward_data(bf16* dx, const bf16* dy, int64_t n, int64_t h, int64_t w, const float* weights);
  void backward_weights(float* dw, const bf16* x, const bf16* dy, int64_t n, int64_t h, int64_t w);
  // The oneDNN implementations of the last shape run ("data: ..., weights: ..."), for benches.
  std::string implementation() const;

 private:
  void backward_data_any(void* dx, const void* dy, int64_t n, int64_t h, int64_t w, const float* weights);
  void backward_weights_any(float* dw, const void* x, const void* dy, int64_t n, int64_t h, int64_t w);
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

// Arithmetic of the GPU convolution. FP32: f32 data, FMA math only (no TF32), GEMM-family or
// direct algorithms only (no FFT or Winograd), so it stays within ~1e-6 of the oracle. TF32: f32
// data, tensor cores allowed (inputs rounded to 10 mantissa bits). BF16: bf16 data, f32
// accumulation. On the CPU (Conv2dOnednn) FP32 and TF32 run f32, BF16 runs bf16 where
// cpu_has_bf16().
enum class ConvMath : uint8_t { FP32, TF32, BF16 };
// How bias and ReLU are applied on the GPU: cuDNN's fused cudnnConvolutionBiasActivationForward,
// or cudnnConvolutionForward followed by our bias_relu kernel; Auto measures both once per shape.
// Where cuDNN has no fused form for a shape, CudnnFused falls back to OwnKernel (with a warning).
enum class ConvEpilogue : uint8_t { Auto, CudnnFused, OwnKernel };

inline const char* conv_math_name(ConvMath m) {
  return m == ConvMath::FP32 ? "fp32" : m == ConvMath::TF32 ? "tf32" : "bf16";
}
inline const char* conv_epilogue_name(ConvEpilogue e) {
  return e == ConvEpilogue::Auto ? "auto" : e == ConvEpilogue::CudnnFused ? "cudnn-fused" : "own-kernel";
}

// What was chosen for one shape, for benches and logs.
struct CudnnConvChoice {
  int algo = -1;                               // cudnnConvolutionFwdAlgo_t
  int math_type = 0;                           // cudnnMathType_t reported for that algorithm
  size_t workspace = 0;                        // bytes
  ConvEpilogue epilogue = ConvEpilogue::OwnKernel;
  bool bias_f32 = true;                        // bias tensor type of the fused form
  float ms = 0;                                // time measured when choosing (0 when not measured here)
  std::string source;                          // "" (measured), "cache file" or "batch N" (borrowed)
  std::string str() const;
};

// Workspace bytes forward() needs for this shape: the chosen algorithm's, or the search limit
// when nothing is chosen yet (the first forward measures and chooses).
size_t conv2d_cudnn_workspace_bytes(const Conv2dShape& s, ConvMath math, ConvEpilogue epilogue, Device device,
                                    cudnnContext* handle);

// y = relu(conv(x, w) + b) on `stream` with `handle` (bound to that stream). x (N,H,W,C) and
// y (N,H,W,K) NHWC, w (K,3,3,C) KRSC; all f32 under FP32/TF32, bf16 under BF16. bias: f32 (K);
// bias_bf16: the same rounded to bf16 (K), needed under BF16 only (the fused form's bias type).
// Chooses the algorithm and epilogue by measuring on first use of a shape, among deterministic
// algorithms only, a fused candidate only after its output matched the own-kernel one
// (process-wide cache, persisted in a small text file; see conv2d_cuda.cpp); a batch smaller than
// one already measured reuses that choice without a search. Where the fused form may run, a
// process-wide zero buffer of y's size serves as its z. workspace: device memory of at least
// conv2d_cudnn_workspace_bytes(). Returns the choice used.
CudnnConvChoice conv2d_forward_cudnn(void* y, const void* x, const void* w, const float* bias,
                                     const bf16* bias_bf16, const Conv2dShape& s, ConvMath math,
                                     ConvEpilogue epilogue, void* workspace, size_t workspace_bytes,
                                     Device device, Stream stream, cudnnContext* handle);

// Backward on the GPU (fine-tuning), f32 data and FMA math (no TF32), among deterministic
// algorithms only (backward-data and backward-filter ALGO_1: bit-identical gradients run to run,
// which --resume relies on). x (N,H,W,C), dy (N,H,W,K) NHWC, w and dw (K,3,3,C) KRSC; dx or dw
// may be null (skipped). Algorithms are picked once per shape from cuDNN's list (process-wide).
// workspace: at least conv2d_backward_cudnn_workspace_bytes() of device memory.
size_t conv2d_backward_cudnn_workspace_bytes(const Conv2dShape& s, Device device, cudnnContext* handle);
void conv2d_backward_cudnn(float* dx, float* dw, const float* dy, const float* x, const float* w,
                           const Conv2dShape& s, void* workspace, size_t workspace_bytes, Device device,
                           cudnnContext* handle);

// Forgets every choice in memory and stops using the cache file in this process (tests use it
// to force a fresh search).
void conv2d_cudnn_clear_choices();

// Tensor level: the convolutions of one Conv2D layer, y = relu(conv(x, w) + b), on the device of
// its tensors, and what it keeps between calls: the oneDNN primitives on the CPU (made on first
// use), the weights in cuDNN's KRSC layout and compute type on the GPU (rebuilt after
// weights_changed() or a change of math).
class Conv2dOp {
 public:
  Conv2dOp(int64_t c, int64_t k, ConvMath math);
  ~Conv2dOp();
  Conv2dOp(const Conv2dOp&) = delete;
  Conv2dOp& operator=(const Conv2dOp&) = delete;

  ConvMath math() const { return math_; }
  void set_math(ConvMath m);
  // How bias and ReLU follow the convolution on the GPU (default: measured per shape).
  void set_epilogue(ConvEpilogue e) { epilogue_ = e; }
  // The weights' values changed in place (an optimizer step, a load).
  void weights_changed();

  // x (N,H,W,C) f32 or bf16 -> y (N,H,W,K), bf16 under BF16 else f32; w (3,3,C,K) and b (K) f32,
  // all on one device. x is converted (and on the GPU its channels zero-padded to 4 or 8 for
  // tensor cores) in the device's workspace when needed. On the CPU BF16 runs bf16 through oneDNN
  // (an InputError where the CPU has no native bf16), TF32 runs fp32 (said once in the log);
  // concurrent calls on the CPU are safe (image by image). f64 x, w, b and y on the CPU: the oracle.
  void forward(Tensor& y, const Tensor& x, const Tensor& w, const Tensor& b);
  // dz (N,H,W,K), the gradient at the pre-activation; x the forward's input, w (3,3,C,K) -> dx
  // (N,H,W,C) and dw (3,3,C,K) (written, not accumulated), each skipped when null. f32 on any
  // device (fp32 math on the GPU whatever the forward's), f64 on the CPU (the oracle); on the CPU
  // also bf16 dz, x and dx with f32 w and dw (Conv2dOnednnBackward's bf16), whatever the math.
  void backward(Tensor* dx, Tensor* dw, const Tensor& dz, const Tensor& x, const Tensor& w);

  // The oneDNN implementation of the last CPU forward ("brg:avx512_core_bf16"), "" before one.
  std::string cpu_implementation() const { return onednn_ ? onednn_->implementation() : std::string(); }

 private:
  std::unique_ptr<Conv2dOnednn> make_onednn() const;
  void forward_cpu(Tensor& y, const Tensor& x, const Tensor& w, const Tensor& b);
  void forward_cuda(Tensor& y, const Tensor& x, const Tensor& w, const Tensor& b);
  void build_gpu_weights(const Tensor& w, const Tensor& b, int64_t padded_channels, DType dtype);
  void backward_cuda(Tensor* dx, Tensor* dw, const Tensor& dz, const Tensor& x, const Tensor& w);

  int64_t c_, k_;
  ConvMath math_;
  ConvEpilogue epilogue_ = ConvEpilogue::Auto;
  std::unique_ptr<Conv2dOnednn> onednn_;
  std::once_flag onednn_made_;  // several threads may run their first image at once
  std::unique_ptr<Conv2dOnednnBackward> onednn_bwd_, onednn_bwd_bf16_;
  // GPU copies derived from w and b: the kernel as (K,3,3,Cp) in the compute type, the bias in
  // f32 and bf16.
  Tensor krsc_, bias_f32_, bias_bf16_;
  bool gpu_weights_valid_ = false;
};

}  // namespace vggtl
