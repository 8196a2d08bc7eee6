// The Python module vggtl._vggtl (nanobind): the tools' pipeline functions (apps/pipeline/) behind
// Python calls. Options arrive as the tools' own command-line words, parsed by the same CLI11
// definitions the tools use (TrainOptions::add_to, ExtractSettings::add_to,
// InferenceOptions::add_to), whose names, defaults and help _option_table hands to
// python/vggtl/__init__.py. Every engine call runs with the GIL released, one at a time, with
// the engine's Ctrl-C handler installed for its duration. Tested by python/tests/.
#include <nanobind/nanobind.h>
#include <nanobind/ndarray.h>
#include <nanobind/stl/string.h>
#include <nanobind/stl/tuple.h>
#include <nanobind/stl/vector.h>

#include <CLI/CLI.hpp>

#include <csignal>
#include <cstdio>
#include <cstring>
#include <limits>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <vector>

#include "apps/pipeline/app_main.h"
#include "apps/pipeline/evaluate.h"
#include "apps/pipeline/extract.h"
#include "apps/pipeline/file_list.h"
#include "apps/pipeline/inference.h"
#include "apps/pipeline/interrupt.h"
#include "apps/pipeline/metrics.h"
#include "apps/pipeline/progress.h"
#include "apps/pipeline/train_options.h"
#include "apps/pipeline/train_run.h"
#include "engine/device.h"
#include "engine/error.h"
#include "engine/log.h"
#include "io/hdf5/features_file.h"
#include "vggtl/build_info.h"

namespace nb = nanobind;
using namespace nb::literals;

namespace vggtl {
namespace {

// A Python callback raised: its exception is the thread's pending Python error, re-raised once
// the engine has unwound and the GIL is held again.
struct CallbackRaised {};

// Python's sys.stdout written out (with the GIL held), so that the engine's lines, which C's
// stdout writes, come after what Python printed before them.
void flush_python_stdout() {
  PyObject* out = PySys_GetObject("stdout");  // borrowed; None or absent without a console
  if (!out || out == Py_None) return;
  PyObject* r = PyObject_CallMethod(out, "flush", nullptr);
  if (r) Py_DECREF(r);
  else PyErr_Clear();  // a stdout that cannot flush is no reason to stop training
}

// Calls a Python callable from an engine thread that does not hold the GIL; the engine's lines
// and the callable's prints go out in the order they were made.
template <typename... Args>
void call_python(PyObject* fn, Args&&... args) {
  std::fflush(stdout);
  nb::gil_scoped_acquire gil;
  try {
    nb::handle h(fn);
    h(std::forward<Args>(args)...);
    flush_python_stdout();
  } catch (nb::python_error& e) {
    e.restore();
    throw CallbackRaised{};
  }
}

std::mutex g_engine;  // the progress sink, the log level and the signal handlers are process-wide

// One engine call's process-wide settings, restored when it ends: progress to `progress`
// (label, done, total) or nowhere when quiet, the log level, and the engine's SIGINT / SIGTERM
// handler in place of Python's (which cannot run while the GIL is released).
class EngineScope {
 public:
  EngineScope(PyObject* progress, bool quiet) : level_(log_level()) {
    flush_python_stdout();
    if (quiet && level_ < LogLevel::Warning) set_log_level(LogLevel::Warning);
    if (progress)
      set_progress_sink([progress](const std::string& label, int64_t done, int64_t total) {
        call_python(progress, label, done, total);
      });
    else if (quiet)
      set_progress_sink([](const std::string&, int64_t, int64_t) {});
    sigaction(SIGINT, nullptr, &old_int_);
    sigaction(SIGTERM, nullptr, &old_term_);
    clear_interrupt();  // the flag down, the engine's handler in
  }
  ~EngineScope() {
    std::fflush(stdout);  // C's stdout is block-buffered into a pipe or file: the engine's lines now
    sigaction(SIGINT, &old_int_, nullptr);
    sigaction(SIGTERM, &old_term_, nullptr);
    set_progress_sink({});
    set_log_level(level_);
  }
  EngineScope(const EngineScope&) = delete;
  EngineScope& operator=(const EngineScope&) = delete;

