#!/usr/bin/env python3
"""Cross-checks vggtl checkpoints with h5py, the way a Keras user would open them.

  check_checkpoint_h5py.py CHECKPOINT [--expect EXPECT.json]
      Verifies the Keras-2 full-model layout (root attributes, model_weights/layer_names in
      model order, weight_names, datasets at model_weights/<layer>/<weight name>, float32) and
      the vggtl/ group; with --expect, also the layer names, weight names, shapes and sums
      listed in the JSON file (written by tests/io/test_checkpoint.cpp).
  check_checkpoint_h5py.py --write-keras-model OUT.h5
      Writes a small full-model file as Keras 2.15 model.save does (NumPy byte-string arrays,
      groups created in name order, optimizer_weights), for the C++ reader to read back.
      Values: weight k of layer i holds (arange(n) % 17 - 8) / 8 + i + k / 4.

Exit status: 0 ok, 1 a check failed, 77 python3 lacks h5py or numpy (the caller skips).
"""
import json
import sys

try:
    import h5py
    import numpy as np
except ImportError as e:  # the test suite must pass without them
    print(f"skipped: {e}")
    sys.exit(77)


def fail(msg):
    print(f"FAIL: {msg}")
    sys.exit(1)


def text(v):
    return v.decode("utf8") if isinstance(v, bytes) else str(v)


def keras_list(group, name):
    """Keras's load_attributes_from_hdf5_group, including the name0, name1... split."""
    if name in group.attrs:
        return [text(n) for n in group.attrs[name]]
    out, chunk = [], 0
    while f"{name}{chunk}" in group.attrs:
        out += [text(n) for n in group.attrs[f"{name}{chunk}"]]
        chunk += 1
    return out


def check(path, expect):
    with h5py.File(path, "r") as f:
        for attr in ("keras_version", "backend", "model_config"):
            if attr not in f.attrs:
                fail(f"root attribute {attr} missing")
        config = json.loads(text(f.attrs["model_config"]))
        if "class_name" not in config or "config" not in config:
            fail("model_config is not a Keras model config")
        if "layer_names" in f.attrs:
            fail("a full-model file must not have a root layer_names (Keras would read it as weights)")
        mw = f["model_weights"]
        for attr in ("backend", "keras_version"):
            if attr not in mw.attrs:
                fail(f"model_weights attribute {attr} missing")
        layer_names = keras_list(mw, "layer_names")
        config_names = [l["config"]["name"] for l in config["config"]["layers"]]
        if config_names != layer_names:
            fail(f"layer_names {layer_names} differ from model_config's {config_names}")
        found = []
        for name in layer_names:
            g = mw[name]
            weights = []
            for wn in keras_list(g, "weight_names"):
                d = g[wn]
                if d.dtype != np.float32:
                    fail(f"{name}/{wn} is {d.dtype}, expected float32")
                a = d[()]
                weights.append({"name": wn, "shape": list(a.shape), "sum": float(np.sum(a, dtype=np.float64))})
            found.append({"name": name, "weights": weights})

        v = f["vggtl"]
        for attr in ("format_version", "class_names", "image_size", "interpolation", "preprocessing",
                     "epoch", "optimizer", "optimizer_step", "monitor", "monitor_mode", "best_value",
                     "best_epoch", "base_weights_sha256", "data_fingerprint", "base_included",
                     "history_json", "run_config_json", "vggtl_version"):
            if attr not in v.attrs:
                fail(f"vggtl attribute {attr} missing")
        json.loads(text(v.attrs["history_json"]))
        json.loads(text(v.attrs["run_config_json"]))
        opt = v["optimizer_weights"]
        for wn in keras_list(opt, "weight_names"):
            if opt[wn].dtype != np.float32:
                fail(f"optimizer state {wn} is {opt[wn].dtype}")
        if "seed" not in v["rng"].attrs:
            fail("vggtl/rng has no seed")

        if expect is not None:
            if [l["name"] for l in found] != [l["name"] for l in expect["layers"]]:
                fail(f"layers {[l['name'] for l in found]} != expected")
            for got, want in zip(found, expect["layers"]):
                if [w["name"] for w in got["weights"]] != [w["name"] for w in want["weights"]]:
                    fail(f"{got['name']}: weight names {got['weights']} != {want['weights']}")
                for gw, ww in zip(got["weights"], want["weights"]):
                    if gw["shape"] != ww["shape"]:
                        fail(f"{got['name']}/{gw['name']}: shape {gw['shape']} != {ww['shape']}")
                    # "not <=": a NaN sum fails (any comparison with NaN is False).
                    if not abs(gw["sum"] - ww["sum"]) <= 1e-9 * max(1.0, abs(ww["sum"])):
                        fail(f"{got['name']}/{gw['name']}: sum {gw['sum']} != {ww['sum']}")
            want_classes = expect.get("class_names")
            if want_classes is not None and [text(c) for c in v.attrs["class_names"]] != want_classes:
                fail(f"class_names {list(v.attrs['class_names'])} != {want_classes}")
            if int(v.attrs["epoch"]) != expect.get("epoch", int(v.attrs["epoch"])):
                fail("epoch differs")
    print(f"ok: {path}: {len(found)} layers, {sum(len(l['weights']) for l in found)} weights")


