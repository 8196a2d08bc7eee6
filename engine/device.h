// Where tensors live and work runs: the CPU or a CUDA device; and what this machine offers at
// run time. A CUDA build on a machine without a GPU or driver falls back to the CPU.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>
#include <vector>

struct CUstream_st;  // cudaStream_t without including CUDA headers

namespace vggtl {

using Stream = CUstream_st*;

enum class DeviceKind : uint8_t { CPU, CUDA };

struct Device {
  DeviceKind kind = DeviceKind::CPU;
  int index = 0;

  static Device cpu() { return Device{}; }
  static Device cuda(int i = 0) { return Device{DeviceKind::CUDA, i}; }
  bool is_cuda() const { return kind == DeviceKind::CUDA; }
  bool is_cpu() const { return kind == DeviceKind::CPU; }
  std::string str() const;
  bool operator==(const Device& o) const { return kind == o.kind && index == o.index; }
  bool operator!=(const Device& o) const { return !(*this == o); }
};

struct CudaDeviceInfo {
  int index = 0;
  std::string name;
  int cc_major = 0, cc_minor = 0;
  int multiprocessors = 0;
  size_t total_memory = 0;
};

struct CudaRuntimeInfo {
  bool built = false;          // this binary contains the CUDA backend
  bool usable = false;         // a driver and at least one device answered
  std::string unusable_reason; // why not, in words, when built but not usable
  // Not usable because there is simply no GPU: no driver installed or no device. False when a
  // driver answered with a real fault (a driver older than the runtime, a device it cannot use).
  bool no_gpu = false;
  int driver_version = 0;      // e.g. 13000
  int runtime_version = 0;
  size_t cudnn_version = 0;    // run-time library version, 0 when unknown
  std::vector<CudaDeviceInfo> devices;
};

// Probes once per process (thread-safe) and caches the answer.
const CudaRuntimeInfo& cuda_runtime_info();
bool cuda_available();

// What --device asks for. Auto -> CUDA when usable, else the CPU (and *note says why, in one
// line); Cuda without a usable GPU -> InputError; Cpu -> the CPU.
enum class DeviceChoice : uint8_t { Auto, Cuda, Cpu };
// `note` (Auto only) is set when the CPU is chosen: "no GPU found; using the CPU" on a machine
// without one (the driver's own words are in --version), "using the CPU: <reason>" when a GPU
// is there but unusable, "this build has no CUDA backend; using the CPU" in a CPU-only build.
Device select_device(DeviceChoice choice, std::string* note = nullptr);

// Which libraries a version report may open to ask their version: all (--version), or only those
// the process has already loaded (a run's metrics.json: a CPU run never opens cuBLAS for it).
enum class OpenLibraries : uint8_t { All, AlreadyLoaded };

// Build options, CUDA library versions and devices found, several lines, for --version
// (the libraries above the engine add their own lines).
std::string version_report(OpenLibraries open = OpenLibraries::All);

}  // namespace vggtl
