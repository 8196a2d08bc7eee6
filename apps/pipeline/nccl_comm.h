// One NCCL communicator over the processes of the job (apps/pipeline/cluster.h), summing device
// buffers in place on a stream: GradientReducer's GPU route (gradient_reduce.h). Defined only in
// builds with CUDA, MPI and NCCL (VGGTL_HAVE_NCCL; apps/pipeline/nccl_comm_cuda.cpp).
#pragma once

#include <cstddef>

#include "engine/device.h"

struct ncclComm;  // ncclComm_t without including nccl.h

namespace vggtl {

#if VGGTL_HAVE_NCCL
class NcclComm {
 public:
  // Collective: every process constructs it with its own GPU (no two the same). Rank 0 makes
  // the unique id and broadcasts it over MPI.
  explicit NcclComm(Device device);
  ~NcclComm();
  NcclComm(const NcclComm&) = delete;
  NcclComm& operator=(const NcclComm&) = delete;

  // Element-wise sum over the processes of `n` floats at `values` (device memory), in place,
  // queued on `stream`.
  void sum(float* values, size_t n, Stream stream);

 private:
  ncclComm* comm_ = nullptr;
};
#endif

}  // namespace vggtl
