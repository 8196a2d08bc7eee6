// The stored Keras model config parses as JSON and describes the architecture we train.
#include <gtest/gtest.h>

#include <nlohmann/json.hpp>

#include "apps/pipeline/keras_config.h"

namespace vggtl {

TEST(KerasConfig, DescribesBaseAndHeadInModelOrder) {
  ModelSpec spec;
  spec.image_size = 64;
  spec.head.hidden = 16;
  spec.head.classes = 5;
  spec.head.dropout = 0.25f;
  const nlohmann::json j = nlohmann::json::parse(keras_model_config(spec));
  EXPECT_EQ(j["class_name"], "Functional");
  const auto& layers = j["config"]["layers"];
  ASSERT_EQ(layers.size(), 24u);  // input, 13 conv, 5 pool, flatten, dense, bn, dropout, dense
  EXPECT_EQ(layers[0]["config"]["batch_input_shape"][1], 64);
  EXPECT_EQ(layers[1]["name"], "block1_conv1");
  EXPECT_EQ(layers[1]["inbound_nodes"][0][0][0], "input_1");
  EXPECT_EQ(layers[18]["name"], "block5_pool");
  EXPECT_EQ(layers[20]["name"], "FC_2");
  EXPECT_EQ(layers[20]["config"]["units"], 16);
  EXPECT_EQ(layers[21]["config"]["epsilon"], 0.001);
  EXPECT_EQ(layers[22]["config"]["rate"], 0.25);
  EXPECT_EQ(layers[23]["name"], "softmax");
  EXPECT_EQ(layers[23]["config"]["units"], 5);
  EXPECT_EQ(layers[23]["inbound_nodes"][0][0][0], "dropout_1");
  EXPECT_EQ(j["config"]["output_layers"][0][0], "softmax");
  int filters = 0;
  for (const auto& l : layers)
    if (l["class_name"] == "Conv2D") {
      filters += l["config"]["filters"].get<int>();
      EXPECT_FALSE(l["config"]["trainable"].get<bool>());
    }
  EXPECT_EQ(filters, 2 * 64 + 2 * 128 + 3 * 256 + 6 * 512);
}

// Fine-tuning: the base layers named trainable are, and only they.
TEST(KerasConfig, MarksTheFineTunedBaseLayersTrainable) {
  ModelSpec spec;
  spec.trainable_base = {"block5_conv2", "block5_conv3", "block5_pool"};
  const nlohmann::json j = nlohmann::json::parse(keras_model_config(spec));
  int trainable = 0;
  for (const auto& l : j["config"]["layers"]) {
    const std::string name = l["name"];
    if (name.rfind("block", 0) != 0) continue;
    const bool want = name == "block5_conv2" || name == "block5_conv3" || name == "block5_pool";
    EXPECT_EQ(l["config"]["trainable"].get<bool>(), want) << name;
    trainable += want;
  }
  EXPECT_EQ(trainable, 3);
}

}  // namespace vggtl
