// Metrics against hand-counted cases.
#include <gtest/gtest.h>

#include "apps/pipeline/metrics.h"
#include "engine/error.h"

namespace vggtl {

namespace {
Prediction pred(int label, int predicted, double loss = 0.5) {
  Prediction p;
  p.path = "x.jpg";
  p.label = label;
  p.predicted = predicted;
  p.loss = loss;
  return p;
}
}  // namespace

TEST(Metrics, ArgmaxTakesFirstMaximum) {
  const float p[] = {0.2f, 0.4f, 0.4f, 0.0f};
  EXPECT_EQ(argmax(p, 4), 1);
  const float q[] = {0.5f};
  EXPECT_EQ(argmax(q, 1), 0);
}

TEST(Metrics, ConfusionAndPerClassByHand) {
  // True cat: 3 right, 1 called dog. True dog: 2 right, 2 called cat. True bird: none.
  std::vector<Prediction> ps = {pred(0, 0), pred(0, 0), pred(0, 0), pred(0, 1),
                                pred(1, 1), pred(1, 1), pred(1, 0), pred(1, 0)};
  EvalSummary s = summarize(ps, {"cat", "dog", "bird"});
  EXPECT_EQ(s.total, 8);
  EXPECT_EQ(s.correct, 5);
  EXPECT_DOUBLE_EQ(s.accuracy, 5.0 / 8.0);
  EXPECT_DOUBLE_EQ(s.loss, 0.5);
  EXPECT_EQ(s.confusion[0][0], 3);
  EXPECT_EQ(s.confusion[0][1], 1);
  EXPECT_EQ(s.confusion[1][0], 2);
  EXPECT_EQ(s.confusion[1][1], 2);
  // cat: precision 3/5, recall 3/4, F1 = 2*0.6*0.75/1.35 = 2/3.
  EXPECT_DOUBLE_EQ(s.per_class[0].precision, 0.6);
  EXPECT_DOUBLE_EQ(s.per_class[0].recall, 0.75);
  EXPECT_NEAR(s.per_class[0].f1, 2.0 / 3.0, 1e-15);
  // dog: precision 2/3, recall 2/4.
  EXPECT_NEAR(s.per_class[1].precision, 2.0 / 3.0, 1e-15);
  EXPECT_DOUBLE_EQ(s.per_class[1].recall, 0.5);
  // bird: no support, no predictions: all zero, not NaN.
  EXPECT_EQ(s.per_class[2].support, 0);
  EXPECT_EQ(s.per_class[2].f1, 0.0);
  EXPECT_NEAR(s.macro_f1, (2.0 / 3.0 + 2 * (2.0 / 3.0) * 0.5 / (2.0 / 3.0 + 0.5)) / 3.0, 1e-15);
}

TEST(Metrics, RejectsOutOfRangeLabels) {
  EXPECT_THROW(summarize({pred(2, 0)}, {"a", "b"}), Error);
}

TEST(Metrics, EmptyIsZeroNotNaN) {
  EvalSummary s = summarize({}, {"a", "b"});
  EXPECT_EQ(s.total, 0);
  EXPECT_EQ(s.accuracy, 0.0);
}

}  // namespace vggtl
