"""vggtl: transfer learning on a frozen, ImageNet-pretrained VGG16, from Python.

The engine and the four command-line tools' pipeline, with Keras's habits::

    import vggtl
    history = vggtl.train("data/", out="runs/cats", epochs=20, callbacks=[on_epoch_end])
    history.history["val_loss"]
    model = vggtl.load_model("runs/cats/best.h5")
    probs = model.predict(["a.jpg", "b.png"])          # (N, classes) float32
    model.evaluate("data/test")                        # loss, accuracy, confusion, per class
    f = vggtl.extract("data/train", weights="notop.h5")  # f.features (N, h, w, 512)

Every keyword of train, extract and load_model is the tool's option of the same name with '-'
as '_' (vggtl_train --batch-size -> batch_size=), with the tool's default: the options are read
from the tools' own definitions, so help(vggtl.train) lists them. A value is given as the tool
takes it, or as Python's: True / False for on/off options (shuffle=False), None for 'none'
(weights=None is a random base, trainable_from=None no fine-tuning), numbers, paths.

Errors: a bad input raises ValueError, a missing file or folder FileNotFoundError, each with the
tools' one-line message; Ctrl-C ends the current batch (train saves last.h5 first) and raises
KeyboardInterrupt. The engine releases the GIL while it computes; one engine call runs at a time
in a process (others wait). Progress shows through tqdm when it is installed, else as the
tools' bar, and not at all with verbose=0.
"""

import difflib
import inspect
import json
import os
import tempfile
import warnings

import numpy as np

_here = os.path.dirname(os.path.abspath(__file__))
# The tools' HDF5 check program (every HDF5 input is first read in it), installed beside the module.
_check_program = os.path.join(_here, "vggtl_hdf5_check")
if os.path.exists(_check_program):
    os.environ.setdefault("VGGTL_HDF5_CHECK_PROGRAM", _check_program)

from . import _vggtl  # noqa: E402

__version__ = _vggtl.__version__
__all__ = ["train", "load_model", "extract", "devices", "version_report", "History", "Model", "Features",
           "__version__"]


def devices():
    """Devices the engine can run on: ['cpu'], then 'cuda:0', ... for each usable GPU."""
    return list(_vggtl.devices())


def version_report():
    """What the tools' --version prints: build options, libraries, CPU backend and devices."""
    return _vggtl.version_report()


class _ToolDefault:
    """A default that the tool works out (shown in signatures; the keyword is then not passed)."""

    def __init__(self, text):
        self.text = text

    def __repr__(self):
        return self.text


class _Option:
    def __init__(self, row):
        self.name, self.flag, self.default_text, self.help, self.is_flag, self.required = row

    def default(self):
        if self.is_flag:
            return False
        text = self.default_text
        if text == "":
            return _ToolDefault("<tool default>") if not self.required else inspect.Parameter.empty
        for kind in (int, float):
            try:
                return kind(text)
            except ValueError:
                pass
        return text


def _table(tool):
    return {row[0]: _Option(row) for row in _vggtl._option_table(tool)}


_TABLES = {tool: _table(tool) for tool in ("train", "extract", "load_model")}
# Options whose word 'none' a Python None stands for.
_NONE_WORDS = {"weights", "trainable_from", "augment", "preprocessing"}


def _word(option, value):
    if value is None:
        return "none"
    if isinstance(value, bool):
        return "on" if value else "off"
    if isinstance(value, os.PathLike):
        return os.fspath(value)
    if isinstance(value, (list, tuple)):
        return ",".join(_word(option, v) for v in value)
    if isinstance(value, float):
        return repr(value)
    return str(value)


def _arguments(tool, func, kwargs):
    """The tool's command-line words for the keywords given (only those: the rest keep the
    tool's defaults). An unknown keyword is a TypeError naming the closest real one."""
    table = _TABLES[tool]
    args = []
    for key, value in kwargs.items():
        option = table.get(key)
        if option is None:
            close = difflib.get_close_matches(key, list(table), n=1)
            hint = "; did you mean '%s'?" % close[0] if close else ""
            raise TypeError("%s() got an unexpected keyword argument '%s'%s" % (func, key, hint))
        if option.is_flag:
            if value:
                args.append(option.flag)
            continue
        if value is None and key not in _NONE_WORDS:
            continue  # None: the tool's default
        args += [option.flag, _word(option, value)]
    return args


def _signature(tool, first, extra):
    params = [inspect.Parameter(first, inspect.Parameter.POSITIONAL_OR_KEYWORD)]
    for name, option in _TABLES[tool].items():
        if name == first:
            continue
        params.append(inspect.Parameter(name, inspect.Parameter.KEYWORD_ONLY, default=option.default()))
    for name, default in extra:
        params.append(inspect.Parameter(name, inspect.Parameter.KEYWORD_ONLY, default=default))
    return inspect.Signature(params)


