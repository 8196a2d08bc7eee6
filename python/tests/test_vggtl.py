# The Python package against the tools on the same data: features (vggtl.extract vs vggtl_extract),
# a training history and run folder (vggtl.train vs vggtl_train), predictions and evaluation
# (Model.predict / evaluate vs vggtl_predict / vggtl_eval); the options table, error mapping,
# Ctrl-C and resume, and the GIL released while the engine computes.
import csv
import io
import os
import signal
import subprocess
import sys
import textwrap
import threading

import numpy as np
import pytest

import vggtl
from conftest import run_tool

COMMON = dict(epochs=3, batch_size=4, image_size=32, device="cpu", precision="fp32", workers=2)


def tool_args(options):
    args = []
    for k, v in options.items():
        args += ["--" + k.replace("_", "-"), str(v)]
    return args


def history_rows(path):
    with open(path) as f:
        rows = list(csv.DictReader(f))
    for r in rows:
        r.pop("seconds", None)
    return rows


def test_version_and_devices():
    assert vggtl.__version__.count(".") == 2
    assert vggtl.devices()[0] == "cpu"
    assert "vggtl" in vggtl.version_report().lower()


def test_keywords_are_the_tools_options():
    import inspect
    sig = inspect.signature(vggtl.train)
    assert sig.parameters["epochs"].default == 20
    assert sig.parameters["batch_size"].default == 30
    assert sig.parameters["lr"].default == 1e-4
    assert sig.parameters["trainable_from"].default == "none"
    assert sig.parameters["resume"].default is False
    assert "Reshuffle the training set" in vggtl.train.__doc__
    assert inspect.signature(vggtl.extract).parameters["image_size"].default == 224
    assert "default: the one the model was trained with" in vggtl.load_model.__doc__
    with pytest.raises(TypeError, match="did you mean 'epochs'"):
        vggtl.train("data", epoch=3)


def test_extract_equals_the_tool(data, weights, bin_dir, workdir):
    tool_out = workdir / "tool_features.h5"
    run_tool(bin_dir, "vggtl_extract", "--data", data / "train", "--out", tool_out, "--weights", weights,
             "--image-size", 32, "--device", "cpu", "--precision", "fp32", "--workers", 2)
    f = vggtl.extract(data / "train", weights=weights, image_size=32, device="cpu", precision="fp32", workers=2,
                      verbose=0)
    import h5py
    with h5py.File(tool_out, "r") as h:
        assert f.features.dtype == np.float32 and f.features.shape == h["features"].shape == (16, 1, 1, 512)
        assert np.array_equal(f.features, h["features"][()])
        assert np.array_equal(f.labels, h["labels"][()])
        assert f.paths == [p.decode() if isinstance(p, bytes) else p for p in h["paths"][()]]
    assert f.class_names == ["horizontal", "vertical"]
    assert f.out is None
    kept = vggtl.extract(data / "valid", out=workdir / "valid.h5", weights=weights, image_size=32, device="cpu",
                         verbose=0)
    assert os.path.exists(kept.out) and kept.features.shape[0] == 8


@pytest.fixture(scope="module")
def tool_run(data, weights, bin_dir, workdir):
    out = workdir / "tool_run"
    run_tool(bin_dir, "vggtl_train", "--data", data, "--out", out, "--weights", weights, "--quiet",
             *tool_args(COMMON))
    return out


def test_train_equals_the_tool(data, weights, tool_run, workdir):
    seen = []
    out = workdir / "py_run"
    history = vggtl.train(data, out=out, weights=weights, callbacks=[lambda epoch, logs: seen.append((epoch, logs))],
                          verbose=0, **COMMON)
    assert history.out == str(out)
    assert history.epoch == [0, 1, 2] and [e for e, _ in seen] == [0, 1, 2]
    assert set(seen[0][1]) == {"loss", "accuracy", "val_loss", "val_accuracy"}
    tool = history_rows(tool_run / "history.csv")
    assert history_rows(out / "history.csv") == tool
    for key in ("loss", "accuracy", "val_loss", "val_accuracy"):
        assert [round(v, 6) for v in history.history[key]] == pytest.approx([float(r[key]) for r in tool], abs=1e-6)
    import json
    with open(tool_run / "metrics.json") as f:
        assert history.metrics["test"] == json.load(f)["test"]  # the test split, evaluated alike


