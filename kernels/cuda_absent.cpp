// The CUDA launchers of every kernel family in a CPU-only build: each fails in one line naming
// its op. The headers declare the launchers in every build, so each Tensor-level dispatch calls
// them without preprocessor branches (kernels/README.md). Compiled to nothing in a CUDA build,
// where the .cu and *_cuda.cpp files define them. Tested in tests/kernels/test_cuda_absent.cpp.
#include "engine/error.h"
#include "kernels/augment.h"
#include "kernels/batchnorm.h"
#include "kernels/bias.h"
#include "kernels/bias_relu.h"
#include "kernels/conv2d.h"
#include "kernels/convert.h"
#include "kernels/dropout.h"
#include "kernels/gather_rows.h"
#include "kernels/gemm.h"
#include "kernels/jpeg_color.h"
#include "kernels/jpeg_idct.h"
#include "kernels/maxpool2d.h"
#include "kernels/optimizer.h"
#include "kernels/random.h"
#include "kernels/relu.h"
#include "kernels/resize_preprocess.h"
#include "kernels/softmax_xent.h"

#if !VGGTL_HAVE_CUDA

namespace vggtl {

namespace {
[[noreturn]] void absent(const char* op) { VGGTL_FAIL(op, ": this build has no CUDA backend"); }
}  // namespace

void augment_cuda(float*, const float*, const AugmentImage*, int, int, int, PixelTransform, Stream) {
  absent("augment");
}
void augment_cuda(bf16*, const float*, const AugmentImage*, int, int, int, PixelTransform, Stream) {
  absent("augment");
}

void batchnorm_train_forward_cuda(float*, float*, float*, float*, float*, const float*, const float*, const float*,
                                  int64_t, int64_t, double, double, Stream) {
  absent("batchnorm");
}
void batchnorm_eval_forward_cuda(float*, float*, float*, const float*, const float*, const float*, const float*,
                                 const float*, int64_t, int64_t, double, Stream) {
  absent("batchnorm");
}
void batchnorm_backward_cuda(float*, float*, float*, const float*, const float*, const float*, const float*,
                             const float*, int64_t, int64_t, bool, Stream) {
  absent("batchnorm_backward");
}

void bias_add_cuda(float*, const float*, const float*, int64_t, int64_t, bool, Stream) { absent("bias_add"); }
void bias_grad_cuda(float*, const float*, int64_t, int64_t, Stream) { absent("bias_grad"); }

template <typename T>
void bias_relu_cuda(T*, const T*, const float*, int64_t, int64_t, Stream) {
  absent("bias_relu");
}
template void bias_relu_cuda<float>(float*, const float*, const float*, int64_t, int64_t, Stream);
template void bias_relu_cuda<bf16>(bf16*, const bf16*, const float*, int64_t, int64_t, Stream);

std::string CudnnConvChoice::str() const { absent("conv2d (cuDNN)"); }
size_t conv2d_cudnn_workspace_bytes(const Conv2dShape&, ConvMath, ConvEpilogue, Device, cudnnContext*) {
  absent("conv2d (cuDNN)");
}
CudnnConvChoice conv2d_forward_cudnn(void*, const void*, const void*, const float*, const bf16*,
                                     const Conv2dShape&, ConvMath, ConvEpilogue, void*, size_t, Device, Stream,
                                     cudnnContext*) {
  absent("conv2d (cuDNN)");
}
size_t conv2d_backward_cudnn_workspace_bytes(const Conv2dShape&, Device, cudnnContext*) {
  absent("conv2d_backward (cuDNN)");
}
void conv2d_backward_cudnn(float*, float*, const float*, const float*, const float*, const Conv2dShape&, void*,
                           size_t, Device, cudnnContext*) {
  absent("conv2d_backward (cuDNN)");
}
void conv2d_cudnn_clear_choices() {}  // nothing was ever chosen

template <typename To, typename From>
void convert_cuda(To*, const From*, int64_t, Stream) {
  absent("convert");
}
template <typename To, typename From>
void pad_channels_cuda(To*, const From*, int64_t, int64_t, int64_t, Stream) {
  absent("pad_channels");
}
template <typename To>
void hwio_to_krsc_cuda(To*, const float*, int64_t, int64_t, int64_t, int64_t, int64_t, Stream) {
  absent("hwio_to_krsc");
}
void krsc_to_hwio_cuda(float*, const float*, int64_t, int64_t, int64_t, int64_t, Stream) { absent("krsc_to_hwio"); }
VGGTL_CONVERT_CUDA_INSTANCES

void dropout_cuda(float*, const float*, int64_t, float, uint64_t, uint32_t, uint64_t, Stream) { absent("dropout"); }

void gather_rows_cuda(void*, const void*, const int32_t*, int64_t, int64_t, Stream) { absent("gather_rows"); }

void gemm_cuda(cublasContext*, float*, const float*, const float*, int64_t, int64_t, int64_t, bool, bool, float,
               float) {
  absent("gemm");
}

void jpeg_color_cuda(uint8_t*, const uint8_t*, const JpegColorImage*, int, int64_t, Stream) { absent("jpeg_color"); }
void jpeg_idct_cuda(uint8_t*, const int16_t*, const uint16_t*, const JpegIdctPlane*, int, int64_t, Stream) {
  absent("jpeg_idct");
}

template <typename T>
void maxpool2d_forward_cuda(T*, const T*, int64_t, int64_t, int64_t, int64_t, Stream) {
  absent("maxpool2d");
}
template void maxpool2d_forward_cuda<float>(float*, const float*, int64_t, int64_t, int64_t, int64_t, Stream);
template void maxpool2d_forward_cuda<bf16>(bf16*, const bf16*, int64_t, int64_t, int64_t, int64_t, Stream);
void maxpool2d_backward_cuda(float*, const float*, const float*, int64_t, int64_t, int64_t, int64_t, Stream) {
  absent("maxpool2d_backward");
}

void adam_step_cuda(float*, float*, float*, const float*, int64_t, const AdamCoeffs<float>&, Stream) {
  absent("adam_step");
}
void sgd_step_cuda(float*, float*, const float*, int64_t, float, float, bool, Stream) { absent("sgd_step"); }

void philox_fill_cuda(uint32_t*, int64_t, uint64_t, uint32_t, uint32_t, Stream) { absent("philox_fill"); }

void relu_forward_cuda(float*, const float*, int64_t, Stream) { absent("relu"); }
void relu_backward_cuda(float*, const float*, const float*, int64_t, Stream) { absent("relu"); }

void resize_preprocess_cuda(float*, uint8_t*, const uint8_t*, const int32_t*, const ResizeGeometry&, PixelTransform,
                            Stream) {
  absent("resize_preprocess");
}
void resize_preprocess_cuda(bf16*, uint8_t*, const uint8_t*, const int32_t*, const ResizeGeometry&, PixelTransform,
                            Stream) {
  absent("resize_preprocess");
}
void resize_preprocess_batch_cuda(float*, uint8_t*, const uint8_t*, const int32_t*, const ResizeBatchItem*, int,
                                  const ResizeBatchGrid&, PixelTransform, Stream) {
  absent("resize_preprocess_batch");
}
void resize_preprocess_batch_cuda(bf16*, uint8_t*, const uint8_t*, const int32_t*, const ResizeBatchItem*, int,
                                  const ResizeBatchGrid&, PixelTransform, Stream) {
  absent("resize_preprocess_batch");
}

void softmax_xent_cuda(float*, float*, float*, int32_t*, const float*, const int32_t*, int64_t, int64_t, Stream) {
  absent("softmax_xent");
}
void xent_accumulate_cuda(double*, const float*, const int32_t*, const int32_t*, int64_t, Stream) {
  absent("xent_accumulate");
}

}  // namespace vggtl

#endif  // !VGGTL_HAVE_CUDA