def _option_doc(tool, skip=()):
    lines = []
    for name, option in _TABLES[tool].items():
        if name in skip:
            continue
        default = "" if option.is_flag or option.default_text == "" else " (default %s)" % option.default_text
        lines.append("    %s: %s%s" % (name, option.help, default))
    return "\n".join(lines)


class _Progress:
    """Engine progress into tqdm bars, one per piece of work (label)."""

    def __init__(self, tqdm):
        self._tqdm = tqdm
        self._bar = None
        self._key = None

    def __call__(self, label, done, total):
        if self._bar is None or self._key != (label, total) or done < self._bar.n:
            self.close()
            self._bar = self._tqdm(total=total, desc=label, leave=False)
            self._key = (label, total)
        self._bar.update(done - self._bar.n)
        if done >= total:
            self.close()

    def close(self):
        if self._bar is not None:
            self._bar.close()
            self._bar = None


def _progress(verbose):
    """(progress callable or None, quiet) for verbose: 0 nothing, else tqdm when installed, else
    the engine's own bar."""
    if not verbose:
        return None, True
    try:
        from tqdm.auto import tqdm
    except ImportError:
        return None, False
    return _Progress(tqdm), False


def _finish(progress):
    if progress is not None:
        progress.close()


class History:
    """What train returns, like keras.callbacks.History: history (per-metric lists over the epochs
    this call trained), epoch (their indices, from 0), params, and vggtl's out (the run folder),
    seconds and stage per epoch, and metrics (the run's metrics.json, when written)."""

    def __init__(self, params):
        self.history = {"loss": [], "accuracy": [], "val_loss": [], "val_accuracy": []}
        self.epoch = []
        self.params = params
        self.seconds = []
        self.stage = []
        self.out = None
        self.metrics = None

    def __repr__(self):
        return "History(out=%r, epochs=%r)" % (self.out, [e + 1 for e in self.epoch])


def _callback(cb, name, *args):
    method = getattr(cb, name, None)
    if method is not None:
        method(*args)
    elif name == "on_epoch_end" and callable(cb):
        cb(*args)


def train(data=None, *, callbacks=None, verbose=1, **options):
    history = History(dict(options, data=data))
    callbacks = list(callbacks or [])
    if data is not None:
        options["data"] = data
    if verbose == 0:
        options["quiet"] = True
    args = _arguments("train", "train", options)

    def on_start(out):
        history.out = out
        for cb in callbacks:
            _callback(cb, "on_train_begin", {})

    def on_epoch_end(epoch, loss, accuracy, val_loss, val_accuracy, seconds, stage):
        logs = {"loss": loss, "accuracy": accuracy, "val_loss": val_loss, "val_accuracy": val_accuracy}
        history.epoch.append(epoch - 1)
        for k, v in logs.items():
            history.history[k].append(v)
        history.seconds.append(seconds)
        history.stage.append(stage)
        for cb in callbacks:
            _callback(cb, "on_epoch_end", epoch - 1, dict(logs))

    progress, quiet = _progress(verbose)
    try:
        _vggtl._train(args, on_start, on_epoch_end, progress, quiet)
    finally:
        _finish(progress)
    if history.out and os.path.exists(os.path.join(history.out, "metrics.json")):
        with open(os.path.join(history.out, "metrics.json")) as f:
            history.metrics = json.load(f)
    for cb in callbacks:
        _callback(cb, "on_train_end", {})
    return history


train.__signature__ = _signature("train", "data", [("callbacks", None), ("verbose", 1)])
train.__doc__ = """Trains the classifier head on the frozen VGG16 base, as vggtl_train does, and returns
a History.

data: the folder holding train/, valid/ and optionally test/ (one sub-folder per class).
callbacks: functions called as f(epoch, logs) after each epoch (epoch from 0, logs with loss,
    accuracy, val_loss, val_accuracy), or objects with Keras's on_train_begin(logs),
    on_epoch_end(epoch, logs), on_train_end(logs) methods.
verbose: 0 prints only warnings and errors (--quiet); 1 shows progress (tqdm when installed).

The run folder (out=, default runs/<date-time>) gets what vggtl_train writes; Ctrl-C saves
last.h5 and raises KeyboardInterrupt, and train(..., out=same, resume=True) continues exactly.

Keywords (vggtl_train's options, '-' as '_'):
""" + _option_doc("train", skip=("data",))


class Features:
    """What extract returns: features (N, h, w, 512) float32 NHWC, labels (N,) int32, paths
    (relative to the split folder), class_names, bad_files [(path, reason)], attributes (the
    file's settings) and out (the features file written, or None)."""

    def __init__(self, d, out):
        self.features = d["features"]
        self.labels = d["labels"]
        self.paths = list(d["paths"])
        self.class_names = list(d["class_names"])
        self.bad_files = list(d["bad_files"])
        self.attributes = dict(d["attributes"])
        self.out = out

    def __repr__(self):
        return "Features(%s, classes=%r)" % (self.features.shape, self.class_names)


