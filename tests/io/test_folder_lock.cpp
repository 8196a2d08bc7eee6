// FolderLock: one holder at a time, the holder named in the refusal, a dead holder's lock file
// taken over, the file removed at the end.
#include <gtest/gtest.h>

#include <filesystem>
#include <string>

#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include "engine/error.h"
#include "io/folder_lock.h"
#include "support/app_runner.h"
#include "test_util.h"

namespace vggtl {

namespace fs = std::filesystem;

TEST(FolderLock, OneHolderNamedInTheRefusalAndADeadHoldersLockTakenOver) {
  const std::string dir = test::temp_dir("lock");
  int ready[2];
  ASSERT_EQ(pipe(ready), 0);
  const pid_t child = fork();
  ASSERT_GE(child, 0);
  if (child == 0) {  // holds the lock until killed
    FolderLock lock(dir, "holder_tool");
    char c = 1;
    if (write(ready[1], &c, 1) != 1) _exit(1);
    pause();
    _exit(0);
  }
  char c = 0;
  ASSERT_EQ(read(ready[0], &c, 1), 1);
  EXPECT_EQ(test::error_of([&] { FolderLock second(dir, "vggtl_train"); }),
            dir + " is in use by process " + std::to_string(child) +
                " (holder_tool); wait for it or choose another --out");
  kill(child, SIGKILL);
  waitpid(child, nullptr, 0);
  ASSERT_TRUE(fs::exists(dir + "/.lock")) << "SIGKILL leaves the file";
  {
    FolderLock lock(dir, "vggtl_train");
    EXPECT_EQ(lock.stale_pid(), child);
    EXPECT_EQ(test::read_text(dir + "/.lock"), std::to_string(getpid()) + " vggtl_train\n");
    EXPECT_THROW(FolderLock again(dir, "vggtl_train"), Error) << "a second lock in the same process";
  }
  EXPECT_FALSE(fs::exists(dir + "/.lock")) << "not removed at the end";
  FolderLock fresh(dir, "vggtl_train");
  EXPECT_EQ(fresh.stale_pid(), 0);
}

}  // namespace vggtl
