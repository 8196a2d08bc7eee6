// Context: everything work on one device needs. For a CUDA device: the main stream, a side
// stream for transfers, the cuBLAS and cuDNN handles (created on first use) and a growable
// workspace. For the CPU: the workspace. One per device per process (Context::get).
#pragma once

#include <cstddef>
#include <memory>
#include <mutex>

#include "engine/device.h"
#include "engine/tensor.h"

struct cublasContext;  // cublasHandle_t
struct cudnnContext;   // cudnnHandle_t

namespace vggtl {

class Context {
 public:
  static Context& get(Device device);
  ~Context();
  Context(const Context&) = delete;
  Context& operator=(const Context&) = delete;

  Device device() const { return device_; }
  bool is_cuda() const { return device_.is_cuda(); }
  Stream stream() const { return stream_; }            // nullptr on the CPU
  Stream transfer_stream() const { return transfer_stream_; }
  cublasContext* cublas();
  cudnnContext* cudnn();

  // Scratch memory on this device, at least `bytes`, valid until the next call that needs more.
  // Only for use on the main stream (growth is ordered on it).
  void* workspace(size_t bytes);

  // Waits for all work queued on the main stream.
  void synchronize();

 private:
  explicit Context(Device device);

  Device device_;
  Stream stream_ = nullptr;
  Stream transfer_stream_ = nullptr;
  // Used only by the CUDA build (clang's -Wunused-private-field sees the CPU-only one).
  [[maybe_unused]] cublasContext* cublas_ = nullptr;
  [[maybe_unused]] cudnnContext* cudnn_ = nullptr;
  Tensor workspace_;
  std::mutex mutex_;
};

// The CUDA main stream of `device`, or nullptr for the CPU.
Stream main_stream(Device device);
// Waits for all work queued on `stream` (no-op for nullptr in a CPU-only build).
void stream_synchronize(Stream stream);

}  // namespace vggtl
