// Features files: appended in batches that do not line up with the chunks, read back exactly
// (whole and by row ranges); empty files; abandoned writers leave nothing; large class lists;
// inconsistent files are rejected with a one-line message.
#include <gtest/gtest.h>

#include <cstring>
#include <filesystem>
#include <functional>

#include "engine/error.h"
#include "io/hdf5/features_file.h"
#include "io/hdf5/hdf5.h"
#include "test_util.h"

using namespace vggtl;
using namespace vggtl::test;
namespace fs = std::filesystem;

namespace {



struct Rows {
  Tensor features;
  std::vector<int32_t> labels;
  std::vector<std::string> paths;
};

Rows make_rows(int64_t n, const Shape& s, int classes) {
  Rows r;
  r.features = Tensor::empty({n, s[0], s[1], s[2]}, DType::F32);
  std::vector<float> v = random_floats(static_cast<size_t>(r.features.numel()), 77, -3.f, 3.f);
  std::copy(v.begin(), v.end(), r.features.data<float>());
  for (int64_t i = 0; i < n; ++i) {
    r.labels.push_back(static_cast<int32_t>(i % classes));
    r.paths.push_back((i % classes ? "dog/" : "chat/") + std::to_string(i) + (i == 3 ? "_été.jpg" : ".jpg"));
  }
  return r;
}

}  // namespace

TEST(FeaturesFile, RoundTripInBatchesAcrossChunks) {
  std::string dir = temp_dir("feat");
  std::string path = dir + "/features.h5";
  const Shape s{2, 3, 5};
  const int64_t n = 10;
  Rows all = make_rows(n, s, 2);
  FeaturesHeader header{s, {"cat", "dog"}, {{"preprocessing", "caffe"}, {"weights_sha256", "ab12"}}};
  {
    FeaturesWriter w(path, header, 4);
    EXPECT_EQ(w.chunk_rows(), 4);
    for (int64_t b = 0; b < n; b += 3) {
      int64_t e = std::min(n, b + 3);  // batches 3, 3, 3, 1 against chunks of 4
      w.append(all.features.slice(b, e),
               std::vector<int32_t>(all.labels.begin() + b, all.labels.begin() + e),
               std::vector<std::string>(all.paths.begin() + b, all.paths.begin() + e));
    }
    EXPECT_EQ(w.rows(), n);
    EXPECT_FALSE(fs::exists(path));  // nothing in place before commit
    w.commit();
  }
  EXPECT_EQ(folder_entries(dir), std::vector<std::string>{"features.h5"});

  FeaturesReader r(path);
  EXPECT_EQ(r.rows(), n);
  EXPECT_EQ(r.header().feature_shape, s);
  EXPECT_EQ(r.header().class_names, header.class_names);
  EXPECT_EQ(r.header().attributes, header.attributes);
  EXPECT_EQ(r.labels(), all.labels);
  EXPECT_EQ(r.paths(), all.paths);
  Tensor got = r.read_all();
  ASSERT_EQ(got.shape(), all.features.shape());
  EXPECT_EQ(std::memcmp(got.raw(), all.features.raw(), all.features.nbytes()), 0);
  for (auto [b, c] : {std::pair<int64_t, int64_t>{3, 2}, {2, 7}, {9, 1}, {0, 0}}) {
    Tensor part = r.read(b, c);
    EXPECT_EQ(std::memcmp(part.raw(), all.features.slice(b, b + c).raw(), part.nbytes()), 0)
        << "rows " << b << " + " << c;
  }
  Tensor wrong = Tensor::empty({2, 2, 3, 4}, DType::F32);
  EXPECT_THROW(r.read(0, 2, wrong), Error);
  EXPECT_THROW(r.read(9, 2), Error);
}

TEST(FeaturesFile, EmptySplit) {
  std::string path = temp_dir("feat") + "/empty.h5";
  FeaturesWriter w(path, {{7, 7, 512}, {"a"}, {}});
  EXPECT_EQ(w.chunk_rows(), (4 << 20) / (7 * 7 * 512 * 4));  // about 4 MiB chunks
  w.commit();
  FeaturesReader r(path);
  EXPECT_EQ(r.rows(), 0);
  EXPECT_EQ(r.header().feature_shape, (Shape{7, 7, 512}));
  EXPECT_EQ(r.read_all().numel(), 0);
}

