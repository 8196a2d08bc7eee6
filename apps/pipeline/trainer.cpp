// HeadTrainer. The epoch order comes from shuffle_order(n, seed, epoch - 1): a function of the
// seed and the epoch alone, so a resumed run draws the orders the uninterrupted run would.
#include "apps/pipeline/trainer.h"

#include <algorithm>

#include "apps/pipeline/augment_input.h"
#include "apps/pipeline/cluster.h"
#include "apps/pipeline/progress.h"
#include "apps/pipeline/shards.h"
#include "engine/timer.h"
#include "io/loader/shuffle.h"
#include "kernels/gather_rows.h"

namespace vggtl {

HeadTrainer::HeadTrainer(Model& model, int head_start, Optimizer& optimizer, const TrainConfig& config,
                         TrainData data)
    : model_(model),
      head_start_(head_start),
      optimizer_(optimizer),
      config_(config),
      data_(data),
      train_loss_(model.device()),
      valid_loss_(model.device()) {
  VGGTL_CHECK((data.train_features != nullptr) != (data.train_images != nullptr),
              "train from features or from images, not both");
  if (config_.distributed) {
    // Every process needs a row of every batch it steps on: BatchNorm needs rows to normalise.
    const int64_t n = train_size(), batches = batches_per_epoch();
    for (int64_t b = 0; b < batches; ++b)
      if (std::min(n, (b + 1) * config_.batch_size) - b * config_.batch_size < cluster::size())
        throw InputError("--distributed-train: batch " + std::to_string(b + 1) + " has fewer images than the " +
                         std::to_string(cluster::size()) + " processes (choose a larger --batch-size or fewer "
                         "processes)");
    reducer_ = std::make_unique<GradientReducer>(config_.allreduce, model_.device());
  }
}

bool HeadTrainer::stop_requested(const std::function<bool()>& interrupted) {
  double stop = interrupted() ? 1.0 : 0.0;
  if (config_.distributed) cluster::allreduce_sum(&stop, 1);
  return stop > 0;
}

XentSums HeadTrainer::train_totals() {
  XentSums t = train_loss_.totals();
  if (config_.distributed) {
    double v[3] = {t.loss_sum, t.correct, static_cast<double>(t.count)};
    cluster::allreduce_sum(v, 3);
    t = XentSums{v[0], v[1], static_cast<int64_t>(v[2])};
  }
  return t;
}

void HeadTrainer::allocate_batch(const FeatureCache& cache) {
  if (batch_features_.defined()) return;
  std::vector<int64_t> dims = cache.row_shape.vec();
  dims.insert(dims.begin(), config_.batch_size);
  batch_features_ = Tensor::empty(Shape(dims), DType::F32, model_.device());
  batch_labels_ = Tensor::empty({config_.batch_size}, DType::I32, model_.device());
}

void HeadTrainer::train_batch_distributed(const Tensor& order_device, const int32_t* order_host, int64_t begin,
                                          int64_t end) {
  const FeatureCache& cache = *data_.train_features;
  const ShardRange mine = shard_range(end - begin, cluster::rank(), cluster::size());
  const int64_t n = mine.size();
  allocate_batch(cache);
  Tensor x = batch_features_.slice(0, n), y = batch_labels_.slice(0, n);
  const Tensor index = order_device.slice(begin + mine.begin, begin + mine.end);
  cache.gather(x, index, order_host + begin + mine.begin);
  gather_rows(y, cache.labels, index);
  const Pass pass{Mode::Train, config_.seed, static_cast<uint32_t>(config_.step_offset + optimizer_.iterations()), mine.begin};
  const Tensor logits = model_.forward(x, pass, head_start_);
  train_loss_.forward(logits, &y, true);
  // The loss is the mean over this process's n rows; the job's is over the global batch.
  Tensor dlogits = to_device(train_loss_.dlogits(), Device::cpu());
  synchronize(model_.device());
  const float scale = static_cast<float>(n) / static_cast<float>(end - begin);
  for (int64_t i = 0; i < dlogits.numel(); ++i) dlogits.data<float>()[i] *= scale;
  model_.backward(to_device(dlogits, model_.device()));
  reducer_->sum(model_.grad_arena());
  optimizer_.step();
}

int64_t HeadTrainer::train_size() const {
  return data_.train_features ? data_.train_features->size() : data_.train_images->size();
}

int64_t HeadTrainer::batches_per_epoch() const {
  return vggtl::batches_per_epoch(train_size(), config_.batch_size, config_.steps_per_epoch);
}

void HeadTrainer::train_batch_features(const Tensor& order_device, const int32_t* order_host, int64_t begin,
                                       int64_t end) {
  const FeatureCache& cache = *data_.train_features;
  const int64_t n = end - begin;
  allocate_batch(cache);
  Tensor x = batch_features_.slice(0, n), y = batch_labels_.slice(0, n);
  const Tensor index = order_device.slice(begin, end);
  cache.gather(x, index, order_host + begin);
  gather_rows(y, cache.labels, index);
  const Pass pass{Mode::Train, config_.seed, static_cast<uint32_t>(config_.step_offset + optimizer_.iterations())};
  const Tensor logits = model_.forward(x, pass, head_start_);
  train_loss_.forward(logits, &y, true);
  model_.backward(train_loss_.dlogits());
  optimizer_.step();
}

void HeadTrainer::train_batch_images(const Batch& batch, int epoch, int64_t row_offset, int64_t global_rows) {
  if (batch.good() == 0 && global_rows == 0) return;
  Tensor x = config_.augment.any()
                 ? augmented_batch_input(batch, model_.device(), DType::F32, config_.augment, config_.seed,
                                         static_cast<uint32_t>(epoch - 1), config_.augment_transform)
                 : batch_input(batch, model_.device());
  std::vector<int32_t> labels = good_labels(batch);
  Tensor y = to_device(Tensor::wrap(labels.data(), {static_cast<int64_t>(labels.size())}, DType::I32),
                       model_.device());
  synchronize(model_.device());
  const Pass pass{Mode::Train, config_.seed, static_cast<uint32_t>(config_.step_offset + optimizer_.iterations()),
                  row_offset};
  const Tensor logits = model_.forward(x, pass, 0);
  train_loss_.forward(logits, &y, true);
  if (global_rows == 0) {
    model_.backward(train_loss_.dlogits());
  } else {
    // As train_batch_distributed: this process's mean loss scaled to the global batch's.
    Tensor dlogits = to_device(train_loss_.dlogits(), Device::cpu());
    synchronize(model_.device());
    const float scale = static_cast<float>(labels.size()) / static_cast<float>(global_rows);
    for (int64_t i = 0; i < dlogits.numel(); ++i) dlogits.data<float>()[i] *= scale;
    model_.backward(to_device(dlogits, model_.device()));
    reducer_->sum(model_.grad_arena());
  }
  optimizer_.step();
}

XentSums HeadTrainer::validate() {
  valid_loss_.reset_totals();
  const Pass pass{Mode::Eval, config_.seed, 0};
  if (data_.valid_features) {
    const FeatureCache& cache = *data_.valid_features;
    const int64_t batches = vggtl::batches_per_epoch(cache.size(), config_.batch_size, config_.validation_steps);
    for (int64_t b = 0; b < batches; ++b) {
      const int64_t begin = b * config_.batch_size, end = std::min(cache.size(), begin + config_.batch_size);
      if (!valid_scratch_.defined()) {
        std::vector<int64_t> dims = cache.row_shape.vec();
        dims.insert(dims.begin(), config_.batch_size);
        valid_scratch_ = Tensor::empty(Shape(dims), DType::F32, model_.device());
      }
      const Tensor logits = model_.forward(cache.rows(begin, end, valid_scratch_), pass, head_start_);
      const Tensor labels = cache.labels.slice(begin, end);
      valid_loss_.forward(logits, &labels, false);
    }
  } else {
    ImageLoader& loader = *data_.valid_images;
    loader.start_epoch(identity_order(loader.size()), config_.validation_steps);
    while (const Batch* batch = loader.next()) {
      if (batch->good() == 0) continue;
      Tensor x = batch_input(*batch, model_.device());
      std::vector<int32_t> labels = good_labels(*batch);
      Tensor y = to_device(Tensor::wrap(labels.data(), {static_cast<int64_t>(labels.size())}, DType::I32),
                           model_.device());
      synchronize(model_.device());
      valid_loss_.forward(model_.forward(x, pass, 0), &y, false);
    }
  }
  return valid_loss_.totals();
}

bool HeadTrainer::run(EpochPosition start, const std::function<void(const EpochRecord&)>& on_epoch,
                      const std::function<bool()>& interrupted, EpochPosition* stopped_at,
                      const std::function<void(int64_t, int64_t)>& on_batch) {
  const int64_t n = train_size();
  const int64_t batches = batches_per_epoch();
  for (int epoch = start.epoch; epoch <= config_.epochs; ++epoch) {
    Stopwatch clock;
    const bool resuming = epoch == start.epoch;
    const int64_t first_batch = resuming ? start.batches_done : 0;
    const double earlier_seconds = resuming ? start.seconds : 0;
    const XentSums earlier = resuming ? start.partial : XentSums{};
    std::vector<int64_t> order = config_.shuffle ? shuffle_order(n, config_.seed, static_cast<uint32_t>(epoch - 1))
                                                 : identity_order(n);
    train_loss_.reset_totals();
    if (data_.train_features) {
      std::vector<int32_t> order32(order.begin(), order.end());
      const Tensor order_device =
          to_device(Tensor::wrap(order32.data(), {n}, DType::I32), model_.device());
      synchronize(model_.device());
      for (int64_t b = first_batch; b < batches; ++b) {
        if (config_.distributed)
          train_batch_distributed(order_device, order32.data(), b * config_.batch_size,
                                  std::min(n, (b + 1) * config_.batch_size));
        else
          train_batch_features(order_device, order32.data(), b * config_.batch_size,
                               std::min(n, (b + 1) * config_.batch_size));
        if (on_batch) on_batch(b + 1, batches);
        if (stop_requested(interrupted) && b + 1 < batches) {
          XentSums sums = train_totals();
          *stopped_at = EpochPosition{epoch, b + 1,
                                      XentSums{earlier.loss_sum + sums.loss_sum, earlier.correct + sums.correct,
                                               earlier.count + sums.count},
                                      earlier_seconds + clock.seconds()};
          return false;
        }
      }
    } else if (config_.distributed) {
      // Each process reads, augments and runs through the base only its rows of each global
      // batch (the draws are keyed by item index, so they are one process's draws). One loader
      // epoch per batch: a rank's share of the last batch may differ from the others', which
      // fixed-size loader batches cannot follow; the cost is that decoding the next batch no
      // longer overlaps this one's compute.
      ImageLoader& loader = *data_.train_images;
      for (int64_t b = first_batch; b < batches; ++b) {
        const int64_t begin = b * config_.batch_size, end = std::min(n, begin + config_.batch_size);
        const ShardRange mine = shard_range(end - begin, cluster::rank(), cluster::size());
        loader.start_epoch(std::vector<int64_t>(order.begin() + begin + mine.begin, order.begin() + begin + mine.end),
                           1);
        const Batch* batch = loader.next();
        VGGTL_CHECK(batch != nullptr && batch->size() == mine.size(), "distributed batch ", b, ": no rows loaded");
        train_batch_images(*batch, epoch, mine.begin, end - begin);
        while (loader.next()) {
        }
        if (on_batch) on_batch(b + 1, batches);
        if (stop_requested(interrupted) && b + 1 < batches) {
          XentSums sums = train_totals();
          *stopped_at = EpochPosition{epoch, b + 1,
                                      XentSums{earlier.loss_sum + sums.loss_sum, earlier.correct + sums.correct,
                                               earlier.count + sums.count},
                                      earlier_seconds + clock.seconds()};
          return false;
        }
      }
    } else {
      ImageLoader& loader = *data_.train_images;
      // Skip the batches done before an interruption: their order positions are known.
      std::vector<int64_t> rest(order.begin() + std::min<int64_t>(n, first_batch * config_.batch_size), order.end());
      loader.start_epoch(std::move(rest), batches - first_batch);
      int64_t b = first_batch;
      while (const Batch* batch = loader.next()) {
        train_batch_images(*batch, epoch);
        ++b;
        if (on_batch) on_batch(b, batches);
        if (interrupted() && b < batches) {
          XentSums sums = train_loss_.totals();
          *stopped_at = EpochPosition{epoch, b,
                                      XentSums{earlier.loss_sum + sums.loss_sum, earlier.correct + sums.correct,
                                               earlier.count + sums.count},
                                      earlier_seconds + clock.seconds()};
          return false;
        }
      }
    }
    const XentSums sums = train_totals();
    const XentSums total{earlier.loss_sum + sums.loss_sum, earlier.correct + sums.correct, earlier.count + sums.count};
    const XentSums val = validate();
    EpochRecord r;
    r.epoch = epoch;
    r.loss = total.mean_loss();
    r.accuracy = total.accuracy();
    r.val_loss = val.mean_loss();
    r.val_accuracy = val.accuracy();
    r.seconds = earlier_seconds + clock.seconds();
    on_epoch(r);
    if (epoch < config_.epochs && stop_requested(interrupted)) {
      *stopped_at = EpochPosition{epoch + 1, 0, XentSums{}, 0};
      return false;
    }
  }
  return true;
}

}  // namespace vggtl