def test_predict_and_evaluate_equal_the_tools(data, tool_run, bin_dir):
    model = vggtl.load_model(tool_run / "best.h5", device="cpu", precision="fp32", workers=2, verbose=0)
    assert model.class_names == ["horizontal", "vertical"] and model.image_size == 32
    csv_text = run_tool(bin_dir, "vggtl_predict", "--model", tool_run / "best.h5", "--device", "cpu", "--precision",
                        "fp32", data / "test")
    rows = list(csv.DictReader(io.StringIO(csv_text)))
    probs, files, bad = model.predict_files([data / "test"], verbose=0)
    assert files == [r["path"] for r in rows] and bad == []
    assert probs.shape == (8, 2) and probs.dtype == np.float32
    for p, r in zip(probs, rows):
        assert model.class_names[int(np.argmax(p))] == r["class"]
        assert float(r["probability"]) == pytest.approx(float(np.max(p)), abs=1e-6)
    # numpy images: the same preprocessing as the files (PNG decodes exactly)
    from PIL import Image
    pngs = [f for f in files if f.endswith(".png")]
    pixels = np.stack([np.asarray(Image.open(f).convert("RGB")) for f in pngs])
    from_array = model.predict(pixels, verbose=0)
    assert np.array_equal(from_array, model.predict(pngs, verbose=0))
    # evaluate: vggtl_eval's numbers
    text = run_tool(bin_dir, "vggtl_eval", "--model", tool_run / "best.h5", "--data", data / "test", "--device", "cpu",
                    "--precision", "fp32")
    ev = model.evaluate(data / "test", verbose=0)
    assert "Loss: %.4f" % ev["loss"] in text and "Accuracy: %.4f" % ev["accuracy"] in text
    assert sum(map(sum, ev["confusion"])) == ev["total"] == 8
    assert set(ev["per_class"]) == {"horizontal", "vertical"}


def test_errors_are_value_and_file_not_found_errors(data, workdir):
    with pytest.raises(FileNotFoundError, match="no_such_folder"):
        vggtl.train(workdir / "no_such_folder", weights=None, out=workdir / "e1", verbose=0, **COMMON)
    with pytest.raises(ValueError, match="--epochs must be at least 1"):
        vggtl.train(data, weights=None, out=workdir / "e2", verbose=0, **dict(COMMON, epochs=0))
    with pytest.raises(ValueError, match="optimizer"):
        vggtl.train(data, weights=None, optimizer="adamw", verbose=0)
    with pytest.raises(FileNotFoundError, match="missing.h5"):
        vggtl.load_model(workdir / "missing.h5", verbose=0)
    with pytest.raises(ValueError, match="--augment"):
        vggtl.train(data, weights=None, augment="hflip,spin=3", verbose=0)


def test_gil_is_released_while_training(data, weights, workdir):
    count = [0]
    stop = threading.Event()

    def counter():
        while not stop.is_set():
            count[0] += 1

    at_epochs = []
    t = threading.Thread(target=counter)
    t.start()
    try:
        vggtl.train(data, out=workdir / "gil_run", weights=weights, verbose=0,
                    callbacks=[lambda e, logs: at_epochs.append(count[0])], **COMMON)
    finally:
        stop.set()
        t.join()
    # The thread kept counting between the epochs, while the engine held no GIL.
    assert len(at_epochs) == 3 and at_epochs[2] - at_epochs[0] > 1000


CHILD = textwrap.dedent("""
    import os, sys, time
    import vggtl
    def on_epoch_end(epoch, logs):
        if epoch == 0:  # tell the parent, and wait (inside the engine's call) until it has pressed Ctrl-C
            print("epoch 0 done", flush=True)
            for _ in range(3000):
                if os.path.exists(sys.argv[4]):
                    break
                time.sleep(0.01)
    try:
        vggtl.train(sys.argv[1], out=sys.argv[2], weights=sys.argv[3], callbacks=[on_epoch_end], verbose=0,
                    epochs=3, batch_size=4, image_size=32, device="cpu", precision="fp32", workers=2)
    except KeyboardInterrupt as e:
        print("KeyboardInterrupt:", e, flush=True)
        sys.exit(130)
    print("finished")
""")


def test_ctrl_c_saves_last_h5_and_resume_continues_exactly(data, weights, tool_run, workdir):
    out = workdir / "interrupted"
    sent = workdir / "sigint_sent"
    child = subprocess.Popen([sys.executable, "-c", CHILD, str(data), str(out), str(weights), str(sent)],
                             stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=os.environ.copy())
    try:
        assert child.stdout.readline().strip() == "epoch 0 done"
        child.send_signal(signal.SIGINT)  # Ctrl-C from outside, while train runs
        sent.touch()
        stdout, stderr = child.communicate(timeout=300)
    finally:
        child.kill()
    r = subprocess.CompletedProcess(child.args, child.returncode, stdout, stderr)
    assert r.returncode == 130, r.stdout + r.stderr
    assert "last.h5 saved" in r.stdout and "--resume" in r.stdout
    assert os.path.exists(out / "last.h5")
    assert len(history_rows(out / "history.csv")) < 3
    history = vggtl.train(data, out=out, weights=weights, resume=True, verbose=0, **COMMON)
    assert history.epoch and history.epoch[-1] == 2
    assert history_rows(out / "history.csv") == history_rows(tool_run / "history.csv")


