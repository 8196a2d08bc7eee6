// Text and HTML outputs of a run. Numbers are printed with enough digits to round-trip floats.
#include "apps/pipeline/report.h"

#include "apps/pipeline/chart_axis.h"
#include "io/atomic_file.h"

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <sstream>

namespace vggtl {

namespace {

std::string num(double v, int digits = 6) {
  char buf[64];
  std::snprintf(buf, sizeof buf, "%.*g", digits, v);
  return buf;
}

std::string html_escape(const std::string& s) {
  std::string out;
  for (char c : s) {
    switch (c) {
      case '&': out += "&amp;"; break;
      case '<': out += "&lt;"; break;
      case '>': out += "&gt;"; break;
      case '"': out += "&quot;"; break;
      case '\'': out += "&#39;"; break;
      default: out += c;
    }
  }
  return out;
}

// A line chart of one or two series over epochs, as inline SVG, and a note on its scale when
// it is logarithmic. The legend sits above the plot area and the best epoch's line inside it.
struct Chart {
  std::string svg, note;
};

Chart line_chart(const std::string& title, ChartQuantity quantity, const std::vector<EpochRecord>& h,
                 double EpochRecord::*a, const std::string& a_name, double EpochRecord::*b,
                 const std::string& b_name, int best_epoch) {
  const double w = 460, ht = 280, left = 50, right = 15, top = 44, bottom = 40;
  Chart chart;
  std::ostringstream os;
  os << "<svg xmlns='http://www.w3.org/2000/svg' width='" << w << "' height='" << ht
     << "' role='img' aria-label='" << html_escape(title) << "'>\n";
  os << "<text x='" << w / 2 << "' y='16' text-anchor='middle' font-size='13'>" << html_escape(title) << "</text>\n";
  if (h.empty()) {
    os << "<text x='" << w / 2 << "' y='" << ht / 2 << "' text-anchor='middle'>no epochs</text></svg>\n";
    chart.svg = os.str();
    return chart;
  }
  double EpochRecord::*series[2] = {a, b};
  const std::string names[2] = {a_name, b_name};
  std::vector<double> values;
  for (const EpochRecord& r : h) values.insert(values.end(), {r.*a, r.*b});
  const ChartAxis y = value_axis(values, quantity);
  const ChartAxis x = epoch_axis(h.front().epoch, h.back().epoch);
  const double plot_w = w - left - right, plot_h = ht - top - bottom;
  auto X = [&](double e) { return left + x.fraction(e) * plot_w; };
  auto Y = [&](double v) { return top + (1 - y.fraction(v)) * plot_h; };
  os << "<rect class='plot' x='" << left << "' y='" << top << "' width='" << plot_w << "' height='" << plot_h
     << "' fill='none' stroke='#999'/>\n";
  for (size_t i = 0; i < y.ticks.size(); ++i) {
    const double at = Y(y.ticks[i]);
    os << "<line x1='" << left << "' x2='" << left + plot_w << "' y1='" << at << "' y2='" << at
       << "' stroke='#eee'/>\n<text class='ytick' x='" << left - 4 << "' y='" << at + 4
       << "' text-anchor='end' font-size='10'>" << y.labels[i] << "</text>\n";
  }
  if (y.log)
    os << "<text class='scale' x='" << left + plot_w << "' y='" << top - 10
       << "' text-anchor='end' font-size='11' fill='#666'>log scale</text>\n";
  for (size_t i = 0; i < x.ticks.size(); ++i)
    os << "<text class='xtick' x='" << X(x.ticks[i]) << "' y='" << ht - bottom + 14
       << "' text-anchor='middle' font-size='10'>" << x.labels[i] << "</text>\n";
  os << "<text x='" << left + plot_w / 2 << "' y='" << ht - 6 << "' text-anchor='middle' font-size='11'>epoch</text>\n";
  if (best_epoch >= h.front().epoch && best_epoch <= h.back().epoch)
    os << "<line class='best' x1='" << X(best_epoch) << "' x2='" << X(best_epoch) << "' y1='" << top << "' y2='"
       << top + plot_h << "' stroke='#2a2' stroke-width='1.5' stroke-dasharray='4 3'><title>best epoch "
       << best_epoch << "</title></line>\n";
  const char* colours[2] = {"#1f77b4", "#d62728"};
  for (int s = 0; s < 2; ++s) {
    os << "<polyline fill='none' stroke='" << colours[s] << "' stroke-width='2' points='";
    for (const EpochRecord& r : h)
      if (std::isfinite(r.*series[s])) os << X(r.epoch) << "," << Y(r.*series[s]) << " ";
    os << "'/>\n";
    for (const EpochRecord& r : h)
      if (std::isfinite(r.*series[s]))
        os << "<circle cx='" << X(r.epoch) << "' cy='" << Y(r.*series[s]) << "' r='2.5' fill='" << colours[s]
           << "'><title>" << html_escape(names[s]) << " epoch " << r.epoch << ": " << num(r.*series[s])
           << "</title></circle>\n";
    os << "<text class='legend' x='" << left + 120 * s << "' y='" << top - 10 << "' font-size='11' fill='"
       << colours[s] << "'>&#9632; " << html_escape(names[s]) << "</text>\n";
  }
  os << "<text class='legend' x='" << left + 240 << "' y='" << top - 10
     << "' font-size='11' fill='#2a2'>- - best epoch</text>\n";
  os << "</svg>\n";
  chart.svg = os.str();
  if (y.log) {
    const EpochRecord* peak = nullptr;
    int peak_series = 0;
    for (const EpochRecord& r : h)
      for (int s = 0; s < 2; ++s)
        if (std::isfinite(r.*series[s]) && (!peak || r.*series[s] > peak->*series[peak_series])) {
          peak = &r;
          peak_series = s;
        }
    chart.note = "The " + title + " axis is logarithmic: " + names[peak_series] + " of epoch " +
                 std::to_string(peak->epoch) + " (" + num(peak->*series[peak_series], 3) + ") is over " +
                 num(kLogScaleRatio) + " times the median, and a linear axis would flatten the other epochs.";
  }
  return chart;
}

std::string seconds_text(double s) {
  char buf[32];
  if (s >= 10)
    std::snprintf(buf, sizeof buf, "%.0f s", s);
  else if (s >= 1)
    std::snprintf(buf, sizeof buf, "%.1f s", s);
  else
    std::snprintf(buf, sizeof buf, "%.2g s", s);
  return buf;
}

// The header's time and where it went, so that the table's per-epoch seconds add up to it.
std::string time_breakdown(const ReportInput& in) {
  const StageTimes& t = in.times;
  const double other = std::max(0.0, t.total - t.features - t.head_training - t.evaluation);
  std::string s = seconds_text(t.total) + " in all: " + seconds_text(t.features) +
                  (in.feature_cache ? " computing the frozen base's features of the train and valid images, once "
                                      "before epoch 1"
                                    : " listing and checking the train and valid images") +
                  "; " + seconds_text(t.head_training) + " in the epochs this command ran (the table's seconds)";
  if (in.has_test) s += "; " + seconds_text(t.evaluation) + " on the test split";
  return s + "; " + seconds_text(other) + " loading the weights, listing the splits and writing checkpoints";
}

std::string confusion_svg(const EvalSummary& s, const std::vector<std::string>& names) {
  const size_t k = names.size();
  const double cell = k <= 4 ? 70 : std::max(18.0, 420.0 / static_cast<double>(k));
  const double left = 110, top = 90;
  const double w = left + cell * static_cast<double>(k) + 10, h = top + cell * static_cast<double>(k) + 10;
  int64_t max_count = 1;
  for (const auto& row : s.confusion)
    for (int64_t v : row) max_count = std::max(max_count, v);
  std::ostringstream os;
  os << "<svg xmlns='http://www.w3.org/2000/svg' width='" << w << "' height='" << h
     << "' role='img' aria-label='confusion matrix'>\n";
  os << "<text x='" << left + cell * static_cast<double>(k) / 2 << "' y='14' text-anchor='middle' font-size='12'>predicted</text>\n";
  os << "<text x='12' y='" << top + cell * static_cast<double>(k) / 2
     << "' text-anchor='middle' font-size='12' transform='rotate(-90 12 " << top + cell * static_cast<double>(k) / 2
     << ")'>true</text>\n";
  for (size_t j = 0; j < k; ++j) {
    const double x = left + cell * (static_cast<double>(j) + 0.5);
    os << "<text x='" << x << "' y='" << top - 6 << "' font-size='11' text-anchor='start' transform='rotate(-45 " << x
       << " " << top - 6 << ")'>" << html_escape(names[j]) << "</text>\n";
  }
  for (size_t i = 0; i < k; ++i) {
    os << "<text x='" << left - 6 << "' y='" << top + cell * (static_cast<double>(i) + 0.5) + 4
       << "' text-anchor='end' font-size='11'>" << html_escape(names[i]) << "</text>\n";
    for (size_t j = 0; j < k; ++j) {
      const int64_t v = s.confusion[i][j];
      const double t = static_cast<double>(v) / static_cast<double>(max_count);
      const int shade = static_cast<int>(std::lround(255 - 200 * t));
      const double x = left + cell * static_cast<double>(j), y = top + cell * static_cast<double>(i);
      os << "<rect x='" << x << "' y='" << y << "' width='" << cell << "' height='" << cell << "' fill='rgb("
         << shade << "," << shade << ",255)' stroke='#fff'><title>true " << html_escape(names[i]) << ", predicted "
         << html_escape(names[j]) << ": " << v << "</title></rect>\n";
      if (cell >= 18)
        os << "<text x='" << x + cell / 2 << "' y='" << y + cell / 2 + 4 << "' text-anchor='middle' font-size='"
           << std::min(14.0, cell / 2.5) << "' fill='" << (t > 0.6 ? "#fff" : "#000") << "'>" << v << "</text>\n";
    }
  }
  os << "</svg>\n";
  return os.str();
}

}  // namespace

std::string csv_field(const std::string& s) {
  if (s.find_first_of(",\"\r\n") == std::string::npos) return s;
  std::string out = "\"";
  for (char c : s) {
    if (c == '"') out += '"';
    out += c;
  }
  return out + "\"";
}

std::string history_csv(const std::vector<EpochRecord>& history) {
  std::ostringstream os;
  const bool staged = std::any_of(history.begin(), history.end(), [](const EpochRecord& r) { return r.stage > 0; });
  os << (staged ? "epoch,stage," : "epoch,") << "loss,accuracy,val_loss,val_accuracy,seconds\n";
  for (const EpochRecord& r : history)
    os << r.epoch << "," << (staged ? std::to_string(r.stage) + "," : std::string()) << num(r.loss, 9) << "," << num(r.accuracy, 9) << "," << num(r.val_loss, 9) << ","
       << num(r.val_accuracy, 9) << "," << num(r.seconds, 4) << "\n";
  return os.str();
}

std::string predictions_csv(const std::vector<Prediction>& predictions,
                            const std::vector<std::string>& class_names) {
  std::ostringstream os;
  os << "path,true,predicted";
  for (const std::string& c : class_names) os << "," << csv_field("p_" + c);
  os << "\n";
  for (const Prediction& p : predictions) {
    os << csv_field(p.path) << "," << (p.label >= 0 ? csv_field(class_names[p.label]) : "") << ","
       << csv_field(class_names[p.predicted]);
    for (float v : p.probs) os << "," << num(v, 9);
    os << "\n";
  }
  return os.str();
}

std::string confusion_csv(const EvalSummary& s, const std::vector<std::string>& class_names) {
  std::ostringstream os;
  os << "true\\predicted";
  for (const std::string& c : class_names) os << "," << csv_field(c);
  os << "\n";
  for (size_t i = 0; i < class_names.size(); ++i) {
    os << csv_field(class_names[i]);
    for (int64_t v : s.confusion[i]) os << "," << v;
    os << "\n";
  }
  return os.str();
}

std::string per_class_csv(const EvalSummary& s) {
  std::ostringstream os;
  os << "class,support,predicted,precision,recall,f1\n";
  for (const ClassMetrics& m : s.per_class)
    os << csv_field(m.name) << "," << m.support << "," << m.predicted << "," << num(m.precision) << ","
       << num(m.recall) << "," << num(m.f1) << "\n";
  return os.str();
}

std::string bad_files_csv(const std::vector<BadFileRecord>& bad) {
  std::ostringstream os;
  os << "path,reason\n";
  for (const BadFileRecord& b : bad) os << csv_field(b.path) << "," << csv_field(b.reason) << "\n";
  return os.str();
}

std::string report_html(const ReportInput& in) {
  std::ostringstream os;
  os << "<!DOCTYPE html>\n<html lang='en'><head><meta charset='utf-8'><title>" << html_escape(in.title)
     << "</title>\n<style>body{font-family:sans-serif;margin:2em;max-width:1000px;color:#222}"
        "table{border-collapse:collapse;margin:0.5em 0}td,th{border:1px solid #ccc;padding:3px 8px;text-align:left}"
        "th{background:#f3f3f3}td.n{text-align:right}.charts svg{margin-right:1em}h2{margin-top:1.5em}"
        "</style></head><body>\n";
  os << "<h1>" << html_escape(in.title) << "</h1>\n<table>\n";
  for (const auto& f : in.facts)
    os << "<tr><th>" << html_escape(f.first) << "</th><td>" << html_escape(f.second) << "</td></tr>\n";
  if (in.times.total > 0) os << "<tr><th>time</th><td>" << html_escape(time_breakdown(in)) << "</td></tr>\n";
  os << "</table>\n";

  os << "<h2>Learning curves</h2>\n<div class='charts'>\n";
  const Chart charts[2] = {
      line_chart("loss", ChartQuantity::Loss, in.history, &EpochRecord::loss, "loss", &EpochRecord::val_loss,
                 "val_loss", in.best_epoch),
      line_chart("accuracy", ChartQuantity::Accuracy, in.history, &EpochRecord::accuracy, "accuracy",
                 &EpochRecord::val_accuracy, "val_accuracy", in.best_epoch)};
  for (const Chart& c : charts) os << c.svg;
  os << "</div>\n";
  for (const Chart& c : charts)
    if (!c.note.empty()) os << "<p class='note'>" << html_escape(c.note) << "</p>\n";
  if (in.best_epoch > 0)
    os << "<p>Best epoch by " << html_escape(in.monitor) << ": " << in.best_epoch << " (dashed line).</p>\n";
  os << "<table><tr><th>epoch</th><th>loss</th><th>accuracy</th><th>val_loss</th><th>val_accuracy</th><th>seconds</th></tr>\n";
  for (const EpochRecord& r : in.history)
    os << "<tr" << (r.epoch == in.best_epoch ? " style='font-weight:bold'" : "") << "><td class='n'>" << r.epoch
       << "</td><td class='n'>" << num(r.loss, 4) << "</td><td class='n'>" << num(r.accuracy, 4)
       << "</td><td class='n'>" << num(r.val_loss, 4) << "</td><td class='n'>" << num(r.val_accuracy, 4)
       << "</td><td class='n'>" << num(r.seconds, 3) << "</td></tr>\n";
  os << "</table>\n";
  if (!in.history.empty())
    os << "<p class='note'>seconds: each epoch's whole time, training and validation"
       << (in.feature_cache ? ", over the features of the frozen base computed once before epoch 1" +
                                  (in.times.total > 0 ? " (" + seconds_text(in.times.features) + ")" : std::string())
                            : std::string(" with the frozen base run on every batch"))
       << "; checkpoints are written alongside.</p>\n";

  if (in.has_test) {
    os << "<h2>Test split</h2>\n<p>Accuracy " << num(in.test.accuracy, 4) << " (" << in.test.correct << "/"
       << in.test.total << "), loss " << num(in.test.loss, 4) << ", macro F1 " << num(in.test.macro_f1, 4)
       << ".</p>\n";
    os << confusion_svg(in.test, in.class_names);
    os << "<table><tr><th>class</th><th>support</th><th>precision</th><th>recall</th><th>F1</th></tr>\n";
    for (const ClassMetrics& m : in.test.per_class)
      os << "<tr><td>" << html_escape(m.name) << "</td><td class='n'>" << m.support << "</td><td class='n'>"
         << num(m.precision, 4) << "</td><td class='n'>" << num(m.recall, 4) << "</td><td class='n'>"
         << num(m.f1, 4) << "</td></tr>\n";
    os << "</table>\n";
    std::vector<const Prediction*> wrong;
    for (const Prediction& p : in.predictions)
      if (p.label >= 0 && p.label != p.predicted) wrong.push_back(&p);
    os << "<h2>Misclassified files (" << wrong.size() << ")</h2>\n";
    if (!wrong.empty()) {
      os << "<table><tr><th>file</th><th>true</th><th>predicted</th><th>probability</th></tr>\n";
      for (const Prediction* p : wrong)
        os << "<tr><td>" << html_escape(p->path) << "</td><td>" << html_escape(in.class_names[p->label])
           << "</td><td>" << html_escape(in.class_names[p->predicted]) << "</td><td class='n'>"
           << num(p->probs[p->predicted], 4) << "</td></tr>\n";
      os << "</table>\n";
    }
  } else {
    os << "<h2>Test split</h2>\n<p>No test split was found (no test/ folder in the data folder, and no --test "
          "FOLDER), so the model was not evaluated on held-out images.</p>\n";
  }
  os << "<h2>Skipped files (" << in.bad_files.size() << ")</h2>\n";
  if (!in.bad_files.empty()) {
    os << "<table><tr><th>file</th><th>reason</th></tr>\n";
    for (const BadFileRecord& b : in.bad_files)
      os << "<tr><td>" << html_escape(b.path) << "</td><td>" << html_escape(b.reason) << "</td></tr>\n";
    os << "</table>\n";
  }
  os << "</body></html>\n";
  return os.str();
}

void write_eval_files(const std::string& dir, const EvalSummary& s, const std::vector<Prediction>& predictions,
                      const std::vector<std::string>& class_names, const std::string& predictions_name) {
  write_text_atomically(dir + "/" + predictions_name, predictions_csv(predictions, class_names));
  write_text_atomically(dir + "/confusion_matrix.csv", confusion_csv(s, class_names));
  write_text_atomically(dir + "/per_class.csv", per_class_csv(s));
}

}  // namespace vggtl
