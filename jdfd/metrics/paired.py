"""Paired image metrics for uint8 H x W x 3 RGB images (numpy only).

* :func:`l1`: mean absolute difference in **[0, 1] units** (uint8 difference / 255).
* :func:`psnr`: ``10 log10(255^2 / MSE)`` in dB over all pixels and channels; ``inf`` when
  the images are identical.
* :func:`ssim`: Wang et al. 2004 as in their reference ``ssim_index.m``: 11x11 Gaussian
  window with sigma 1.5, K1 = 0.01, K2 = 0.03, L = 255, statistics over *valid* windows only
  (no padding), mean of the SSIM map. ``mode="rgb"`` (default) averages the per-channel
  SSIMs; ``mode="grey"`` runs once on BT.601 luma (0.299 R + 0.587 G + 0.114 B, unrounded).
* :func:`paired_means`: the three over a batch (means of the per-image values).
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

K1, K2, DATA_RANGE = 0.01, 0.03, 255.0
WINDOW, SIGMA = 11, 1.5
LUMA = np.array([0.299, 0.587, 0.114])


def _pair(a: np.ndarray, b: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    a, b = np.asarray(a), np.asarray(b)
    if a.shape != b.shape:
        raise ValueError(f"image shapes differ: {a.shape} vs {b.shape}")
    if a.ndim not in (2, 3):
        raise ValueError(f"want H x W or H x W x C images, got {a.shape}")
    return a.astype(np.float64), b.astype(np.float64)


def l1(a: np.ndarray, b: np.ndarray) -> float:
    """Mean |a - b| in [0, 1] units."""
    x, y = _pair(a, b)
    return float(np.abs(x - y).mean() / DATA_RANGE)


def psnr(a: np.ndarray, b: np.ndarray) -> float:
    """Peak signal-to-noise ratio in dB (peak 255); ``inf`` for identical images."""
    x, y = _pair(a, b)
    mse = float(((x - y) ** 2).mean())
    return float("inf") if mse == 0.0 else float(10.0 * np.log10(DATA_RANGE**2 / mse))


def gaussian_window(size: int = WINDOW, sigma: float = SIGMA) -> np.ndarray:
    """The normalised 1-D Gaussian; the 2-D window is its outer product (separable)."""
    t = np.arange(size) - (size - 1) / 2
    g = np.exp(-(t**2) / (2 * sigma**2))
    return g / g.sum()


def _filter_valid(img: np.ndarray, g: np.ndarray) -> np.ndarray:
    """Separable 'valid' correlation of an H x W image with outer(g, g)."""
    k = len(g)
    rows = np.lib.stride_tricks.sliding_window_view(img, k, axis=0) @ g  # (H-k+1, W)
    return np.lib.stride_tricks.sliding_window_view(rows, k, axis=1) @ g  # (H-k+1, W-k+1)


def ssim_map(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """SSIM map of two single-channel float images in 0..255 (valid windows)."""
    if min(a.shape) < WINDOW:
        raise ValueError(f"images must be at least {WINDOW}x{WINDOW} for SSIM, got {a.shape}")
    g = gaussian_window()
    c1, c2 = (K1 * DATA_RANGE) ** 2, (K2 * DATA_RANGE) ** 2
    mu_a, mu_b = _filter_valid(a, g), _filter_valid(b, g)
    var_a = _filter_valid(a * a, g) - mu_a**2
    var_b = _filter_valid(b * b, g) - mu_b**2
    cov = _filter_valid(a * b, g) - mu_a * mu_b
    return ((2 * mu_a * mu_b + c1) * (2 * cov + c2)) / ((mu_a**2 + mu_b**2 + c1) * (var_a + var_b + c2))


def ssim(a: np.ndarray, b: np.ndarray, mode: str = "rgb") -> float:
    """Mean SSIM; ``mode`` "rgb" = mean over channels, "grey" = on BT.601 luma."""
    x, y = _pair(a, b)
    if x.ndim == 2:
        return float(ssim_map(x, y).mean())
    if mode == "grey":
        if x.shape[2] == 3:
            return float(ssim_map(x @ LUMA, y @ LUMA).mean())
        return float(ssim_map(x.mean(2), y.mean(2)).mean())
    if mode != "rgb":
        raise ValueError(f"unknown mode {mode!r}: use 'rgb' or 'grey'")
    return float(np.mean([ssim_map(x[..., c], y[..., c]).mean() for c in range(x.shape[2])]))


def paired_means(a: Sequence[np.ndarray] | np.ndarray, b: Sequence[np.ndarray] | np.ndarray,
                 ssim_mode: str = "rgb") -> dict[str, float]:
    """Means over image pairs: ``{"l1", "psnr", "ssim", "n"}`` (psnr is inf if any pair is identical)."""
    if len(a) != len(b) or len(a) == 0:
        raise ValueError(f"need two equally long, non-empty image lists, got {len(a)} and {len(b)}")
    per = [(l1(x, y), psnr(x, y), ssim(x, y, ssim_mode)) for x, y in zip(a, b)]
    l1s, psnrs, ssims = (np.array(v) for v in zip(*per))
    return {"l1": float(l1s.mean()), "psnr": float(psnrs.mean()), "ssim": float(ssims.mean()), "n": float(len(per))}
