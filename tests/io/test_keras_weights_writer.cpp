// write_keras1_weights: the notop file's layout read back by our reader (layout keras1-weights,
// every value) and by h5py as Keras's legacy loader walks it (root layer_names, each group's
// weight_names, weightless layers with an empty list).
#include <gtest/gtest.h>

#include <filesystem>

#include "io/hdf5/keras_weights.h"
#include "io/hdf5/keras_weights_writer.h"
#include "test_util.h"

namespace vggtl::test {
namespace {

LayerWeights conv_layer(const std::string& name, int64_t in, int64_t out, uint64_t seed) {
  LayerWeights l{name, {}};
  const Shape ks{3, 3, in, out}, bs{out};
  std::vector<float> k = random_floats(static_cast<size_t>(ks.numel()), seed), b = random_floats(out, seed + 1);
  Tensor kt = Tensor::empty(ks, DType::F32), bt = Tensor::empty(bs, DType::F32);
  std::memcpy(kt.raw(), k.data(), k.size() * 4);
  std::memcpy(bt.raw(), b.data(), b.size() * 4);
  l.weights.push_back(WeightEntry{name + "_W_1:0", "", ks, "float32", kt});
  l.weights.push_back(WeightEntry{name + "_b_1:0", "", bs, "float32", bt});
  return l;
}

TEST(KerasWeightsWriter, Keras1LayoutReadsBackByUsAndByH5py) {
  const std::string dir = temp_dir("keras_weights_writer"), path = dir + "/notop.h5";
  const std::vector<std::string> names{"input_1", "block1_conv1", "block1_conv2", "block1_pool"};
  const std::vector<LayerWeights> layers{conv_layer("block1_conv1", 3, 4, 1), conv_layer("block1_conv2", 4, 5, 3)};
  write_keras1_weights(path, names, layers);

  const WeightsFile f = read_keras_weights(path);
  EXPECT_EQ(f.layout, "keras1-weights");
  EXPECT_EQ(f.layer_names, names);
  ASSERT_EQ(f.layers.size(), 2u);
  for (size_t i = 0; i < 2; ++i)
    for (size_t k = 0; k < 2; ++k) {
      const WeightEntry& got = f.layers[i].weights[k];
      const WeightEntry& want = layers[i].weights[k];
      EXPECT_EQ(got.name, want.name);
      ASSERT_EQ(got.shape, want.shape);
      EXPECT_EQ(std::memcmp(got.value.raw(), want.value.raw(), want.value.nbytes()), 0) << got.name;
    }

  std::string log;
  if (run_command(python() + " -c 'import h5py'", &log) != 0)
    SKIP_OR_FAIL_IN_CI(python() + " lacks h5py (set VGGTL_PYTHON): " + log);
  const std::string script =
      "import h5py, sys\n"
      "f = h5py.File(sys.argv[1], 'r')\n"
      "names = [n.decode() for n in f.attrs['layer_names']]\n"
      "print(','.join(names))\n"
      "for n in names:\n"
      "    wn = [w.decode() for w in f[n].attrs['weight_names']]\n"
      "    print(n, ' '.join(w + str(f[n][w].shape) for w in wn))\n";
  ASSERT_EQ(run_command(python() + " -c \"" + script + "\" " + path + " 2>&1", &log), 0) << log;
  EXPECT_EQ(log,
            "input_1,block1_conv1,block1_conv2,block1_pool\n"
            "input_1 \n"
            "block1_conv1 block1_conv1_W_1:0(3, 3, 3, 4) block1_conv1_b_1:0(4,)\n"
            "block1_conv2 block1_conv2_W_1:0(3, 3, 4, 5) block1_conv2_b_1:0(5,)\n"
            "block1_pool \n");
  if (!::testing::Test::HasFailure()) std::filesystem::remove_all(dir);
}

}  // namespace
}  // namespace vggtl::test
