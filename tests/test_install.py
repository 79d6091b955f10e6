"""jdfd installs like a package: a wheel, installed outside the repository, generates a face.

The wheel is built from a copy of the sources (nothing is written into the checkout) and
installed with ``--no-deps`` into a scratch virtualenv. Its dependencies (Jittor, numpy, …)
come from the test's own environment through a ``.pth`` line, so nothing is downloaded;
jdfd's code and its model must come from the wheel, which the test checks.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import sysconfig
import time
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

REPO = Path(__file__).resolve().parent.parent
BUILD_INPUTS = ("setup.py", "pyproject.toml", "README.md", "MANIFEST.in", "jdfd", "pretrained")


def _run(cmd: list, **kw) -> subprocess.CompletedProcess:
    proc = subprocess.run([str(c) for c in cmd], capture_output=True, text=True, timeout=600, **kw)
    assert proc.returncode == 0, f"{cmd} failed ({proc.returncode}):\n{proc.stdout[-3000:]}\n{proc.stderr[-3000:]}"
    return proc


@pytest.mark.skipif(not (REPO / "pretrained" / "config.json").exists(), reason="no shipped model in pretrained/")
def test_wheel_installed_elsewhere_generates_a_face(tmp_path):
    t0 = time.perf_counter()
    src = tmp_path / "src"
    src.mkdir()
    for name in BUILD_INPUTS:
        p = REPO / name
        if p.is_dir():
            shutil.copytree(p, src / name, ignore=shutil.ignore_patterns("__pycache__", "*.pyc", "*.egg-info"))
        else:
            shutil.copy2(p, src / name)
    # no build isolation and no index: the build uses this environment's setuptools, offline
    _run([sys.executable, "-m", "pip", "wheel", "--no-deps", "--no-build-isolation", "--no-index",
          "--disable-pip-version-check", "-q", "-w", tmp_path / "dist", src])
    wheels = list((tmp_path / "dist").glob("jdfd-*.whl"))
    assert len(wheels) == 1

    venv = tmp_path / "venv"
    _run([sys.executable, "-m", "venv", "--without-pip", venv])
    py = venv / "bin" / "python"
    _run([sys.executable, "-m", "pip", "--python", py, "install", "--no-deps", "--no-index",
          "--disable-pip-version-check", "-q", wheels[0]])
    site = Path(_run([py, "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"]).stdout.strip())
    # the dependencies from here; appended after the venv's own site-packages, so the wheel's jdfd comes first
    deps = {sysconfig.get_paths()["purelib"], sysconfig.get_paths()["platlib"]}
    (site / "_jdfd_test_deps.pth").write_text("".join(f"{d}\n" for d in sorted(deps)))

    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    shutil.copy2(REPO / "examples" / "sketches" / "01_clean_long_hair.png", elsewhere / "sketch.png")
    env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "JDFD_MODEL", "PYTHONHOME")}
    where = _run([py, "-c", "import jdfd, jdfd.shipped as s; print(jdfd.__file__); print(s.default_model())"],
                 cwd=elsewhere, env=env).stdout.split("\n")
    assert Path(where[0]).is_relative_to(site), where  # the installed code, not the checkout
    assert Path(where[1]) == site / "jdfd" / "pretrained", where  # the model inside the wheel
    assert not Path(where[0]).is_relative_to(REPO)

    proc = _run([venv / "bin" / "jdfd", "generate", "sketch.png", "-o", "out/"], cwd=elsewhere, env=env)
    face = np.asarray(Image.open(elsewhere / "out" / "sketch.png"))
    assert face.shape == (512, 512, 3) and face.std() > 5, proc.stdout
    print(f"wheel built, installed and run in {time.perf_counter() - t0:.1f} s")
