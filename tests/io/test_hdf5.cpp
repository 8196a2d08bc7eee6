// io/hdf5 wrappers: attributes of every kind round-trip, strings written by the raw C API in
// each storage kind read back, paths, row-wise datasets, and one-line errors naming the file
// and the object with nothing printed by HDF5 itself.
#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>
#include <functional>

#include "engine/error.h"
#include "io/hdf5/hdf5.h"
#include "test_util.h"

using namespace vggtl;

namespace {

using test::error_of;


// A file with string attributes written directly with the C API in less common storage kinds.
void write_raw_strings(const std::string& path) {
  hid_t f = H5Fcreate(path.c_str(), H5F_ACC_TRUNC, H5P_DEFAULT, H5P_DEFAULT);
  ASSERT_GE(f, 0);
  hsize_t n = 2;
  hid_t space = H5Screate_simple(1, &n, nullptr);
  for (H5T_str_t pad : {H5T_STR_SPACEPAD, H5T_STR_NULLTERM}) {
    hid_t t = H5Tcopy(H5T_C_S1);
    H5Tset_size(t, 6);
    H5Tset_strpad(t, pad);
    // Two 6-byte strings each.
    const char* data = pad == H5T_STR_SPACEPAD ? "ab    cdefg " : "ab   \0cdefg\0";
    std::string name = pad == H5T_STR_SPACEPAD ? "spacepad" : "nullterm";
    hid_t a = H5Acreate2(f, name.c_str(), t, space, H5P_DEFAULT, H5P_DEFAULT);
    ASSERT_GE(H5Awrite(a, t, data), 0);
    H5Aclose(a);
    H5Tclose(t);
  }
  H5Sclose(space);
  // An empty list as Keras stores it: a float64 array with no elements.
  hsize_t zero = 0;
  hid_t empty = H5Screate_simple(1, &zero, nullptr);
  double dummy = 0;
  hid_t a = H5Acreate2(f, "empty_float", H5T_IEEE_F64LE, empty, H5P_DEFAULT, H5P_DEFAULT);
  ASSERT_GE(H5Awrite(a, H5T_NATIVE_DOUBLE, &dummy), 0);
  H5Aclose(a);
  H5Sclose(empty);
  H5Fclose(f);
}

}  // namespace

TEST(Hdf5, AttributesRoundTrip) {
  std::string path = test::temp_dir("h5") + "/attrs.h5";
  const std::vector<std::string> names{"input_1", "block1_conv1", "", "a much longer name été"};
  {
    auto guard = h5::lock();
    h5::File f = h5::File::create(path);
    {
      h5::Group root = f.root();
      root.write_string_attr("scalar", "tensorflow");
      root.write_strings_attr("fixed", names, h5::Strings::Fixed);
      root.write_strings_attr("variable", names, h5::Strings::Variable);
      root.write_strings_attr("none", {}, h5::Strings::Fixed);
      root.write_strings_attr("none_variable", {}, h5::Strings::Variable);
      root.write_ints_attr("no_ints", {});
      root.write_int_attr("i", -1234567890123LL);
      root.write_uint_attr("u", 0xFFFFFFFFFFFFFFF1ull);
      root.write_double_attr("d", -0.1);
      root.write_ints_attr("ints", {224, 225});
      root.write_int_attr("i", 7);  // rewriting replaces
    }
    f.close();
  }
  auto guard = h5::lock();
  h5::File f = h5::File::open_read(path);
  h5::Group root = f.root();
  EXPECT_EQ(root.read_string_attr("scalar"), "tensorflow");
  EXPECT_EQ(root.read_strings_attr("fixed"), names);
  EXPECT_EQ(root.read_strings_attr("variable"), names);
  EXPECT_TRUE(root.read_strings_attr("none").empty());
  EXPECT_TRUE(root.read_strings_attr("none_variable").empty());
  EXPECT_TRUE(root.read_ints_attr("no_ints").empty());
  EXPECT_EQ(root.read_int_attr("i"), 7);
  EXPECT_EQ(root.read_uint_attr("u"), 0xFFFFFFFFFFFFFFF1ull);
  EXPECT_EQ(root.read_double_attr("d"), -0.1);
  EXPECT_EQ(root.read_double_attr("i"), 7.0);  // integers read as numbers too
  EXPECT_EQ(root.read_ints_attr("ints"), (std::vector<int64_t>{224, 225}));
  std::vector<std::string> attrs = root.attr_names();
  EXPECT_EQ(attrs.size(), 10u);
  EXPECT_TRUE(root.has_attr("fixed"));
  EXPECT_FALSE(root.has_attr("missing"));
}

