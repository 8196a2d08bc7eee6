// The real Keras as a reference: scripts/keras_reference.py runs the tutorial's own code paths
// with tf-keras (Keras 2, tf.keras) and Keras 3 on generated images (32 px) and a random-weight
// VGG16 notop file, CPU only, and the tools must agree with it:
//   features     vggtl_extract against VGG16 + load_weights + ImageDataGenerator + predict;
//   training     vggtl_train's history against fit(shuffle=False), Dropout 0, Keras in float64;
//   checkpoints  best.h5 into the tutorial's model with tf-keras load_weights, and best.keras
//                with Keras 3 load_model (no custom objects): their test predictions are vggtl's;
//   Keras 3 in   a .keras and a .weights.h5 saved by Keras 3 give Keras's predictions in
//                vggtl_eval and vggtl_predict, and Keras 3's notop files vggtl_extract's features.
// The interpreter: $VGGTL_KERAS_PYTHON (scripts/test.sh sets it from scripts/keras_venv.sh), else
// the venv that script makes in ~/.cache/vggtl. Without one the test skips visibly, and fails
// under CI.
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <cstdlib>
#include <filesystem>
#include <map>
#include <sstream>

#include "io/hdf5/features_file.h"
#include "support/app_runner.h"
#include "support/keras_files.h"
#include "test_util.h"

