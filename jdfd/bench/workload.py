"""What every framework is timed on: synthetic sketches, photos, weights and banks.

All of it is numpy, made deterministically from a seed, so a Jittor process and a
PyTorch process build bit-identical inputs and weights without sharing files, and
their outputs can be compared afterwards. Nothing here imports Jittor or PyTorch.
"""

from __future__ import annotations

import zlib

import numpy as np

from jdfd import components
from jdfd.config import CANVAS, PARTS, ModelConfig
from jdfd.projection import DEFAULT_K, ComponentBank
from jdfd.weights.strict import LazyState

#: Stage names in report order. ``encoders``/``fm`` run all five networks of a box.
STAGES: tuple[str, ...] = ("encoders", "projection", "fm", "generator", "end_to_end")
TRAIN_STAGES: tuple[str, ...] = ("train_stage1", "train_stage2")
#: The parts a training step is clocked in (``train_stage1.forward`` …), in the order they run.
TRAIN_PARTS: dict[str, tuple[str, ...]] = {
    "train_stage1": ("forward", "backward", "optimizer"),
    "train_stage2": ("G_forward", "D_forward", "D_backward", "D_optimizer", "G_loss_forward", "VGG_forward",
                     "G_backward", "G_optimizer"),
}
#: Parts only some runs have (``jdfd bench --perceptual``).
OPTIONAL_PARTS = {"VGG_forward"}


def synthetic_sketches(n: int, size: int, seed: int = 0) -> np.ndarray:
    """``n`` crude face sketches (uint8, 255 = paper) at ``size``, drawn on the 512 canvas."""
    from PIL import Image, ImageDraw  # noqa: PLC0415

    out = []
    for i in range(n):
        rng = np.random.default_rng([seed, i])
        img = Image.new("L", (CANVAS, CANVAS), 255)
        d = ImageDraw.Draw(img)

        def j(v: float, rng=rng) -> float:
            return v + float(rng.uniform(-8, 8))

        d.ellipse([j(120), j(80), j(392), j(470)], outline=0, width=3)
        for cx in (172, 320):
            d.ellipse([j(cx - 30), j(205), j(cx + 30), j(235)], outline=0, width=2)
        d.line([j(256), j(250), j(240), j(330), j(270), j(335)], fill=0, width=2)
        d.arc([j(200), j(350), j(312), j(410)], 0, 180, fill=0, width=3)
        for _ in range(4):
            d.line([j(float(rng.uniform(100, 400))) for _ in range(4)], fill=0, width=2)
        out.append(components.to_canvas(np.asarray(img), size))
    return np.stack(out)


def synthetic_photos(n: int, size: int, seed: int = 0) -> np.ndarray:
    """n×3×size×size float32 in [-1, 1]: smooth colour gradients plus noise (stage-II targets)."""
    rng = np.random.default_rng([seed, 99])
    t = np.linspace(-1.0, 1.0, size, dtype=np.float32)
    base = 0.5 * (t[None, :] + t[:, None])
    photos = base[None, None] * rng.uniform(-1, 1, size=(n, 3, 1, 1)).astype(np.float32)
    return np.clip(photos + 0.1 * rng.standard_normal((n, 3, size, size), dtype=np.float32), -1, 1)


def synthetic_state(shapes: dict[str, tuple[int, ...]], seed: int = 0, prefix: str = "") -> LazyState:
    """Random weights for a state dict, each tensor seeded by its name (``prefix`` + key, e.g. ``"fm.nose."``).

    Convolution and linear weights are scaled by 1/sqrt(fan-in) so activations stay of
    order one through the deep networks (as in a trained model: no denormals, no
    overflow, and timings that mean something). Each tensor is made when read, the same
    every time: both frameworks load it tensor by tensor, so their peak memory is not
    set by a second full copy of the weights.
    """
    shapes = {k: tuple(int(s) for s in v) for k, v in sorted(shapes.items())}

    def make(name: str) -> np.ndarray:
        rng = np.random.default_rng([seed, zlib.crc32((prefix + name).encode())])
        shape = shapes[name]
        leaf = name.rsplit(".", 1)[-1]
        if leaf == "running_mean":
            return 0.1 * rng.standard_normal(shape, dtype=np.float32)
        if leaf == "running_var":
            return rng.uniform(0.5, 1.5, size=shape).astype(np.float32)
        if leaf == "weight" and len(shape) == 1:  # norm scale
            return 1.0 + 0.1 * rng.standard_normal(shape, dtype=np.float32)
        if leaf == "weight":
            fan_in = int(np.prod(shape[1:]))
            return rng.standard_normal(shape, dtype=np.float32) * np.float32(1.0 / np.sqrt(fan_in))
        return 0.05 * rng.standard_normal(shape, dtype=np.float32)

    return LazyState(shapes, make)


def synthetic_banks(cfg: ModelConfig, size: int, seed: int = 0) -> dict[str, ComponentBank]:
    """One bank of ``size`` random vectors per part (the authors' banks hold thousands)."""
    return {p: ComponentBank(np.random.default_rng([seed, 7, i]).standard_normal((size, cfg.latent(p)),
                                                                                 dtype=np.float32))
            for i, p in enumerate(PARTS)}


def crops_of(sketches: np.ndarray, cfg: ModelConfig) -> dict[str, np.ndarray]:
    """B×S×S uint8 → the five normalised B×1×n×n float32 crops, as the pipeline makes them."""
    return {p: components.normalise(c)[:, None] for p, c in components.crop_components(sketches, cfg.boxes()).items()}


def project_codes(codes: dict[str, np.ndarray], banks: dict[str, ComponentBank],
                  k: int = DEFAULT_K) -> dict[str, np.ndarray]:
    """Full projection (blend 1) of every part, exactly as ``DeepFaceDrawing.project`` does it."""
    return {p: np.stack([d.blended for d in banks[p].project(codes[p], k=k, blend=1.0)]) for p in PARTS}


def to_uint8_rgb(x: np.ndarray) -> np.ndarray:
    """B×3×H×W in [-1, 1] → B×H×W×3 uint8: ``jdfd.pipeline.to_uint8_rgb`` without importing Jittor."""
    return np.clip((np.transpose(x, (0, 2, 3, 1)) + 1.0) / 2.0 * 255.0, 0, 255).astype(np.uint8)
