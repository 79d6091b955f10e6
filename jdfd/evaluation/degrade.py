"""Sketch degradations that imitate real users, each with a strength in [0, 1].

Strength 0 returns the sketch unchanged; 1 is a very rough drawing. Every function
is deterministic under its seed, so an evaluation can be reproduced exactly.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
from PIL import Image, ImageDraw
from scipy import ndimage


def _check(strength: float) -> float:
    if not 0.0 <= strength <= 1.0:
        raise ValueError(f"strength must be in [0, 1], got {strength}")
    return float(strength)


def _warp(sketch: np.ndarray, dy: np.ndarray, dx: np.ndarray) -> np.ndarray:
    h, w = sketch.shape
    yy, xx = np.mgrid[0:h, 0:w].astype(np.float32)
    out = ndimage.map_coordinates(sketch.astype(np.float32), [yy + dy, xx + dx], order=1, mode="constant", cval=255)
    return np.clip(out, 0, 255).astype(np.uint8)


def jitter(sketch: np.ndarray, strength: float, seed: int = 0) -> np.ndarray:
    """Wobbly lines: a smooth random displacement field of up to ~8 px amplitude."""
    s = _check(strength)
    if s == 0:
        return sketch.copy()
    rng = np.random.default_rng([seed, 1])
    h, w = sketch.shape
    coarse = 16
    field = rng.normal(size=(2, coarse, coarse)).astype(np.float32) * 8.0 * s
    dy = ndimage.zoom(field[0], (h / coarse, w / coarse), order=3)[:h, :w]
    dx = ndimage.zoom(field[1], (h / coarse, w / coarse), order=3)[:h, :w]
    return _warp(sketch, dy, dx)


def drop_strokes(sketch: np.ndarray, strength: float, seed: int = 0) -> np.ndarray:
    """Incomplete sketches: erase a fraction ``0.7·strength`` of the strokes (connected ink)."""
    s = _check(strength)
    if s == 0:
        return sketch.copy()
    rng = np.random.default_rng([seed, 2])
    ink = sketch < 128
    # cut long contours into pieces so that "a stroke" is a hand-sized segment
    grid = np.zeros_like(ink)
    grid[::48, :] = True
    grid[:, ::48] = True
    labels, n = ndimage.label(ink & ~grid, structure=np.ones((3, 3)))
    if n == 0:
        return sketch.copy()
    drop = rng.random(n + 1) < 0.7 * s
    drop[0] = False
    gone = drop[labels] | (ink & grid & ndimage.binary_dilation(drop[labels], iterations=1))
    out = sketch.copy()
    out[gone] = 255
    return out


def stray_strokes(sketch: np.ndarray, strength: float, seed: int = 0) -> np.ndarray:
    """Extra stray strokes: up to 24 short random curves across the face."""
    s = _check(strength)
    if s == 0:
        return sketch.copy()
    rng = np.random.default_rng([seed, 3])
    img = Image.fromarray(sketch.copy())
    d = ImageDraw.Draw(img)
    h, w = sketch.shape
    for _ in range(int(round(24 * s))):
        x, y = rng.uniform(0.15 * w, 0.85 * w), rng.uniform(0.1 * h, 0.9 * h)
        pts = [(x, y)]
        ang = rng.uniform(0, 2 * np.pi)
        for _ in range(int(rng.integers(3, 8))):
            ang += rng.normal(0, 0.6)
            x, y = x + 12 * np.cos(ang), y + 12 * np.sin(ang)
            pts.append((x, y))
        d.line(pts, fill=0, width=int(rng.integers(1, 4)))
    return np.asarray(img)


def line_width(sketch: np.ndarray, strength: float, seed: int = 0) -> np.ndarray:
    """Another pen: thicker strokes (dilated by up to 3 px) or, one time in three, fainter ones."""
    s = _check(strength)
    if s == 0:
        return sketch.copy()
    rng = np.random.default_rng([seed, 4])
    ink = sketch < 128
    if rng.random() < 2 / 3:
        ink = ndimage.binary_dilation(ink, iterations=max(1, int(round(3 * s))))
        return np.where(ink, 0, 255).astype(np.uint8)
    # a light pencil: the strokes stay where they are but lose up to 60 % of their darkness
    out = sketch.astype(np.float32)
    out[ink] = out[ink] + (255 - out[ink]) * 0.6 * s
    return np.clip(out, 0, 255).astype(np.uint8)


def shift_scale(sketch: np.ndarray, strength: float, seed: int = 0) -> np.ndarray:
    """The face drawn off-place: shift up to 24 px and scale by up to ±12 %."""
    s = _check(strength)
    if s == 0:
        return sketch.copy()
    rng = np.random.default_rng([seed, 5])
    h, w = sketch.shape
    scale = 1.0 + rng.uniform(-0.12, 0.12) * s
    ty, tx = rng.uniform(-24, 24, size=2) * s
    yy, xx = np.mgrid[0:h, 0:w].astype(np.float32)
    cy, cx = h / 2, w / 2
    src_y = (yy - cy - ty) / scale + cy
    src_x = (xx - cx - tx) / scale + cx
    return _warp(sketch, src_y - yy, src_x - xx)


DEGRADATIONS: dict[str, Callable[[np.ndarray, float, int], np.ndarray]] = {
    "jitter": jitter,
    "drop": drop_strokes,
    "stray": stray_strokes,
    "width": line_width,
    "shift": shift_scale,
}


def degrade(sketch: np.ndarray, kind: str, strength: float, seed: int = 0) -> np.ndarray:
    if kind not in DEGRADATIONS:
        raise ValueError(f"unknown degradation {kind!r} (known: {', '.join(DEGRADATIONS)})")
    return DEGRADATIONS[kind](np.asarray(sketch, dtype=np.uint8), strength, seed)
