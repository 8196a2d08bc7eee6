# Shared data of the Python tests: a small image set in the tutorial's layout (two classes of
# stripes, PNG and JPEG, 32 px), a Keras-1 VGG16 notop weights file of random values written with
# h5py (the layout of the Keras download), and where the tools are (VGGTL_BIN_DIR).
import os
import shutil
import subprocess

import numpy as np
import pytest

CONVS = [("block1_conv1", 3, 64), ("block1_conv2", 64, 64), ("block2_conv1", 64, 128), ("block2_conv2", 128, 128),
         ("block3_conv1", 128, 256), ("block3_conv2", 256, 256), ("block3_conv3", 256, 256),
         ("block4_conv1", 256, 512), ("block4_conv2", 512, 512), ("block4_conv3", 512, 512),
         ("block5_conv1", 512, 512), ("block5_conv2", 512, 512), ("block5_conv3", 512, 512)]


def write_notop_weights(path, seed=7):
    """VGG16 notop weights as Keras 1 stored them: root attribute layer_names, one group per
    layer with weight_names and its datasets; He-uniform kernels and small biases."""
    import h5py
    rng = np.random.default_rng(seed)
    names = ["input_1"]
    for i, (name, _, _) in enumerate(CONVS):
        names.append(name)
        if i + 1 == len(CONVS) or CONVS[i + 1][0][:6] != name[:6]:
            names.append(name[:6] + "_pool")
    with h5py.File(path, "w") as f:
        f.attrs["layer_names"] = np.array([n.encode() for n in names])
        for n in names:
            g = f.create_group(n)
            conv = next((c for c in CONVS if c[0] == n), None)
            if conv is None:
                g.attrs["weight_names"] = np.array([], dtype="S1")
                continue
            _, cin, cout = conv
            limit = np.sqrt(6.0 / (9 * cin))
            w = [n + "_W_1:0", n + "_b_1:0"]
            g.attrs["weight_names"] = np.array([x.encode() for x in w])
            g.create_dataset(w[0], data=rng.uniform(-limit, limit, (3, 3, cin, cout)).astype(np.float32))
            g.create_dataset(w[1], data=rng.uniform(-0.01, 0.01, (cout,)).astype(np.float32))


def stripes(rng, horizontal, size=40):
    img = np.zeros((size, size + 8, 3), np.uint8)
    period = int(rng.integers(4, 9))
    idx = np.arange(img.shape[0] if horizontal else img.shape[1])
    on = (idx // period) % 2 == 0
    color = rng.integers(80, 256, 3)
    if horizontal:
        img[on] = color
    else:
        img[:, on] = color
    noise = rng.integers(0, 30, img.shape)
    return np.clip(img.astype(int) + noise, 0, 255).astype(np.uint8)


def write_split(root, counts, rng):
    from PIL import Image
    for cls, horizontal in (("horizontal", True), ("vertical", False)):
        os.makedirs(os.path.join(root, cls), exist_ok=True)
        for i in range(counts):
            ext = "png" if i % 2 == 0 else "jpg"
            Image.fromarray(stripes(rng, horizontal)).save(os.path.join(root, cls, "%03d.%s" % (i, ext)))


@pytest.fixture(scope="session")
def workdir(tmp_path_factory):
    return tmp_path_factory.mktemp("vggtl")


@pytest.fixture(scope="session")
def data(workdir):
    rng = np.random.default_rng(1)
    root = workdir / "data"
    write_split(str(root / "train"), 8, rng)
    write_split(str(root / "valid"), 4, rng)
    write_split(str(root / "test"), 4, rng)
    return root


@pytest.fixture(scope="session")
def weights(workdir):
    path = workdir / "notop.h5"
    write_notop_weights(str(path))
    return path


@pytest.fixture(scope="session")
def bin_dir():
    d = os.environ.get("VGGTL_BIN_DIR")
    if not d or not os.path.exists(os.path.join(d, "vggtl_train")):
        pytest.fail("VGGTL_BIN_DIR must name the folder of the built tools (vggtl_train, ...)")
    return d


def run_tool(bin_dir, name, *args):
    r = subprocess.run([os.path.join(bin_dir, name)] + [str(a) for a in args], capture_output=True, text=True)
    assert r.returncode == 0, "%s failed (%d): %s %s" % (name, r.returncode, r.stdout, r.stderr)
    return r.stdout
