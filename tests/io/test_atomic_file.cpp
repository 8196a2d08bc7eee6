// Atomic replacement: new content appears whole, a throwing writer leaves the old file and no
// temporary, a missing folder is an input error, and a writer killed at arbitrary moments
// leaves either the old or the new content, never a mixture.
#include <gtest/gtest.h>

#include <sys/wait.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <sstream>

#include "engine/error.h"
#include "engine/timer.h"
#include "io/atomic_file.h"
#include "test_util.h"

using namespace vggtl;
namespace fs = std::filesystem;

namespace {

using test::folder_entries;

std::string slurp(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  std::ostringstream os;
  os << in.rdbuf();
  return os.str();
}


}  // namespace

TEST(AtomicFile, WritesAndReplaces) {
  std::string dir = test::temp_dir("atomic");
  std::string path = dir + "/history.csv";
  write_text_atomically(path, "epoch,loss\n");
  EXPECT_EQ(slurp(path), "epoch,loss\n");
  write_text_atomically(path, "epoch,loss\n1,0.5\n");
  EXPECT_EQ(slurp(path), "epoch,loss\n1,0.5\n");
  EXPECT_EQ(folder_entries(dir), std::vector<std::string>{"history.csv"});
}

TEST(AtomicFile, ThrowingWriterLeavesOldFileAndNoTemporary) {
  std::string dir = test::temp_dir("atomic");
  std::string path = dir + "/metrics.json";
  write_text_atomically(path, "{\"old\": true}");
  std::string temp_seen;
  EXPECT_THROW(write_atomically(path,
                                [&](const std::string& temp) {
                                  temp_seen = temp;
                                  std::ofstream(temp) << "{\"new\": tr";  // half written
                                  throw Error("disk full");
                                }),
               Error);
  EXPECT_EQ(fs::path(temp_seen).parent_path(), fs::path(dir));
  EXPECT_EQ(slurp(path), "{\"old\": true}");
  EXPECT_EQ(folder_entries(dir), std::vector<std::string>{"metrics.json"});
}

TEST(AtomicFile, UncommittedIsAbandoned) {
  std::string dir = test::temp_dir("atomic");
  std::string path = dir + "/x.bin";
  std::string temp;
  {
    AtomicFile f(path);
    temp = f.temp_path();
    std::ofstream(temp) << "partial";
    EXPECT_TRUE(fs::exists(temp));
  }
  EXPECT_FALSE(fs::exists(temp));
  EXPECT_FALSE(fs::exists(path));
  AtomicFile a(path), b(path);
  EXPECT_NE(a.temp_path(), b.temp_path());  // concurrent writers never share a temporary
}

TEST(AtomicFile, TemporariesOfDeadWritersAreRemoved) {
  std::string dir = test::temp_dir("atomic");
  std::string path = dir + "/best.h5";
  pid_t gone = fork();  // a process id that no longer exists
  ASSERT_GE(gone, 0);
  if (gone == 0) _exit(0);
  waitpid(gone, nullptr, 0);
  const std::string dead = dir + "/.best.h5.tmp" + std::to_string(gone) + ".0";
  const std::string other = dir + "/.last.h5.tmp" + std::to_string(gone) + ".0";
  std::ofstream(dead) << "crashed";
  std::ofstream(other) << "another file's";
  AtomicFile live(path);
  std::ofstream(live.temp_path()) << "in progress";
  write_text_atomically(path, "new");
  EXPECT_FALSE(fs::exists(dead));
  EXPECT_TRUE(fs::exists(other));             // not a temporary of this file
  EXPECT_TRUE(fs::exists(live.temp_path()));  // its writer is alive
  EXPECT_EQ(slurp(path), "new");
}

TEST(AtomicFile, MissingFolderIsAnInputError) {
  std::string path = test::temp_dir("atomic") + "/no/such/folder/best.h5";
  EXPECT_THROW(write_text_atomically(path, "x"), InputError);
}

// Writers killed at fractions of the measured write time, so each kill lands inside a write.
TEST(AtomicFile, KilledWriterLeavesOldOrNewContent) {
  std::string dir = test::temp_dir("atomic");
  std::string path = dir + "/big.txt";
  const std::string contents[2] = {std::string(4 << 20, 'a'), std::string(3 << 20, 'b')};
  Stopwatch clock;
  write_text_atomically(path, contents[0]);
  const double write_ms = 1000.0 * clock.seconds();
  const int rounds = 6;
  for (int round = 0; round < rounds; ++round) {
    ASSERT_TRUE(test::kill_writer_during_write(
        [&](int64_t i) { write_text_atomically(path, contents[i % 2]); },
        write_ms * round / rounds));
    std::string now = slurp(path);
    EXPECT_TRUE(now == contents[0] || now == contents[1]) << "round " << round << ": "
                                                          << now.size() << " bytes";
    write_text_atomically(path, contents[0]);  // removes the dead writer's temporary
    EXPECT_EQ(folder_entries(dir), std::vector<std::string>{"big.txt"});
  }
}
