// CUDA memory sources: device memory (cudaMalloc) and page-locked host memory (cudaHostAlloc).
#include <mutex>
#include <vector>

#include "engine/allocator.h"
#include "engine/cuda_check.h"

namespace vggtl {

namespace {

class CudaDeviceMemory : public RawMemory {
 public:
  explicit CudaDeviceMemory(int device) : device_(device) {}
  void* allocate(size_t bytes) override {
    int previous = 0;
    CUDA_CHECK(cudaGetDevice(&previous));
    CUDA_CHECK(cudaSetDevice(device_));
    void* p = nullptr;
    cudaError_t err = cudaMalloc(&p, bytes);
    const cudaError_t restored = cudaSetDevice(previous);
    if (err != cudaSuccess) {
      (void)cudaGetLastError();  // clears the allocation error; reported below
      throw Error("out of GPU memory allocating " + std::to_string(bytes >> 20) + " MiB on cuda:" +
                  std::to_string(device_) + " (" + cudaGetErrorString(err) + ")");
    }
    CUDA_CHECK(restored);
    return p;
  }
  void release(void* p) override { CUDA_CHECK(cudaFree(p)); }
  const char* name() const override { return "cuda"; }

 private:
  int device_;
};

class CudaPinnedMemory : public RawMemory {
 public:
  void* allocate(size_t bytes) override {
    void* p = nullptr;
    cudaError_t err = cudaHostAlloc(&p, bytes, cudaHostAllocPortable);
    if (err != cudaSuccess) {
      (void)cudaGetLastError();  // clears the allocation error; reported below
      throw Error("out of page-locked host memory allocating " + std::to_string(bytes) +
                  " bytes (" + cudaGetErrorString(err) + ")");
    }
    return p;
  }
  void release(void* p) override { CUDA_CHECK(cudaFreeHost(p)); }
  const char* name() const override { return "pinned"; }
};

}  // namespace

CachingAllocator& pinned_allocator() {
  static CachingAllocator* a = new CachingAllocator(
      cuda_available() ? std::unique_ptr<RawMemory>(std::make_unique<CudaPinnedMemory>()) : make_host_memory());
  return *a;
}

CachingAllocator& cuda_allocator(int device) {
  static std::mutex mutex;
  static std::vector<CachingAllocator*> per_device;  // outlive static tensors
  std::lock_guard<std::mutex> lock(mutex);
  VGGTL_CHECK(device >= 0 && device < static_cast<int>(cuda_runtime_info().devices.size()),
              "no CUDA device ", device);
  if (per_device.size() <= static_cast<size_t>(device)) per_device.resize(device + 1, nullptr);
  if (!per_device[device]) per_device[device] = new CachingAllocator(std::make_unique<CudaDeviceMemory>(device));
  return *per_device[device];
}

}  // namespace vggtl
