// The training loop over the head: epochs of shuffled batches (Dropout and BatchNorm in train
// mode), then validation (eval mode), on a feature cache (the frozen base computed once) or
// on image loaders (the base recomputed every batch, --feature-cache off). Both give the same
// history. Interruption is checked after every batch; the position reached is returned so
// that last.h5 can resume exactly there. Tested end to end in tests/apps/test_train_app.cpp.
#pragma once

#include <cstdint>
#include <functional>
#include <memory>
#include <string>

#include "apps/pipeline/features.h"
#include "apps/pipeline/gradient_reduce.h"
#include "apps/pipeline/report.h"
#include "kernels/augment.h"
#include "layers/loss.h"
#include "layers/optimizer.h"

namespace vggtl {

struct TrainConfig {
  int epochs = 20;
  int batch_size = 30;
  int64_t steps_per_epoch = -1;   // -1: every batch (tf.keras: the first N batches of the order)
  int64_t validation_steps = -1;  // -1: the whole validation split
  uint64_t seed = 0;
  bool shuffle = true;
  // Data parallel over the processes of an mpiexec job (apps/pipeline/cluster.h): each trains on
  // its contiguous part of every global batch, BatchNorm statistics and gradients are summed
  // over all, every process holds the whole feature cache (or reads its rows' images: --augment,
  // --feature-cache off) and validates alone.
  bool distributed = false;
  AllreduceRoute allreduce = AllreduceRoute::Auto;  // how the gradients are summed then
  // Training images go through this augmentation (when any() is set; image loaders only, whose
  // training rows are then raw RGB, PixelTransform::None), then get augment_transform.
  AugmentSpec augment;
  PixelTransform augment_transform = PixelTransform::Caffe;
  // Added to the optimizer's step count where it keys the dropout draws: the second stage of a
  // fine-tuning run starts a fresh optimizer but continues the first stage's dropout stream.
  int64_t step_offset = 0;
};

// Where an epoch stands: enough to continue it exactly after an interruption.
struct EpochPosition {
  int epoch = 1;              // counted from 1
  int64_t batches_done = 0;   // of this epoch
  XentSums partial;           // training sums of those batches
  double seconds = 0;         // spent on them
};

// Where training data comes from: exactly one of the two is set.
struct TrainData {
  const FeatureCache* train_features = nullptr;
  const FeatureCache* valid_features = nullptr;
  ImageLoader* train_images = nullptr;
  ImageLoader* valid_images = nullptr;
};

class HeadTrainer {
 public:
  HeadTrainer(Model& model, int head_start, Optimizer& optimizer, const TrainConfig& config, TrainData data);

  int64_t train_size() const;
  int64_t batches_per_epoch() const;

  // Runs from `start` to the last epoch, calling on_epoch after each completed epoch. Returns
  // true when done; false when interrupted() said so after a batch, with *stopped_at set.
  bool run(EpochPosition start, const std::function<void(const EpochRecord&)>& on_epoch,
           const std::function<bool()>& interrupted, EpochPosition* stopped_at,
           const std::function<void(int64_t, int64_t)>& on_batch = nullptr);

  // Validation pass: mean loss and accuracy in eval mode.
  XentSums validate();

  // When distributed: how the gradients are summed, one line for the log; else null.
  const GradientReducer* reducer() const { return reducer_.get(); }

 private:
  void train_batch_features(const Tensor& order_device, const int32_t* order_host, int64_t begin, int64_t end);
  // Data parallel: this process's rows of [begin, end), the loss gradient scaled to the global
  // batch, and the gradients summed over the processes.
  void train_batch_distributed(const Tensor& order_device, const int32_t* order_host, int64_t begin, int64_t end);
  // interrupted(), agreed by every process when distributed (any one stops them all).
  bool stop_requested(const std::function<bool()>& interrupted);
  // This process's training sums, or every process's when distributed.
  XentSums train_totals();
  // From a loader batch (the base runs on it). Distributed (global_rows > 0): the batch holds this
  // process's rows, from row_offset, of a global batch of global_rows; the loss gradient is
  // scaled to it and the gradients are summed over the processes.
  void train_batch_images(const Batch& batch, int epoch, int64_t row_offset = 0, int64_t global_rows = 0);

  Model& model_;
  int head_start_;
  Optimizer& optimizer_;
  TrainConfig config_;
  TrainData data_;
  SoftmaxCrossEntropy train_loss_, valid_loss_;
  Tensor batch_features_, batch_labels_, valid_scratch_;
  std::unique_ptr<GradientReducer> reducer_;  // when distributed
  // (batch, h, w, c) f32 on the model's device, once.
  void allocate_batch(const FeatureCache& cache);
};

}  // namespace vggtl
