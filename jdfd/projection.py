"""Manifold projection (paper §3.1): pull each component vector onto the learned manifold.

A sketch's component vector ``f`` is replaced by a locally linear combination of its
K nearest neighbours ``f_i`` in a bank of training vectors,

    w* = argmin ‖f − Σ w_i f_i‖²   subject to   Σ w_i = 1,

and then blended with the raw vector by a slider: ``v = w·Σ w*_i f_i + (1 − w)·f``.

Solving. With ``w = 1/K + B·u`` (``B`` an orthonormal basis of the vectors summing to
zero) the constraint disappears and ``u`` solves an ordinary least-squares problem.
The problem is singular exactly when it is most interesting: ``f`` inside the
neighbours' affine span, more neighbours than dimensions, or repeated bank rows. We
take the minimum-norm solution by SVD with a relative cutoff ``rcond`` (the documented
regulariser): of all optimal weights, the ones closest to uniform. ``reg > 0`` adds a
ridge term ``reg·‖u‖²`` (scaled by the mean squared neighbour distance) on top.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
from sklearn.neighbors import NearestNeighbors

from jdfd.config import PARTS

#: The authors' GUI uses 15 neighbours.
DEFAULT_K = 15
DEFAULT_RCOND = 1e-6


def _sum_zero_basis(k: int) -> np.ndarray:
    """Orthonormal K×(K−1) basis of {u : Σu = 0}."""
    # The first K−1 columns of the centring matrix are independent and span that
    # space, so the first K−1 columns of its Q factor are an orthonormal basis of it.
    q, _ = np.linalg.qr(np.eye(k) - 1.0 / k)
    return q[:, : k - 1]


def lle_weights(f: np.ndarray, neighbours: np.ndarray, reg: float = 0.0, rcond: float = DEFAULT_RCOND) -> np.ndarray:
    """Weights (K,) summing to 1 that best rebuild ``f`` (D,) from ``neighbours`` (K×D)."""
    nb = np.asarray(neighbours, dtype=np.float64)
    f = np.asarray(f, dtype=np.float64)
    k = nb.shape[0]
    if k == 1:
        return np.ones(1)
    w0 = np.full(k, 1.0 / k)
    basis = _sum_zero_basis(k)
    a = nb.T @ basis  # D×(K−1)
    b = f - nb.T @ w0
    if reg > 0:
        scale = float(np.mean(np.sum((nb - f) ** 2, axis=1))) or 1.0
        a = np.vstack([a, np.sqrt(reg * scale) * np.eye(k - 1)])
        b = np.concatenate([b, np.zeros(k - 1)])
    u, *_ = np.linalg.lstsq(a, b, rcond=rcond)
    w = w0 + basis @ u
    return w / w.sum()  # exact to rounding already; this removes the last ulp drift


def authors_weights(f: np.ndarray, neighbours: np.ndarray, penalty: float = 10.0) -> np.ndarray:
    """The authors' variant: first neighbour as anchor, a penalty row pulling towards it.

    Offered for comparison with their GUI; it is not the paper's constrained LLE.
    """
    nb = np.asarray(neighbours, dtype=np.float64)
    f = np.asarray(f, dtype=np.float64)
    k = nb.shape[0]
    if k == 1:
        return np.ones(1)
    a = np.vstack([(nb[1:] - nb[0]).T, penalty * np.ones((1, k - 1))])
    b = np.concatenate([f - nb[0], [0.0]])
    x = np.linalg.solve(a.T @ a, a.T @ b)
    return np.concatenate([[1.0 - x.sum()], x])


@dataclass
class Projection:
    """What projecting one component vector did (for the shadow and for inspection)."""

    raw: np.ndarray  # (D,)
    projected: np.ndarray  # Σ w_i f_i, (D,)
    blended: np.ndarray  # what the FM decoder receives, (D,)
    indices: np.ndarray  # (K,) rows of the bank
    weights: np.ndarray  # (K,) summing to 1


class ComponentBank:
    """The training set's vectors for one component (N×D float32) and their kNN index."""

    def __init__(self, vectors: np.ndarray):
        v = np.ascontiguousarray(vectors, dtype=np.float32)
        if v.ndim != 2 or v.shape[0] == 0:
            raise ValueError(f"a bank must be a non-empty N×D array, got shape {v.shape}")
        self.vectors = v
        self._nn: NearestNeighbors | None = None

    def __len__(self) -> int:
        return self.vectors.shape[0]

    @property
    def dim(self) -> int:
        return self.vectors.shape[1]

    @classmethod
    def from_bin(cls, path: str | Path, dim: int = 512) -> ComponentBank:
        """The authors' raw float32 row-major N×dim file."""
        p = Path(path)
        size = p.stat().st_size
        if size == 0 or size % (4 * dim):
            raise ValueError(f"{p}: {size} bytes is not a whole number of float32 rows of {dim}")
        return cls(np.fromfile(p, dtype=np.float32).reshape(-1, dim))

    def neighbours(self, f: np.ndarray, k: int) -> np.ndarray:
        """Indices of the k nearest rows (Euclidean), nearest first; f is (B,D)."""
        k = min(k, len(self))
        if self._nn is None:
            self._nn = NearestNeighbors(algorithm="brute", metric="euclidean").fit(self.vectors)
        _, idx = self._nn.kneighbors(np.asarray(f, dtype=np.float32).reshape(-1, self.dim), n_neighbors=k)
        return idx

    def project(self, f: np.ndarray, k: int = DEFAULT_K, blend: float = 1.0, method: str = "lle",
                reg: float = 0.0) -> list[Projection]:
        """Project each row of f (B×D or D) with slider ``blend`` ∈ [0, 1]."""
        if not 0.0 <= blend <= 1.0:
            raise ValueError(f"blend must be in [0, 1], got {blend}")
        if k < 1:
            raise ValueError(f"k must be at least 1, got {k}")
        rows = np.asarray(f, dtype=np.float32).reshape(-1, self.dim)
        out = []
        for raw, idx in zip(rows, self.neighbours(rows, k)):
            nb = self.vectors[idx]
            if method == "lle":
                w = lle_weights(raw, nb, reg=reg)
            elif method == "authors":
                w = authors_weights(raw, nb)
            else:
                raise ValueError(f"unknown projection method {method!r} (lle or authors)")
            proj = (w @ nb.astype(np.float64)).astype(np.float32)
            # blend = 0 must hand back the sketch's own vector bit for bit
            blended = raw.copy() if blend == 0 else (blend * proj + (1.0 - blend) * raw).astype(np.float32)
            out.append(Projection(raw.copy(), proj, blended, idx, w))
        return out


