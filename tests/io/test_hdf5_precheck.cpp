// Containment of libhdf5 crashes and hangs (io/hdf5/hdf5_precheck.h): every outcome of a child, the
// damaged files of fuzz/known_crashes/ (a SIGSEGV and a hang inside libhdf5 1.10) turned into
// one InputError naming the file within the time limit, sound files passed, threads of the
// caller harmless, and each end of the check program classified.
#include <gtest/gtest.h>

#include <signal.h>
#include <sys/stat.h>
#include <unistd.h>

#include <chrono>
#include <condition_variable>
#include <fstream>
#include <mutex>
#include <thread>

#include "engine/error.h"
#include "io/hdf5/hdf5_precheck.h"
#include "support/image_writer.h"
#include "test_util.h"

namespace vggtl {
namespace {

const std::string kSource = VGGTL_SOURCE_DIR;

double seconds_since(std::chrono::steady_clock::time_point t0) {
  return std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
}

// The InputError message of precheck_hdf5_file, or "" when it passed.
std::string precheck_message(const std::string& path, Hdf5Role role, double seconds) {
  try {
    precheck_hdf5_file(path, role, seconds);
  } catch (const InputError& e) {
    return e.what();
  }
  return "";
}

TEST(RunInChild, ReportsEveryOutcome) {
  EXPECT_EQ(run_in_child([] {}, 20).kind, ChildOutcome::Kind::Ok);

  ChildOutcome o = run_in_child([] { throw InputError("x.h5: bad"); }, 20);
  EXPECT_EQ(o.kind, ChildOutcome::Kind::Error);
  EXPECT_TRUE(o.input_error);
  EXPECT_EQ(o.message, "x.h5: bad");
  o = run_in_child([] { throw Error("internal"); }, 20);
  EXPECT_EQ(o.kind, ChildOutcome::Kind::Error);
  EXPECT_FALSE(o.input_error);

  o = run_in_child([] { ::kill(::getpid(), SIGKILL); }, 20);
  EXPECT_EQ(o.kind, ChildOutcome::Kind::Signal);
  EXPECT_EQ(o.signal, SIGKILL);

  o = run_in_child([] { ::_exit(3); }, 20);
  EXPECT_EQ(o.kind, ChildOutcome::Kind::Exit);
  EXPECT_EQ(o.exit_status, 3);

  const auto t0 = std::chrono::steady_clock::now();
  o = run_in_child([] { for (;;) ::pause(); }, 0.5);
  EXPECT_EQ(o.kind, ChildOutcome::Kind::Timeout);
  EXPECT_GE(seconds_since(t0), 0.5);
  EXPECT_LT(seconds_since(t0), 10.0);
}

TEST(Hdf5Precheck, SoundFilesPass) {
  EXPECT_EQ(precheck_message(kSource + "/fuzz/corpus/keras_weights/keras2_variable_f64.h5", Hdf5Role::Weights, 60), "");
  EXPECT_EQ(precheck_message(kSource + "/fuzz/corpus/keras_weights/keras1_fixed.h5", Hdf5Role::Weights, 60), "");
  EXPECT_EQ(precheck_message(kSource + "/fuzz/corpus/checkpoint/vggtl_checkpoint.h5", Hdf5Role::Checkpoint, 60), "");
}

TEST(Hdf5Precheck, AFileTheReaderRefusesGivesTheReadersMessage) {
  const std::string junk = test::temp_dir("hdf5_precheck") + "/junk.h5";
  test::write_file(junk, test::random_bytes(3000, 5));
  const std::string m = precheck_message(junk, Hdf5Role::Weights, 60);
  EXPECT_EQ(m.rfind(junk + ": ", 0), 0u) << m;
  EXPECT_EQ(m.find("HDF5 library crashed"), std::string::npos) << m;
  // A Keras weights-only file is no checkpoint: the checkpoint reader's own refusal.
  const std::string weights = kSource + "/fuzz/corpus/keras_weights/keras1_fixed.h5";
  EXPECT_NE(precheck_message(weights, Hdf5Role::Checkpoint, 60).find("weights-only"), std::string::npos);
}

TEST(Hdf5Precheck, ALibhdf5CrashBecomesOneErrorNamingTheFile) {
  const std::string path = kSource + "/fuzz/known_crashes/hdf5_vlen_global_heap_segv.h5";
  for (Hdf5Role role : {Hdf5Role::Weights, Hdf5Role::Checkpoint}) {
    const auto t0 = std::chrono::steady_clock::now();
    const std::string m = precheck_message(path, role, 20);
    const std::string head = (role == Hdf5Role::Weights ? "weights file " : "checkpoint ") + path +
                             " is damaged: the HDF5 library ";
    EXPECT_EQ(m.rfind(head, 0), 0u) << m;
    // A plain build dies of SIGSEGV; under AddressSanitizer the child reports, then exits 1 or,
    // with ASAN_OPTIONS=abort_on_error=1 (scripts/test.sh), aborts.
    EXPECT_TRUE(m == head + "crashed reading it (signal " + std::to_string(SIGSEGV) + ")" ||
                m == head + "crashed reading it (signal " + std::to_string(SIGABRT) + ")" ||
                m == head + "failed reading it (exit status 1)")
        << m;
    EXPECT_LT(seconds_since(t0), 20.0);
  }
}

TEST(Hdf5Precheck, ALibhdf5HangIsStoppedAtTheLimit) {
  const std::string path = kSource + "/fuzz/known_crashes/hdf5_global_heap_hang.h5";
  const auto t0 = std::chrono::steady_clock::now();
  const std::string m = precheck_message(path, Hdf5Role::Weights, 3);
  EXPECT_EQ(m, "weights file " + path + " is damaged: the HDF5 library did not finish reading it in 3 s");
  EXPECT_GE(seconds_since(t0), 3.0);
  EXPECT_LT(seconds_since(t0), 15.0);
}

// The tools have threads before they check their files (Open MPI's from MPI_Init, under
// mpiexec): the check program is a fresh process, so threads here change nothing.
TEST(Hdf5Precheck, WorksWhileOtherThreadsRun) {
  std::mutex m;
  std::condition_variable cv;
  bool done = false;
  std::vector<std::thread> threads;
  for (int i = 0; i < 3; ++i)
    threads.emplace_back([&] {
      std::unique_lock<std::mutex> lock(m);
      cv.wait(lock, [&] { return done; });
    });
  EXPECT_EQ(precheck_message(kSource + "/fuzz/corpus/keras_weights/keras1_fixed.h5", Hdf5Role::Weights, 60), "");
  const std::string crash = kSource + "/fuzz/known_crashes/hdf5_vlen_global_heap_segv.h5";
  EXPECT_EQ(precheck_message(crash, Hdf5Role::Weights, 20).rfind("weights file " + crash + " is damaged", 0), 0u);
  {
    std::lock_guard<std::mutex> lock(m);
    done = true;
  }
  cv.notify_all();
  for (std::thread& t : threads) t.join();
}

// A stand-in check program (a shell script) whose end the parent must classify.
class CheckProgramStandIn : public ::testing::Test {
 protected:
  void use(const std::string& body) {
    const std::string path = test::temp_dir("hdf5_check_stand_in") + "/check.sh";
    std::ofstream(path) << "#!/bin/sh\n" << body << "\n";
    ASSERT_EQ(::chmod(path.c_str(), 0755), 0);
    ::setenv("VGGTL_HDF5_CHECK_PROGRAM", path.c_str(), 1);
  }
  void TearDown() override { ::unsetenv("VGGTL_HDF5_CHECK_PROGRAM"); }
  const std::string file_ = kSource + "/fuzz/corpus/keras_weights/keras1_fixed.h5";
};

TEST_F(CheckProgramStandIn, ItsArgumentsAndMessagesPassThrough) {
  use("[ \"$1\" = checkpoint ] && [ -f \"$2\" ] || exit 9; printf '%s: not a checkpoint' \"$2\"; exit 2");
  EXPECT_EQ(precheck_message(file_, Hdf5Role::Checkpoint, 20), file_ + ": not a checkpoint");
  use("printf 'internal'; exit 3");
  try {
    precheck_hdf5_file(file_, Hdf5Role::Weights, 20);
    ADD_FAILURE() << "no error";
  } catch (const InputError& e) {
    ADD_FAILURE() << "an internal error became an input error: " << e.what();
  } catch (const Error& e) {
    EXPECT_EQ(std::string(e.what()), "internal");
  }
  use("exit 7");
  EXPECT_EQ(precheck_message(file_, Hdf5Role::Weights, 20),
            "weights file " + file_ + " is damaged: the HDF5 library failed reading it (exit status 7)");
}

TEST_F(CheckProgramStandIn, CtrlCIsAnInterruptionNotADamagedFile) {
  for (const char* sig : {"INT", "TERM"}) {
    use(std::string("kill -") + sig + " $$; sleep 5");
    try {
      precheck_hdf5_file(file_, Hdf5Role::Weights, 20);
      ADD_FAILURE() << "no error for SIG" << sig;
    } catch (const Error& e) {
      EXPECT_EQ(e.kind(), ErrorKind::Interrupted) << e.what();
      EXPECT_EQ(std::string(e.what()), "interrupted while checking " + file_);
    }
  }
}

TEST_F(CheckProgramStandIn, AHangingProgramIsKilledAtTheLimit) {
  use("exec sleep 30");
  const auto t0 = std::chrono::steady_clock::now();
  EXPECT_EQ(precheck_message(file_, Hdf5Role::Weights, 1),
            "weights file " + file_ + " is damaged: the HDF5 library did not finish reading it in 1 s");
  EXPECT_LT(seconds_since(t0), 10.0);
}

TEST_F(CheckProgramStandIn, AMissingProgramIsAnErrorThatSaysSo) {
  ::setenv("VGGTL_HDF5_CHECK_PROGRAM", "/nonexistent/vggtl_hdf5_check", 1);
  try {
    precheck_hdf5_file(file_, Hdf5Role::Weights, 20);
    ADD_FAILURE() << "no error";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("cannot start /nonexistent/vggtl_hdf5_check"), std::string::npos) << e.what();
  }
}

TEST(Hdf5Precheck, TimeLimitFromTheEnvironment) {
  ::setenv("VGGTL_HDF5_CHECK_SECONDS", "2.5", 1);
  EXPECT_EQ(hdf5_precheck_seconds(), 2.5);
  ::setenv("VGGTL_HDF5_CHECK_SECONDS", "soon", 1);
  EXPECT_EQ(hdf5_precheck_seconds(), 60);
  ::unsetenv("VGGTL_HDF5_CHECK_SECONDS");
  EXPECT_EQ(hdf5_precheck_seconds(), 60);
}

}  // namespace
}  // namespace vggtl
