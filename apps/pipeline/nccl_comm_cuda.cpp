// NcclComm over NCCL (apps/pipeline/nccl_comm.h). Every NCCL call's status is checked; an
// asynchronous failure is reported by the CUDA stream or the next NCCL call.
#include "apps/pipeline/nccl_comm.h"

#if VGGTL_HAVE_NCCL
#include <nccl.h>

#include <cstring>
#include <string>

#include "apps/pipeline/cluster.h"
#include "engine/cuda_check.h"

// The NCCL message and, for system or internal errors, NCCL's last error text.
#define NCCL_CHECK(stmt) \
  VGGTL_LIBRARY_STATUS(ncclResult_t, ncclSuccess, "NCCL", ::vggtl::throw_library_error, nccl_message, stmt)

namespace vggtl {

namespace {

std::string nccl_message(ncclResult_t r) {
  std::string m = ncclGetErrorString(r);
  const char* last = ncclGetLastError(nullptr);
  if (last && *last) m += std::string(" (") + last + ")";
  return m;
}

}  // namespace

NcclComm::NcclComm(Device device) {
  VGGTL_CHECK(device.is_cuda(), "NcclComm needs a CUDA device, got ", device.str());
  CUDA_CHECK(cudaSetDevice(device.index));
  std::string id_bytes;
  if (cluster::is_root()) {
    ncclUniqueId id;
    NCCL_CHECK(ncclGetUniqueId(&id));
    id_bytes.assign(reinterpret_cast<const char*>(&id), sizeof id);
  }
  cluster::broadcast(&id_bytes);
  VGGTL_CHECK(id_bytes.size() == sizeof(ncclUniqueId), "NCCL unique id of ", id_bytes.size(), " bytes, expected ",
              sizeof(ncclUniqueId));
  ncclUniqueId id;
  std::memcpy(&id, id_bytes.data(), sizeof id);
  NCCL_CHECK(ncclCommInitRank(&comm_, cluster::size(), id, cluster::rank()));
}

NcclComm::~NcclComm() {
  if (comm_) VGGTL_LIBRARY_STATUS(ncclResult_t, ncclSuccess, "NCCL", ::vggtl::warn_library_error, nccl_message,
                                  ncclCommDestroy(comm_));
}

void NcclComm::sum(float* values, size_t n, Stream stream) {
  NCCL_CHECK(ncclAllReduce(values, values, n, ncclFloat, ncclSum, comm_, stream));
}

}  // namespace vggtl
#endif
