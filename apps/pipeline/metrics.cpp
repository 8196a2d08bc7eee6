// Metrics from predictions (see metrics.h).
#include "apps/pipeline/metrics.h"

#include "engine/error.h"

namespace vggtl {

int32_t argmax(const float* p, int n) {
  int32_t best = 0;
  for (int i = 1; i < n; ++i)
    if (p[i] > p[best]) best = i;
  return best;
}

EvalSummary summarize(const std::vector<Prediction>& predictions,
                      const std::vector<std::string>& class_names) {
  const size_t k = class_names.size();
  EvalSummary s;
  s.confusion.assign(k, std::vector<int64_t>(k, 0));
  double loss_sum = 0;
  for (const Prediction& p : predictions) {
    VGGTL_CHECK(p.label >= 0 && static_cast<size_t>(p.label) < k && p.predicted >= 0 &&
                    static_cast<size_t>(p.predicted) < k,
                "prediction for ", p.path, " has label ", p.label, " / predicted ", p.predicted,
                " outside ", k, " classes");
    ++s.confusion[p.label][p.predicted];
    s.correct += p.label == p.predicted;
    loss_sum += p.loss;
  }
  s.total = static_cast<int64_t>(predictions.size());
  if (s.total > 0) {
    s.loss = loss_sum / static_cast<double>(s.total);
    s.accuracy = static_cast<double>(s.correct) / static_cast<double>(s.total);
  }
  double f1_sum = 0;
  for (size_t c = 0; c < k; ++c) {
    ClassMetrics m;
    m.name = class_names[c];
    m.true_positives = s.confusion[c][c];
    for (size_t j = 0; j < k; ++j) {
      m.support += s.confusion[c][j];
      m.predicted += s.confusion[j][c];
    }
    if (m.predicted > 0) m.precision = static_cast<double>(m.true_positives) / static_cast<double>(m.predicted);
    if (m.support > 0) m.recall = static_cast<double>(m.true_positives) / static_cast<double>(m.support);
    if (m.precision + m.recall > 0) m.f1 = 2 * m.precision * m.recall / (m.precision + m.recall);
    f1_sum += m.f1;
    s.per_class.push_back(m);
  }
  if (k > 0) s.macro_f1 = f1_sum / static_cast<double>(k);
  return s;
}

}  // namespace vggtl
