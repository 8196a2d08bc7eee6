// MPI behind apps/pipeline/cluster.h; with VGGTL_HAVE_MPI=0 the one-process twin. MPI is started
// only when a launcher's environment is present: Open MPI 4's singleton MPI_Init forks an
// orted daemon, which costs time and fails in sandboxes without it, and every plain run (the
// test suite, the demo) would pay for a feature it does not use. Every MPI call is checked:
// MPI_ERRORS_RETURN replaces the default fatal handler so a failure becomes one line.
#include "apps/pipeline/cluster.h"

#include <algorithm>
#include <cstdio>
#include <cstdlib>
#include <exception>
#include <limits>

#include <fcntl.h>
#include <unistd.h>

#include "apps/pipeline/app_main.h"
#include "apps/pipeline/interrupt.h"
#include "engine/error.h"
#include "engine/log.h"

#if VGGTL_HAVE_MPI
#include <mpi.h>
#endif

namespace vggtl::cluster {

namespace {

int g_rank = 0, g_size = 1, g_local_rank = 0;
bool g_started = false;
bool g_settled = false;  // settle() was called

int env_int(const char* name) {
  const char* v = std::getenv(name);
  return v && *v ? std::atoi(v) : -1;
}

// Processes the launcher says it started (-1 when not launched by one).
int launched_size() {
  for (const char* name : {"OMPI_COMM_WORLD_SIZE", "PMI_SIZE", "PMIX_SIZE"})
    if (const int n = env_int(name); n > 0) return n;
  return std::getenv("PMIX_RANK") ? 1 : -1;
}

#if VGGTL_HAVE_MPI
// Messages are sent in pieces of at most 1 GiB: MPI counts are int.
constexpr size_t kPiece = size_t{1} << 30;

void check(int rc, const char* what) {
  if (rc == MPI_SUCCESS) return;
  char text[MPI_MAX_ERROR_STRING];
  int len = 0;
  if (MPI_Error_string(rc, text, &len) != MPI_SUCCESS) len = 0;
  throw Error(std::string("MPI: ") + what + " failed: " + std::string(text, static_cast<size_t>(len)));
}

void send_bytes(const std::string& bytes, int to) {
  unsigned long long n = bytes.size();
  check(MPI_Send(&n, 1, MPI_UNSIGNED_LONG_LONG, to, 0, MPI_COMM_WORLD), "MPI_Send (size)");
  for (size_t at = 0; at < bytes.size(); at += kPiece) {
    const int len = static_cast<int>(std::min(kPiece, bytes.size() - at));
    check(MPI_Send(bytes.data() + at, len, MPI_BYTE, to, 1, MPI_COMM_WORLD), "MPI_Send");
  }
}

std::string recv_bytes(int from) {
  unsigned long long n = 0;
  check(MPI_Recv(&n, 1, MPI_UNSIGNED_LONG_LONG, from, 0, MPI_COMM_WORLD, MPI_STATUS_IGNORE),
        "MPI_Recv (size)");
  std::string bytes(static_cast<size_t>(n), '\0');
  for (size_t at = 0; at < bytes.size(); at += kPiece) {
    const int len = static_cast<int>(std::min(kPiece, bytes.size() - at));
    check(MPI_Recv(&bytes[at], len, MPI_BYTE, from, 1, MPI_COMM_WORLD, MPI_STATUS_IGNORE), "MPI_Recv");
  }
  return bytes;
}
#endif

}  // namespace

bool built_with_mpi() { return VGGTL_HAVE_MPI != 0; }
bool launched_by_mpi() { return launched_size() > 0; }

void init(int* argc, char*** argv) {
  if (!launched_by_mpi()) return;
#if VGGTL_HAVE_MPI
  check(MPI_Init(argc, argv), "MPI_Init");
  g_started = true;
  check(MPI_Comm_set_errhandler(MPI_COMM_WORLD, MPI_ERRORS_RETURN), "MPI_Comm_set_errhandler");
  check(MPI_Comm_rank(MPI_COMM_WORLD, &g_rank), "MPI_Comm_rank");
  check(MPI_Comm_size(MPI_COMM_WORLD, &g_size), "MPI_Comm_size");
  MPI_Comm node;
  check(MPI_Comm_split_type(MPI_COMM_WORLD, MPI_COMM_TYPE_SHARED, g_rank, MPI_INFO_NULL, &node),
        "MPI_Comm_split_type");
  check(MPI_Comm_rank(node, &g_local_rank), "MPI_Comm_rank (node)");
  check(MPI_Comm_free(&node), "MPI_Comm_free");
#else
  (void)argc;
  (void)argv;
  if (launched_size() > 1)
    throw InputError("started by mpiexec with " + std::to_string(launched_size()) +
                     " processes, but this build has no MPI (configure with -DVGGTL_MPI=ON)");
#endif
}

void finalize() {
#if VGGTL_HAVE_MPI
  if (g_started) {
    g_started = false;
    check(MPI_Finalize(), "MPI_Finalize");
  }
#endif
}

bool active() { return g_started && g_size > 1; }
void settle() { g_settled = true; }
int rank() { return g_rank; }
int size() { return g_size; }
int local_rank() { return g_local_rank; }
bool is_root() { return g_rank == 0; }

std::string rank_label() {
  return active() ? "rank " + std::to_string(g_rank) + " of " + std::to_string(g_size) : std::string();
}

void abort(int status) {
  std::fflush(stdout);
  std::fflush(stderr);
#if VGGTL_HAVE_MPI
  if (g_started) MPI_Abort(MPI_COMM_WORLD, status);  // does not return when it works
#endif
  std::exit(status);
}

void broadcast(std::string* bytes) {
#if VGGTL_HAVE_MPI
  if (!active()) return;
  unsigned long long n = bytes->size();
  check(MPI_Bcast(&n, 1, MPI_UNSIGNED_LONG_LONG, 0, MPI_COMM_WORLD), "MPI_Bcast (size)");
  bytes->resize(static_cast<size_t>(n));
  for (size_t at = 0; at < bytes->size(); at += kPiece) {
    const int len = static_cast<int>(std::min(kPiece, bytes->size() - at));
    check(MPI_Bcast(&(*bytes)[at], len, MPI_BYTE, 0, MPI_COMM_WORLD), "MPI_Bcast");
  }
#else
  (void)bytes;
#endif
}

std::vector<std::string> gather(const std::string& bytes) {
  if (!active()) return {bytes};
  std::vector<std::string> all;
#if VGGTL_HAVE_MPI
  if (g_rank != 0) {
    send_bytes(bytes, 0);
    return all;
  }
  all.push_back(bytes);
  for (int r = 1; r < g_size; ++r) all.push_back(recv_bytes(r));
#endif
  return all;
}

void allreduce_sum(double* values, size_t n) {
#if VGGTL_HAVE_MPI
  if (!active()) return;
  for (size_t at = 0; at < n; at += kPiece / sizeof(double)) {
    const int len = static_cast<int>(std::min(kPiece / sizeof(double), n - at));
    check(MPI_Allreduce(MPI_IN_PLACE, values + at, len, MPI_DOUBLE, MPI_SUM, MPI_COMM_WORLD), "MPI_Allreduce");
  }
#else
  (void)values;
  (void)n;
#endif
}

void allreduce_sum(float* values, size_t n) {
#if VGGTL_HAVE_MPI
  if (!active()) return;
  for (size_t at = 0; at < n; at += kPiece / sizeof(float)) {
    const int len = static_cast<int>(std::min(kPiece / sizeof(float), n - at));
    check(MPI_Allreduce(MPI_IN_PLACE, values + at, len, MPI_FLOAT, MPI_SUM, MPI_COMM_WORLD), "MPI_Allreduce");
  }
#else
  (void)values;
  (void)n;
#endif
}

void barrier() {
#if VGGTL_HAVE_MPI
  if (active()) check(MPI_Barrier(MPI_COMM_WORLD), "MPI_Barrier");
#endif
}

SharedCount::SharedCount() {
#if VGGTL_HAVE_MPI
  if (!active()) return;
  MPI_Win win;
  const MPI_Aint bytes = is_root() ? static_cast<MPI_Aint>(g_size) * static_cast<MPI_Aint>(sizeof(int64_t)) : 0;
  check(MPI_Win_allocate(bytes, sizeof(int64_t), MPI_INFO_NULL, MPI_COMM_WORLD, &slots_, &win), "MPI_Win_allocate");
  if (is_root()) std::fill(slots_, slots_ + g_size, int64_t{0});
  window_ = new MPI_Win(win);
  barrier();  // rank 0's slots are zero before anyone writes
#endif
}

SharedCount::~SharedCount() {
#if VGGTL_HAVE_MPI
  if (!window_) return;
  MPI_Win* win = static_cast<MPI_Win*>(window_);
  if (std::uncaught_exceptions() == 0) MPI_Win_free(win);  // collective: not while this rank is failing
  delete win;
#endif
}

void SharedCount::publish(int64_t count) {
  mine_ = count;
#if VGGTL_HAVE_MPI
  if (!window_) return;
  MPI_Win win = *static_cast<MPI_Win*>(window_);
  check(MPI_Win_lock(MPI_LOCK_SHARED, 0, 0, win), "MPI_Win_lock");
  check(MPI_Put(&mine_, 1, MPI_INT64_T, 0, g_rank, 1, MPI_INT64_T, win), "MPI_Put");
  check(MPI_Win_unlock(0, win), "MPI_Win_unlock");
#endif
}

int64_t SharedCount::total() {
#if VGGTL_HAVE_MPI
  if (window_ && is_root()) {
    MPI_Win win = *static_cast<MPI_Win*>(window_);
    std::vector<int64_t> counts(static_cast<size_t>(g_size));
    check(MPI_Win_lock(MPI_LOCK_SHARED, 0, 0, win), "MPI_Win_lock");
    check(MPI_Get(counts.data(), g_size, MPI_INT64_T, 0, 0, g_size, MPI_INT64_T, win), "MPI_Get");
    check(MPI_Win_unlock(0, win), "MPI_Win_unlock");
    int64_t sum = 0;
    for (int64_t c : counts) sum += c;
    return sum;
  }
#endif
  return mine_;
}

int run(const char* name, int* argc, char*** argv, const std::function<int()>& body) {
  int status = run_app(name, [&] {
    init(argc, argv);
    return 0;
  });
  if (status != 0) return status;
  // One rank speaks: the others' progress, summaries, notes and warnings would repeat rank 0's
  // (or tell a part of the job as if it were the whole; their bad files reach rank 0, which
  // reports them), so their stdout goes to /dev/null and their log keeps only errors.
  if (active() && !is_root()) {
    std::fflush(stdout);
    const int null_fd = ::open("/dev/null", O_WRONLY | O_CLOEXEC);
    if (null_fd >= 0) {
      ::dup2(null_fd, STDOUT_FILENO);
      ::close(null_fd);
    }
    set_log_level(LogLevel::Error);
  }
  const std::string label = active() ? std::string(name) + " (" + rank_label() + ")" : std::string(name);
  status = run_app(label.c_str(), body);
  // Ctrl-C of mpiexec reaches every rank (Open MPI forwards it as SIGTERM). Once the ranks are
  // settled (see settle()) an interrupted rank ends as the tool's status says, without
  // MPI_Abort's report; before that another rank may wait for it in a collective, so it ends the
  // job, as any other failure does.
  const bool interrupted = interrupt_requested() && status == interrupted_exit_status();
  if (status != 0 && active() && !(interrupted && g_settled)) {
    if (!interrupted)
      std::fprintf(stderr, "%s: rank %d of %d failed (exit status %d); ending the job\n", name, g_rank, g_size,
                   status);
    abort(status);
  }
  // A single process (or mpiexec -n 1) finalizes after a failure too, so the launcher reports
  // the tool's own status rather than a process that never finalized.
  const int closing = run_app(name, [] {
    finalize();
    return 0;
  });
  return status != 0 ? status : closing;
}

}  // namespace vggtl::cluster
