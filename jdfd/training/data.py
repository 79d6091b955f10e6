"""(sketch, photo) pairs for training, with deterministic freehand-style augmentation.

Everything random is derived from ``(seed, sample counter)``, so the n-th sample a
run sees is the same whether or not it was interrupted and resumed, and each MPI
rank sees its own disjoint share.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
from PIL import Image
from scipy import ndimage

from jdfd import components
from jdfd.config import CANVAS

IMAGE_SUFFIXES = {".png", ".jpg", ".jpeg", ".bmp", ".webp"}


@dataclass
class AugmentConfig:
    """Imitations of freehand drawing; all strengths default to off."""

    enabled: bool = False
    jitter_px: float = 3.0  # amplitude of a smooth random displacement field (wobbly strokes)
    jitter_scale: float = 24.0  # its spatial smoothness, canvas pixels
    shift_px: int = 8  # uniform global shift in x and y
    drop_prob: float = 0.15  # chance of erasing each connected stroke (incomplete sketches)
    min_keep: float = 0.6  # never erase more than 1 − this fraction of ink
    # Chance of mirroring a whole (sketch, photo) pair. Safe for the fixed component boxes:
    # aligned faces are centred at x ≈ 256 (within 2 px on the val photos), so a mirrored
    # face lands where real ones do. Mirroring a crop inside its box is not: the boxes are
    # off-centre (eyes by 21 px, nose 12, mouth 18).
    flip_prob: float = 0.0


def list_images(folder: Path) -> list[Path]:
    return sorted(p for p in Path(folder).iterdir() if p.suffix.lower() in IMAGE_SUFFIXES)


def pair_files(sketch_dir: Path, photo_dir: Path | None) -> list[tuple[Path, Path | None]]:
    """Match sketches to photos by file stem; photos are optional (stage I)."""
    if isinstance(sketch_dir, (list, tuple)):  # several folders: train + extra
        photo_dirs = photo_dir if isinstance(photo_dir, (list, tuple)) else [photo_dir] * len(sketch_dir)
        if len(photo_dirs) != len(sketch_dir):
            raise ValueError(f"{len(sketch_dir)} sketch folders but {len(photo_dirs)} photo folders")
        return [pair for s, p in zip(sketch_dir, photo_dirs) for pair in pair_files(s, p)]
    sketches = list_images(sketch_dir)
    if not sketches:
        raise FileNotFoundError(f"no sketch images in {sketch_dir}")
    if photo_dir is None:
        return [(s, None) for s in sketches]
    photos = {p.stem: p for p in list_images(photo_dir)}
    pairs = [(s, photos[s.stem]) for s in sketches if s.stem in photos]
    if not pairs:
        raise FileNotFoundError(f"no sketch in {sketch_dir} has a photo with the same name in {photo_dir}")
    return pairs


def augment_sketch(sketch: np.ndarray, rng: np.random.Generator, cfg: AugmentConfig) -> np.ndarray:
    """Wobble, shift and thin out a uint8 canvas sketch (255 = paper)."""
    ink = sketch < 128
    if cfg.drop_prob > 0 and ink.any():
        labels, n = ndimage.label(ink, structure=np.ones((3, 3)))
        if n > 1:
            drop = rng.random(n + 1) < cfg.drop_prob
            drop[0] = False
            sizes = np.bincount(labels.ravel(), minlength=n + 1)
            if sizes[drop].sum() > (1 - cfg.min_keep) * sizes[1:].sum():
                drop[:] = False
            sketch = np.where(drop[labels], 255, sketch).astype(np.uint8)
    h, w = sketch.shape
    yy, xx = np.mgrid[0:h, 0:w].astype(np.float32)
    if cfg.jitter_px > 0:
        coarse = max(2, int(h / cfg.jitter_scale))
        field = rng.normal(size=(2, coarse, coarse)).astype(np.float32) * cfg.jitter_px
        dy = ndimage.zoom(field[0], h / coarse, order=3)[:h, :w]
        dx = ndimage.zoom(field[1], w / coarse, order=3)[:h, :w]
        yy += dy
        xx += dx
    if cfg.shift_px > 0:
        yy += rng.integers(-cfg.shift_px, cfg.shift_px + 1)
        xx += rng.integers(-cfg.shift_px, cfg.shift_px + 1)
    out = ndimage.map_coordinates(sketch.astype(np.float32), [yy, xx], order=1, mode="constant", cval=255.0)
    return np.clip(out, 0, 255).astype(np.uint8)


class PairDataset:
    """Sketches (and photos) at a model's resolution, cached in memory after first use."""

    def __init__(self, sketch_dir: Path | list[Path], photo_dir: Path | list[Path] | None, image_size: int,
                 augment: AugmentConfig | None = None, seed: int = 0, limit: int | None = None):
        self.pairs = pair_files(_paths(sketch_dir), _paths(photo_dir))[:limit]
        self.image_size = image_size
        self.augment = augment or AugmentConfig()
        self.seed = seed
        self._canvas: dict[int, np.ndarray] = {}
        self._photo: dict[int, np.ndarray] = {}

    def __len__(self) -> int:
        return len(self.pairs)

    @property
    def has_photos(self) -> bool:
        return self.pairs[0][1] is not None

    def canvas_sketch(self, i: int) -> np.ndarray:
        if i not in self._canvas:
            self._canvas[i] = components.load_sketch(self.pairs[i][0], CANVAS)
        return self._canvas[i]

    def photo(self, i: int) -> np.ndarray:
        """H×W×3 float32 in [-1, 1] at model resolution."""
        if i not in self._photo:
            path = self.pairs[i][1]
            if path is None:
                raise ValueError("this dataset has no photos")
            with Image.open(path) as img:
                rgb = img.convert("RGB").resize((self.image_size, self.image_size), Image.BICUBIC)
            self._photo[i] = np.asarray(rgb, dtype=np.uint8)
        return self._photo[i].astype(np.float32) / 127.5 - 1.0

    def flipped(self, counter: int | None) -> bool:
        """Whether the ``counter``-th sample drawn is mirrored (sketch and photo alike)."""
        a = self.augment
        if not (a.enabled and a.flip_prob > 0 and counter is not None):
            return False
        return bool(np.random.default_rng([self.seed, 104729, counter]).random() < a.flip_prob)

    def sketch(self, i: int, counter: int | None = None) -> np.ndarray:
        """Model-resolution uint8 sketch; augmented (deterministically per counter) if enabled."""
        s = self.canvas_sketch(i)
        if self.flipped(counter):
            s = np.ascontiguousarray(s[:, ::-1])
        if self.augment.enabled and counter is not None:
            s = augment_sketch(s, np.random.default_rng([self.seed, counter]), self.augment)
        return components.to_canvas(s, self.image_size)

    def index_for(self, counter: int) -> int:
        """The dataset row of the ``counter``-th sample drawn: a fresh permutation each epoch."""
        n = len(self)
        epoch, pos = divmod(counter, n)
        return int(np.random.default_rng([self.seed, 7919, epoch]).permutation(n)[pos])

    def batch(self, step: int, batch_size: int, rank: int = 0, world: int = 1) -> dict[str, np.ndarray]:
        """The batch of optimisation step ``step`` for this rank."""
        start = (step * world + rank) * batch_size
        counters = range(start, start + batch_size)
        rows = [self.index_for(c) for c in counters]
        out = {"sketch": np.stack([self.sketch(r, c) for r, c in zip(rows, counters)]), "rows": np.array(rows)}
        if self.has_photos:
            photos = [self.photo(r)[:, ::-1] if self.flipped(c) else self.photo(r) for r, c in zip(rows, counters)]
            out["photo"] = np.stack(photos).transpose(0, 3, 1, 2).copy()
        return out


def _paths(folders: str | Path | list | None) -> Path | list[Path] | None:
    if folders is None or isinstance(folders, Path):
        return folders
    if isinstance(folders, (list, tuple)):
        return [Path(f) for f in folders] if len(folders) > 1 else Path(folders[0])
    return Path(folders)
