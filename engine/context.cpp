// Context registry and the CPU side; the CUDA handles are made in context_cuda.cpp.
#include "engine/context.h"

#include <map>

namespace vggtl {

#if !VGGTL_HAVE_CUDA
Context::Context(Device device) : device_(device) {
  VGGTL_CHECK(device.is_cpu(), "this build has no CUDA backend, cannot use ", device.str());
}
Context::~Context() = default;
cublasContext* Context::cublas() { VGGTL_FAIL("cuBLAS requested in a build without CUDA"); }
cudnnContext* Context::cudnn() { VGGTL_FAIL("cuDNN requested in a build without CUDA"); }
void Context::synchronize() {}
void stream_synchronize(Stream) {}
#endif

Context& Context::get(Device device) {
  static std::mutex mutex;
  static std::map<std::pair<int, int>, Context*>* contexts = new std::map<std::pair<int, int>, Context*>();
  std::lock_guard<std::mutex> lock(mutex);
  auto key = std::make_pair(static_cast<int>(device.kind), device.index);
  auto it = contexts->find(key);
  if (it != contexts->end()) return *it->second;
  // Contexts live until the process ends: tensors in static storage may still refer to them.
  Context* ctx = new Context(device);
  contexts->emplace(key, ctx);
  return *ctx;
}

void* Context::workspace(size_t bytes) {
  std::lock_guard<std::mutex> lock(mutex_);
  if (!workspace_.defined() || workspace_.nbytes() < bytes) {
    workspace_ = Tensor();  // release first so the allocator can reuse the block
    workspace_ = Tensor::empty(Shape{static_cast<int64_t>(bytes ? bytes : 1)}, DType::U8, device_, stream_);
  }
  return workspace_.raw();
}

Stream main_stream(Device device) {
  if (device.is_cpu()) return nullptr;
  return Context::get(device).stream();
}

}  // namespace vggtl
