// Tensor: a typed, shaped, contiguous view of memory on one device (NHWC / row-major).
// Owning tensors share their storage with every view taken of them. Copies between devices
// are explicit (copy(), to_device()) and asynchronous on the given stream.
#pragma once

#include <cstdint>
#include <initializer_list>
#include <memory>
#include <mutex>
#include <string>
#include <utility>
#include <vector>

#include "engine/device.h"
#include "engine/dtype.h"
#include "engine/error.h"

namespace vggtl {

class Shape {
 public:
  static constexpr int kMaxDims = 6;
  Shape() = default;
  Shape(std::initializer_list<int64_t> dims);
  explicit Shape(const std::vector<int64_t>& dims);

  int ndim() const { return ndim_; }
  int64_t operator[](int i) const;
  int64_t numel() const;
  std::vector<int64_t> vec() const { return std::vector<int64_t>(dims_, dims_ + ndim_); }
  std::string str() const;  // "(30, 7, 7, 512)"
  bool operator==(const Shape& o) const;
  bool operator!=(const Shape& o) const { return !(*this == o); }

 private:
  int ndim_ = 0;
  int64_t dims_[kMaxDims] = {};
};

// Memory owned by one allocation; freed when the last tensor using it goes away.
class Storage {
 public:
  // release(ptr, device, pinned, reusable): reusable is false when waiting for the copies that
  // used the block failed (it must then never be handed out again).
  Storage(void* ptr, size_t bytes, Device device, bool pinned, void (*release)(void*, Device, bool, bool));
  ~Storage();
  Storage(const Storage&) = delete;
  Storage& operator=(const Storage&) = delete;
  void* ptr() const { return ptr_; }
  size_t bytes() const { return bytes_; }
  Device device() const { return device_; }
  bool pinned() const { return pinned_; }
  // Called after an asynchronous copy on `stream` read or wrote this (page-locked host) memory:
  // records an event there. Before the block is handed out again, its release waits on the
  // events of the streams that used it (that copy's work only, not the whole device).
  void note_async_use(Stream stream);

 private:
  bool wait_for_copies();  // false when a wait failed (logged)

  void* ptr_;
  size_t bytes_;
  Device device_;
  bool pinned_;
  std::mutex copies_mutex_;
  std::vector<std::pair<Stream, void*>> copy_events_;  // (stream, cudaEvent_t), one per stream
  void (*release_)(void*, Device, bool, bool);
};

class Tensor {
 public:
  Tensor() = default;

  // Uninitialised memory. For CUDA, stream == nullptr means the device context's main stream.
  static Tensor empty(const Shape& shape, DType dtype, Device device = Device::cpu(),
                      Stream stream = nullptr);
  // Page-locked host memory when a GPU is usable (fast, asynchronous copies), else plain.
  static Tensor empty_pinned(const Shape& shape, DType dtype);
  static Tensor zeros(const Shape& shape, DType dtype, Device device = Device::cpu(),
                      Stream stream = nullptr);
  // A non-owning view of memory that someone else keeps alive.
  static Tensor wrap(void* data, const Shape& shape, DType dtype, Device device = Device::cpu());

  bool defined() const { return data_ != nullptr; }
  const Shape& shape() const { return shape_; }
  int ndim() const { return shape_.ndim(); }
  int64_t dim(int i) const { return shape_[i]; }
  int64_t numel() const { return shape_.numel(); }
  // Seen as a matrix, the first dimension by the rest (a 0-d tensor is 1 x 1): the kernels that
  // work on rows of a batch take their sizes from here.
  int64_t rows() const { return ndim() == 0 ? 1 : dim(0); }
  int64_t cols() const;
  size_t nbytes() const { return static_cast<size_t>(numel()) * dtype_size(dtype_); }
  DType dtype() const { return dtype_; }
  Device device() const { return device_; }
  bool is_cuda() const { return device_.is_cuda(); }
  bool is_pinned() const { return storage_ && storage_->pinned(); }

  void* raw() { return data_; }
  const void* raw() const { return data_; }
  template <typename T>
  T* data() {
    check_dtype(dtype_of<T>::value);
    return static_cast<T*>(data_);
  }
  template <typename T>
  const T* data() const {
    check_dtype(dtype_of<T>::value);
    return static_cast<const T*>(data_);
  }

  // Views sharing storage.
  Tensor slice(int64_t begin, int64_t end) const;      // rows [begin, end) of dim 0
  Tensor reshape(const Shape& shape) const;            // same numel
  Tensor view(int64_t offset, const Shape& shape) const;  // contiguous range at element offset

  std::string str() const;  // "f32(30, 25088) cuda:0"
  // Marks page-locked host memory as read or written by a copy still in flight on `stream`
  // (see copy()).
  void note_async_use(Stream stream) const {
    if (storage_) storage_->note_async_use(stream);
  }

 private:
  void check_dtype(DType want) const;

  std::shared_ptr<Storage> storage_;
  void* data_ = nullptr;
  Shape shape_;
  DType dtype_ = DType::F32;
  Device device_;
};

// dst <- src; same dtype and element count, any devices. Host<->device and device<->device
// copies are queued on `stream` (nullptr: the CUDA side's main stream) and are asynchronous
// only when the host side is pinned; host->host copies are immediate.
void copy(Tensor& dst, const Tensor& src, Stream stream = nullptr);
Tensor to_device(const Tensor& src, Device device, Stream stream = nullptr);
void fill_zero(Tensor& t, Stream stream = nullptr);
// Waits for all work queued on the main stream of `device` (no-op for the CPU).
void synchronize(Device device);

}  // namespace vggtl
