// The run folder's text files, built as strings (the caller writes them atomically):
// history.csv, test_predictions.csv, confusion_matrix.csv, per_class.csv, bad_files.csv and
// report.html (self-contained: learning curves and confusion matrix as inline SVG; their axes
// in chart_axis.h).
// Tested in tests/apps/test_report.cpp.
#pragma once

#include <string>
#include <utility>
#include <vector>

#include "apps/pipeline/metrics.h"
#include "apps/pipeline/stage_times.h"

namespace vggtl {

struct EpochRecord {
  int epoch = 0;  // counted from 1
  double loss = 0, accuracy = 0, val_loss = 0, val_accuracy = 0, seconds = 0;
  int stage = 0;  // two-stage fine-tuning: 1 (head only) or 2 (layers unfrozen); 0: one stage
};

struct BadFileRecord {
  std::string path;
  std::string reason;
};

// RFC 4180 field: quoted when it holds a comma, quote, CR or LF.
std::string csv_field(const std::string& s);

// epoch,loss,accuracy,val_loss,val_accuracy,seconds (epoch,stage,... when any record has a stage)
std::string history_csv(const std::vector<EpochRecord>& history);
// path,true,predicted,p_<class>... (class names as columns)
std::string predictions_csv(const std::vector<Prediction>& predictions,
                            const std::vector<std::string>& class_names);
std::string confusion_csv(const EvalSummary& s, const std::vector<std::string>& class_names);
std::string per_class_csv(const EvalSummary& s);
std::string bad_files_csv(const std::vector<BadFileRecord>& bad);

struct ReportInput {
  std::string title;
  std::vector<std::pair<std::string, std::string>> facts;  // shown as a table at the top
  std::vector<EpochRecord> history;
  std::string monitor;  // e.g. "val_loss"
  int best_epoch = 0;
  bool has_test = false;
  EvalSummary test;
  std::vector<Prediction> predictions;
  std::vector<std::string> class_names;
  std::vector<BadFileRecord> bad_files;
  StageTimes times;            // of this command; shown with where it went when total > 0
  bool feature_cache = false;  // the frozen base ran once per image before epoch 1
};

std::string report_html(const ReportInput& in);

// Writes test_predictions.csv (under `predictions_name`), confusion_matrix.csv and per_class.csv
// into `dir`, each atomically.
void write_eval_files(const std::string& dir, const EvalSummary& s, const std::vector<Prediction>& predictions,
                      const std::vector<std::string>& class_names,
                      const std::string& predictions_name = "test_predictions.csv");

}  // namespace vggtl
