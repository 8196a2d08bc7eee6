// Run-time device discovery. With no GPU, cudaGetDeviceCount fails (error 35, "driver version
// is insufficient", or 100, "no CUDA-capable device"): that is "no GPU here", not a fault.
#include "engine/device.h"

#include <mutex>
#include <sstream>

#include "engine/error.h"
#include "vggtl/build_info.h"

#if VGGTL_HAVE_CUDA
#include <cuda_runtime.h>
#include <cudnn.h>

#include "engine/cublas_library.h"
#endif

namespace vggtl {

std::string Device::str() const {
  if (kind == DeviceKind::CPU) return "cpu";
  return "cuda:" + std::to_string(index);
}

namespace {

CudaRuntimeInfo probe() {
  CudaRuntimeInfo info;
#if VGGTL_HAVE_CUDA
  info.built = true;
  // A version that cannot be read stays 0 and is printed as unknown.
  if (cudaRuntimeGetVersion(&info.runtime_version) != cudaSuccess) info.runtime_version = 0;
  if (cudaDriverGetVersion(&info.driver_version) != cudaSuccess) info.driver_version = 0;
  int count = 0;
  cudaError_t err = cudaGetDeviceCount(&count);
  if (err != cudaSuccess) {
    info.unusable_reason = std::string("no usable CUDA device (") + cudaGetErrorString(err) + ")";
    // No driver at all (the runtime then says the driver is "insufficient") or no device.
    info.no_gpu = info.driver_version == 0 || err == cudaErrorNoDevice;
    (void)cudaGetLastError();  // clear the error so later calls start clean
  } else if (count == 0) {
    info.unusable_reason = "no CUDA device found";
    info.no_gpu = true;
  } else {
    for (int i = 0; i < count; ++i) {
      cudaDeviceProp p{};
      if (cudaGetDeviceProperties(&p, i) != cudaSuccess) continue;
      CudaDeviceInfo d;
      d.index = i;
      d.name = p.name;
      d.cc_major = p.major;
      d.cc_minor = p.minor;
      d.multiprocessors = p.multiProcessorCount;
      d.total_memory = p.totalGlobalMem;
      info.devices.push_back(d);
    }
    info.usable = !info.devices.empty();
    if (!info.usable) info.unusable_reason = "CUDA devices found but none could be queried";
  }
  // cuDNN's version answers without a device; it tells which shared object was loaded. (cuBLAS is
  // opened only when used: version_report asks it.)
  info.cudnn_version = cudnnGetVersion();
#else
  info.unusable_reason = "this build has no CUDA backend (VGGTL_CUDA=OFF)";
  info.no_gpu = true;
#endif
  return info;
}

std::string version_triplet(long v, long major_div, long minor_div) {
  std::ostringstream os;
  os << v / major_div << "." << (v % major_div) / minor_div << "." << v % minor_div;
  return os.str();
}

}  // namespace

const CudaRuntimeInfo& cuda_runtime_info() {
  static std::once_flag once;
  static CudaRuntimeInfo info;
  std::call_once(once, [] { info = probe(); });
  return info;
}

bool cuda_available() { return cuda_runtime_info().usable; }

Device select_device(DeviceChoice choice, std::string* note) {
  const CudaRuntimeInfo& info = cuda_runtime_info();
  switch (choice) {
    case DeviceChoice::Cpu: return Device::cpu();
    case DeviceChoice::Cuda:
      if (!info.usable) throw InputError("--device cuda: " + info.unusable_reason);
      return Device::cuda(0);
    case DeviceChoice::Auto: break;
  }
  if (info.usable) return Device::cuda(0);
  if (note)
    *note = !info.built   ? "this build has no CUDA backend; using the CPU"
            : info.no_gpu ? "no GPU found; using the CPU"
                          : "using the CPU: " + info.unusable_reason;
  return Device::cpu();
}

std::string version_report(OpenLibraries open) {
  const CudaRuntimeInfo& info = cuda_runtime_info();
  std::ostringstream os;
  os << "vggtl " << VGGTL_VERSION << " (" << VGGTL_BUILD_TYPE << ", " << VGGTL_CXX_COMPILER;
  if (std::string(VGGTL_SANITIZERS) == "ON") os << ", sanitizers";
  os << ")\n";
#if VGGTL_HAVE_CUDA
  const std::string cublas = cublas_version_text(open == OpenLibraries::All);
#else
  const std::string cublas = "?";  // not reached: the line below is for CUDA builds
#endif
  if (!info.built) {
    os << "cuda backend: not built\n";
  } else {
    os << "cuda backend: built with " << VGGTL_CUDA_COMPILER << " for sm_" << VGGTL_CUDA_ARCHITECTURES
       << "; runtime " << version_triplet(info.runtime_version, 1000, 10) << ", driver "
       << (info.driver_version ? version_triplet(info.driver_version, 1000, 10) : std::string("none"))
       << ", cuDNN " << (info.cudnn_version ? version_triplet(static_cast<long>(info.cudnn_version), 10000, 100)
                                             : std::string("?"))
       << ", cuBLAS " << cublas << "\n";
  }
  if (info.usable) {
    for (const CudaDeviceInfo& d : info.devices)
      os << "device cuda:" << d.index << ": " << d.name << ", sm_" << d.cc_major << d.cc_minor << ", "
         << d.multiprocessors << " SMs, " << (d.total_memory >> 20) << " MiB\n";
  } else {
    os << "devices: cpu only (" << info.unusable_reason << ")\n";
  }
  return os.str();
}

}  // namespace vggtl