 private:
  LogLevel level_;
  struct sigaction old_int_ {}, old_term_ {};
};

bool names_missing_path(const std::string& m) {
  for (const char* s : {": not found", "file not found", "was not found", "does not exist", "no such file",
                        "no such folder", "no such run folder"})
    if (m.find(s) != std::string::npos) return true;
  return false;
}

[[noreturn]] void raise(PyObject* type, const std::string& message) {
  PyErr_SetString(type, message.c_str());
  throw nb::python_error();
}

// Runs `work` with the GIL released inside an EngineScope; engine errors become Python's:
// Ctrl-C -> KeyboardInterrupt, bad input -> FileNotFoundError (a missing file or folder) or
// ValueError, anything else -> RuntimeError, each with the tools' one-line message.
template <typename F>
auto run_engine(PyObject* progress, bool quiet, F&& work) -> decltype(work()) {
  std::unique_lock<std::mutex> lock(g_engine, std::defer_lock);
  {
    nb::gil_scoped_release release;
    lock.lock();
  }
  EngineScope scope(progress, quiet);
  std::string message;
  PyObject* type = nullptr;
  try {
    nb::gil_scoped_release release;
    auto result = work();
    if (interrupt_requested()) throw Error("interrupted after the work had finished", ErrorKind::Interrupted);
    return result;
  } catch (const CallbackRaised&) {
    throw nb::python_error();
  } catch (const CLI::ParseError& e) {
    type = PyExc_ValueError;
    message = e.what();
  } catch (const Error& e) {
    message = e.what();
    if (e.kind() == ErrorKind::Interrupted)
      type = PyExc_KeyboardInterrupt;
    else if (e.kind() == ErrorKind::BadInput || e.kind() == ErrorKind::Usage)
      type = names_missing_path(message) ? PyExc_FileNotFoundError : PyExc_ValueError;
    else
      type = PyExc_RuntimeError;
  } catch (const std::exception& e) {
    type = PyExc_RuntimeError;
    message = e.what();
  }
  raise(type, message);
}

// Parses the tools' words with an app's definitions (what the command line would have been).
void parse(CLI::App& app, const std::string& name, const std::vector<std::string>& args) {
  std::vector<std::string> reversed(args.rbegin(), args.rend());  // CLI11 takes them last first
  app.name(name);
  app.parse(reversed);
}

// The options of a tool's table: (keyword, flag, default or "", help, is a flag, required).
using OptionRow = std::tuple<std::string, std::string, std::string, std::string, bool, bool>;

std::vector<OptionRow> option_rows(const CLI::App& app) {
  std::vector<OptionRow> rows;
  for (const CLI::Option* o : app.get_options()) {
    const std::vector<std::string>& longs = o->get_lnames();
    if (longs.empty() || longs[0] == "help") continue;
    std::string key = longs[0];
    for (char& c : key)
      if (c == '-') c = '_';
    rows.emplace_back(key, "--" + longs[0], o->get_default_str(), o->get_description(), o->get_expected_max() == 0,
                      o->get_required());
  }
  return rows;
}

std::vector<OptionRow> option_table(const std::string& tool) {
  CLI::App app;
  if (tool == "train") {
    TrainOptions o;
    o.add_to(app);
  } else if (tool == "extract") {
    ExtractSettings s;
    s.add_to(app);
  } else if (tool == "load_model") {
    InferenceOptions o;
    o.add_to(app);
  } else {
    throw nb::value_error(("no option table for '" + tool + "'").c_str());
  }
  return option_rows(app);
}

// A float32 array that owns its buffer (freed with the array).
nb::ndarray<nb::numpy, float> owned_floats(std::vector<size_t> shape) {
  size_t n = 1;
  for (size_t d : shape) n *= d;
  float* data = new float[n > 0 ? n : 1]();
  nb::capsule owner(data, [](void* p) noexcept { delete[] static_cast<float*>(p); });
  return nb::ndarray<nb::numpy, float>(data, shape.size(), shape.data(), owner);
}

// Probabilities (n, classes) of predictions, in order (one copy: from each Prediction's row).
nb::ndarray<nb::numpy, float> probability_array(const std::vector<Prediction>& p, size_t rows, size_t classes,
                                                const std::vector<int64_t>& row_of) {
  auto a = owned_floats({rows, classes});
  float* d = a.data();
  for (size_t i = 0; i < rows * classes; ++i) d[i] = std::numeric_limits<float>::quiet_NaN();
  for (size_t i = 0; i < p.size(); ++i)
    std::memcpy(d + static_cast<size_t>(row_of[i]) * classes, p[i].probs.data(), classes * sizeof(float));
  return a;
}

nb::dict summary_dict(const EvalSummary& s, const std::vector<std::string>& classes) {
  nb::dict d;
  d["loss"] = s.loss;
  d["accuracy"] = s.accuracy;
  d["correct"] = s.correct;
  d["total"] = s.total;
  d["macro_f1"] = s.macro_f1;
  d["confusion"] = s.confusion;
  nb::dict per_class;
  for (const ClassMetrics& m : s.per_class) {
    nb::dict c;
    c["precision"] = m.precision;
    c["recall"] = m.recall;
    c["f1"] = m.f1;
    c["support"] = m.support;
    per_class[m.name.c_str()] = c;
  }
  d["per_class"] = per_class;
  d["class_names"] = classes;
  return d;
}

nb::list bad_list(const std::vector<BadFile>& bad) {
  nb::list l;
  for (const BadFile& b : bad) l.append(nb::make_tuple(b.path, b.reason));
  return l;
}

// ---- the calls ----

int train(const std::vector<std::string>& args, nb::object on_start, nb::object on_epoch_end, nb::object progress,
          bool quiet) {
  CLI::App app;
  TrainOptions opt;
  opt.add_to(app);
  std::string command_line = "vggtl.train";
  for (const std::string& a : args) command_line += " " + a;
  TrainObserver observer;
  PyObject* start = on_start.is_none() ? nullptr : on_start.ptr();
  PyObject* epoch = on_epoch_end.is_none() ? nullptr : on_epoch_end.ptr();
  if (start) observer.on_start = [start](const std::string& out) { call_python(start, out); };
  if (epoch)
    observer.on_epoch_end = [epoch](const EpochRecord& r) {
      call_python(epoch, r.epoch, r.loss, r.accuracy, r.val_loss, r.val_accuracy, r.seconds, r.stage);
    };
  return run_engine(progress.is_none() ? nullptr : progress.ptr(), quiet, [&] {
    parse(app, "vggtl.train", args);
    return train_command(app, opt, command_line, &observer);
  });
}

nb::dict extract(const std::vector<std::string>& args, nb::object progress, bool quiet) {
  CLI::App app;
  ExtractSettings s;
  s.add_to(app);
  struct Result {
    std::unique_ptr<Tensor> features;
    std::vector<int32_t> labels;
    std::vector<std::string> paths, classes;
    std::vector<BadFile> bad;
    std::map<std::string, std::string> attributes;
  };
  Result r = run_engine(progress.is_none() ? nullptr : progress.ptr(), quiet, [&] {
    parse(app, "vggtl.extract", args);
    validate_extract_settings(s);
    check_output_file(s.out, "--out");
    precheck_hdf5_inputs({{s.weights.empty() ? default_weights_path() : s.weights, Hdf5Role::Weights}});
    const SplitListing split = list_split(s.data);
    for (const std::string& w : split.warnings) log_warning(w);
    const Device device = prepare_extract(&s);
    int64_t rows = 0;
    Result out;
    out.bad = extract_features(s, device, split, split.items, extract_header(s, device, split), s.out, "extract",
                               &rows);
    // The file just written, read back whole: the array is the tensor's own buffer.
    FeaturesReader reader(s.out);
    out.features = std::make_unique<Tensor>(reader.read_all());
    out.labels = reader.labels();
    out.paths = reader.paths();
    out.classes = reader.header().class_names;
    out.attributes = reader.header().attributes;
    return out;
  });
  Tensor* t = r.features.release();
  nb::capsule owner(t, [](void* p) noexcept { delete static_cast<Tensor*>(p); });
  std::vector<size_t> shape;
  for (int64_t d : t->shape().vec()) shape.push_back(static_cast<size_t>(d));
  nb::dict d;
  d["features"] = nb::ndarray<nb::numpy, float>(t->data<float>(), shape.size(), shape.data(), owner);
  // The labels are the reader's vector, moved into the array's owner (no copy).
  auto* labels = new std::vector<int32_t>(std::move(r.labels));
  nb::capsule labels_owner(labels, [](void* p) noexcept { delete static_cast<std::vector<int32_t>*>(p); });
  const size_t n = labels->size();
  d["labels"] = nb::ndarray<nb::numpy, int32_t>(labels->data(), 1, &n, labels_owner);
  d["paths"] = r.paths;
  d["class_names"] = r.classes;
  d["bad_files"] = bad_list(r.bad);
  nb::dict attrs;
  for (const auto& [k, v] : r.attributes) attrs[k.c_str()] = v;
  d["attributes"] = attrs;
  return d;
}

// A loaded model (vggtl.load_model): the checkpoint's model on its device, kept between calls.
class PyModel {
 public:
  PyModel(const std::vector<std::string>& args, bool quiet) {
    CLI::App app;
    options_.add_to(app);
    im_ = run_engine(nullptr, quiet, [&] {
      parse(app, "vggtl.load_model", args);
      precheck_hdf5_inputs({{options_.model, Hdf5Role::Checkpoint},
                            {options_.weights.empty() ? default_weights_path() : options_.weights,
                             Hdf5Role::Weights}});
      return std::make_shared<InferenceModel>(load_inference_model(options_));
    });
  }

