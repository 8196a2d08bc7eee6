// Predictions: logits -> SoftmaxCrossEntropy (probabilities, argmax, per-row loss) -> host.
#include "apps/pipeline/evaluate.h"

#include <algorithm>

#include "apps/pipeline/interrupt.h"
#include "apps/pipeline/metrics.h"
#include "apps/pipeline/progress.h"
#include "kernels/convert.h"
#include "kernels/resize_preprocess.h"
#include "layers/loss.h"

namespace vggtl {

namespace {

// Runs the head on features (g, h, w, c) and appends one Prediction per row.
void head_predictions(Model& model, int head_start, SoftmaxCrossEntropy& loss, const Tensor& features,
                      const Tensor* labels_device, const std::vector<int32_t>& labels,
                      const std::vector<std::string>& paths, std::vector<Prediction>* out) {
  const Tensor logits = model.forward(features, Pass{}, head_start);
  loss.forward(logits, labels_device, false);
  const Tensor probs = to_device(loss.probs(), Device::cpu());
  Tensor row_loss;
  if (labels_device) row_loss = to_device(loss.row_loss(), Device::cpu());
  synchronize(model.device());
  const int64_t g = probs.dim(0), k = probs.dim(1);
  for (int64_t r = 0; r < g; ++r) {
    Prediction p;
    p.path = paths[static_cast<size_t>(r)];
    const float* pr = probs.data<float>() + r * k;
    p.probs.assign(pr, pr + k);
    p.predicted = argmax(pr, static_cast<int>(k));
    if (labels_device) {
      p.label = labels[static_cast<size_t>(r)];
      p.loss = row_loss.dtype() == DType::F32 ? row_loss.data<float>()[r] : row_loss.data<double>()[r];
    }
    out->push_back(std::move(p));
  }
}

}  // namespace

SplitPredictions predict_split(Model& model, int head_start, ImageLoader& loader, bool with_labels,
                               StageTimes* times, const std::string& progress_label) {
  SplitPredictions result;
  SoftmaxCrossEntropy loss(model.device());
  result.bad = run_base(model, head_start, loader, [&](const Tensor& f, const std::vector<int64_t>& items,
                                                       const std::vector<int32_t>& labels) {
    std::vector<std::string> paths;
    for (int64_t i : items) paths.push_back(loader.items()[static_cast<size_t>(i)].relpath);
    Tensor y;
    if (with_labels) {
      y = to_device(Tensor::wrap(const_cast<int32_t*>(labels.data()), {static_cast<int64_t>(labels.size())}, DType::I32),
                    model.device());
    }
    head_predictions(model, head_start, loss, f, with_labels ? &y : nullptr, labels, paths, &result.predictions);
  }, times, progress_label);
  return result;
}

std::vector<Prediction> predict_pixels(Model& model, int head_start, const uint8_t* pixels, int64_t n, int h, int w,
                                       const LoaderOptions& lo, const std::string& progress_label) {
  if (h < 1 || w < 1) throw InputError("images of " + std::to_string(h) + "x" + std::to_string(w) + " pixels");
  const int S = lo.image_size;
  const ResizePlan plan = make_resize_plan(h, w, S, S, lo.filter);
  const int64_t image_bytes = int64_t{h} * w * 3;
  std::vector<Prediction> out;
  SoftmaxCrossEntropy loss(model.device());
  ProgressBar bar(progress_label, n);
  const int64_t batch = std::max(1, lo.batch_size);
  Tensor host = Tensor::empty(Shape{batch, S, S, 3}, DType::F32);
  for (int64_t begin = 0; begin < n; begin += batch) {
    const int64_t g = std::min(batch, n - begin);
    for (int64_t r = 0; r < g; ++r)
      resize_preprocess_cpu(host.data<float>() + r * S * S * 3, pixels + (begin + r) * image_bytes, plan.table.data(),
                            plan.g, lo.transform);
    Tensor x = host.slice(0, g);
    if (!model.device().is_cpu()) {
      x = to_device(x, model.device());
      synchronize(model.device());
    }
    Tensor f = model.forward(x, Pass{}, 0, head_start);
    if (f.dtype() != DType::F32) {
      Tensor f32 = Tensor::empty(f.shape(), DType::F32, model.device());
      convert(f32, f);
      f = f32;
    }
    std::vector<std::string> paths;
    for (int64_t r = 0; r < g; ++r) paths.push_back("#" + std::to_string(begin + r));
    head_predictions(model, head_start, loss, f, nullptr, {}, paths, &out);
    bar.update(begin + g);
    if (interrupt_requested()) {
      bar.clear();
      throw_if_interrupted(progress_label + " (" + std::to_string(begin + g) + " of " + std::to_string(n) +
                           " images done)");
    }
  }
  return out;
}

}  // namespace vggtl
