// Run-folder text outputs: CSV quoting, headers, and an HTML page that escapes what it shows.
#include <gtest/gtest.h>

#include "apps/pipeline/report.h"

namespace vggtl {

TEST(Report, CsvFieldQuotesOnlyWhenNeeded) {
  EXPECT_EQ(csv_field("cat/1.jpg"), "cat/1.jpg");
  EXPECT_EQ(csv_field("a,b.jpg"), "\"a,b.jpg\"");
  EXPECT_EQ(csv_field("say \"hi\".png"), "\"say \"\"hi\"\".png\"");
  EXPECT_EQ(csv_field("two\nlines"), "\"two\nlines\"");
}

TEST(Report, HistoryCsvHasSpecHeaderAndOneRowPerEpoch) {
  std::vector<EpochRecord> h = {{1, 0.75, 0.5, 0.7, 0.55, 1.25}, {2, 0.5, 0.75, 0.6, 0.65, 1.0}};
  const std::string csv = history_csv(h);
  EXPECT_EQ(csv.substr(0, csv.find('\n')), "epoch,loss,accuracy,val_loss,val_accuracy,seconds");
  EXPECT_NE(csv.find("\n1,0.75,0.5,0.7,0.55,1.25\n"), std::string::npos) << csv;
  EXPECT_NE(csv.find("\n2,0.5,0.75,0.6,0.65,1\n"), std::string::npos) << csv;
}

TEST(Report, PredictionsAndConfusionCsv) {
  Prediction p;
  p.path = "dog,1.jpg";
  p.label = 1;
  p.predicted = 0;
  p.probs = {0.75f, 0.25f};
  const std::vector<std::string> names = {"cat", "dog"};
  const std::string csv = predictions_csv({p}, names);
  EXPECT_NE(csv.find("path,true,predicted,p_cat,p_dog\n"), std::string::npos);
  EXPECT_NE(csv.find("\"dog,1.jpg\",dog,cat,0.75,0.25\n"), std::string::npos) << csv;
  EvalSummary s = summarize({p}, names);
  EXPECT_EQ(confusion_csv(s, names), "true\\predicted,cat,dog\ncat,0,0\ndog,1,0\n");
  EXPECT_NE(per_class_csv(s).find("dog,1,0,0,0,0\n"), std::string::npos) << per_class_csv(s);
  EXPECT_EQ(bad_files_csv({{"x.jpg", "truncated JPEG data"}}), "path,reason\nx.jpg,truncated JPEG data\n");
}

TEST(Report, HtmlIsSelfContainedAndEscaped) {
  ReportInput in;
  in.title = "run <1>";
  in.history = {{1, 0.9, 0.5, 0.8, 0.6, 1}, {2, 0.7, 0.6, 0.75, 0.7, 1}, {3, 0.6, 0.7, 0.78, 0.7, 1}};
  in.monitor = "val_loss";
  in.best_epoch = 2;
  in.class_names = {"cat", "<script>"};
  Prediction p;
  p.path = "a&b.jpg";
  p.label = 1;
  p.predicted = 0;
  p.probs = {0.6f, 0.4f};
  in.predictions = {p};
  in.has_test = true;
  in.test = summarize(in.predictions, in.class_names);
  in.bad_files = {{"broken.jpg", "not an image"}};
  const std::string html = report_html(in);
  EXPECT_EQ(html.find("<script>"), std::string::npos);
  EXPECT_NE(html.find("&lt;script&gt;"), std::string::npos);
  EXPECT_NE(html.find("a&amp;b.jpg"), std::string::npos);
  EXPECT_NE(html.find("run &lt;1&gt;"), std::string::npos);
  // Two learning-curve charts and the confusion matrix, all inline.
  size_t svgs = 0;
  for (size_t at = html.find("<svg"); at != std::string::npos; at = html.find("<svg", at + 1)) ++svgs;
  EXPECT_EQ(svgs, 3u);
  EXPECT_EQ(html.find("http://"), html.find("http://www.w3.org/2000/svg"));  // no external resources
  EXPECT_EQ(html.find("src="), std::string::npos);
  EXPECT_NE(html.find("Misclassified files (1)"), std::string::npos);
  EXPECT_NE(html.find("broken.jpg"), std::string::npos);
}

}  // namespace vggtl
