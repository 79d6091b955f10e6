"""Shared fixtures. Tests never need ../shared: they make tiny synthetic data."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from jdfd.runtime import jittor

jittor()  # start Jittor (CPU unless a GPU answers) before any network module is imported

REPO = Path(__file__).resolve().parent.parent
MANIFEST = REPO.parent / "shared" / "reference" / "authors_params_manifest.json"


def draw_sketch(seed: int = 0, size: int = 512) -> np.ndarray:
    """A crude face sketch: outline, eyes, nose, mouth, a few random strokes."""
    from PIL import Image, ImageDraw  # noqa: PLC0415

    rng = np.random.default_rng(seed)
    img = Image.new("L", (size, size), 255)
    d = ImageDraw.Draw(img)
    s = size / 512
    j = lambda v: v * s + rng.uniform(-6, 6) * s  # noqa: E731
    d.ellipse([j(120), j(80), j(392), j(470)], outline=0, width=3)
    for cx in (172, 320):
        d.ellipse([j(cx - 30), j(205), j(cx + 30), j(235)], outline=0, width=2)
    d.line([j(256), j(250), j(240), j(330), j(270), j(335)], fill=0, width=2)
    d.arc([j(200), j(350), j(312), j(410)], 0, 180, fill=0, width=3)
    for _ in range(3):
        d.line([j(rng.uniform(100, 400)) for _ in range(4)], fill=0, width=2)
    return np.asarray(img)


@pytest.fixture(scope="session")
def tiny_cfg():
    from jdfd import config  # noqa: PLC0415

    return config.tiny()


@pytest.fixture(scope="session")
def tiny_model(tiny_cfg):
    """A randomly initialised tiny model with male/female banks."""
    from jdfd.config import PARTS  # noqa: PLC0415
    from jdfd.pipeline import DeepFaceDrawing  # noqa: PLC0415
    from jdfd.projection import ComponentBank  # noqa: PLC0415

    jt = jittor()
    jt.set_global_seed(0)
    rng = np.random.default_rng(0)
    banks = {g: {p: ComponentBank(rng.normal(size=(40, tiny_cfg.latent_dim)).astype(np.float32)) for p in PARTS}
             for g in ("male", "female")}
    return DeepFaceDrawing(tiny_cfg, banks=banks, default_gender="male")


@pytest.fixture(scope="session")
def tiny_model_dir(tiny_model, tmp_path_factory):
    d = tmp_path_factory.mktemp("tiny_model")
    tiny_model.save_pretrained(d, dtype="float32")
    return d


@pytest.fixture(scope="session")
def data_dir(tmp_path_factory):
    """Six synthetic (sketch, photo) pairs: the photo is a coloured version of the sketch."""
    from PIL import Image  # noqa: PLC0415

    root = tmp_path_factory.mktemp("data")
    (root / "sketches").mkdir()
    (root / "photos").mkdir()
    rng = np.random.default_rng(0)
    for i in range(6):
        sk = draw_sketch(i)
        Image.fromarray(sk).save(root / "sketches" / f"f{i}.png")
        tint = rng.uniform(60, 200, size=3)
        photo = np.where(sk[:, :, None] < 128, 30, tint).astype(np.uint8)
        Image.fromarray(photo).save(root / "photos" / f"f{i}.jpg")
    return root


@pytest.fixture
def float64_norms(monkeypatch):
    """The norms' own Jittor layers with their statistics and normalisation in float64 (as
    (x - E[x]) / sqrt(E[(x - E[x])²] + eps), the layers' function) and the rest of the network in
    float32. The layers' own E[x²] - E[x]² in float32 loses most of the variance's digits where a map's
    mean dwarfs its spread: a sketch's white page after the first convolution, the deeper maps of
    compact's decoders. There it moved gradients by several %; the training kernels' fused norms
    (double sums) are compared with this instead (test_kernels.py checks them against numpy's float64)."""
    from jdfd.networks.blocks import SampleStatBatchNorm  # noqa: PLC0415

    jt = jittor()
    nn = jt.nn

    def norm(layer, x, dims, running: bool):
        x64 = x.float64()
        mean = x64.mean(dims=dims, keepdims=True)
        var = ((x64 - mean) * (x64 - mean)).mean(dims=dims, keepdims=True)
        if running and layer.is_train:
            m = layer.momentum
            flat = lambda v: (v.mean(0) if 0 not in dims else v).reshape((-1,)).float32()  # noqa: E731
            layer.running_mean.update(layer.running_mean + (flat(mean) - layer.running_mean) * m)
            layer.running_var.update(layer.running_var + (flat(var) - layer.running_var) * m)
        w, b = layer.weight, layer.bias
        w = w.reshape((1, -1, 1, 1)) if isinstance(w, jt.Var) else w
        b = b.reshape((1, -1, 1, 1)) if isinstance(b, jt.Var) else b
        return ((x64 - mean) / jt.sqrt(var + layer.eps)).float32() * w + b

    def batch_norm(layer, x):
        return norm(layer, x, [0, 2, 3], True) if layer.is_train else own_batch_norm(layer, x)

    own_batch_norm = nn.BatchNorm.execute
    monkeypatch.setattr(nn.BatchNorm, "execute", batch_norm)
    monkeypatch.setattr(SampleStatBatchNorm, "execute", lambda layer, x: norm(layer, x, [2, 3], True))
    monkeypatch.setattr(nn.InstanceNorm, "execute", lambda layer, x: norm(layer, x, [2, 3], False))
