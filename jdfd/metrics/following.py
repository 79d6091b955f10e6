"""Does each generated face follow its own sketch? Retrieval and variety against the photos (Jittor).

Each face ``i`` was drawn from the sketch of photo ``i``. Two measures, in two feature spaces:

* **retrieval top-k**: the fraction of faces whose own photo is among the ``k`` photos nearest
  to them (Euclidean distance) out of all ``N`` evaluated photos. Chance is ``min(k, N) / N``.
  Ties are broken *in expectation*: a face with ``m`` photos strictly nearer than its own and
  ``t`` others at exactly the same distance scores ``clip((k - m) / (t + 1), 0, 1)``, the chance
  that a uniformly random order of the tied photos puts its own within the first ``k``. So a
  model that draws one face for every sketch scores chance exactly, deterministically.
* **variety**: the faces' mean pairwise distance divided by the photos' mean pairwise distance.
  One face for every sketch scores 0; faces as varied as the photos score about 1.

The spaces: **layout**, 64×64 greyscale (BT.601 luma, box-filtered), each image standardised
to zero mean and unit std, so distance is a monotone function of the images' correlation; and
**Inception**, the 2048-d FID-InceptionV3 pool features that FID/KID already use.

The arithmetic (standardising, squared distances ``|a|^2 + |b|^2 - 2 a.b`` with ``jt.matmul``,
ranks) runs in Jittor in float64: exact ties (a constant face is equidistant from every
standardised photo) must stay ties, which float32 rounding would break.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
from PIL import Image

from jdfd.metrics.paired import LUMA
from jdfd.runtime import jittor

jt = jittor()

LAYOUT_SIZE = 64
TOP_K = (1, 5)
#: distances within this fraction of the largest one count as ties (float64 rounding is ~1e-16)
TIE_RTOL = 1e-9


def layout_images(images: np.ndarray | Sequence[np.ndarray], size: int = LAYOUT_SIZE) -> np.ndarray:
    """N x size x size float64 greyscale of uint8 N x H x W x 3 (or N x H x W) images, box-filtered."""
    out = []
    for img in images:
        a = np.asarray(img, np.float64)
        grey = a @ LUMA if a.ndim == 3 and a.shape[2] == 3 else (a.mean(2) if a.ndim == 3 else a)
        # a box filter averages every source pixel once: 512 -> 64 is the plain 8 x 8 block mean
        out.append(np.asarray(Image.fromarray(grey.astype(np.float32)).resize((size, size), Image.BOX)))
    return np.stack(out).astype(np.float64)


def _var64(x: np.ndarray | jt.Var) -> jt.Var:
    if isinstance(x, jt.Var):
        return x.float64()
    # jt.array would round float64 input to float32 (Jittor's auto_convert_64_to_32)
    return jt.array(np.asarray(x, np.float64), dtype="float64")


def standardise(x: jt.Var) -> jt.Var:
    """Each row (an image, flattened) to zero mean and unit std; a constant row becomes zeros."""
    x = x.reshape(x.shape[0], -1)
    x = x - x.mean(dim=1, keepdims=True)
    std = (x * x).mean(dim=1, keepdims=True).sqrt()
    return x / jt.maximum(std, 1e-12)


def sq_distances(a: jt.Var, b: jt.Var) -> jt.Var:
    """Squared Euclidean distances, N_a x N_b: ``|a|^2 + |b|^2 - 2 a.b``, clipped at 0."""
    # shifting both sets by the same vector keeps the distances and shrinks the norms, so
    # near-identical vectors do not lose their small distance to cancellation
    centre = b.mean(dim=0, keepdims=True)
    a, b = a - centre, b - centre
    aa = (a * a).sum(dim=1, keepdims=True)
    bb = (b * b).sum(dim=1).reshape(1, -1)
    return jt.maximum(aa + bb - 2.0 * jt.matmul(a, b.transpose()), 0.0)


def retrieval(fakes: np.ndarray | jt.Var, reals: np.ndarray | jt.Var,
              ks: Sequence[int] = TOP_K) -> dict[int, float]:
    """``{k: fraction of fakes[i] whose reals[i] is among its k nearest reals}`` (N x D each, N >= 2)."""
    f, r = _pair(fakes, reals)
    d = sq_distances(f, r)
    n = d.shape[0]
    own = (d * jt.array(np.eye(n), dtype="float64")).sum(dim=1, keepdims=True)
    tol = TIE_RTOL * float(d.max().item()) + 1e-300
    closer = (d < own - tol).float64().sum(dim=1)
    tied = (jt.abs(d - own) <= tol).float64().sum(dim=1) - 1.0  # others as far as the own photo
    out = {}
    for k in ks:
        if k < 1:
            raise ValueError(f"top-k needs k >= 1, got {k}")
        credit = jt.clamp((k - closer) / (tied + 1.0), 0.0, 1.0)
        out[int(k)] = float(credit.sum().item()) / n  # a sum of whole hits is exact; Jittor's mean is not
    return out


def mean_pairwise_distance(x: np.ndarray | jt.Var) -> float:
    """Mean Euclidean distance over the N (N - 1) / 2 pairs of rows of an N x D array."""
    v = _var64(x)
    v = v.reshape(v.shape[0], -1)
    n = v.shape[0]
    if n < 2:
        raise ValueError(f"need at least 2 vectors, got {n}")
    d = sq_distances(v, v).sqrt()
    # the diagonal is ~0 but not exactly after rounding: leave it out explicitly
    off = 1.0 - jt.array(np.eye(n), dtype="float64")
    return float(((d * off).sum() / (n * (n - 1))).item())


def variety(fakes: np.ndarray | jt.Var, reals: np.ndarray | jt.Var) -> float:
    """Faces' mean pairwise distance / photos' mean pairwise distance (``nan`` if all photos are equal)."""
    f, r = _pair(fakes, reals)
    spread = mean_pairwise_distance(r)
    return mean_pairwise_distance(f) / spread if spread > 0 else float("nan")


def retrieval_chance(k: int, n: int) -> float:
    """Expected top-k retrieval of faces unrelated to their sketches, among n photos."""
    return min(k, n) / n


def sketch_following(fakes: np.ndarray, photos: np.ndarray, fake_features: np.ndarray | None = None,
              photo_features: np.ndarray | None = None, ks: Sequence[int] = TOP_K) -> dict[str, float]:
    """The sketch-following measure of faces ``fakes[i]`` drawn from the sketch of ``photos[i]``.

    ``fakes``, ``photos``: uint8 N x H x W x 3 images (N >= 2). With Inception features
    (N x 2048, e.g. from :meth:`FIDInceptionV3.features`) the Inception-space values are added.
    Keys: ``layout_top{k}``, ``variety`` and ``inception_top{k}``, ``inception_variety``.
    """
    if len(fakes) != len(photos):
        raise ValueError(f"{len(fakes)} faces for {len(photos)} photos")
    f = standardise(_var64(layout_images(fakes)))
    p = standardise(_var64(layout_images(photos)))
    out = {f"layout_top{k}": v for k, v in retrieval(f, p, ks).items()}
    out["variety"] = variety(f, p)
    if fake_features is not None and photo_features is not None:
        out |= {f"inception_top{k}": v for k, v in retrieval(fake_features, photo_features, ks).items()}
        out["inception_variety"] = variety(fake_features, photo_features)
    return out


def _pair(fakes: np.ndarray | jt.Var, reals: np.ndarray | jt.Var) -> tuple[jt.Var, jt.Var]:
    f, r = _var64(fakes), _var64(reals)
    f, r = f.reshape(f.shape[0], -1), r.reshape(r.shape[0], -1)
    if f.shape != r.shape:
        raise ValueError(f"faces {tuple(f.shape)} and photos {tuple(r.shape)} differ in shape")
    if f.shape[0] < 2:
        raise ValueError(f"need at least 2 faces and photos, got {f.shape[0]}")
    return f, r
