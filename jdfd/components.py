"""Sketch → canvas → the five component crops (paper §3.1), in numpy.

Errors on bad input are :class:`SketchError` with a one-line message, so a CLI can
report them and carry on with the next file.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
from PIL import Image, UnidentifiedImageError

from jdfd.config import CANVAS, PARTS

# Pillow refuses images above ~179 Mpx by default; a sketch never needs that much.
MAX_INPUT_PIXELS = 64_000_000


class SketchError(ValueError):
    """A sketch file or array that cannot be used; the message names the problem."""


def _first_channel(img: Image.Image) -> np.ndarray:
    """One grey channel, as the authors read it (channel 0 of the RGB image).

    Transparent pixels count as white paper: drawing apps export strokes on alpha.
    """
    if img.mode in ("RGBA", "LA", "PA") or (img.mode == "P" and "transparency" in img.info):
        rgba = img.convert("RGBA")
        white = Image.new("RGBA", rgba.size, (255, 255, 255, 255))
        img = Image.alpha_composite(white, rgba)
    if img.mode in ("I", "I;16", "I;16B", "F"):
        arr = np.asarray(img, dtype=np.float64)
        hi = arr.max() if arr.size and arr.max() > 255 else 255.0
        return np.clip(arr / hi * 255.0, 0, 255).astype(np.uint8)
    return np.asarray(img.convert("RGB"))[:, :, 0].copy()


def load_sketch(path: str | Path, size: int = CANVAS) -> np.ndarray:
    """Read an image file as a ``size``×``size`` uint8 sketch (255 = paper)."""
    p = Path(path)
    if not p.exists():
        raise SketchError(f"{p}: no such file")
    if p.is_dir():
        raise SketchError(f"{p}: is a directory, not an image")
    if p.stat().st_size == 0:
        raise SketchError(f"{p}: empty file")
    try:
        with Image.open(p) as img:
            if img.width * img.height > MAX_INPUT_PIXELS:
                raise SketchError(f"{p}: image of {img.width}x{img.height} is too large")
            img.load()
            grey = _first_channel(img)
    except (UnidentifiedImageError, OSError, SyntaxError) as e:
        raise SketchError(f"{p}: not a readable image ({type(e).__name__})") from None
    except Image.DecompressionBombError:
        raise SketchError(f"{p}: image too large") from None
    return to_canvas(grey, size)


def to_canvas(sketch: np.ndarray, size: int = CANVAS) -> np.ndarray:
    """Bring any 2-D or H×W×C array to ``size``×``size`` uint8 (bicubic resize, like the authors)."""
    a = np.asarray(sketch)
    if a.ndim == 3:
        a = a[:, :, 0]
    if a.ndim != 2 or a.shape[0] == 0 or a.shape[1] == 0:
        raise SketchError(f"sketch must be a 2-D image, got shape {a.shape}")
    if a.dtype != np.uint8:
        if np.issubdtype(a.dtype, np.floating) and a.max(initial=0) <= 1.0:
            a = a * 255.0
        a = np.clip(np.round(a), 0, 255).astype(np.uint8)
    if a.shape != (size, size):
        a = np.asarray(Image.fromarray(a).resize((size, size), Image.BICUBIC))
    return a


def normalise(sketch: np.ndarray) -> np.ndarray:
    """uint8 [0, 255] → float32 [-1, 1], the networks' input range."""
    return ((sketch.astype(np.float32) - 127.5) / 127.5).astype(np.float32)


def crop_components(sketches: np.ndarray, boxes: dict[str, tuple[int, int, int]]) -> dict[str, np.ndarray]:
    """Cut B×S×S sketches into the five parts (B×n×n each).

    The remainder is the whole sketch with the four component boxes painted white,
    so each stroke is seen by exactly one encoder.
    """
    s = np.asarray(sketches)
    if s.ndim == 2:
        s = s[None]
    out = {}
    rest = s.copy()
    for part in PARTS:
        if part == "remainder":
            continue
        x, y, n = boxes[part]
        out[part] = s[:, y:y + n, x:x + n].copy()
        rest[:, y:y + n, x:x + n] = 255 if s.dtype == np.uint8 else 1.0
    out["remainder"] = rest
    return out


def to_uint8_rgb(x: np.ndarray) -> np.ndarray:
    """B×3×H×W in [-1, 1] → B×H×W×3 uint8, truncating like the authors' ``astype``."""
    return np.clip((np.transpose(x, (0, 2, 3, 1)) + 1.0) / 2.0 * 255.0, 0, 255).astype(np.uint8)


def resize_rgb(image: np.ndarray, size: int = CANVAS) -> np.ndarray:
    """Upsample the model's output to the canvas (bicubic)."""
    if image.shape[0] == size and image.shape[1] == size:
        return image
    return np.asarray(Image.fromarray(image).resize((size, size), Image.BICUBIC))
