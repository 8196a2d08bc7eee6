// Optimizers over the model's flat parameter and gradient arenas (Model::param_arena(),
// grad_arena()): one update of every trainable weight is one kernel on the GPU, one loop on the
// CPU. Their state (slots shaped like the arena, and the iteration count) is exposed for
// checkpoints and resume. Rebuilding the model (a freeze change) moves the arenas: make a new
// optimizer then. Tested in tests/layers/test_layers.cpp and test_layers_gpu.cpp.
#pragma once

#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "engine/tensor.h"

namespace vggtl {

struct AdamConfig {  // tf.keras defaults
  double learning_rate = 1e-3;
  double beta_1 = 0.9;
  double beta_2 = 0.999;
  double epsilon = 1e-7;
};

struct SgdConfig {  // tf.keras defaults
  double learning_rate = 0.01;
  double momentum = 0.0;
  bool nesterov = false;
};

class Optimizer {
 public:
  Optimizer(Tensor params, Tensor grads);
  virtual ~Optimizer() = default;
  Optimizer(const Optimizer&) = delete;
  Optimizer& operator=(const Optimizer&) = delete;

  virtual const char* name() const = 0;
  // Updates the parameters from the gradients, then counts one iteration.
  void step();
  // Steps taken (tf.keras `iterations`); the next step uses t = iterations() + 1.
  int64_t iterations() const { return iterations_; }
  void set_iterations(int64_t n);
  virtual double learning_rate() const = 0;
  virtual void set_learning_rate(double lr) = 0;
  // State tensors shaped like the arena, by name ("m" and "v" for Adam; "momentum" for SGD with
  // momentum), in the parameters' dtype and device; zero at construction.
  const std::vector<std::pair<std::string, Tensor>>& slots() const { return slots_; }
  Tensor& slot(const std::string& name);

 protected:
  virtual void update() = 0;
  Tensor params_, grads_;
  std::vector<std::pair<std::string, Tensor>> slots_;
  int64_t iterations_ = 0;
  Tensor add_slot(const std::string& name);
};

class Adam : public Optimizer {
 public:
  Adam(Tensor params, Tensor grads, const AdamConfig& config = {});
  const char* name() const override { return "Adam"; }
  double learning_rate() const override { return config_.learning_rate; }
  void set_learning_rate(double lr) override { config_.learning_rate = lr; }
  const AdamConfig& config() const { return config_; }

 private:
  void update() override;
  AdamConfig config_;
  Tensor m_, v_;
};

class Sgd : public Optimizer {
 public:
  Sgd(Tensor params, Tensor grads, const SgdConfig& config = {});
  const char* name() const override { return "SGD"; }
  double learning_rate() const override { return config_.learning_rate; }
  void set_learning_rate(double lr) override { config_.learning_rate = lr; }
  const SgdConfig& config() const { return config_; }

 private:
  void update() override;
  SgdConfig config_;
  Tensor velocity_;
};

}  // namespace vggtl