def test_a_callback_that_raises_stops_training(data, weights, workdir):
    class Stop(Exception):
        pass

    def stop(epoch, logs):
        raise Stop("enough at epoch %d" % epoch)

    with pytest.raises(Stop, match="enough at epoch 0"):
        vggtl.train(data, out=workdir / "stopped", weights=weights, callbacks=[stop], verbose=0, **COMMON)
    assert len(history_rows(workdir / "stopped" / "history.csv")) == 1


def test_progress_goes_to_tqdm_when_installed_and_nowhere_with_verbose_0(data, monkeypatch, capfd):
    import types
    bars = []

    class FakeTqdm:
        def __init__(self, total, desc, leave):
            self.total, self.desc, self.n, self.closed = total, desc, 0, False
            bars.append(self)

        def update(self, k):
            self.n += k

        def close(self):
            self.closed = True

    module = types.ModuleType("tqdm.auto")
    module.tqdm = FakeTqdm
    monkeypatch.setitem(sys.modules, "tqdm", types.ModuleType("tqdm"))
    monkeypatch.setitem(sys.modules, "tqdm.auto", module)
    capfd.readouterr()
    vggtl.extract(data / "test", weights=None, image_size=32, device="cpu", verbose=1)
    assert [(b.desc, b.total, b.n, b.closed) for b in bars] == [("extract", 8, 8, True)]
    assert "extract" not in capfd.readouterr().out  # tqdm's bar, not the engine's
    bars.clear()
    vggtl.extract(data / "test", weights=None, image_size=32, device="cpu", verbose=0)
    assert bars == []
    captured = capfd.readouterr()
    assert captured.out == ""


def test_python_handles_ctrl_c_again_after_an_engine_call(data):
    vggtl.extract(data / "test", weights=None, image_size=32, device="cpu", verbose=0)
    with pytest.raises(KeyboardInterrupt):
        os.kill(os.getpid(), signal.SIGINT)
        for _ in range(100):
            threading.Event().wait(0.01)


def test_engine_lines_and_python_prints_keep_their_order_in_a_pipe(data, weights, workdir):
    code = textwrap.dedent("""
        import sys, vggtl
        vggtl.train(sys.argv[1], out=sys.argv[2], weights=sys.argv[3], verbose=1, epochs=2, batch_size=4,
                    image_size=32, device="cpu", precision="fp32", workers=2,
                    callbacks=[lambda epoch, logs: print("callback", epoch)])
        print("returned")
    """)
    env = dict(os.environ)
    env.pop("PYTHONUNBUFFERED", None)  # both Python's and C's stdout block-buffered into the pipe
    r = subprocess.run([sys.executable, "-c", code, str(data), str(workdir / "piped"), str(weights)],
                       capture_output=True, text=True, timeout=300, env=env)
    assert r.returncode == 0, r.stdout + r.stderr
    lines = [l for l in r.stdout.splitlines() if l.startswith(("Epoch ", "callback", "Test accuracy", "returned"))]
    assert [l.split()[0] + (" " + l.split()[1] if l.startswith("callback") else "") for l in lines] == \
        ["Epoch", "callback 0", "Epoch", "callback 1", "Test", "returned"]


def help_flags(bin_dir, tool):
    import re
    text = run_tool(bin_dir, tool, "--help")
    return set(re.findall(r"^\s+(?:-\w, )?--([a-z0-9-]+)", text, re.M)) - {"help", "version"}


def test_every_tool_option_is_a_keyword(bin_dir):
    import inspect
    def keywords(f, own):
        return {p.replace("_", "-") for p in inspect.signature(f).parameters} - own
    assert keywords(vggtl.train, {"callbacks", "verbose"}) == help_flags(bin_dir, "vggtl_train")
    # Sharding (--shard-id, --num-shards, --merge) belongs to the tool: vggtl.extract is one process.
    assert keywords(vggtl.extract, {"verbose"}) == help_flags(bin_dir, "vggtl_extract") - {"shard-id", "num-shards",
                                                                                             "merge"}
    # vggtl_eval's --data and --out are Model.evaluate's argument and the caller's business.
    assert keywords(vggtl.load_model, {"verbose"}) == help_flags(bin_dir, "vggtl_eval") - {"data", "out"}