def extract(data, *, out=None, verbose=1, **options):
    options["data"] = data
    keep = out is not None
    with tempfile.TemporaryDirectory(prefix="vggtl-extract-") as scratch:
        options["out"] = out if keep else os.path.join(scratch, "features.h5")
        args = _arguments("extract", "extract", options)
        progress, quiet = _progress(verbose)
        try:
            d = _vggtl._extract(args, progress, quiet)
        finally:
            _finish(progress)
    return Features(d, os.fspath(out) if keep else None)


extract.__signature__ = _signature("extract", "data", [("verbose", 1)])
extract.__doc__ = """Bottleneck features of the frozen VGG16 base for one split folder, as vggtl_extract
computes them, returned as a Features object. With out= the features file is kept there (the
file vggtl_extract writes); without, it is written to a temporary folder and removed.

The arrays are the engine's buffers read back from the file (one copy: file to memory).

Keywords (vggtl_extract's options, '-' as '_'):
""" + _option_doc("extract", skip=("data",))


class Model:
    """A trained model (load_model): a vggtl checkpoint, or a Keras full-model file of the
    tutorial's architecture. predict and evaluate run the base and the head on its device."""

    def __init__(self, engine_model, path):
        self._m = engine_model
        self.path = path

    class_names = property(lambda self: list(self._m.class_names),
                           lambda self, names: setattr(self._m, "class_names", list(names)),
                           doc="Output names (a Keras file has none: set them, or evaluate names them "
                               "from the folder)")
    image_size = property(lambda self: self._m.image_size, doc="Input side in pixels")
    preprocessing = property(lambda self: self._m.preprocessing, doc="caffe or none")
    interpolation = property(lambda self: self._m.interpolation, doc="nearest or bilinear")
    device = property(lambda self: self._m.device, doc="Where the model runs")
    source = property(lambda self: self._m.source, doc="vggtl checkpoint or Keras full-model file")

    def predict(self, x, verbose=1):
        """Class probabilities, (N, classes) float32, one row per image, in order.

        x: a file or folder path, or a list of them (folders searched recursively, sorted), the
        rows then in vggtl_predict's order; a file that cannot be decoded keeps its row, as NaN,
        with a warning naming it. Or a uint8 array (N, height, width, 3) RGB (or one image
        (height, width, 3)), resized and preprocessed with the very arithmetic used for files.
        """
        progress, quiet = _progress(verbose)
        try:
            if isinstance(x, np.ndarray):
                if x.dtype != np.uint8:
                    raise ValueError("images must be uint8 RGB (N, height, width, 3); got %s" % x.dtype)
                if x.ndim == 3:
                    x = x[None]
                if x.ndim != 4:
                    raise ValueError("images must be (N, height, width, 3) uint8 RGB; got shape %s" % (x.shape,))
                return self._m._predict_pixels(np.ascontiguousarray(x), progress, quiet)
            probs, _, bad = self._predict_files(x, progress, quiet)
            return probs
        finally:
            _finish(progress)

    def predict_files(self, paths, verbose=1):
        """(probabilities (N, classes), the N files in order, bad files [(path, reason)]) for
        paths as predict takes them."""
        progress, quiet = _progress(verbose)
        try:
            return self._predict_files(paths, progress, quiet)
        finally:
            _finish(progress)

    def _predict_files(self, paths, progress, quiet):
        if isinstance(paths, (str, os.PathLike)):
            paths = [paths]
        probs, files, bad = self._m._predict_paths([os.fspath(p) for p in paths], progress, quiet)
        for path, reason in bad:
            warnings.warn("%s: %s (its row is NaN)" % (path, reason), RuntimeWarning, stacklevel=3)
        return probs, list(files), list(bad)

    def evaluate(self, data, verbose=1):
        """vggtl_eval on a split folder (one sub-folder per class): a dict with loss, accuracy,
        correct, total, macro_f1, confusion (rows: true, columns: predicted), per_class
        {name: {precision, recall, f1, support}}, class_names and bad_files."""
        progress, quiet = _progress(verbose)
        try:
            return self._m._evaluate(os.fspath(data), progress, quiet)
        finally:
            _finish(progress)

    def __repr__(self):
        return "Model(%r, classes=%r, image_size=%d, device=%r)" % (self.path, self.class_names, self.image_size,
                                                                   self.device)


def load_model(model, *, verbose=1, **options):
    options["model"] = model
    args = _arguments("load_model", "load_model", options)
    return Model(_vggtl._Model(args, verbose == 0), os.fspath(model))


load_model.__signature__ = _signature("load_model", "model", [("verbose", 1)])
load_model.__doc__ = """Loads a trained model, as vggtl_eval and vggtl_predict do: a vggtl checkpoint
(best.h5, last.h5) or a Keras full-model file of the tutorial's architecture. Returns a Model.

Keywords (vggtl_eval's and vggtl_predict's options, '-' as '_'):
""" + _option_doc("load_model", skip=("model",))
