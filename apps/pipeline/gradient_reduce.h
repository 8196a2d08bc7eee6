// The gradient sum of --distributed-train: every process's gradient arena summed over the job
// (apps/pipeline/cluster.h), in place, on the GPU by NCCL or on the host by MPI. Tested by
// tests/apps/test_gradient_reduce.cpp (routes and refusals; the NCCL sum on a GPU) and, across
// processes, by tests/apps/test_mpi_app.cpp.
#pragma once

#include <memory>
#include <string>
#include <vector>

#include "engine/device.h"
#include "engine/tensor.h"

namespace vggtl {

class NcclComm;  // apps/pipeline/nccl_comm.h

enum class AllreduceRoute {
  Auto,  // NCCL where it can run (nccl_unavailable() is ""), else MPI
  Mpi,   // MPI_Allreduce on the host: a copy down and up per step
  Nccl,  // ncclAllReduce on the model's stream: needs a GPU per process
};

// Why NCCL cannot sum the gradients of this job, in words, or "" when it can: this build has
// no NCCL (VGGTL_HAVE_NCCL: CUDA, MPI and NCCL found), `device` is the CPU, or two processes
// share one GPU (NCCL refuses that). Collective: every process calls it and gets rank 0's
// answer, which looked at every process's host and GPU.
std::string nccl_unavailable(Device device);
// The part of it that needs every process: from each process's "host<TAB>GPU" ("cpu" for a
// model on the CPU), by rank, the first process on the CPU or the first GPU two of them share,
// in words, or "".
std::string nccl_placement_problem(const std::vector<std::string>& places);

class GradientReducer {
 public:
  // Collective: every process constructs it at the same point. Nccl where nccl_unavailable()
  // is not "" is an InputError with the reason; Auto then takes MPI and why() says why.
  GradientReducer(AllreduceRoute requested, Device device);
  ~GradientReducer();
  GradientReducer(const GradientReducer&) = delete;
  GradientReducer& operator=(const GradientReducer&) = delete;

  // Sums the F32 `values` (on the device given above, the same size on every process) over the
  // job, in place. Every process calls it with its own values; they are equal afterwards.
  // The NCCL route is queued on the device's main stream; the MPI route returns when done.
  void sum(Tensor& values);

  AllreduceRoute route() const { return route_; }  // Mpi or Nccl: what Auto chose
  // One line for the log: the route and, for MPI where NCCL was wanted or possible, why.
  const std::string& why() const { return why_; }

 private:
  struct NcclCommDeleter {  // NcclComm is defined only in builds with NCCL
    void operator()(NcclComm* comm) const;
  };
  Device device_;
  AllreduceRoute route_ = AllreduceRoute::Mpi;
  std::string why_;
  std::unique_ptr<NcclComm, NcclCommDeleter> nccl_;
};

}  // namespace vggtl
