# The package as users get it: a wheel built from the repository root with pip (scikit-build-core
# and nanobind from the build requirements), installed into a fresh venv, imported, and a tiny
# job run there (features of the test images from a weights file in the Keras download's layout,
# which the wheel's own HDF5 check program reads first). The build folder is kept in
# ~/.cache/vggtl/wheel-build/<checkout> (VGGTL_WHEEL_BUILD_DIR), one per checkout folder (CMake
# refuses a build folder made for other sources), so a rebuild compiles only what changed; with
# ccache installed it compiles through it.
import hashlib
import os
import shutil
import subprocess
import sys
import time

import pytest

ROOT = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", ".."))
CACHE = os.path.expanduser(os.environ.get("VGGTL_CACHE_DIR", "~/.cache/vggtl"))


def run(cmd, **kw):
    r = subprocess.run([str(c) for c in cmd], capture_output=True, text=True, **kw)
    assert r.returncode == 0, "%s failed (%d):\n%s\n%s" % (cmd[:3], r.returncode, r.stdout[-3000:], r.stderr[-3000:])
    return r.stdout


def test_wheel_installs_into_a_clean_venv_and_runs(data, weights, tmp_path):
    checkout = hashlib.sha256(ROOT.encode()).hexdigest()[:12]
    build_dir = os.environ.get("VGGTL_WHEEL_BUILD_DIR", os.path.join(CACHE, "wheel-build", checkout))
    wheels = tmp_path / "wheels"
    settings = ["build-dir=" + build_dir, "cmake.define.VGGTL_CUDA=OFF", "cmake.define.VGGTL_MPI=OFF"]
    if shutil.which("ccache"):
        settings += ["cmake.define.CMAKE_CXX_COMPILER_LAUNCHER=ccache", "cmake.define.CMAKE_C_COMPILER_LAUNCHER=ccache"]
    start = time.time()
    # CPU-only: the GPU build is the build tree's business; this checks packaging.
    run([sys.executable, "-m", "pip", "wheel", "--no-deps", "--no-build-isolation", "-w", wheels, ROOT] +
        ["--config-settings=" + s for s in settings])
    built = time.time() - start
    wheel = next(wheels.glob("vggtl-*.whl"))
    venv = tmp_path / "venv"
    # numpy from the interpreter running the tests (no download), vggtl from the wheel alone.
    run([sys.executable, "-m", "venv", venv])
    py = venv / "bin" / "python"
    site = run([sys.executable, "-c", "import numpy, os; print(os.path.dirname(os.path.dirname(numpy.__file__)))"])
    env = dict(os.environ, PYTHONPATH=site.strip())
    env.pop("VGGTL_HDF5_CHECK_PROGRAM", None)
    run([py, "-m", "pip", "install", "--no-deps", "--no-index", wheel], env=env)
    out = run([py, "-c", "import vggtl; print(vggtl.__version__, vggtl.devices()); "
               "f = vggtl.extract(%r, weights=%r, image_size=32, device='cpu', verbose=0); "
               "print(f.features.shape, f.class_names)" % (str(data / "test"), str(weights))], env=env, cwd=tmp_path)
    assert "['cpu'" in out and "(8, 1, 1, 512) ['horizontal', 'vertical']" in out
    print("wheel built in %.0f s" % built)
