"""Evaluation metrics: FID/KID on FID-InceptionV3 pool3 features, and paired L1/PSNR/SSIM.

``fid`` and ``paired`` are numpy-only; the Jittor network in ``inception`` is imported on
first use of one of its names, so ``from jdfd.metrics import psnr`` does not start Jittor.
"""

from __future__ import annotations

from typing import Any

from jdfd.metrics.fid import feature_stats, fid_from_features, fid_from_stats, kid_from_features
from jdfd.metrics.paired import l1, paired_means, psnr, ssim

_LAZY = {"FIDInceptionV3", "ensure_inception_weights", "features", "WeightsError", "UnsafePickleError"}

__all__ = [
    "FIDInceptionV3", "UnsafePickleError", "WeightsError", "ensure_inception_weights", "feature_stats", "features",
    "fid_from_features", "fid_from_stats", "kid_from_features", "l1", "paired_means", "psnr", "ssim",
]


def __getattr__(name: str) -> Any:
    if name in _LAZY:
        from jdfd.metrics import inception  # noqa: PLC0415  (starts Jittor)

        return getattr(inception, name)
    raise AttributeError(f"module 'jdfd.metrics' has no attribute {name!r}")
