// Tensor, Shape and Storage; host<->device copies through the CUDA runtime when built with it.
#include "engine/tensor.h"

#include <cstring>
#include <sstream>

#include "engine/allocator.h"
#include "engine/context.h"
#include "engine/log.h"
#if VGGTL_HAVE_CUDA
#include "engine/cuda_check.h"
#endif

namespace vggtl {

Shape::Shape(std::initializer_list<int64_t> dims) : Shape(std::vector<int64_t>(dims)) {}

Shape::Shape(const std::vector<int64_t>& dims) {
  VGGTL_CHECK(dims.size() <= static_cast<size_t>(kMaxDims), "a tensor has at most ", kMaxDims,
              " dimensions, got ", dims.size());
  ndim_ = static_cast<int>(dims.size());
  for (int i = 0; i < ndim_; ++i) {
    VGGTL_CHECK(dims[i] >= 0, "negative dimension ", dims[i]);
    dims_[i] = dims[i];
  }
}

int64_t Shape::operator[](int i) const {
  if (i < 0) i += ndim_;
  VGGTL_CHECK(i >= 0 && i < ndim_, "dimension ", i, " out of range for shape ", str());
  return dims_[i];
}

int64_t Shape::numel() const {
  int64_t n = 1;
  for (int i = 0; i < ndim_; ++i) n *= dims_[i];
  return n;
}

std::string Shape::str() const {
  std::ostringstream os;
  os << "(";
  for (int i = 0; i < ndim_; ++i) os << (i ? ", " : "") << dims_[i];
  os << ")";
  return os.str();
}

bool Shape::operator==(const Shape& o) const {
  if (ndim_ != o.ndim_) return false;
  for (int i = 0; i < ndim_; ++i)
    if (dims_[i] != o.dims_[i]) return false;
  return true;
}

Storage::Storage(void* ptr, size_t bytes, Device device, bool pinned,
                 void (*release)(void*, Device, bool, bool))
    : ptr_(ptr), bytes_(bytes), device_(device), pinned_(pinned), release_(release) {}

Storage::~Storage() {
  const bool reusable = wait_for_copies();
  if (release_) release_(ptr_, device_, pinned_, reusable);
}

void Storage::note_async_use(Stream stream) {
#if VGGTL_HAVE_CUDA
  std::lock_guard<std::mutex> lock(copies_mutex_);
  void* event = nullptr;
  for (const auto& [s, e] : copy_events_)
    if (s == stream) event = e;
  if (!event) {
    cudaEvent_t e = nullptr;
    CUDA_CHECK(cudaEventCreateWithFlags(&e, cudaEventDisableTiming));
    copy_events_.emplace_back(stream, e);
    event = e;
  }
  // Recorded again after each copy: the stream runs in order, so the last record covers them all.
  CUDA_CHECK(cudaEventRecord(static_cast<cudaEvent_t>(event), stream));
#else
  (void)stream;
#endif
}

// The next owner of a page-locked block writes it from the host, which does not wait for any
// stream: the copies that used it must finish first. Runs from a destructor, so it cannot throw:
// a failed wait is logged and the block is kept out of the cache.
bool Storage::wait_for_copies() {
  bool ok = true;
#if VGGTL_HAVE_CUDA
  for (const auto& [stream, event] : copy_events_) {
    const cudaError_t err = cudaEventSynchronize(static_cast<cudaEvent_t>(event));
    if (err != cudaSuccess) {
      log_error(std::string("page-locked buffer not reused: waiting for its copies failed (") +
                cudaGetErrorString(err) + ")");
      ok = false;
    }
    CUDA_WARN(cudaEventDestroy(static_cast<cudaEvent_t>(event)));
  }
#endif
  return ok;
}

namespace {

void release_memory(void* p, Device device, bool pinned, bool reusable) {
  if (!reusable) return;  // a copy may still touch it: never hand it out again
#if VGGTL_HAVE_CUDA
  if (device.is_cuda()) {
    cuda_allocator(device.index).release(p);
    return;
  }
#endif
  (pinned ? pinned_allocator() : host_allocator()).release(p);
}

}  // namespace

int64_t Tensor::cols() const {
  int64_t n = 1;
  for (int i = 1; i < ndim(); ++i) n *= dim(i);
  return n;
}

Tensor Tensor::empty(const Shape& shape, DType dtype, Device device, Stream stream) {
  Tensor t;
  t.shape_ = shape;
  t.dtype_ = dtype;
  t.device_ = device;
  const size_t bytes = t.nbytes();
  void* p = nullptr;
  if (device.is_cuda()) {
#if VGGTL_HAVE_CUDA
    p = cuda_allocator(device.index).allocate(bytes, stream ? stream : main_stream(device));
#else
    VGGTL_FAIL("this build has no CUDA backend, cannot allocate on ", device.str());
#endif
  } else {
    p = host_allocator().allocate(bytes);
  }
  t.storage_ = std::make_shared<Storage>(p, bytes, device, false, &release_memory);
  t.data_ = p;
  return t;
}

Tensor Tensor::empty_pinned(const Shape& shape, DType dtype) {
  Tensor t;
  t.shape_ = shape;
  t.dtype_ = dtype;
  const size_t bytes = t.nbytes();
  void* p = pinned_allocator().allocate(bytes);
  t.storage_ = std::make_shared<Storage>(p, bytes, Device::cpu(), true, &release_memory);
  t.data_ = p;
  return t;
}

Tensor Tensor::zeros(const Shape& shape, DType dtype, Device device, Stream stream) {
  Tensor t = empty(shape, dtype, device, stream);
  fill_zero(t, stream);
  return t;
}

Tensor Tensor::wrap(void* data, const Shape& shape, DType dtype, Device device) {
  Tensor t;
  t.shape_ = shape;
  t.dtype_ = dtype;
  t.device_ = device;
  t.data_ = data;
  return t;
}

void Tensor::check_dtype(DType want) const {
  VGGTL_CHECK(dtype_ == want, "tensor is ", dtype_name(dtype_), ", accessed as ", dtype_name(want));
}

Tensor Tensor::slice(int64_t begin, int64_t end) const {
  VGGTL_CHECK(ndim() >= 1, "slice of a scalar");
  VGGTL_CHECK(0 <= begin && begin <= end && end <= dim(0), "slice [", begin, ", ", end,
              ") out of range for ", shape_.str());
  std::vector<int64_t> dims = shape_.vec();
  const int64_t row = dims[0] ? numel() / dims[0] : 0;
  dims[0] = end - begin;
  return view(begin * row, Shape(dims));
}

Tensor Tensor::reshape(const Shape& shape) const {
  VGGTL_CHECK(shape.numel() == numel(), "cannot reshape ", shape_.str(), " to ", shape.str());
  return view(0, shape);
}

Tensor Tensor::view(int64_t offset, const Shape& shape) const {
  VGGTL_CHECK(offset >= 0 && offset + shape.numel() <= numel(), "view of ", shape.str(), " at ",
              offset, " does not fit in ", shape_.str());
  Tensor t = *this;
  t.shape_ = shape;
  t.data_ = static_cast<char*>(data_) + offset * static_cast<int64_t>(dtype_size(dtype_));
  return t;
}

std::string Tensor::str() const {
  return std::string(dtype_name(dtype_)) + shape_.str() + " " + device_.str();
}

void copy(Tensor& dst, const Tensor& src, Stream stream) {
  VGGTL_CHECK(dst.dtype() == src.dtype() && dst.numel() == src.numel(), "copy from ", src.str(),
              " to ", dst.str());
  const size_t bytes = src.nbytes();
  if (bytes == 0) return;
  if (!dst.is_cuda() && !src.is_cuda()) {
    std::memmove(dst.raw(), src.raw(), bytes);
    return;
  }
#if VGGTL_HAVE_CUDA
  if (!stream) stream = main_stream(dst.is_cuda() ? dst.device() : src.device());
  CUDA_CHECK(cudaMemcpyAsync(dst.raw(), src.raw(), bytes, cudaMemcpyDefault, stream));
  if (src.is_pinned()) src.note_async_use(stream);
  if (dst.is_pinned()) dst.note_async_use(stream);
  // Pageable host memory: the copy is staged; make sure it finished before src may change.
  if ((!src.is_cuda() && !src.is_pinned()) || (!dst.is_cuda() && !dst.is_pinned()))
    CUDA_CHECK(cudaStreamSynchronize(stream));
#else
  VGGTL_FAIL("this build has no CUDA backend");
#endif
}

Tensor to_device(const Tensor& src, Device device, Stream stream) {
  Tensor dst = Tensor::empty(src.shape(), src.dtype(), device, stream);
  copy(dst, src, stream);
  return dst;
}

void fill_zero(Tensor& t, Stream stream) {
  if (t.nbytes() == 0) return;
  if (!t.is_cuda()) {
    std::memset(t.raw(), 0, t.nbytes());
    return;
  }
#if VGGTL_HAVE_CUDA
  CUDA_CHECK(cudaMemsetAsync(t.raw(), 0, t.nbytes(), stream ? stream : main_stream(t.device())));
#endif
}

void synchronize(Device device) {
  if (device.is_cuda()) Context::get(device).synchronize();
}

}  // namespace vggtl
