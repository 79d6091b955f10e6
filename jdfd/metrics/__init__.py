"""Evaluation metrics: FID/KID on FID-InceptionV3 pool3 features, paired L1/PSNR/SSIM, and
sketch following (retrieval of each face's own photo, variety; :mod:`jdfd.metrics.following`).

``fid`` and ``paired`` are numpy-only; ``inception`` and ``following`` use Jittor and are
imported on first use of one of their names, so ``from jdfd.metrics import psnr`` does not
start Jittor.
"""

from __future__ import annotations

from typing import Any

from jdfd.metrics.fid import feature_stats, fid_from_features, fid_from_stats, kid_from_features
from jdfd.metrics.paired import l1, paired_means, psnr, ssim

_LAZY = {"FIDInceptionV3", "ensure_inception_weights", "features", "WeightsError", "UnsafePickleError"}
# the measure is sketch_following, not following: importing the submodule binds that name to the module
_LAZY_FOLLOWING = {"layout_images", "mean_pairwise_distance", "retrieval", "retrieval_chance", "sketch_following",
                   "variety"}

__all__ = [
    "FIDInceptionV3", "UnsafePickleError", "WeightsError", "ensure_inception_weights", "feature_stats", "features",
    "fid_from_features", "fid_from_stats", "kid_from_features", "l1", "layout_images", "mean_pairwise_distance",
    "paired_means", "psnr", "retrieval", "retrieval_chance", "sketch_following", "ssim", "variety",
]


def __getattr__(name: str) -> Any:
    if name in _LAZY:
        from jdfd.metrics import inception  # noqa: PLC0415  (starts Jittor)

        return getattr(inception, name)
    if name in _LAZY_FOLLOWING:
        from jdfd.metrics import following  # noqa: PLC0415  (starts Jittor)

        return getattr(following, name)
    raise AttributeError(f"module 'jdfd.metrics' has no attribute {name!r}")
