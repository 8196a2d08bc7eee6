// Model <-> files: the architecture read back from a checkpoint's shapes, weights copied by
// name or by position, and the errors for files that do not fit the model.
#include <gtest/gtest.h>

#include <string>
#include <utility>
#include <vector>

#include "apps/pipeline/model_wiring.h"
#include "test_util.h"

namespace vggtl {

namespace {

CheckpointLayer dense(const std::string& name, int64_t in, int64_t out) {
  return CheckpointLayer{name, "Dense",
                         {NamedTensor{name + "/kernel:0", Tensor::zeros({in, out}, DType::F32)},
                          NamedTensor{name + "/bias:0", Tensor::zeros({out}, DType::F32)}}};
}

CheckpointLayer batchnorm(const std::string& name, int64_t n) {
  CheckpointLayer l{name, "BatchNormalization", {}};
  for (const char* w : {"gamma", "beta", "moving_mean", "moving_variance"})
    l.weights.push_back(NamedTensor{name + "/" + w + ":0", Tensor::zeros({n}, DType::F32)});
  return l;
}

Checkpoint head_checkpoint(int64_t features, int64_t hidden, int64_t classes) {
  Checkpoint c;
  c.path = "head.h5";
  c.model.layers = {CheckpointLayer{"flatten_1", "Flatten", {}}, dense("FC_2", features, hidden),
                    batchnorm("batch_normalization_1", hidden), CheckpointLayer{"dropout_1", "Dropout", {}},
                    dense("softmax", hidden, classes)};
  return c;
}

}  // namespace

TEST(ModelWiring, ArchitectureFromTheHeadsShapes) {
  Checkpoint c = head_checkpoint(2 * 2 * 512, 16, 3);
  c.model.model_config = R"({"config": {"layers": [{"class_name": "Dropout", "config": {"rate": 0.25}}]}})";
  const ModelSpec spec = spec_from_checkpoint(c);
  EXPECT_EQ(spec.image_size, 64);
  EXPECT_EQ(spec.head.hidden, 16);
  EXPECT_EQ(spec.head.classes, 3);
  EXPECT_FLOAT_EQ(spec.head.dropout, 0.25f);
}

TEST(ModelWiring, ForeignShapesAreInputErrors) {
  EXPECT_THROW(spec_from_checkpoint(head_checkpoint(1000, 16, 3)), InputError);  // not s*s*512
  Checkpoint c = head_checkpoint(512, 16, 3);
  c.model.layers[4] = dense("softmax", 8, 3);  // does not connect to the hidden layer
  EXPECT_THROW(spec_from_checkpoint(c), InputError);
  c.model.layers.pop_back();  // one Dense only
  EXPECT_THROW(spec_from_checkpoint(c), InputError);
}

namespace {

// What spec_from_checkpoint throws: the message of an InputError, or what else came out. The
// head's and the Dropout layer's own checks are internal errors (exit status 1 in the tools), so
// a file must never reach them.
std::string input_error_of(const Checkpoint& c) {
  return test::input_error_of([&] { spec_from_checkpoint(c); });
}
}  // namespace

TEST(ModelWiring, DamagedHeadSizesAndConfigAreInputErrorsNamingTheFile) {
  std::vector<Checkpoint> bad = {head_checkpoint(512, 0, 3), head_checkpoint(512, 16, 1),
                                 head_checkpoint(0, 16, 3)};
  for (auto [h, w] : {std::pair<int64_t, int64_t>{64, 64}, {32, 64}, {33, 33}, {0, 0}}) {
    bad.push_back(head_checkpoint(512, 16, 3));  // 32 px images
    bad.back().meta = CheckpointMeta{};
    bad.back().meta->image_height = h;
    bad.back().meta->image_width = w;
  }
  for (const char* config : {R"({"config": {"layers": [{"class_name": "Dropout", "config": {"rate": 1.5}}]}})",
                             R"({"config": {"layers": [{"class_name": "Dropout", "config": {"rate": "half"}}]}})"}) {
    bad.push_back(head_checkpoint(512, 16, 3));
    bad.back().model.model_config = config;
  }
  for (size_t i = 0; i < bad.size(); ++i) {
    const std::string e = input_error_of(bad[i]);
    EXPECT_EQ(e.rfind("head.h5: ", 0), 0u) << "case " << i << ": " << e;
  }
  // Configs that are not Keras's are ignored (the default rate), never a JSON type error.
  for (const char* config : {R"({"config": {"layers": [1, {"class_name": 2}]}})", R"({"config": []})", "[]", "{"}) {
    Checkpoint c = head_checkpoint(512, 16, 3);
    c.model.model_config = config;
    EXPECT_EQ(input_error_of(c), "(no error)") << config;
  }
}

TEST(ModelWiring, HeadWeightsByNameByPositionAndTheirErrors) {
  ModelSpec spec;
  spec.image_size = 32;
  spec.precision = Precision::FP32;
  spec.head = HeadConfig{16, 0.5f, 3};
  auto model = build_model(spec, Device::cpu());
  Checkpoint c = head_checkpoint(512, 16, 3);
  c.model.layers[1].weights[1].value.data<float>()[5] = 0.75f;  // FC_2/bias
  load_checkpoint_weights(*model, c, false);
  EXPECT_EQ(model->param("FC_2", "bias").value.data<float>()[5], 0.75f);

  // tf.keras default names: paired by position among the layers with weights.
  Checkpoint renamed = head_checkpoint(512, 16, 3);
  renamed.model.layers[1].name = "dense";
  renamed.model.layers[4].name = "dense_1";
  renamed.model.layers[4].weights[1].value.data<float>()[2] = -1.5f;
  load_checkpoint_weights(*model, renamed, false);
  EXPECT_EQ(model->param("softmax", "bias").value.data<float>()[2], -1.5f);

  Checkpoint wrong = head_checkpoint(512, 16, 3);
  wrong.model.layers[1] = dense("FC_2", 512, 17);
  const std::string msg = test::error_of([&] { load_checkpoint_weights(*model, wrong, false); });
  EXPECT_NE(msg.find("head.h5: FC_2/kernel: expected (512, 16), found (512, 17)"), std::string::npos) << msg;
  EXPECT_THROW(load_checkpoint_weights(*model, c, true), InputError);  // no base in a head-only file
}

TEST(ModelWiring, CheckpointModelAndOptimizerStateNames) {
  ModelSpec spec;
  spec.image_size = 32;
  spec.precision = Precision::FP32;
  auto model = build_model(spec, Device::cpu());
  const CheckpointModel head_only = checkpoint_model(*model, spec, false);
  ASSERT_EQ(head_only.layers.size(), 24u);  // input_1 + 18 base + 5 head
  EXPECT_EQ(head_only.layers[0].name, "input_1");
  EXPECT_TRUE(head_only.layers[1].weights.empty());  // block1_conv1 without the base
  EXPECT_EQ(head_only.layers[20].weights[0].name, "FC_2/kernel:0");
  const CheckpointModel full = checkpoint_model(*model, spec, true);
  EXPECT_EQ(full.layers[1].weights[0].name, "block1_conv1/kernel:0");

  Adam adam(model->param_arena(), model->grad_arena());
  const std::vector<NamedTensor> state = optimizer_state(*model, adam);
  ASSERT_EQ(state.size(), 2u * 6u);  // m and v of FC_2 (2), BatchNorm gamma, beta (2), softmax (2)
  EXPECT_EQ(state[0].name, "m/FC_2/kernel:0");
  EXPECT_EQ(state[6].name, "v/FC_2/kernel:0");
  std::vector<NamedTensor> missing(state.begin() + 1, state.end());
  const std::string msg = test::error_of([&] { restore_optimizer_state(*model, adam, missing, 3, "last.h5"); });
  EXPECT_EQ(msg, "last.h5: optimizer state 'm/FC_2/kernel:0' is missing");
  restore_optimizer_state(*model, adam, state, 7, "last.h5");
  EXPECT_EQ(adam.iterations(), 7);
}

}  // namespace vggtl
