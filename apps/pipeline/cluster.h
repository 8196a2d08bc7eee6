// The processes of one job: rank, size and the few collectives the tools need, over MPI when
// the binary was built with it and launched by mpiexec, and a one-process twin otherwise, so
// the callers read the same either way. Tested by tests/apps/test_cluster.cpp and, across
// processes, by tests/apps/test_mpi_app.cpp.
#pragma once

#include <cstddef>
#include <cstdint>
#include <functional>
#include <string>
#include <vector>

namespace vggtl::cluster {

// True when this binary contains the MPI implementation (CMake VGGTL_MPI).
bool built_with_mpi();
// True when a launcher (mpiexec, srun) started this process: Open MPI, PMI or PMIx variables.
bool launched_by_mpi();

// Starts MPI when launched by mpiexec, else nothing: a plain run never pays MPI_Init or needs
// the MPI run-time. Error when launched with several processes by a binary built without MPI
// (each would otherwise do the whole job and write the same files).
void init(int* argc, char*** argv);
// MPI_Finalize when init() started MPI.
void finalize();

bool active();      // MPI started and more than one process
// Says that from here on no rank waits for this one in a collective it would skip when
// interrupted: the others have finished, or they stop with it at an agreed point (the
// distributed training loop). An interruption then ends this rank alone, quietly; before, it
// ends the job (MPI_Abort) so that no rank hangs.
void settle();
int rank();         // 0 without MPI
int size();         // 1 without MPI
int local_rank();   // rank among the processes of this node (MPI_COMM_TYPE_SHARED)
bool is_root();
// "rank K of N" or "" for a single process: for messages.
std::string rank_label();

// Ends every process of the job with `status` (MPI_Abort); a plain exit without MPI.
[[noreturn]] void abort(int status);

// Every rank receives rank 0's `bytes` (any size).
void broadcast(std::string* bytes);
// Rank 0 gets every rank's bytes, by rank; the others get an empty list.
std::vector<std::string> gather(const std::string& bytes);
// Element-wise sum over ranks, in place, on every rank.
void allreduce_sum(double* values, size_t n);
void allreduce_sum(float* values, size_t n);
void barrier();

// A count every rank adds to and rank 0 reads, without any rank waiting for another: each
// rank's last published value sits in a window on rank 0 (MPI one-sided, passive target), so
// rank 0 can show the job's progress while the ranks work. Creating it is collective, and so is
// its end, except while an exception unwinds (a failing rank then leaves it to MPI_Abort).
// Without MPI (or one process) it holds this process's count.
class SharedCount {
 public:
  SharedCount();
  ~SharedCount();
  SharedCount(const SharedCount&) = delete;
  SharedCount& operator=(const SharedCount&) = delete;
  void publish(int64_t count);  // this rank's count so far
  int64_t total();              // on rank 0: the sum of every rank's last published count

 private:
  int64_t mine_ = 0;
  void* window_ = nullptr;  // MPI_Win when MPI is active
  int64_t* slots_ = nullptr;
};

// The frame of a tool that may run as one rank of many: init, run_app (its error line names
// the rank), then on failure of any rank one more line naming it and MPI_Abort so that no
// other rank waits for it; finalize on success.
int run(const char* name, int* argc, char*** argv, const std::function<int()>& body);

}  // namespace vggtl::cluster