def write_keras_model(path):
    layers = [("input_1", "InputLayer", []),
              ("conv", "Conv2D", [("kernel", (3, 3, 3, 4)), ("bias", (4,))]),
              ("pool", "MaxPooling2D", []),
              ("flatten", "Flatten", []),
              ("FC_2", "Dense", [("kernel", (4, 3)), ("bias", (3,))]),
              ("batch_normalization_1", "BatchNormalization",
               [("gamma", (3,)), ("beta", (3,)), ("moving_mean", (3,)), ("moving_variance", (3,))]),
              ("dropout_1", "Dropout", []),
              ("softmax", "Dense", [("kernel", (3, 2)), ("bias", (2,))])]
    config = {"class_name": "Functional",
              "config": {"name": "model", "layers": [
                  {"class_name": c, "config": {"name": n}, "name": n, "inbound_nodes": []}
                  for n, c, _ in layers]}}
    with h5py.File(path, "w") as f:
        f.attrs["keras_version"] = "2.15.0"
        f.attrs["backend"] = "tensorflow"
        f.attrs["model_config"] = json.dumps(config)
        f.attrs["training_config"] = json.dumps({"loss": "categorical_crossentropy"})
        mw = f.create_group("model_weights")
        mw.attrs["layer_names"] = np.asarray([n.encode("utf8") for n, _, _ in layers])
        mw.attrs["backend"] = "tensorflow"
        mw.attrs["keras_version"] = "2.15.0"
        top = mw.create_group("top_level_model_weights")
        top.attrs["weight_names"] = np.asarray([])
        index = {n: i for i, (n, _, _) in enumerate(layers)}
        for name, _, weights in sorted(layers):  # Keras >= 2.9 creates groups in name order
            g = mw.create_group(name)
            names = [f"{name}/{w}:0" for w, _ in weights]
            g.attrs["weight_names"] = np.asarray([n.encode("utf8") for n in names])
            for k, (wn, (_, shape)) in enumerate(zip(names, weights)):
                n = int(np.prod(shape))
                a = ((np.arange(n) % 17 - 8) / 8 + index[name] + k / 4).astype(np.float32)
                g.create_dataset(wn, data=a.reshape(shape))
        ow = f.create_group("optimizer_weights")
        ow.attrs["weight_names"] = np.asarray([b"iteration:0"])
        ow.create_dataset("iteration:0", data=np.int64(42))
    print(f"wrote {path}")


def main(argv):
    if len(argv) == 3 and argv[1] == "--write-keras-model":
        write_keras_model(argv[2])
        return
    if len(argv) == 2:
        check(argv[1], None)
        return
    if len(argv) == 4 and argv[2] == "--expect":
        with open(argv[3]) as e:
            check(argv[1], json.load(e))
        return
    print(__doc__)
    sys.exit(2)


if __name__ == "__main__":
    main(sys.argv)
