// Split listing on folders built by the test: class order, Keras's walk order, extension
// rules, hidden entries, mapping other splits by name, and the one-line errors.
#include <gtest/gtest.h>

#include <filesystem>
#include <string>
#include <vector>

#include "engine/error.h"
#include "io/loader/dataset.h"
#include "support/image_writer.h"
#include "test_util.h"

namespace vggtl {
namespace {

namespace fs = std::filesystem;

void touch(const std::string& root, const std::string& rel, size_t bytes = 3) {
  const fs::path p = fs::path(root) / rel;
  fs::create_directories(p.parent_path());
  test::write_file(p.string(), std::vector<uint8_t>(bytes, 'x'));
}

std::vector<std::string> relpaths(const SplitListing& l) {
  std::vector<std::string> r;
  for (const DataItem& i : l.items) r.push_back(i.relpath);
  return r;
}

template <typename F>
std::string input_error_of(F&& f) {
  try {
    f();
  } catch (const InputError& e) {
    return e.what();
  }
  return "(no InputError)";
}

TEST(ListSplit, ClassesAreSortedBytewiseAndFilesFollowKerasWalkOrder) {
  const std::string root = test::temp_dir("train");
  touch(root, "dog/d1.jpg");
  touch(root, "cat/zz.jpg");       // files of the class folder itself come first
  touch(root, "cat/a/z.jpg");      // then folders by path: "cat/a" < "cat/a-b" < "cat/a/sub"
  touch(root, "cat/a-b/y.jpg");
  touch(root, "cat/a/sub/x.jpg");
  touch(root, "Zebra/E.JPG");      // 'Z' sorts before 'c'
  touch(root, "Zebra/f.Jpeg");
  touch(root, "Zebra/g.tif");
  touch(root, "Zebra/h.TIFF");
  touch(root, "Zebra/i.ppm");
  touch(root, "Zebra/j.bmp", 17);
  touch(root, "Zebra/k.PNG");
  touch(root, "Zebra/.DS_Store");  // ignored silently, as other non-image files
  touch(root, "Zebra/notes.txt");
  touch(root, "Zebra/anim.gif");
  touch(root, "Zebra/jpg");
  touch(root, "README.txt");       // top-level files are not classes

  const SplitListing l = list_split(root);
  EXPECT_EQ(l.classes, (std::vector<std::string>{"Zebra", "cat", "dog"}));
  EXPECT_EQ(relpaths(l), (std::vector<std::string>{"Zebra/E.JPG", "Zebra/f.Jpeg", "Zebra/g.tif", "Zebra/h.TIFF",
                                                   "Zebra/i.ppm", "Zebra/j.bmp", "Zebra/k.PNG", "cat/zz.jpg",
                                                   "cat/a/z.jpg", "cat/a-b/y.jpg", "cat/a/sub/x.jpg", "dog/d1.jpg"}));
  const std::vector<int32_t> labels = {0, 0, 0, 0, 0, 0, 0, 1, 1, 1, 1, 2};
  for (size_t i = 0; i < l.items.size(); ++i) EXPECT_EQ(l.items[i].label, labels[i]) << l.items[i].relpath;
  EXPECT_EQ(l.items[5].bytes, 17u);
  EXPECT_EQ(l.items[5].path, (fs::path(root) / "Zebra/j.bmp").string());
  EXPECT_EQ(l.class_counts(), (std::vector<int64_t>{7, 4, 1}));
  EXPECT_TRUE(l.warnings.empty()) << l.warnings.front();
}

TEST(ListSplit, HiddenFoldersAndFilesAreSkippedWithWarnings) {
  const std::string root = test::temp_dir("train");
  touch(root, "cat/c.jpg");
  touch(root, ".ipynb_checkpoints/c-checkpoint.jpg");  // would be a class in Keras
  touch(root, "cat/.thumbs/t.jpg");
  touch(root, "cat/._c.jpg");  // macOS resource fork: not an image despite its name
  const SplitListing l = list_split(root);
  EXPECT_EQ(l.classes, (std::vector<std::string>{"cat"}));
  EXPECT_EQ(relpaths(l), (std::vector<std::string>{"cat/c.jpg"}));
  ASSERT_EQ(l.warnings.size(), 3u);
  EXPECT_NE(l.warnings[0].find(".ipynb_checkpoints"), std::string::npos) << l.warnings[0];
  EXPECT_NE(l.warnings[1].find(".thumbs"), std::string::npos) << l.warnings[1];
  EXPECT_NE(l.warnings[2].find("._c.jpg"), std::string::npos) << l.warnings[2];
}

TEST(ListSplit, OtherSplitsAreMappedToTrainingClassesByName) {
  const std::string root = test::temp_dir("valid");
  touch(root, "dog/v1.png");
  touch(root, "Zebra/v2.png");
  const std::vector<std::string> train = {"Zebra", "cat", "dog"};
  const SplitListing l = list_split(root, &train);
  EXPECT_EQ(l.classes, train);
  EXPECT_EQ(relpaths(l), (std::vector<std::string>{"Zebra/v2.png", "dog/v1.png"}));
  EXPECT_EQ(l.items[0].label, 0);
  EXPECT_EQ(l.items[1].label, 2);  // by name, although only two folders exist here
  EXPECT_EQ(l.class_counts(), (std::vector<int64_t>{1, 0, 1}));

  touch(root, "cow/m.png");
  const std::string err = input_error_of([&] { list_split(root, &train); });
  EXPECT_NE(err.find("class 'cow' is not one of the training classes (Zebra, cat, dog)"), std::string::npos) << err;
  EXPECT_EQ(err.find('\n'), std::string::npos);
}

TEST(ListSplit, MissingOrEmptySplitsAreInputErrors) {
  const std::string base = test::temp_dir("splits");
  std::string err = input_error_of([&] { list_split(base + "/nope"); });
  EXPECT_NE(err.find("does not exist"), std::string::npos) << err;
  EXPECT_NE(err.find("nope"), std::string::npos) << err;

  touch(base, "flat/img.jpg");  // images but no class folders
  err = input_error_of([&] { list_split(base + "/flat"); });
  EXPECT_NE(err.find("has no class sub-folders"), std::string::npos) << err;

  touch(base, "noimages/cat/notes.txt");
  fs::create_directories(base + "/noimages/dog");
  err = input_error_of([&] { list_split(base + "/noimages"); });
  EXPECT_NE(err.find("contains no images"), std::string::npos) << err;

  touch(base, "someempty/cat/c.jpg");
  fs::create_directories(base + "/someempty/dog");
  const SplitListing l = list_split(base + "/someempty");
  EXPECT_EQ(l.classes.size(), 2u);
  ASSERT_EQ(l.warnings.size(), 1u);
  EXPECT_NE(l.warnings[0].find("class 'dog' has no images"), std::string::npos) << l.warnings[0];
}

TEST(ListSplit, SymlinkedFoldersBelowAClassAreNotFollowed) {
  const std::string root = test::temp_dir("train");
  touch(root, "cat/c.jpg");
  touch(root, "elsewhere/e.jpg");
  fs::create_directory_symlink(fs::path(root) / "elsewhere", fs::path(root) / "cat" / "link");
  fs::create_symlink(fs::path(root) / "cat" / "c.jpg", fs::path(root) / "cat" / "d.jpg");
  const SplitListing l = list_split(root);
  EXPECT_EQ(relpaths(l), (std::vector<std::string>{"cat/c.jpg", "cat/d.jpg", "elsewhere/e.jpg"}));
}

TEST(ListSplit, ImageExtensions) {
  for (const char* yes : {"a.jpg", "a.JPG", "a.jpeg", "b.JpEg", "c.png", "d.bmp", "e.ppm", "f.tif", "g.TIFF", "x.y.png"})
    EXPECT_TRUE(has_image_extension(yes)) << yes;
  for (const char* no : {".DS_Store", "notes.txt", "a.gif", "a.webp", "jpg", "a.jpg.txt", "a.pgm", "a.jp"})
    EXPECT_FALSE(has_image_extension(no)) << no;
}

TEST(ListImageFiles, KerasOrderNoHiddenEntriesNoLinkedFolders) {
  const std::string root = test::temp_dir("files");
  touch(root, "b.jpg");
  touch(root, "a/z.png");
  touch(root, "a-b/y.jpg");
  touch(root, ".hidden/x.jpg");
  touch(root, "a/.x.jpg");
  touch(root, "notes.txt");
  fs::create_directory_symlink("..", root + "/a/up");  // a loop: never entered
  EXPECT_EQ(list_image_files(root), (std::vector<std::string>{"b.jpg", "a/z.png", "a-b/y.jpg"}));
  EXPECT_THROW(list_image_files(root + "/b.jpg"), InputError);
}

}  // namespace
}  // namespace vggtl