TEST(FeaturesFile, AbandonedWriterLeavesTheOldFile) {
  std::string dir = temp_dir("feat");
  std::string path = dir + "/features.h5";
  const Shape s{1, 1, 3};
  Rows rows = make_rows(2, s, 2);
  {
    FeaturesWriter w(path, {s, {"cat", "dog"}, {}});
    w.append(rows.features, rows.labels, rows.paths);
    w.commit();
  }
  {
    FeaturesWriter w(path, {s, {"x", "y"}, {}});
    w.append(rows.features.slice(0, 1), {1}, {"other"});
  }  // destroyed without commit
  {
    FeaturesWriter w(path, {s, {"x", "y"}, {}});
    w.abandon();
  }
  EXPECT_EQ(folder_entries(dir), std::vector<std::string>{"features.h5"});
  FeaturesReader r(path);
  EXPECT_EQ(r.rows(), 2);
  EXPECT_EQ(r.header().class_names, (std::vector<std::string>{"cat", "dog"}));
}

TEST(FeaturesFile, BadAppendsAreRefused) {
  std::string path = temp_dir("feat") + "/f.h5";
  const Shape s{1, 2, 3};
  FeaturesWriter w(path, {s, {"a", "b"}, {}});
  Rows rows = make_rows(2, s, 2);
  EXPECT_THROW(w.append(rows.features, {0, 2}, rows.paths), Error);  // label out of range
  EXPECT_THROW(w.append(rows.features, {0}, {"p"}), Error);          // counts differ
  EXPECT_THROW(w.append(Tensor::empty({2, 2, 1, 3}, DType::F32), rows.labels, rows.paths), Error);
  EXPECT_EQ(w.rows(), 0);
}

TEST(FeaturesFile, ThousandsOfClassNames) {
  std::string path = temp_dir("feat") + "/many.h5";
  std::vector<std::string> classes;
  for (int i = 0; i < 5000; ++i)
    classes.push_back("class_" + std::to_string(i) + "_with_a_fairly_long_descriptive_name");
  FeaturesWriter w(path, {{1, 1, 2}, classes, {}});
  w.commit();
  EXPECT_EQ(FeaturesReader(path).header().class_names, classes);
}

TEST(FeaturesFileErrors, ForeignAndInconsistentFiles) {
  std::string dir = temp_dir("feat");
  std::string foreign = dir + "/foreign.h5", bad = dir + "/bad.h5";
  {
    auto guard = h5::lock();
    h5::File f = h5::File::create(foreign);
    { f.root().create_group("model_weights"); }
    f.close();
  }
  EXPECT_EQ(error_of([&] { FeaturesReader r(foreign); }),
            foreign + ": not a features file (no dataset 'features')");

  {
    FeaturesWriter w(bad, {{1, 1, 2}, {"a", "b"}, {}});
    Rows rows = make_rows(3, {1, 1, 2}, 2);
    w.append(rows.features, rows.labels, rows.paths);
    w.commit();
  }
  {
    auto guard = h5::lock();  // damage it: one class fewer than the labels use
    hid_t f = H5Fopen(bad.c_str(), H5F_ACC_RDWR, H5P_DEFAULT);
    ASSERT_GE(f, 0);
    H5Adelete(f, "class_names");
    H5Fclose(f);
  }
  EXPECT_EQ(error_of([&] { FeaturesReader r(bad); }),
            bad + ": not a features file (no class_names attribute)");
  {
    auto guard = h5::lock();
    hid_t f = H5Fopen(bad.c_str(), H5F_ACC_RDWR, H5P_DEFAULT);
    hid_t t = H5Tcopy(H5T_C_S1);
    H5Tset_size(t, 2);
    hsize_t one = 1;
    hid_t sp = H5Screate_simple(1, &one, nullptr);
    hid_t a = H5Acreate2(f, "class_names", t, sp, H5P_DEFAULT, H5P_DEFAULT);
    H5Awrite(a, t, "a");
    H5Aclose(a);
    H5Sclose(sp);
    H5Tclose(t);
    H5Fclose(f);
  }
  EXPECT_EQ(error_of([&] { FeaturesReader r(bad); }),
            bad + ": label 1 of row 1 is not a class index (1 classes)");
  {
    auto guard = h5::lock();  // rows of an empty side: an internal check of the merge before
    hid_t f = H5Fopen(bad.c_str(), H5F_ACC_RDWR, H5P_DEFAULT);
    H5Ldelete(f, "features", H5P_DEFAULT);
    hsize_t dims[4] = {3, 1, 0, 2};
    hid_t sp = H5Screate_simple(4, dims, nullptr);
    hid_t d = H5Dcreate2(f, "features", H5T_IEEE_F32LE, sp, H5P_DEFAULT, H5P_DEFAULT, H5P_DEFAULT);
    H5Dclose(d);
    H5Sclose(sp);
    H5Fclose(f);
  }
  EXPECT_EQ(error_of([&] { FeaturesReader r(bad); }), bad + ": 'features' rows are (1, 0, 2), with an empty side");
}