TEST(Hdf5, StringsInOtherStorageKinds) {
  std::string path = test::temp_dir("h5") + "/raw.h5";
  write_raw_strings(path);
  auto guard = h5::lock();
  h5::File f = h5::File::open_read(path);
  h5::Group root = f.root();
  EXPECT_EQ(root.read_strings_attr("spacepad"), (std::vector<std::string>{"ab", "cdefg"}));
  EXPECT_EQ(root.read_strings_attr("nullterm"), (std::vector<std::string>{"ab   ", "cdefg"}));
  EXPECT_TRUE(root.read_strings_attr("empty_float").empty());
}

TEST(Hdf5, WrongAttributeTypesNameFileAndObject) {
  std::string path = test::temp_dir("h5") + "/types.h5";
  {
    auto guard = h5::lock();
    h5::File f = h5::File::create(path);
    {
      h5::Group g = f.root().create_group("grp");
      g.write_int_attr("n", 3);
      g.write_strings_attr("two", {"a", "b"}, h5::Strings::Fixed);
    }
    f.close();
  }
  auto guard = h5::lock();
  h5::File f = h5::File::open_read(path);
  h5::Group g = f.root().open_group("grp");
  EXPECT_EQ(error_of([&] { g.read_strings_attr("n"); }),
            path + ": /grp attribute 'n': expected strings, found int64");
  EXPECT_EQ(error_of([&] { g.read_int_attr("two"); }),
            path + ": /grp attribute 'two': expected an integer, found string");
  EXPECT_EQ(error_of([&] { g.read_string_attr("two"); }),
            path + ": /grp attribute 'two': expected one string, found 2");
  EXPECT_EQ(error_of([&] { g.read_int_attr("absent"); }),
            path + ": /grp attribute 'absent': missing");
  EXPECT_THROW(g.read_int_attr("absent"), InputError);
}

