// GradientReducer (apps/pipeline/gradient_reduce.h): the route is chosen once, by rank 0 for
// everyone, so no process can take NCCL while another waits in MPI.
#include "apps/pipeline/gradient_reduce.h"

#include <unistd.h>

#include <map>

#include "apps/pipeline/cluster.h"
#include "apps/pipeline/nccl_comm.h"
#include "engine/context.h"
#include "engine/error.h"

namespace vggtl {

namespace {

std::string host_name() {
  char name[256] = {};
  if (gethostname(name, sizeof name - 1) != 0) return "?";
  return name;
}

}  // namespace

std::string nccl_placement_problem(const std::vector<std::string>& places) {
  std::map<std::string, size_t> first;
  for (size_t r = 0; r < places.size(); ++r) {
    const std::string& p = places[r];
    const size_t tab = p.find('\t');
    const std::string host = p.substr(0, tab), gpu = tab == std::string::npos ? "" : p.substr(tab + 1);
    if (gpu == "cpu") return "process " + std::to_string(r) + " (host " + host + ") runs its model on the CPU";
    const auto [at, fresh] = first.emplace(p, r);
    if (!fresh)
      return "processes " + std::to_string(at->second) + " and " + std::to_string(r) + " share GPU " + gpu +
             " of host " + host + " (NCCL needs one GPU per process)";
  }
  return "";
}

std::string nccl_unavailable(Device device) {
  std::string why;
  if (!VGGTL_HAVE_NCCL)
    why = "this build has no NCCL (it needs the CUDA backend, MPI and NCCL at build time)";
  else if (!device.is_cuda())
    why = "the model runs on the CPU";
  // Every process takes part in the gather, whatever it found above, and rank 0 decides.
  const std::vector<std::string> places =
      cluster::gather(host_name() + "\t" + (device.is_cuda() ? std::to_string(device.index) : "cpu"));
  std::string verdict;
  if (cluster::is_root()) {
    // Every process runs the same build, so rank 0's reason above is everyone's; where the
    // models run (a process without a GPU falls back to the CPU) needs the others' answers.
    verdict = why.empty() ? nccl_placement_problem(places) : why;
  }
  cluster::broadcast(&verdict);
  return verdict;
}

GradientReducer::GradientReducer(AllreduceRoute requested, Device device) : device_(device) {
  const std::string unavailable =
      requested == AllreduceRoute::Mpi ? std::string() : nccl_unavailable(device);
  if (requested == AllreduceRoute::Nccl && !unavailable.empty())
    throw InputError("--allreduce nccl: " + unavailable + "; use --allreduce mpi or auto");
  if (requested == AllreduceRoute::Mpi) {
    why_ = "gradients summed by MPI on the host (--allreduce mpi)";
  } else if (!unavailable.empty()) {
    why_ = "gradients summed by MPI on the host: NCCL cannot run here, " + unavailable;
  } else {
#if VGGTL_HAVE_NCCL
    nccl_.reset(new NcclComm(device));
#endif
    route_ = AllreduceRoute::Nccl;
    why_ = "gradients summed by NCCL on the GPUs";
  }
}

GradientReducer::~GradientReducer() = default;

void GradientReducer::NcclCommDeleter::operator()(NcclComm* comm) const {
#if VGGTL_HAVE_NCCL
  delete comm;
#else
  (void)comm;  // never set without NCCL
#endif
}

void GradientReducer::sum(Tensor& values) {
  VGGTL_CHECK(values.dtype() == DType::F32 && values.device() == device_, "GradientReducer::sum: F32 values on ",
              device_.str(), " expected");
  const size_t n = static_cast<size_t>(values.numel());
#if VGGTL_HAVE_NCCL
  if (nccl_) {
    nccl_->sum(values.data<float>(), n, main_stream(device_));
    return;
  }
#endif
  if (device_.is_cpu()) {
    cluster::allreduce_sum(values.data<float>(), n);
    return;
  }
  Tensor host = to_device(values, Device::cpu());
  synchronize(device_);
  cluster::allreduce_sum(host.data<float>(), n);
  copy(values, host);
  synchronize(device_);
}

}  // namespace vggtl