def parse_blend(spec: str | float | dict | None) -> dict[str, float]:
    """``0.7`` for every part, or ``"eye1=0.8,nose=0.5"`` (others 1.0), or a dict."""
    if spec is None:
        return dict.fromkeys(PARTS, 1.0)
    if isinstance(spec, (int, float)):
        values = dict.fromkeys(PARTS, float(spec))
    elif isinstance(spec, dict):
        values = {**dict.fromkeys(PARTS, 1.0), **{k: float(v) for k, v in spec.items()}}
    else:
        text = str(spec).strip()
        try:
            values = dict.fromkeys(PARTS, float(text))
        except ValueError:
            values = dict.fromkeys(PARTS, 1.0)
            for item in filter(None, (s.strip() for s in text.split(","))):
                if "=" not in item:
                    raise ValueError(f"bad blend item {item!r}: use PART=VALUE") from None
                name, val = (s.strip() for s in item.split("=", 1))
                if name in ("", "rest", "face"):
                    name = "remainder"
                if name not in PARTS:
                    raise ValueError(f"unknown component {name!r} in blend (parts: {', '.join(PARTS)})") from None
                try:
                    values[name] = float(val)
                except ValueError:
                    raise ValueError(f"blend value for {name} is not a number: {val!r}") from None
    for name, v in values.items():
        if name not in PARTS:
            raise ValueError(f"unknown component {name!r} in blend")
        if not 0.0 <= v <= 1.0:
            raise ValueError(f"blend for {name} must be in [0, 1], got {v}")
    return values


def shadow_darkness(decoded: np.ndarray, weights: np.ndarray, max_weight: float = 0.5) -> np.ndarray:
    """The authors' guidance: Σ clip(w_i, 0, 0.5)·(1 − x_i)/2 over decoded neighbours x_i ∈ [-1, 1].

    Negative weights are skipped; the result is ink darkness in [0, ~1] (0 = paper).
    """
    w = np.clip(np.asarray(weights, dtype=np.float32), 0.0, max_weight)
    x = np.asarray(decoded, dtype=np.float32).reshape(len(w), *decoded.shape[-2:])
    return np.tensordot(w, (1.0 - x) / 2.0, axes=1)


def soft_box_mask(n: int, margin: float = 0.2) -> np.ndarray:
    """n×n mask, 1 inside and fading to 0 over ``margin``·n at the edges (smooth seams)."""
    t = np.minimum(np.arange(n), np.arange(n)[::-1]).astype(np.float32) / max(1.0, margin * n)
    r = np.clip(t, 0.0, 1.0)
    r = r * r * (3 - 2 * r)  # smoothstep
    return np.outer(r, r)


def compose_shadow(darkness: dict[str, np.ndarray], boxes: dict[str, tuple[int, int, int]], size: int) -> np.ndarray:
    """One grey guidance image (uint8, 255 = paper) from each part's darkness map.

    The remainder's guess inside the component boxes is faded (the components draw
    there), and components are feathered in, as in the authors' GUI.
    """
    canvas = np.zeros((size, size), dtype=np.float32)
    rest = darkness["remainder"].astype(np.float32).copy()
    for part in PARTS:
        if part == "remainder":
            continue
        x, y, n = boxes[part]
        rest[y:y + n, x:x + n] *= 1.0 - 0.8 * soft_box_mask(n)
    canvas[:] = rest[:size, :size]
    for part in PARTS:
        if part == "remainder":
            continue
        x, y, n = boxes[part]
        patch = darkness[part] * soft_box_mask(n)
        canvas[y:y + n, x:x + n] = np.maximum(canvas[y:y + n, x:x + n], patch)
    return np.clip(255.0 * (1.0 - canvas), 0, 255).astype(np.uint8)
