"""The model shipped in pretrained/: it loads strictly and turns the example sketches into faces.

A random or wrongly loaded model makes noise or a flat image; these checks ask for a
face: skin-coloured where the sketch puts the face, eyes darker than the cheeks.
"""

from __future__ import annotations

import json

import numpy as np
import pytest
from conftest import REPO

PRETRAINED = REPO / "pretrained"
SKETCHES = sorted((REPO / "examples" / "sketches").glob("*.png"))

pytestmark = pytest.mark.skipif(not (PRETRAINED / "config.json").exists(), reason="no shipped model in pretrained/")


@pytest.fixture(scope="module")
def shipped():
    from jdfd.pipeline import DeepFaceDrawing  # noqa: PLC0415

    return DeepFaceDrawing.from_pretrained(PRETRAINED)


def test_release_is_small_float16_compact():
    total = sum(f.stat().st_size for f in PRETRAINED.rglob("*") if f.is_file())
    assert total < 60 * 2**20, f"pretrained/ is {total / 2**20:.1f} MiB"
    cfg = json.loads((PRETRAINED / "config.json").read_text())
    assert cfg["weights_dtype"] == "float16" and cfg["model"]["name"] == "compact"
    assert (PRETRAINED / "MODEL_CARD.md").exists()


@pytest.mark.parametrize("name", ["01_clean_long_hair", "06_outline_and_eyes", "07_rough_scribble"])
def test_example_sketch_becomes_a_face(shipped, name):
    path = REPO / "examples" / "sketches" / f"{name}.png"
    face = shipped.generate(path).image
    assert face.shape == (512, 512, 3) and face.dtype == np.uint8
    assert np.array_equal(face, shipped.generate(path).image)  # deterministic
    img = face.astype(float)
    r, g, b = img[200:420, 170:340].reshape(-1, 3).mean(0)  # cheeks, nose, mouth
    assert r > 110 and r > g + 10 and g > b, (r, g, b)  # skin, not grey noise
    lum = img.mean(2)
    eyes, cheek = lum[225:260, 170:340].mean(), lum[290:340, 180:230].mean()
    assert eyes < cheek - 15, (eyes, cheek)  # eyes where the sketch drew them
    assert img.std() > 25


def test_every_example_sketch_runs(shipped):
    assert len(SKETCHES) >= 8
    faces = [shipped.generate(p, blend=0.5).image for p in SKETCHES]
    # different sketches, different faces
    diffs = [np.abs(a.astype(int) - b).mean() for a, b in zip(faces, faces[1:])]
    assert min(diffs) > 1.0, diffs
