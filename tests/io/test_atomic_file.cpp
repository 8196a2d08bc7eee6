// Atomic replacement: new content appears whole, a throwing writer leaves the old file and no
// temporary, a missing folder is an input error, and a writer killed at arbitrary moments
// leaves either the old or the new content, never a mixture.
#include <gtest/gtest.h>

#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <sstream>

#include "engine/error.h"
#include "io/atomic_file.h"
#include "test_util.h"

using namespace vggtl;
namespace fs = std::filesystem;

namespace {

std::string slurp(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  std::ostringstream os;
  os << in.rdbuf();
  return os.str();
}

std::vector<std::string> folder_entries(const std::string& dir) {
  std::vector<std::string> names;
  for (const auto& e : fs::directory_iterator(dir)) names.push_back(e.path().filename().string());
  std::sort(names.begin(), names.end());
  return names;
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

TEST(AtomicFile, MissingFolderIsAnInputError) {
  std::string path = test::temp_dir("atomic") + "/no/such/folder/best.h5";
  EXPECT_THROW(write_text_atomically(path, "x"), InputError);
}

TEST(AtomicFile, KilledWriterLeavesOldOrNewContent) {
  std::string dir = test::temp_dir("atomic");
  std::string path = dir + "/big.txt";
  // Large enough that a kill often lands inside the write.
  const std::string contents[2] = {std::string(4 << 20, 'a'), std::string(3 << 20, 'b')};
  write_text_atomically(path, contents[0]);
  int replaced = 0;
  for (int round = 0; round < 6; ++round) {
    pid_t child = fork();
    ASSERT_GE(child, 0);
    if (child == 0) {
      for (int i = 1;; ++i) write_text_atomically(path, contents[i % 2]);
    }
    usleep(static_cast<useconds_t>(2000 + 3000 * round));
    kill(child, SIGKILL);
    int status = 0;
    waitpid(child, &status, 0);
    std::string now = slurp(path);
    EXPECT_TRUE(now == contents[0] || now == contents[1]) << "round " << round << ": "
                                                          << now.size() << " bytes";
    replaced += now == contents[1];
    for (const std::string& name : folder_entries(dir))
      if (name != "big.txt") fs::remove(dir + "/" + name);
    write_text_atomically(path, contents[0]);
  }
  EXPECT_GT(replaced, 0) << "no writer ever completed: the kills came too early to test much";
}
