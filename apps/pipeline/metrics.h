// Classification metrics from per-image predictions: accuracy, confusion matrix (rows = true
// class, columns = predicted), per-class precision / recall / F1. Tested in
// tests/apps/test_metrics.cpp against hand-counted cases.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

namespace vggtl {

struct Prediction {
  std::string path;          // as listed (relative to the split folder)
  int32_t label = -1;        // true class, -1 when unknown (vggtl_predict)
  int32_t predicted = -1;    // argmax of probs, first maximum on ties (NumPy argmax)
  double loss = 0;           // -log softmax(logits)[label], 0 when label is unknown
  std::vector<float> probs;  // softmax probabilities, one per class
};

struct ClassMetrics {
  std::string name;
  int64_t support = 0;  // true instances
  int64_t predicted = 0;
  int64_t true_positives = 0;
  double precision = 0, recall = 0, f1 = 0;  // 0 where undefined (no predictions / no support)
};

struct EvalSummary {
  int64_t total = 0, correct = 0;
  double loss = 0, accuracy = 0;               // means over images
  std::vector<std::vector<int64_t>> confusion;  // [true][predicted]
  std::vector<ClassMetrics> per_class;
  double macro_f1 = 0;
};

// Index of the first maximum.
int32_t argmax(const float* p, int n);
EvalSummary summarize(const std::vector<Prediction>& predictions,
                      const std::vector<std::string>& class_names);

}  // namespace vggtl
