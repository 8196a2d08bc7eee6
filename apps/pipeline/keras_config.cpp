// Builds the functional-model config with nlohmann::json, layer by layer, in model order.
#include "apps/pipeline/keras_config.h"

#include <nlohmann/json.hpp>

#include <algorithm>

namespace vggtl {

namespace {

using json = nlohmann::json;

json initializer(const char* name) { return json{{"class_name", name}, {"config", json::object()}}; }

// Initialisers, regularisers and constraints of a layer with a kernel and a bias (defaults).
json kernel_and_bias_config() {
  return json{{"kernel_initializer", initializer("GlorotUniform")},
              {"bias_initializer", initializer("Zeros")},
              {"kernel_regularizer", nullptr},
              {"bias_regularizer", nullptr},
              {"activity_regularizer", nullptr},
              {"kernel_constraint", nullptr},
              {"bias_constraint", nullptr}};
}

json node(const std::string& name, const std::string& inbound) {
  json j;
  j["name"] = name;
  j["inbound_nodes"] = inbound.empty() ? json::array() : json::array({json::array({json::array({inbound, 0, 0, json::object()})})});
  return j;
}

json conv(const std::string& name, int filters, bool trainable) {
  json c = {{"name", name},
            {"trainable", trainable},
            {"dtype", "float32"},
            {"filters", filters},
            {"kernel_size", {3, 3}},
            {"strides", {1, 1}},
            {"padding", "same"},
            {"data_format", "channels_last"},
            {"dilation_rate", {1, 1}},
            {"groups", 1},
            {"activation", "relu"},
            {"use_bias", true}};
  c.update(kernel_and_bias_config());
  return c;
}

json dense(const std::string& name, int units, const char* activation) {
  json d = {{"name", name},   {"trainable", true},         {"dtype", "float32"},
            {"units", units}, {"activation", activation}, {"use_bias", true}};
  d.update(kernel_and_bias_config());
  return d;
}

}  // namespace

std::string keras_model_config(const ModelSpec& spec) {
  json layers = json::array();
  std::string previous;
  auto add = [&](const std::string& cls, const std::string& name, json config) {
    json l = node(name, previous);
    l["class_name"] = cls;
    l["config"] = std::move(config);
    layers.push_back(std::move(l));
    previous = name;
  };
  add("InputLayer", "input_1",
      json{{"batch_input_shape", {nullptr, spec.image_size, spec.image_size, 3}},
           {"dtype", "float32"},
           {"sparse", false},
           {"ragged", false},
           {"name", "input_1"}});
  auto trainable = [&](const std::string& name) {
    return std::find(spec.trainable_base.begin(), spec.trainable_base.end(), name) != spec.trainable_base.end();
  };
  const int blocks[5][2] = {{2, 64}, {2, 128}, {3, 256}, {3, 512}, {3, 512}};
  for (int b = 0; b < 5; ++b) {
    for (int k = 1; k <= blocks[b][0]; ++k) {
      const std::string name = "block" + std::to_string(b + 1) + "_conv" + std::to_string(k);
      add("Conv2D", name, conv(name, blocks[b][1], trainable(name)));
    }
    const std::string pool = "block" + std::to_string(b + 1) + "_pool";
    add("MaxPooling2D", pool,
        json{{"name", pool},
             {"trainable", trainable(pool)},
             {"dtype", "float32"},
             {"pool_size", {2, 2}},
             {"padding", "valid"},
             {"strides", {2, 2}},
             {"data_format", "channels_last"}});
  }
  add("Flatten", "flatten_1",
      json{{"name", "flatten_1"}, {"trainable", true}, {"dtype", "float32"}, {"data_format", "channels_last"}});
  add("Dense", "FC_2", dense("FC_2", static_cast<int>(spec.head.hidden), "relu"));
  add("BatchNormalization", "batch_normalization_1",
      json{{"name", "batch_normalization_1"},
           {"trainable", true},
           {"dtype", "float32"},
           {"axis", {1}},
           {"momentum", 0.99},
           {"epsilon", 0.001},
           {"center", true},
           {"scale", true},
           {"beta_initializer", initializer("Zeros")},
           {"gamma_initializer", initializer("Ones")},
           {"moving_mean_initializer", initializer("Zeros")},
           {"moving_variance_initializer", initializer("Ones")},
           {"beta_regularizer", nullptr},
           {"gamma_regularizer", nullptr},
           {"beta_constraint", nullptr},
           {"gamma_constraint", nullptr}});
  add("Dropout", "dropout_1",
      json{{"name", "dropout_1"}, {"trainable", true}, {"dtype", "float32"}, {"rate", static_cast<double>(spec.head.dropout)},
           {"noise_shape", nullptr}, {"seed", nullptr}});
  add("Dense", "softmax", dense("softmax", static_cast<int>(spec.head.classes), "softmax"));

  json model = {{"class_name", "Functional"},
                {"config",
                 {{"name", "model"},
                  {"trainable", true},
                  {"layers", layers},
                  {"input_layers", json::array({json::array({"input_1", 0, 0})})},
                  {"output_layers", json::array({json::array({"softmax", 0, 0})})}}},
                {"keras_version", "2.15.0"},
                {"backend", "tensorflow"}};
  return model.dump();
}

namespace {

json keras3_object(const char* module, const char* class_name, json config) {
  return json{{"module", module}, {"class_name", class_name}, {"config", std::move(config)}, {"registered_name", nullptr}};
}

json keras3_kernel_and_bias() {
  return json{{"kernel_initializer", keras3_object("keras.initializers", "GlorotUniform",
                                                   json{{"seed", nullptr}, {"input_axes", nullptr}, {"output_axes", nullptr}})},
              {"bias_initializer", keras3_object("keras.initializers", "Zeros", json::object())},
              {"kernel_regularizer", nullptr},
              {"bias_regularizer", nullptr},
              {"activity_regularizer", nullptr},
              {"kernel_constraint", nullptr},
              {"bias_constraint", nullptr}};
}

}  // namespace

std::string keras3_model_config(const ModelSpec& spec) {
  const json dtype = keras3_object("keras", "DTypePolicy", json{{"name", "float32"}});
  json layers = json::array();
  std::string previous;
  json shape = {nullptr, spec.image_size, spec.image_size, 3};  // the previous layer's output
  auto add = [&](const char* cls, const std::string& name, json config, const json& out_shape) {
    config["name"] = name;
    if (std::string(cls) != "InputLayer") config["dtype"] = dtype;
    json l = keras3_object("keras.layers", cls, std::move(config));
    l["name"] = name;
    if (previous.empty()) {
      l["inbound_nodes"] = json::array();
    } else {
      l["build_config"] = json{{"input_shape", shape}};
      json tensor = {{"class_name", "__keras_tensor__"},
                     {"config", {{"shape", shape}, {"dtype", "float32"}, {"keras_history", {previous, 0, 0}}}}};
      l["inbound_nodes"] = json::array({json{{"args", json::array({tensor})}, {"kwargs", json::object()}}});
    }
    layers.push_back(std::move(l));
    previous = name;
    shape = out_shape;
  };
  auto trainable = [&](const std::string& name) {
    return std::find(spec.trainable_base.begin(), spec.trainable_base.end(), name) != spec.trainable_base.end();
  };
  add("InputLayer", "input_1",
      json{{"batch_shape", shape}, {"dtype", "float32"}, {"sparse", false}, {"ragged", false}, {"optional", false}},
      shape);
  const int blocks[5][2] = {{2, 64}, {2, 128}, {3, 256}, {3, 512}, {3, 512}};
  int64_t side = spec.image_size;
  for (int b = 0; b < 5; ++b) {
    for (int k = 1; k <= blocks[b][0]; ++k) {
      const std::string name = "block" + std::to_string(b + 1) + "_conv" + std::to_string(k);
      json c = {{"trainable", trainable(name)}, {"filters", blocks[b][1]}, {"kernel_size", {3, 3}},
                {"strides", {1, 1}},          {"padding", "same"},          {"data_format", "channels_last"},
                {"dilation_rate", {1, 1}},    {"groups", 1},                {"activation", "relu"},
                {"use_bias", true}};
      c.update(keras3_kernel_and_bias());
      add("Conv2D", name, std::move(c), json{nullptr, side, side, blocks[b][1]});
    }
    side /= 2;
    const std::string pool = "block" + std::to_string(b + 1) + "_pool";
    add("MaxPooling2D", pool,
        json{{"trainable", trainable(pool)}, {"pool_size", {2, 2}}, {"padding", "valid"}, {"strides", {2, 2}},
             {"data_format", "channels_last"}},
        json{nullptr, side, side, blocks[b][1]});
  }
  const int64_t hidden = spec.head.hidden, classes = spec.head.classes;
  add("Flatten", "flatten_1", json{{"trainable", true}, {"data_format", "channels_last"}},
      json{nullptr, side * side * 512});
  auto dense = [&](const std::string& name, int64_t units, const char* activation) {
    json d = {{"trainable", true}, {"units", units}, {"activation", activation}, {"use_bias", true}};
    d.update(keras3_kernel_and_bias());
    d.erase("activity_regularizer");
    add("Dense", name, std::move(d), json{nullptr, units});
  };
  dense("FC_2", hidden, "relu");
  add("BatchNormalization", "batch_normalization_1",
      json{{"trainable", true},
           {"axis", -1},
           {"momentum", 0.99},
           {"epsilon", 0.001},
           {"center", true},
           {"scale", true},
           {"beta_initializer", keras3_object("keras.initializers", "Zeros", json::object())},
           {"gamma_initializer", keras3_object("keras.initializers", "Ones", json::object())},
           {"moving_mean_initializer", keras3_object("keras.initializers", "Zeros", json::object())},
           {"moving_variance_initializer", keras3_object("keras.initializers", "Ones", json::object())},
           {"beta_regularizer", nullptr},
           {"gamma_regularizer", nullptr},
           {"beta_constraint", nullptr},
           {"gamma_constraint", nullptr},
           {"synchronized", false}},
      json{nullptr, hidden});
  add("Dropout", "dropout_1",
      json{{"trainable", true}, {"rate", static_cast<double>(spec.head.dropout)}, {"seed", nullptr}, {"noise_shape", nullptr}},
      json{nullptr, hidden});
  dense("softmax", classes, "softmax");

  json model = {{"module", "keras.src.models.functional"},
                {"class_name", "Functional"},
                {"config",
                 {{"name", "vggtl"},
                  {"trainable", true},
                  {"layers", layers},
                  {"input_layers", {"input_1", 0, 0}},
                  {"output_layers", {"softmax", 0, 0}}}},
                {"registered_name", "Functional"},
                {"build_config", {{"input_shape", nullptr}}}};
  return model.dump();
}

}  // namespace vggtl