  std::vector<std::string> class_names() const { return im_->class_names; }
  void set_class_names(const std::vector<std::string>& names) {
    if (static_cast<int64_t>(names.size()) != im_->spec.head.classes)
      raise(PyExc_ValueError, std::to_string(names.size()) + " class names for a model with " +
                                  std::to_string(im_->spec.head.classes) + " outputs");
    im_->class_names = names;
  }
  int64_t classes() const { return im_->spec.head.classes; }
  int image_size() const { return im_->loader.image_size; }
  std::string source() const { return im_->source; }
  std::string device() const { return im_->model->device().str(); }
  std::string preprocessing() const { return option_word(im_->loader.transform); }
  std::string interpolation() const { return option_word(im_->loader.filter); }

  // (probabilities (n, classes) with NaN rows for files that did not decode, the files in order,
  // the bad files as (path, reason)).
  nb::tuple predict_paths(const std::vector<std::string>& paths, nb::object progress, bool quiet) {
    std::vector<DataItem> items;
    SplitPredictions p = run_engine(progress.is_none() ? nullptr : progress.ptr(), quiet, [&] {
      items = collect_images(paths);
      ImageLoader loader(items, im_->loader);
      return predict_split(*im_->model, im_->head_start, loader, false, nullptr, "predict");
    });
    // Rows of the images that decoded: the items not named bad, in order.
    std::vector<char> is_bad(items.size(), 0);
    for (const BadFile& b : p.bad) is_bad.at(static_cast<size_t>(b.index)) = 1;
    std::vector<int64_t> row_of;
    for (size_t i = 0; i < items.size(); ++i)
      if (!is_bad[i]) row_of.push_back(static_cast<int64_t>(i));
    VGGTL_CHECK(row_of.size() == p.predictions.size(), "predict: ", p.predictions.size(), " predictions for ",
                row_of.size(), " decoded images");
    std::vector<std::string> files;
    for (const DataItem& it : items) files.push_back(it.path);
    return nb::make_tuple(probability_array(p.predictions, items.size(), static_cast<size_t>(classes()), row_of),
                          files, bad_list(p.bad));
  }