namespace vggtl {

namespace fs = std::filesystem;

namespace {

std::string ref_keras_python() {
  if (const char* p = std::getenv("VGGTL_KERAS_PYTHON"); p && *p) return p;
  const char* home = std::getenv("HOME");
  const std::string venv = std::string(home ? home : "") + "/.cache/vggtl/keras-venv/bin/python";
  return fs::exists(venv) ? venv : "";
}

// Rows "relative/path,v1,v2,..." keyed by the path.
std::map<std::string, std::vector<double>> ref_read_rows(const std::string& path) {
  std::map<std::string, std::vector<double>> out;
  for (const auto& row : test::read_csv(path)) {
    if (row.empty()) continue;
    std::vector<double> v;
    for (size_t i = 1; i < row.size(); ++i) v.push_back(std::stod(row[i]));
    out[row[0]] = v;
  }
  return out;
}

// The key of `rows` that `path` (absolute, as vggtl writes it) ends with.
const std::vector<double>* ref_row_for(const std::map<std::string, std::vector<double>>& rows, const std::string& path) {
  for (const auto& [key, v] : rows)
    if (path.size() >= key.size() && path.compare(path.size() - key.size(), key.size(), key) == 0 &&
        (path.size() == key.size() || path[path.size() - key.size() - 1] == '/'))
      return &v;
  return nullptr;
}

// test_predictions.csv / predictions.csv: path,true,predicted,p_<class>... -> path -> probabilities.
std::map<std::string, std::vector<double>> ref_vggtl_predictions(const std::string& path) {
  std::map<std::string, std::vector<double>> out;
  const auto rows = test::read_csv(path);
  for (size_t r = 1; r < rows.size(); ++r) {
    std::vector<double> p;
    for (size_t i = 3; i < rows[r].size(); ++i) p.push_back(std::stod(rows[r][i]));
    out[rows[r][0]] = p;
  }
  return out;
}

// Largest |ours - theirs| over every image of `ours`, each of which `theirs` must hold.
double ref_worst_gap(const std::map<std::string, std::vector<double>>& ours,
                 const std::map<std::string, std::vector<double>>& theirs, const std::string& what) {
  double worst = 0;
  EXPECT_EQ(ours.size(), theirs.size()) << what;
  for (const auto& [path, p] : ours) {
    const std::vector<double>* q = ref_row_for(theirs, path);
    EXPECT_NE(q, nullptr) << what << ": no reference row for " << path;
    if (!q) continue;
    EXPECT_EQ(p.size(), q->size()) << what << ": " << path;
    for (size_t i = 0; i < std::min(p.size(), q->size()); ++i) worst = std::max(worst, std::fabs(p[i] - (*q)[i]));
  }
  return worst;
}

struct RefFeatures {
  std::vector<std::string> paths;
  std::vector<float> values;
  int64_t per_image = 0;
};

RefFeatures ref_read_features(const std::string& path) {
  FeaturesReader f(path);
  RefFeatures out;
  out.paths = f.paths();
  out.per_image = f.header().feature_shape.numel();
  Tensor t = Tensor::empty(Shape{f.rows(), f.header().feature_shape[0], f.header().feature_shape[1],
                                 f.header().feature_shape[2]},
                           DType::F32);
  f.read(0, f.rows(), t);
  out.values.assign(t.data<float>(), t.data<float>() + t.numel());
  return out;
}

}  // namespace

TEST(KerasReference, TutorialCodePathsInTfKerasAndKeras3) {
  const std::string py = ref_keras_python();
  std::string probe;
  if (py.empty() || test::run_command(py + " -c 'import tensorflow, tf_keras, keras, scipy, PIL'", &probe) != 0)
    SKIP_OR_FAIL_IN_CI("no Python with tensorflow, tf-keras and keras 3 (make one with scripts/keras_venv.sh, or "
                       "set VGGTL_KERAS_PYTHON): " + (py.empty() ? std::string("no venv") : probe));

  const std::string dir = test::temp_dir("keras_reference");
  const std::string data = dir + "/data", ref = dir + "/ref", run = dir + "/run";
  fs::create_directories(ref);
  // 8 training images in batches of 4, 6 validation and 6 test images, 36 to 60 px, JPEG and PNG.
  test::StripesSpec spec;
  spec.per_class_train = 4;
  spec.per_class_valid = 3;
  spec.per_class_test = 3;
  spec.seed = 11;
  test::make_stripes_dataset(data, spec);
  // A random VGG16 notop file in the download's layout (Keras 1 names), He-scaled so that the
  // activations stay near 1 through the 13 convs.
  const std::string notop = dir + "/vgg16_notop.h5";
  test::KerasFileOptions o;
  o.he_scaled = true;
  o.seed = 5;
  test::write_keras_file(notop, test::vgg16_spec(test::KerasNaming::Keras1, {64, 128, 256, 512, 512}), o);

  std::string log;
  ASSERT_EQ(test::run_command(py + " " + VGGTL_SOURCE_DIR + "/scripts/keras_reference.py prepare --data " + data +
                                  " --notop " + notop + " --out " + ref + " 2>&1",
                              &log),
            0)
      << log;

  {
    SCOPED_TRACE("features: vggtl_extract against tf-keras VGG16 + ImageDataGenerator + predict");
    const test::RunResult r = test::run_tool({"vggtl_extract", "--weights", notop, "--data", data + "/valid", "--out",
                                              dir + "/features.h5", "--image-size", "32", "--device", "cpu"});
    ASSERT_EQ(r.status, 0) << r.err;
    const RefFeatures ours = ref_read_features(dir + "/features.h5");
    const auto theirs = ref_read_rows(ref + "/features.csv");
    ASSERT_EQ(ours.paths.size(), 6u);
    ASSERT_EQ(ours.per_image, 512);
    double scale = 0, worst = 0;
    for (float v : ours.values) scale = std::max(scale, static_cast<double>(std::fabs(v)));
    ASSERT_GT(scale, 1e-3) << "the random base's features vanish: the check would be empty";
    for (size_t i = 0; i < ours.paths.size(); ++i) {
      const std::vector<double>* q = ref_row_for(theirs, ours.paths[i]);
      ASSERT_NE(q, nullptr) << ours.paths[i];
      ASSERT_EQ(q->size(), 512u);
      for (int64_t k = 0; k < 512; ++k)
        worst = std::max(worst, std::fabs(ours.values[i * 512 + k] - (*q)[k]) / scale);
    }
    // Measured: 2.3e-6 of the largest feature (float32 on both sides, different summation order).
    EXPECT_LT(worst, 2e-5);
    std::printf("features: largest gap %.2g of the largest feature (%.3g)\n", worst, scale);

    // Keras 3's own files of the same base: the same features, bit for bit.
    for (const std::string f : {"k3_notop.weights.h5", "k3_notop.keras"}) {
      const test::RunResult r3 = test::run_tool({"vggtl_extract", "--weights", ref + "/" + f, "--data",
                                                 data + "/valid", "--out", dir + "/features3.h5", "--image-size",
                                                 "32", "--device", "cpu"});
      ASSERT_EQ(r3.status, 0) << f << ": " << r3.err;
      EXPECT_EQ(ref_read_features(dir + "/features3.h5").values, ours.values) << f;
    }
  }

  {
    SCOPED_TRACE("training: vggtl_train against tf-keras fit in float64");
    const test::RunResult r = test::run_tool({"vggtl_train", "--data", data, "--weights", notop, "--init",
                                              ref + "/init.h5", "--out", run, "--image-size", "32", "--batch-size",
                                              "4", "--hidden", "8", "--dropout", "0", "--epochs", "3", "--lr",
                                              "0.001", "--shuffle", "off", "--device", "cpu", "--quiet"});
    ASSERT_EQ(r.status, 0) << r.err << r.out;
    const auto ours = test::read_csv(run + "/history.csv");
    const auto theirs = test::read_csv(ref + "/history.csv");
    ASSERT_EQ(ours.size(), 4u);
    ASSERT_EQ(theirs.size(), 4u);
    double worst = 0;
    for (size_t e = 1; e < 4; ++e)
      for (size_t c = 1; c <= 4; ++c) {
        const double a = std::stod(ours[e][c]), b = std::stod(theirs[e][c]);
        const double gap = std::fabs(a - b) / std::max(1e-2, std::fabs(b));
        worst = std::max(worst, gap);
        EXPECT_LT(gap, 1e-3) << ours[0][c] << " of epoch " << e << ": vggtl " << a << ", Keras " << b;
      }
    std::printf("training: largest relative gap of the history %.2g\n", worst);
    ASSERT_TRUE(fs::exists(run + "/best.keras"));
  }

  {
    SCOPED_TRACE("checkpoints: best.h5 in tf-keras, best.keras in Keras 3");
    ASSERT_EQ(test::run_command(py + " " + VGGTL_SOURCE_DIR + "/scripts/keras_reference.py check --data " + data +
                                    " --best-h5 " + run + "/best.h5 --best-keras " + run + "/best.keras --out " +
                                    ref + " 2>&1",
                                &log),
              0)
        << log;
    const auto ours = ref_vggtl_predictions(run + "/test_predictions.csv");
    ASSERT_EQ(ours.size(), 6u);
    const double h5 = ref_worst_gap(ours, ref_read_rows(ref + "/tfk_best.csv"), "best.h5 in tf-keras");
    const double k3 = ref_worst_gap(ours, ref_read_rows(ref + "/k3_best.csv"), "best.keras in Keras 3");
    EXPECT_LT(h5, 1e-5);
    EXPECT_LT(k3, 1e-5);
    std::printf("checkpoints: largest probability gap %.2g (best.h5, tf-keras), %.2g (best.keras, Keras 3)\n", h5, k3);
  }

  {
    SCOPED_TRACE("Keras 3 files in vggtl_eval and vggtl_predict");
    const auto theirs = ref_read_rows(ref + "/k3_predictions.csv");
    const test::RunResult e = test::run_tool({"vggtl_eval", "--model", ref + "/k3_model.keras", "--data",
                                              data + "/test", "--out", dir + "/eval", "--device", "cpu"});
    ASSERT_EQ(e.status, 0) << e.err;
    const double eval_gap = ref_worst_gap(ref_vggtl_predictions(dir + "/eval/predictions.csv"), theirs, "vggtl_eval .keras");
    EXPECT_LT(eval_gap, 1e-5);

    const test::RunResult p = test::run_tool({"vggtl_predict", "--model", ref + "/k3_model.weights.h5", "--top-k",
                                              "2", "--device", "cpu", data + "/test"});
    ASSERT_EQ(p.status, 0) << p.err;
    // path,class_1,probability_1,class_2,probability_2,error -> probabilities in class order.
    std::map<std::string, std::vector<double>> predicted;
    std::istringstream lines(p.out);
    std::string line;
    std::getline(lines, line);
    while (std::getline(lines, line)) {
      std::vector<std::string> f;
      std::stringstream ss(line);
      for (std::string x; std::getline(ss, x, ',');) f.push_back(x);
      ASSERT_GE(f.size(), 5u) << line;
      std::vector<double> probs(2);
      // A Keras file records no class names: vggtl_predict calls them class_0, class_1.
      for (int k = 0; k < 2; ++k) {
        ASSERT_TRUE(f[1 + 2 * k] == "class_0" || f[1 + 2 * k] == "class_1") << line;
        probs[f[1 + 2 * k] == "class_0" ? 0 : 1] = std::stod(f[2 + 2 * k]);
      }
      predicted[f[0]] = probs;
    }
    const double predict_gap = ref_worst_gap(predicted, theirs, "vggtl_predict .weights.h5");
    EXPECT_LT(predict_gap, 1e-5);
    std::printf("Keras 3 files: largest probability gap %.2g (vggtl_eval .keras), %.2g (vggtl_predict .weights.h5)\n",
                eval_gap, predict_gap);
  }

  {
    SCOPED_TRACE("a head of another size: one line naming the layer and both shapes");
    const test::RunResult r = test::run_tool({"vggtl_train", "--data", data, "--weights", notop, "--init",
                                              ref + "/k3_model.keras", "--out", dir + "/run16", "--image-size", "32",
                                              "--hidden", "16", "--epochs", "1", "--device", "cpu", "--quiet"});
    EXPECT_EQ(r.status, 2) << r.err;
    EXPECT_NE(r.err.find(ref + "/k3_model.keras: FC_2/kernel: expected (512, 16), found (512, 8)"), std::string::npos)
        << r.err;
  }
  fs::remove_all(dir);
}

}  // namespace vggtl