TEST(Hdf5, PathsGroupsAndRowDatasets) {
  std::string path = test::temp_dir("h5") + "/rows.h5";
  {
    auto guard = h5::lock();
    h5::File f = h5::File::create(path);
    {
      h5::Group root = f.root();
      h5::Group layer = root.create_group("model_weights/FC_2");
      h5::Dataset k = layer.create_dataset("FC_2/kernel:0", H5T_IEEE_F32LE, {2, 3});
      const float v[6] = {1, 2, 3, 4, 5, 6};
      k.write(H5T_NATIVE_FLOAT, v);
      h5::Dataset rows = root.create_dataset("rows", H5T_STD_I32LE, {0, 2}, {-1, 2}, {3, 2});
      const int32_t a[6] = {0, 1, 2, 3, 4, 5}, b[4] = {6, 7, 8, 9};
      rows.write_rows(0, 3, H5T_NATIVE_INT32, a);
      rows.write_rows(3, 2, H5T_NATIVE_INT32, b);
      h5::Dataset s = root.create_string_dataset("names", 2);
      s.write_string_rows(0, {"x", "yy", "zzz"});
      s.write_string_rows(3, {"été"});
    }
    f.close();
  }
  auto guard = h5::lock();
  h5::File f = h5::File::open_read(path);
  h5::Group root = f.root();
  EXPECT_TRUE(root.exists("model_weights/FC_2/FC_2/kernel:0"));
  EXPECT_TRUE(root.is_dataset("model_weights/FC_2/FC_2/kernel:0"));
  EXPECT_TRUE(root.is_group("model_weights/FC_2/FC_2"));
  EXPECT_FALSE(root.is_group("model_weights/FC_2/FC_2/kernel:0"));
  EXPECT_FALSE(root.exists("model_weights/nothing/FC_2"));
  EXPECT_FALSE(root.exists("rows/below_a_dataset"));
  EXPECT_EQ(root.children(), (std::vector<std::string>{"model_weights", "names", "rows"}));
  h5::Dataset k = root.open_group("model_weights").open_dataset("FC_2/FC_2/kernel:0");
  EXPECT_EQ(k.path(), "/model_weights/FC_2/FC_2/kernel:0");
  EXPECT_EQ(k.dims(), (std::vector<int64_t>{2, 3}));
  EXPECT_EQ(k.type_name(), "float32");
  double d[6];
  k.read(H5T_NATIVE_DOUBLE, d);
  EXPECT_EQ(d[5], 6.0);
  h5::Dataset rows = root.open_dataset("rows");
  EXPECT_EQ(rows.dims(), (std::vector<int64_t>{5, 2}));
  int32_t got[4];
  rows.read_rows(2, 2, H5T_NATIVE_INT32, got);  // crosses the chunk boundary at row 3
  EXPECT_EQ(std::vector<int32_t>(got, got + 4), (std::vector<int32_t>{4, 5, 6, 7}));
  EXPECT_THROW(rows.read_rows(4, 2, H5T_NATIVE_INT32, got), InputError);
  EXPECT_EQ(root.open_dataset("names").read_strings(),
            (std::vector<std::string>{"x", "yy", "zzz", "été"}));
  EXPECT_EQ(error_of([&] { root.open_dataset("nothing"); }), path + ": /nothing: dataset not found");
}

TEST(Hdf5, OpenErrorsAreOneLineAndHdf5PrintsNothing) {
  std::string dir = test::temp_dir("h5");
  std::string text = dir + "/notes.txt", empty = dir + "/empty.h5", cut = dir + "/cut.h5";
  std::ofstream(text) << "not an HDF5 file at all, just some words\n";
  std::ofstream(empty).close();
  {
    auto guard = h5::lock();
    h5::File f = h5::File::create(cut);
    {
      h5::Dataset d = f.root().create_dataset("x", H5T_IEEE_F32LE, {4096});
      std::vector<float> v(4096, 1.f);
      d.write(H5T_NATIVE_FLOAT, v.data());
    }
    f.close();
  }
  std::filesystem::resize_file(cut, std::filesystem::file_size(cut) / 2);

  auto guard = h5::lock();
  testing::internal::CaptureStderr();
  std::string missing = error_of([&] { h5::File::open_read(dir + "/none.h5"); });
  std::string folder = error_of([&] { h5::File::open_read(dir); });
  std::string zero = error_of([&] { h5::File::open_read(empty); });
  std::string not_h5 = error_of([&] { h5::File::open_read(text); });
  std::string truncated = error_of([&] { h5::File::open_read(cut); });
  EXPECT_EQ(testing::internal::GetCapturedStderr(), "");
  EXPECT_EQ(missing, dir + "/none.h5: not found");
  EXPECT_EQ(folder, dir + ": is a folder, not an HDF5 file");
  EXPECT_EQ(zero, empty + ": is empty (0 bytes)");
  EXPECT_EQ(not_h5, text + ": not an HDF5 file");
  EXPECT_EQ(truncated.rfind(cut + ": truncated HDF5 file", 0), 0u) << truncated;
  for (const std::string& m : {missing, folder, zero, not_h5, truncated})
    EXPECT_EQ(m.find('\n'), std::string::npos) << m;
}

TEST(Hdf5, ClosingAFileWithOpenObjectsIsReported) {
  std::string path = test::temp_dir("h5") + "/open.h5";
  auto guard = h5::lock();
  h5::File f = h5::File::create(path);
  h5::Group g = f.root().create_group("still_open");
  EXPECT_THROW(f.close(), Error);
}
