// Adam and SGD over the arenas, through kernels/optimizer.
#include "layers/optimizer.h"

#include "kernels/optimizer.h"

namespace vggtl {

Optimizer::Optimizer(Tensor params, Tensor grads)
    : params_(std::move(params)), grads_(std::move(grads)) {
  VGGTL_CHECK(params_.defined() && grads_.defined(), "optimizer: no parameters to train");
  VGGTL_CHECK(params_.numel() == grads_.numel() && params_.dtype() == grads_.dtype() &&
                  params_.device() == grads_.device(),
              "optimizer: parameters ", params_.str(), " and gradients ", grads_.str(), " differ");
}

void Optimizer::step() {
  update();
  ++iterations_;
}

void Optimizer::set_iterations(int64_t n) {
  VGGTL_CHECK(n >= 0, "optimizer: negative iteration count ", n);
  iterations_ = n;
}

Tensor& Optimizer::slot(const std::string& name) {
  for (auto& s : slots_)
    if (s.first == name) return s.second;
  VGGTL_FAIL("optimizer ", this->name(), " has no slot '", name, "'");
}

Tensor Optimizer::add_slot(const std::string& name) {
  Tensor t = Tensor::zeros(params_.shape(), params_.dtype(), params_.device());
  slots_.emplace_back(name, t);
  return t;
}

Adam::Adam(Tensor params, Tensor grads, const AdamConfig& config)
    : Optimizer(std::move(params), std::move(grads)), config_(config) {
  VGGTL_CHECK(config.beta_1 >= 0 && config.beta_1 < 1 && config.beta_2 >= 0 && config.beta_2 < 1 &&
                  config.epsilon >= 0,
              "Adam: beta_1 ", config.beta_1, ", beta_2 ", config.beta_2, ", epsilon ",
              config.epsilon);
  m_ = add_slot("m");
  v_ = add_slot("v");
}

void Adam::update() {
  adam_step(params_, m_, v_, grads_, config_.learning_rate, config_.beta_1, config_.beta_2,
            config_.epsilon, iterations_);
}

Sgd::Sgd(Tensor params, Tensor grads, const SgdConfig& config)
    : Optimizer(std::move(params), std::move(grads)), config_(config) {
  VGGTL_CHECK(config.momentum >= 0 && config.momentum <= 1, "SGD: momentum ", config.momentum,
              " is not in [0, 1]");
  if (config.momentum > 0) velocity_ = add_slot("momentum");
}

void Sgd::update() {
  sgd_step(params_, velocity_.defined() ? &velocity_ : nullptr, grads_, config_.learning_rate,
           config_.momentum, config_.nesterov);
}

}  // namespace vggtl
