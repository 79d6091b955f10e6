"""FID and KID from feature sets (numpy/scipy; features from :mod:`jdfd.metrics.inception`).

FID (Heusel et al. 2017): ``|mu_a - mu_b|^2 + Tr(S_a + S_b - 2 (S_a S_b)^(1/2))`` with the
sample covariances (ddof=1). ``Tr (S_a S_b)^(1/2)`` is the sum of the singular values (nuclear
norm) of ``S_a^(1/2) S_b^(1/2)``, and for centred feature matrices ``X_a, X_b`` also of
``X_a X_b^T / sqrt((n_a - 1)(n_b - 1))``. We compute it that way (method "svd", the default:
in sample space when that matrix is the smaller one): it stays accurate when the covariances
are singular, which they are whenever a set has fewer images than the 2048 feature
dimensions; there ``scipy.linalg.sqrtm`` of ``S_a S_b`` (method "sqrtm", as pytorch-fid does)
and eigenvalue square roots lose ~1e-3 to the rounding noise of the null space.

KID (Binkowski et al. 2018): unbiased MMD^2 with the polynomial kernel
``k(x, y) = (x.y / d + 1)^3``, averaged over random subsets of ``min(subset_size, n_a, n_b)``
samples drawn without replacement from each set; (mean, std over subsets) is returned.
FID is biased and noisy for small sets, so report KID +- std beside it. Note that when the
subset size equals both set sizes every subset is the whole set and the std is 0: for small
sets pass a smaller ``subset_size`` (e.g. n // 2) to see the spread.
"""

from __future__ import annotations

import numpy as np
import scipy.linalg


def _as_features(x: np.ndarray, name: str) -> np.ndarray:
    x = np.asarray(x, np.float64)
    if x.ndim != 2 or x.shape[0] < 2:
        raise ValueError(f"{name}: want an N x D feature array with N >= 2, got shape {x.shape}")
    if not np.isfinite(x).all():
        raise ValueError(f"{name} holds NaN/inf")
    return x


def feature_stats(feats: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(mean, covariance with ddof=1) of an N x D feature array, in float64."""
    f = _as_features(feats, "features")
    return f.mean(axis=0), np.cov(f, rowvar=False)


def _psd_sqrt(s: np.ndarray) -> np.ndarray:
    w, v = np.linalg.eigh(s)
    return (v * np.sqrt(np.clip(w, 0.0, None))) @ v.T


def fid_from_stats(mu_a: np.ndarray, sigma_a: np.ndarray, mu_b: np.ndarray, sigma_b: np.ndarray,
                   method: str = "svd") -> float:
    """Fréchet distance between N(mu_a, sigma_a) and N(mu_b, sigma_b)."""
    diff = np.asarray(mu_a, np.float64) - np.asarray(mu_b, np.float64)
    sa, sb = np.asarray(sigma_a, np.float64), np.asarray(sigma_b, np.float64)
    if method == "svd":
        tr_covmean = float(scipy.linalg.svdvals(_psd_sqrt(sa) @ _psd_sqrt(sb)).sum())
    elif method == "sqrtm":
        covmean = scipy.linalg.sqrtm(sa @ sb)
        if not np.isfinite(covmean).all():
            # singular product: the usual remedy is a small diagonal offset
            offset = np.eye(sa.shape[0]) * 1e-6
            covmean = scipy.linalg.sqrtm((sa + offset) @ (sb + offset))
        tr_covmean = float(np.real(np.trace(covmean)))
    else:
        raise ValueError(f"unknown method {method!r}: use 'svd' or 'sqrtm'")
    return float(diff @ diff + np.trace(sa) + np.trace(sb) - 2.0 * tr_covmean)


def fid_from_features(a: np.ndarray, b: np.ndarray, method: str = "svd") -> float:
    """FID between two N x D feature sets (e.g. Inception pool3, D = 2048)."""
    a, b = _as_features(a, "a"), _as_features(b, "b")
    if a.shape[1] != b.shape[1]:
        raise ValueError(f"feature sizes differ: {a.shape[1]} vs {b.shape[1]}")
    if method == "svd" and a.shape[0] * b.shape[0] <= a.shape[1] ** 2:
        # fewer samples than dimensions: the same nuclear norm from the n_a x n_b cross-Gram matrix
        ac, bc = a - a.mean(axis=0), b - b.mean(axis=0)
        diff = a.mean(axis=0) - b.mean(axis=0)
        na, nb = a.shape[0] - 1, b.shape[0] - 1
        tr_covmean = scipy.linalg.svdvals(ac @ bc.T).sum() / np.sqrt(na * nb)
        return float(diff @ diff + (ac * ac).sum() / na + (bc * bc).sum() / nb - 2.0 * tr_covmean)
    return fid_from_stats(*feature_stats(a), *feature_stats(b), method=method)


def _mmd2_unbiased(x: np.ndarray, y: np.ndarray) -> float:
    d = x.shape[1]
    m = x.shape[0]
    kxx = (x @ x.T / d + 1.0) ** 3
    kyy = (y @ y.T / d + 1.0) ** 3
    kxy = (x @ y.T / d + 1.0) ** 3
    # unbiased: the diagonals k(x_i, x_i) are left out of the within-set means
    within = (kxx.sum() - np.trace(kxx) + kyy.sum() - np.trace(kyy)) / (m * (m - 1))
    return float(within - 2.0 * kxy.mean())


def kid_from_features(a: np.ndarray, b: np.ndarray, subsets: int = 100, subset_size: int = 1000,
                      seed: int = 0) -> tuple[float, float]:
    """(mean, std) of the unbiased polynomial-kernel MMD^2 over ``subsets`` random subsets."""
    a, b = _as_features(a, "a"), _as_features(b, "b")
    if a.shape[1] != b.shape[1]:
        raise ValueError(f"feature sizes differ: {a.shape[1]} vs {b.shape[1]}")
    if subsets < 1 or subset_size < 2:
        raise ValueError("need subsets >= 1 and subset_size >= 2")
    m = min(subset_size, a.shape[0], b.shape[0])
    rng = np.random.default_rng(seed)
    values = np.array([
        _mmd2_unbiased(a[rng.choice(a.shape[0], m, replace=False)], b[rng.choice(b.shape[0], m, replace=False)])
        for _ in range(subsets)
    ])
    return float(values.mean()), float(values.std())
