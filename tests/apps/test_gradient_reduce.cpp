// GradientReducer in one process: which route auto takes and why, the refusal of --allreduce
// nccl where NCCL cannot run, the shared-GPU verdict, and the sum on each route (on one process
// a sum leaves the values as they are, bit for bit). Across processes: tests/apps/test_mpi_app.cpp.
#include <gtest/gtest.h>

#include <cstring>

#include "apps/pipeline/gradient_reduce.h"
#include "engine/error.h"
#include "test_util.h"

namespace vggtl {

TEST(GradientReduce, PlacementProblemNamesACpuProcessOrTheFirstSharedGpu) {
  EXPECT_EQ(nccl_placement_problem({}), "");
  EXPECT_EQ(nccl_placement_problem({"a\t0", "a\t1", "b\t0", "b\t1"}), "");
  EXPECT_EQ(nccl_placement_problem({"a\t0", "a\t1", "b\t0", "a\t1", "b\t0"}),
            "processes 1 and 3 share GPU 1 of host a (NCCL needs one GPU per process)");
  // A node without a GPU: its process fell back to the CPU, which NCCL cannot serve.
  EXPECT_EQ(nccl_placement_problem({"a\t0", "b\tcpu", "a\t0"}), "process 1 (host b) runs its model on the CPU");
}

TEST(GradientReduce, NcclOnTheCpuIsRefusedWithTheReason) {
  const std::string why = nccl_unavailable(Device::cpu());
  EXPECT_EQ(why, VGGTL_HAVE_NCCL ? "the model runs on the CPU"
                                 : "this build has no NCCL (it needs the CUDA backend, MPI and NCCL at build time)");
  try {
    GradientReducer r(AllreduceRoute::Nccl, Device::cpu());
    FAIL() << "--allreduce nccl on the CPU was accepted";
  } catch (const InputError& e) {
    EXPECT_EQ(std::string(e.what()), "--allreduce nccl: " + why + "; use --allreduce mpi or auto");
  }
}

TEST(GradientReduce, AutoTakesMpiOnTheCpuAndSaysWhy) {
  GradientReducer r(AllreduceRoute::Auto, Device::cpu());
  EXPECT_EQ(r.route(), AllreduceRoute::Mpi);
  EXPECT_EQ(r.why(), "gradients summed by MPI on the host: NCCL cannot run here, " + nccl_unavailable(Device::cpu()));
  GradientReducer m(AllreduceRoute::Mpi, Device::cpu());
  EXPECT_EQ(m.route(), AllreduceRoute::Mpi);
  EXPECT_EQ(m.why(), "gradients summed by MPI on the host (--allreduce mpi)");
}

namespace {

// One process: the sum over the job is the values themselves, whatever the route.
void expect_sum_of_one_keeps(GradientReducer& r, Device device) {
  const std::vector<float> v = test::random_floats(1237, 11);  // odd size: no vector-width luck
  Tensor x = to_device(Tensor::wrap(const_cast<float*>(v.data()), {1237}, DType::F32), device);
  r.sum(x);
  const Tensor back = to_device(x, Device::cpu());
  synchronize(device);
  EXPECT_EQ(std::memcmp(back.raw(), v.data(), v.size() * sizeof(float)), 0);
}

}  // namespace

TEST(GradientReduce, MpiSumOfOneProcessKeepsTheValues) {
  GradientReducer r(AllreduceRoute::Mpi, Device::cpu());
  expect_sum_of_one_keeps(r, Device::cpu());
  // A tensor of another dtype or device is a caller's bug, named.
  Tensor wrong = Tensor::empty({3}, DType::I32, Device::cpu());
  EXPECT_THROW(r.sum(wrong), Error);
}

TEST(GradientReduceGpu, BothRoutesOnOneProcessKeepTheValues) {
  REQUIRE_CUDA_DEVICE();
  GradientReducer mpi(AllreduceRoute::Mpi, Device::cuda(0));
  expect_sum_of_one_keeps(mpi, Device::cuda(0));
  if (!VGGTL_HAVE_NCCL) GTEST_SKIP() << "this build has no NCCL (configure with -DVGGTL_NCCL=ON)";
  GradientReducer auto_route(AllreduceRoute::Auto, Device::cuda(0));
  EXPECT_EQ(auto_route.route(), AllreduceRoute::Nccl) << auto_route.why();
  GradientReducer nccl(AllreduceRoute::Nccl, Device::cuda(0));
  EXPECT_EQ(nccl.why(), "gradients summed by NCCL on the GPUs");
  expect_sum_of_one_keeps(nccl, Device::cuda(0));
}

}  // namespace vggtl