  nb::ndarray<nb::numpy, float> predict_pixels(nb::ndarray<const uint8_t, nb::ndim<4>, nb::c_contig, nb::device::cpu> x,
                                               nb::object progress, bool quiet) {
    if (x.shape(3) != 3)
      raise(PyExc_ValueError, "images must be (N, height, width, 3) uint8 RGB; got " + std::to_string(x.shape(3)) +
                                  " channels");
    const int64_t n = static_cast<int64_t>(x.shape(0));
    const int h = static_cast<int>(x.shape(1)), w = static_cast<int>(x.shape(2));
    const uint8_t* pixels = x.data();
    std::vector<Prediction> p = run_engine(progress.is_none() ? nullptr : progress.ptr(), quiet, [&] {
      return vggtl::predict_pixels(*im_->model, im_->head_start, pixels, n, h, w, im_->loader, "predict");
    });
    std::vector<int64_t> row_of(p.size());
    for (size_t i = 0; i < p.size(); ++i) row_of[i] = static_cast<int64_t>(i);
    return probability_array(p, static_cast<size_t>(n), static_cast<size_t>(classes()), row_of);
  }

  nb::dict evaluate(const std::string& data, nb::object progress, bool quiet) {
    struct Result {
      SplitPredictions p;
      EvalSummary s;
      std::vector<std::string> classes;
    };
    Result r = run_engine(progress.is_none() ? nullptr : progress.ptr(), quiet, [&] {
      Result out;
      out.classes = im_->class_names;
      // A Keras file has no class names: the folder's sorted sub-folders name the outputs.
      SplitListing split = out.classes.empty() ? list_split(data) : list_split(data, &out.classes);
      for (const std::string& w : split.warnings) log_warning(w);
      if (out.classes.empty()) {
        out.classes = split.classes;
        if (static_cast<int64_t>(out.classes.size()) != im_->spec.head.classes)
          throw InputError(data + ": " + std::to_string(out.classes.size()) + " class folders for a model with " +
                           std::to_string(im_->spec.head.classes) + " outputs");
      }
      ImageLoader loader(split.items, im_->loader);
      out.p = predict_split(*im_->model, im_->head_start, loader, true, nullptr, "eval");
      report_bad_files(out.p.bad, nullptr);
      if (out.p.predictions.empty()) throw InputError(data + ": no image could be decoded");
      out.s = summarize(out.p.predictions, out.classes);
      return out;
    });
    nb::dict d = summary_dict(r.s, r.classes);
    d["bad_files"] = bad_list(r.p.bad);
    return d;
  }

