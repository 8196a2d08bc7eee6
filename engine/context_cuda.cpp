// CUDA side of Context: streams and library handles, all bound to the context's main stream.
#include <cudnn.h>

#include "engine/context.h"
#include "engine/cuda_check.h"

namespace vggtl {

namespace {
// Runs `body` with `device` current, restoring the previous device afterwards.
template <typename F>
void with_device(int device, F body) {
  int previous = 0;
  CUDA_CHECK(cudaGetDevice(&previous));
  CUDA_CHECK(cudaSetDevice(device));
  try {
    body();
  } catch (...) {
    (void)cudaSetDevice(previous);  // best effort: the error in flight is the one to report
    throw;
  }
  CUDA_CHECK(cudaSetDevice(previous));
}
}  // namespace

Context::Context(Device device) : device_(device) {
  if (device.is_cpu()) return;
  VGGTL_CHECK(cuda_available(), "cannot use ", device.str(), ": ", cuda_runtime_info().unusable_reason);
  with_device(device.index, [&] {
    CUDA_CHECK(cudaStreamCreateWithFlags(&stream_, cudaStreamNonBlocking));
    CUDA_CHECK(cudaStreamCreateWithFlags(&transfer_stream_, cudaStreamNonBlocking));
  });
}

Context::~Context() {
  // Contexts are never destroyed before exit (see Context::get); nothing to release safely.
}

cublasContext* Context::cublas() {
  VGGTL_CHECK(device_.is_cuda(), "cuBLAS handle requested for ", device_.str());
  std::lock_guard<std::mutex> lock(mutex_);
  if (!cublas_) {
    with_device(device_.index, [&] {
      const CublasLibrary& lib = cublas_library();
      CUBLAS_CHECK(lib.create(&cublas_));
      CUBLAS_CHECK(lib.set_stream(cublas_, stream_));
    });
  }
  return cublas_;
}

cudnnContext* Context::cudnn() {
  VGGTL_CHECK(device_.is_cuda(), "cuDNN handle requested for ", device_.str());
  std::lock_guard<std::mutex> lock(mutex_);
  if (!cudnn_) {
    with_device(device_.index, [&] {
      CUDNN_CHECK(cudnnCreate(&cudnn_));
      CUDNN_CHECK(cudnnSetStream(cudnn_, stream_));
    });
  }
  return cudnn_;
}

void Context::synchronize() {
  if (stream_) CUDA_CHECK(cudaStreamSynchronize(stream_));
}

void stream_synchronize(Stream stream) { CUDA_CHECK(cudaStreamSynchronize(stream)); }

}  // namespace vggtl