TEST(FeaturesFileGpu, AppendsDeviceTensors) {
  REQUIRE_CUDA_DEVICE();
  std::string path = temp_dir("feat") + "/device.h5";
  const Shape s{3, 3, 4};
  Rows rows = make_rows(5, s, 2);
  {
    FeaturesWriter w(path, {s, {"cat", "dog"}, {}}, 2);
    Tensor d = to_device(rows.features, Device::cuda());
    synchronize(Device::cuda());
    w.append(d, rows.labels, rows.paths);
    w.commit();
  }
  Tensor got = FeaturesReader(path).read_all();
  EXPECT_EQ(std::memcmp(got.raw(), rows.features.raw(), rows.features.nbytes()), 0);
}

// A virtual features file over three source files (one empty) reads as their concatenation,
// from its own folder wherever that moves; a missing source or one from another listing is
// an error naming it, never rows of zeros.
TEST(FeaturesFile, VirtualFileReadsItsSourcesAndNamesAMissingOrStaleOne) {
  const std::string dir = temp_dir("features_file_virtual");
  const Shape s{2, 3, 5};
  const Rows all = make_rows(11, s, 2);
  FeaturesHeader h;
  h.feature_shape = s;
  h.class_names = {"chat", "dog"};
  h.attributes["list_sha256"] = "abc";
  const int64_t cuts[4] = {0, 4, 4, 11};  // the second source is empty
  std::vector<std::string> names;
  for (int k = 0; k < 3; ++k) {
    names.push_back("part" + std::to_string(k) + ".h5");
    FeaturesWriter w(dir + "/" + names.back(), h, 3);
    const int64_t b = cuts[k], e = cuts[k + 1];
    w.append(all.features.slice(b, e), std::vector<int32_t>(all.labels.begin() + b, all.labels.begin() + e),
             std::vector<std::string>(all.paths.begin() + b, all.paths.begin() + e));
    w.commit();
  }
  write_virtual_features(dir + "/joined.h5", h, names);
  {
    FeaturesReader r(dir + "/joined.h5");
    ASSERT_EQ(r.rows(), 11);
    EXPECT_EQ(r.labels(), all.labels);
    EXPECT_EQ(r.paths(), all.paths);
    EXPECT_EQ(r.header().attributes.at("list_sha256"), "abc");
    const Tensor x = r.read_all();
    EXPECT_EQ(std::memcmp(x.raw(), all.features.raw(), all.features.nbytes()), 0);
    const Tensor mid = r.read(3, 5);  // rows 3..7 span the first and third sources
    EXPECT_EQ(std::memcmp(mid.raw(), all.features.slice(3, 8).raw(), mid.nbytes()), 0);
  }
  // The folder moves: the relative source names move with it.
  const std::string moved = dir + "_moved";
  fs::remove_all(moved);
  fs::rename(dir, moved);
  EXPECT_EQ(FeaturesReader(moved + "/joined.h5").rows(), 11);

  fs::rename(moved + "/part2.h5", moved + "/part2.bak");
  try {
    FeaturesReader r(moved + "/joined.h5");
    ADD_FAILURE() << "a missing source was read";
  } catch (const InputError& e) {
    EXPECT_NE(std::string(e.what()).find("part2.h5 is missing"), std::string::npos) << e.what();
  }
  // A source of the right shape but another listing.
  FeaturesHeader other = h;
  other.attributes["list_sha256"] = "def";
  {
    FeaturesWriter w(moved + "/part2.h5", other, 3);
    w.append(all.features.slice(4, 11), std::vector<int32_t>(all.labels.begin() + 4, all.labels.end()),
             std::vector<std::string>(all.paths.begin() + 4, all.paths.end()));
    w.commit();
  }
  try {
    FeaturesReader r(moved + "/joined.h5");
    ADD_FAILURE() << "a stale source was read";
  } catch (const InputError& e) {
    EXPECT_NE(std::string(e.what()).find("part2.h5 was extracted from another listing"), std::string::npos)
        << e.what();
  }
  // Joining refuses it too, naming it.
  try {
    write_virtual_features(moved + "/again.h5", h, names);
    ADD_FAILURE() << "a stale source was joined";
  } catch (const InputError& e) {
    EXPECT_NE(std::string(e.what()).find("part2.h5"), std::string::npos) << e.what();
  }
  EXPECT_FALSE(fs::exists(moved + "/again.h5"));
}