 private:
  InferenceOptions options_;
  std::shared_ptr<InferenceModel> im_;
};

std::vector<std::string> devices() {
  std::vector<std::string> d{"cpu"};
  const CudaRuntimeInfo& info = cuda_runtime_info();
  if (info.usable)
    for (const CudaDeviceInfo& g : info.devices) d.push_back("cuda:" + std::to_string(g.index));
  return d;
}

}  // namespace
}  // namespace vggtl

NB_MODULE(_vggtl, m) {
  using namespace vggtl;
  m.doc() = "vggtl's engine: the tools' pipeline functions (see the vggtl package for the documented API)";
  m.attr("__version__") = VGGTL_VERSION;
  m.def("devices", &devices, "Devices the engine can run on: 'cpu', then 'cuda:0', ... for each usable GPU.");
  m.def("version_report", [] { return full_version_report(); }, "What the tools' --version prints.");
  m.def("_option_table", &option_table, "tool"_a);
  m.def("_train", &train, "args"_a, "on_start"_a.none(), "on_epoch_end"_a.none(), "progress"_a.none(), "quiet"_a);
  m.def("_extract", &extract, "args"_a, "progress"_a.none(), "quiet"_a);
  nb::class_<PyModel>(m, "_Model")
      .def(nb::init<const std::vector<std::string>&, bool>(), "args"_a, "quiet"_a)
      .def_prop_rw("class_names", &PyModel::class_names, &PyModel::set_class_names)
      .def_prop_ro("classes", &PyModel::classes)
      .def_prop_ro("image_size", &PyModel::image_size)
      .def_prop_ro("source", &PyModel::source)
      .def_prop_ro("device", &PyModel::device)
      .def_prop_ro("preprocessing", &PyModel::preprocessing)
      .def_prop_ro("interpolation", &PyModel::interpolation)
      .def("_predict_paths", &PyModel::predict_paths, "paths"_a, "progress"_a.none(), "quiet"_a)
      .def("_predict_pixels", &PyModel::predict_pixels, "x"_a, "progress"_a.none(), "quiet"_a)
      .def("_evaluate", &PyModel::evaluate, "data"_a, "progress"_a.none(), "quiet"_a);
}
